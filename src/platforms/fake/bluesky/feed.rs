//! The fake AppView reads: getPosts (metrics) and searchPosts.

use super::*;

pub(super) fn post_view(s: &PdsState, r: &FakeRecord) -> Value {
    let author = s.account(&r.did);
    json!({
        "uri": r.uri, "cid": r.cid,
        "author": {
            "did": r.did,
            "handle": author.map(|a| a.handle.clone()).unwrap_or_default(),
            "displayName": author.map(|a| a.handle.clone()).unwrap_or_default(),
            "followersCount": author.map(|a| a.followers),
        },
        "record": r.record,
        "replyCount": r.metrics.replies, "repostCount": r.metrics.reposts,
        "likeCount": r.metrics.likes, "quoteCount": r.metrics.quotes,
        "indexedAt": r.created_at.to_rfc3339(),
    })
}

pub(super) fn get_posts(
    state: &Shared,
    pairs: &[(String, String)],
    fault: Option<&Fault>,
) -> Response {
    let uris: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "uris")
        .map(|(_, v)| v.as_str())
        .collect();
    if uris.is_empty() || uris.len() > 25 {
        return bad("Input/uris must have between 1 and 25 items");
    }
    let failing: HashSet<&str> = match fault {
        Some(Fault::PartialMetrics { failing_ids }) => {
            failing_ids.iter().map(String::as_str).collect()
        }
        _ => HashSet::new(),
    };
    let s = lock(state);
    let posts: Vec<Value> = uris
        .iter()
        .filter(|u| !failing.contains(*u))
        .filter_map(|u| s.live(u))
        .map(|r| post_view(&s, r))
        .collect();
    json_response(StatusCode::OK, HeaderMap::new(), json!({ "posts": posts }))
}

pub(super) fn search_posts(state: &Shared, query: &HashMap<String, String>) -> Response {
    let Some(q) = query.get("q").filter(|q| !q.trim().is_empty()) else {
        return bad("Input must have the property \"q\"");
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return bad("Input/limit must be between 1 and 100"),
    };
    let since = match query.get("since") {
        None => None,
        Some(v) => match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => return bad("Input/since must be a valid datetime"),
        },
    };
    let offset: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let terms: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    let s = lock(state);
    let mut found: Vec<&FakeRecord> = s
        .records
        .iter()
        .filter(|r| !r.deleted)
        .filter(|r| since.is_none_or(|t| r.created_at >= t))
        .filter(|r| {
            let text = r.text.to_lowercase();
            terms.iter().all(|t| text.contains(t.as_str()))
        })
        .collect();
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.rkey.cmp(&a.rkey)));
    let total = found.len();
    let posts: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| post_view(&s, r))
        .collect();
    let mut body = json!({ "posts": posts, "hitsTotal": total });
    if offset + limit < total {
        body["cursor"] = json!((offset + limit).to_string());
    }
    json_response(StatusCode::OK, HeaderMap::new(), body)
}
