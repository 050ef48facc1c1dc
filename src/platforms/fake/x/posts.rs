//! The fake's posts: create (validated as X validates), delete, metrics with partial
//! failures, recent search, the user timeline and `users/me`.

use super::*;

/// X's weighted length: URLs count 23, CJK and emoji count 2, the rest 1.
pub(super) fn weighted_len(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                23
            } else {
                w.chars()
                    .map(|c| {
                        let n = c as u32;
                        let light = n <= 4351
                            || (8192..=8205).contains(&n)
                            || (8208..=8223).contains(&n)
                            || (8242..=8247).contains(&n);
                        if light { 1 } else { 2 }
                    })
                    .sum()
            }
        })
        .sum::<usize>()
        + text.chars().filter(|c| c.is_whitespace()).count()
}

pub(super) async fn create(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object() else {
        return invalid("the request body must be a JSON object");
    };
    if let Some(k) = obj.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
        return invalid(&format!(
            "$.{k}: is not defined in the schema and the schema does not allow additional properties"
        ));
    }
    let text = match obj.get("text") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return invalid("$.text: string expected"),
    };
    let media_ids: Vec<String> = match obj.get("media") {
        None => Vec::new(),
        Some(m) => {
            let Some(ids) = m.get("media_ids").and_then(Value::as_array) else {
                return invalid("$.media.media_ids: array expected");
            };
            if m.as_object()
                .is_some_and(|o| o.keys().any(|k| k != "media_ids" && k != "tagged_user_ids"))
            {
                return invalid("$.media: unknown property");
            }
            let ids: Option<Vec<String>> =
                ids.iter().map(|v| v.as_str().map(str::to_owned)).collect();
            match ids {
                Some(ids) if (1..=4).contains(&ids.len()) => ids,
                _ => return invalid("$.media.media_ids: 1 to 4 media id strings expected"),
            }
        }
    };
    let reply_to = match obj.get("reply") {
        None => None,
        Some(r) => match r.get("in_reply_to_tweet_id").and_then(Value::as_str) {
            Some(id) => Some(id.to_owned()),
            None => return invalid("$.reply.in_reply_to_tweet_id: string expected"),
        },
    };
    let quote_of = obj
        .get("quote_tweet_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if text.trim().is_empty() && media_ids.is_empty() {
        return invalid("$.text: text or media is required");
    }
    if weighted_len(&text) > 280 {
        return forbidden(
            "Your Tweet text is too long. For more information on how X counts characters, see the X developer docs.",
        );
    }
    let mut s = lock(state);
    for id in &media_ids {
        let ok = s
            .media
            .iter()
            .any(|m| &m.id == id && m.owner_id == user_id && m.state == "succeeded");
        if !ok {
            return invalid("Your media IDs are invalid.");
        }
    }
    if let Some(parent) = &reply_to
        && !s.tweets.iter().any(|t| &t.id == parent && !t.deleted)
    {
        return forbidden(
            "You attempted to reply to a Tweet that is deleted or not visible to you.",
        );
    }
    if s.tweets
        .iter()
        .any(|t| t.author_id == user_id && !t.deleted && t.text == text && !text.is_empty())
    {
        return forbidden(DUPLICATE);
    }
    let id = s.next_id();
    s.tweets.push(FakeTweet {
        id: id.clone(),
        author_id: user_id.to_owned(),
        text: text.clone(),
        reply_to,
        quote_of,
        media_ids,
        created_at: crate::domain::now(),
        deleted: false,
        metrics: FakeMetrics::default(),
    });
    json_response(
        StatusCode::CREATED,
        HeaderMap::new(),
        json!({ "data": { "id": id, "text": text, "edit_history_tweet_ids": [id] } }),
    )
}

pub(super) fn delete(state: &Shared, user_id: &str, id: &str) -> Response {
    let mut s = lock(state);
    match s.tweets.iter_mut().find(|t| t.id == id && !t.deleted) {
        None => not_found(&format!("Could not find tweet with id: [{id}].")),
        Some(t) if t.author_id != user_id => {
            forbidden("You are not allowed to delete a Tweet you did not create.")
        }
        Some(t) => {
            t.deleted = true;
            json_response(
                StatusCode::OK,
                HeaderMap::new(),
                json!({ "data": { "deleted": true } }),
            )
        }
    }
}

/// The text as X shows it: links rewritten to t.co, `&<>` escaped, a link for media.
pub(super) fn display_text(t: &FakeTweet) -> String {
    let mut words: Vec<String> = t
        .text
        .split(' ')
        .map(|w| {
            if w.starts_with("http://") || w.starts_with("https://") {
                let digest = Sha256::digest(w.as_bytes());
                format!("https://t.co/{}", &hex(&digest)[..10])
            } else {
                w.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            }
        })
        .collect();
    if !t.media_ids.is_empty() {
        words.push(format!(
            "https://t.co/m{}",
            &t.id[t.id.len().saturating_sub(8)..]
        ));
    }
    words.join(" ")
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn tweet_json(
    s: &XState,
    t: &FakeTweet,
    fields: &HashSet<&str>,
    private: bool,
) -> Value {
    let mut v = json!({
        "id": t.id,
        "text": display_text(t),
        "edit_history_tweet_ids": [t.id],
    });
    if fields.contains("created_at") {
        v["created_at"] = json!(t.created_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
    }
    if fields.contains("author_id") {
        v["author_id"] = json!(t.author_id);
    }
    if fields.contains("conversation_id") {
        let mut root = t;
        while let Some(parent) = root
            .reply_to
            .as_ref()
            .and_then(|p| s.tweets.iter().find(|x| &x.id == p))
        {
            root = parent;
        }
        v["conversation_id"] = json!(root.id);
    }
    if fields.contains("referenced_tweets") {
        let mut refs = Vec::new();
        if let Some(p) = &t.reply_to {
            refs.push(json!({ "type": "replied_to", "id": p }));
        }
        if let Some(q) = &t.quote_of {
            refs.push(json!({ "type": "quoted", "id": q }));
        }
        if !refs.is_empty() {
            v["referenced_tweets"] = json!(refs);
        }
    }
    let m = &t.metrics;
    if fields.contains("public_metrics") {
        v["public_metrics"] = json!({
            "retweet_count": m.retweets, "reply_count": m.replies, "like_count": m.likes,
            "quote_count": m.quotes, "bookmark_count": m.bookmarks, "impression_count": m.impressions,
        });
    }
    if private && fields.contains("non_public_metrics") {
        v["non_public_metrics"] = json!({
            "impression_count": m.impressions, "url_link_clicks": m.link_clicks,
            "user_profile_clicks": m.profile_clicks, "engagements": m.engagements,
        });
    }
    if private && fields.contains("organic_metrics") {
        v["organic_metrics"] = json!({
            "impression_count": m.impressions, "like_count": m.likes, "reply_count": m.replies,
            "retweet_count": m.retweets, "url_link_clicks": m.link_clicks,
            "user_profile_clicks": m.profile_clicks,
        });
    }
    v
}

pub(super) fn fields<'a>(query: &'a HashMap<String, String>, key: &str) -> HashSet<&'a str> {
    query
        .get(key)
        .map(|f| f.split(',').map(str::trim).collect())
        .unwrap_or_default()
}

pub(super) fn metrics(
    state: &Shared,
    user_id: &str,
    query: &HashMap<String, String>,
    fault: Option<&Fault>,
) -> Response {
    let ids: Vec<&str> = query
        .get("ids")
        .map(|s| s.split(',').filter(|i| !i.is_empty()).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > 100 {
        return invalid("The `ids` query parameter value must have between 1 and 100 items");
    }
    let fields = fields(query, "tweet.fields");
    let wants_private = fields.contains("non_public_metrics") || fields.contains("organic_metrics");
    let failing: Vec<String> = match fault {
        Some(Fault::PartialMetrics { failing_ids }) => failing_ids.clone(),
        _ => Vec::new(),
    };
    let s = lock(state);
    let mut data = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let found = s
            .tweets
            .iter()
            .find(|t| t.id == id && !t.deleted && !failing.iter().any(|f| f == id));
        match found {
            None => errors.push(json!({
                "value": id, "detail": format!("Could not find tweet with ids: [{id}]."),
                "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                "resource_id": id, "type": "https://api.twitter.com/2/problems/resource-not-found",
            })),
            Some(t) => {
                let own_recent = t.author_id == user_id
                    && Utc::now() - t.created_at < chrono::Duration::days(30);
                if wants_private && !own_recent {
                    errors.push(json!({
                        "value": id, "resource_id": id, "field": "non_public_metrics",
                        "title": "Field Authorization Error",
                        "detail": "Sorry, you are not authorized to access 'non_public_metrics' on a Tweet.",
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-field",
                        "resource_type": "tweet", "parameter": "non_public_metrics",
                    }));
                } else {
                    data.push(tweet_json(&s, t, &fields, own_recent));
                }
            }
        }
    }
    let mut body = json!({});
    if !data.is_empty() {
        body["data"] = json!(data);
    }
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) fn page_bounds(
    query: &HashMap<String, String>,
    key: &str,
    min: usize,
    max: usize,
    default: usize,
) -> Result<(usize, usize), Response> {
    let n = match query.get(key) {
        None => default,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                return Err(invalid(&format!(
                    "The `{key}` query parameter value [{v}] is not between {min} and {max}"
                )));
            }
        },
    };
    let offset = query
        .get("next_token")
        .or_else(|| query.get("pagination_token"))
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    Ok((n, offset))
}

pub(super) fn start_time(
    query: &HashMap<String, String>,
) -> Result<Option<DateTime<Utc>>, Response> {
    match query.get("start_time") {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| invalid(&format!("Invalid 'start_time':'{v}'."))),
    }
}

pub(super) fn paged(
    s: &XState,
    mut tweets: Vec<&FakeTweet>,
    n: usize,
    offset: usize,
    fields: &HashSet<&str>,
    with_users: bool,
) -> Value {
    tweets.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let total = tweets.len();
    let page: Vec<&FakeTweet> = tweets.into_iter().skip(offset).take(n).collect();
    let mut meta = json!({ "result_count": page.len() });
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["newest_id"] = json!(first.id);
        meta["oldest_id"] = json!(last.id);
    }
    if offset + n < total {
        meta["next_token"] = json!(format!("p{}", offset + n));
    }
    let mut body = json!({ "meta": meta });
    if !page.is_empty() {
        body["data"] = json!(
            page.iter()
                .map(|t| tweet_json(s, t, fields, false))
                .collect::<Vec<_>>()
        );
    }
    if with_users {
        let mut seen = HashSet::new();
        let users: Vec<Value> = page
            .iter()
            .filter(|t| seen.insert(t.author_id.clone()))
            .filter_map(|t| s.user(&t.author_id))
            .map(|u| {
                json!({
                    "id": u.id, "username": u.username, "name": u.username,
                    "public_metrics": { "followers_count": u.followers },
                })
            })
            .collect();
        if !users.is_empty() {
            body["includes"] = json!({ "users": users });
        }
    }
    body
}

pub(super) fn search(state: &Shared, query: &HashMap<String, String>) -> Response {
    let Some(q) = query.get("query").filter(|q| !q.trim().is_empty()) else {
        return invalid("The `query` query parameter can not be empty");
    };
    let (n, offset) = match page_bounds(query, "max_results", 10, 100, 10) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let since = match start_time(query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let terms: Vec<String> = q
        .split_whitespace()
        .filter(|t| !t.starts_with('-') && !t.contains(':'))
        .map(str::to_lowercase)
        .collect();
    let mut fields = fields(query, "tweet.fields");
    fields.insert("author_id");
    let s = lock(state);
    let found: Vec<&FakeTweet> = s
        .tweets
        .iter()
        .filter(|t| !t.deleted)
        .filter(|t| since.is_none_or(|since| t.created_at >= since))
        .filter(|t| {
            let text = t.text.to_lowercase();
            terms.iter().all(|term| text.contains(term.as_str()))
        })
        .collect();
    let body = paged(&s, found, n, offset, &fields, true);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) fn timeline(state: &Shared, id: &str, query: &HashMap<String, String>) -> Response {
    let (n, offset) = match page_bounds(query, "max_results", 5, 100, 10) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let since = match start_time(query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let fields = fields(query, "tweet.fields");
    let s = lock(state);
    if s.user(id).is_none() {
        return not_found(&format!("Could not find user with id: [{id}]."));
    }
    let found: Vec<&FakeTweet> = s
        .tweets
        .iter()
        .filter(|t| t.author_id == id && !t.deleted)
        .filter(|t| since.is_none_or(|since| t.created_at >= since))
        .collect();
    let body = paged(&s, found, n, offset, &fields, false);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) fn me(state: &Shared, user_id: &str) -> Response {
    let s = lock(state);
    match s.user(user_id) {
        Some(u) => json_response(
            StatusCode::OK,
            HeaderMap::new(),
            json!({ "data": { "id": u.id, "name": u.username, "username": u.username } }),
        ),
        None => unauthorized(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_length_counts_links_and_wide_chars() {
        assert_eq!(weighted_len("hello"), 5);
        assert_eq!(
            weighted_len("see https://example.com/a/very/long/path"),
            4 + 23
        );
        assert_eq!(weighted_len("日本"), 4);
    }
}
