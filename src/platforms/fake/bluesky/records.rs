//! The fake PDS's repository: blobs, and post records validated as the PDS's lexicon
//! validation would (type, text length in graphemes, facets, images, replies, TID keys).

use super::*;

pub(super) async fn upload_blob(state: &Shared, did: &str, req: Request) -> Response {
    let mime = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_owned();
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024).await else {
        return bad("the blob could not be read");
    };
    if bytes.is_empty() {
        return bad("empty blob");
    }
    if bytes.len() > MAX_BLOB_BYTES {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "BlobTooLarge",
            "This file is too large",
        );
    }
    let cid = format!("bafkrei{}", &hex(&Sha256::digest(&bytes))[..40]);
    let blob = FakeBlob {
        cid: cid.clone(),
        owner: did.to_owned(),
        mime: mime.clone(),
        size: bytes.len(),
    };
    let mut s = lock(state);
    if !s.blobs.iter().any(|b| b.cid == cid && b.owner == did) {
        s.blobs.push(blob);
    }
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "blob": { "$type": "blob", "ref": { "$link": cid }, "mimeType": mime, "size": bytes.len() } }),
    )
}

/// Checks a post record as the PDS's lexicon validation would; returns the text.
pub(super) fn validate_post(s: &PdsState, did: &str, record: &Value) -> Result<String, Response> {
    if record.get("$type").and_then(Value::as_str) != Some(POST_COLLECTION) {
        return Err(invalid_record(&format!(
            "Record/$type must be {POST_COLLECTION}"
        )));
    }
    let Some(text) = record.get("text").and_then(Value::as_str) else {
        return Err(invalid_record("Record must have the property \"text\""));
    };
    if text.graphemes(true).count() > 300 || text.len() > 3000 {
        return Err(invalid_record(
            "Record/text must not be longer than 300 graphemes",
        ));
    }
    let created = record
        .get("createdAt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if DateTime::parse_from_rfc3339(created).is_err() {
        return Err(invalid_record(
            "Record/createdAt must be an valid atproto datetime",
        ));
    }
    if let Some(facets) = record.get("facets") {
        let Some(facets) = facets.as_array() else {
            return Err(invalid_record("Record/facets must be an array"));
        };
        for f in facets {
            let start = f
                .pointer("/index/byteStart")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let end = f
                .pointer("/index/byteEnd")
                .and_then(Value::as_u64)
                .map(|n| n as usize);
            let (Some(start), Some(end)) = (start, end) else {
                return Err(invalid_record(
                    "Record/facets/index must have byteStart and byteEnd",
                ));
            };
            if start > end
                || end > text.len()
                || !text.is_char_boundary(start)
                || !text.is_char_boundary(end)
            {
                return Err(invalid_record(
                    "Record/facets/index is out of range of the text",
                ));
            }
            let features = f
                .get("features")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if features.is_empty() {
                return Err(invalid_record("Record/facets/features must not be empty"));
            }
            for feat in features {
                let ok = match feat.get("$type").and_then(Value::as_str) {
                    Some("app.bsky.richtext.facet#link") => {
                        feat.get("uri").and_then(Value::as_str).is_some()
                    }
                    Some("app.bsky.richtext.facet#mention") => feat
                        .get("did")
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.starts_with("did:")),
                    Some("app.bsky.richtext.facet#tag") => feat
                        .get("tag")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty() && !t.starts_with('#') && t.len() <= 640),
                    _ => false,
                };
                if !ok {
                    return Err(invalid_record(
                        "Record/facets/features has an invalid feature",
                    ));
                }
            }
        }
    }
    if let Some(embed) = record.get("embed")
        && embed.get("$type").and_then(Value::as_str) == Some("app.bsky.embed.images")
    {
        let images = embed
            .get("images")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if images.is_empty() || images.len() > 4 {
            return Err(invalid_record("Record/embed/images must have 1 to 4 items"));
        }
        for img in images {
            if img.get("alt").and_then(Value::as_str).is_none() {
                return Err(invalid_record("Record/embed/images/alt must be a string"));
            }
            let cid = img
                .pointer("/image/ref/$link")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let known = img.pointer("/image/$type").and_then(Value::as_str) == Some("blob")
                && s.blobs.iter().any(|b| b.cid == cid && b.owner == did);
            if !known {
                return Err(bad(&format!("Could not find blob: {cid}")));
            }
        }
    }
    if let Some(reply) = record.get("reply") {
        for which in ["root", "parent"] {
            let uri = reply
                .pointer(&format!("/{which}/uri"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let cid = reply
                .pointer(&format!("/{which}/cid"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if s.live(uri).is_none_or(|r| r.cid != cid) {
                return Err(invalid_record(&format!(
                    "Record/reply/{which} must reference an existing post"
                )));
            }
        }
    }
    Ok(text.to_owned())
}

pub(super) async fn create_record(state: &Shared, did: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let repo = body.get("repo").and_then(Value::as_str).unwrap_or_default();
    let mut s = lock(state);
    let handle = s.account(did).map(|a| a.handle.clone()).unwrap_or_default();
    if repo != did && repo != handle {
        return bad("Input/repo does not match the authenticated account");
    }
    if body.get("collection").and_then(Value::as_str) != Some(POST_COLLECTION) {
        return bad("this fake PDS stores only app.bsky.feed.post records");
    }
    let rkey = match body.get("rkey") {
        None => crate::platforms::bluesky::new_tid(),
        Some(Value::String(k)) if is_tid(k) => k.clone(),
        Some(_) => return bad("Input/rkey must be a valid TID"),
    };
    let Some(record) = body.get("record").cloned() else {
        return bad("Input must have the property \"record\"");
    };
    let text = match validate_post(&s, did, &record) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if s.records
        .iter()
        .any(|r| r.did == did && r.rkey == rkey && !r.deleted)
    {
        return bad("Record already exists");
    }
    let r = new_record(did, &rkey, &text, record, crate::domain::now());
    let out = json!({
        "uri": r.uri, "cid": r.cid,
        "commit": { "cid": format!("bafyreicommit{}", &r.cid[7..20]), "rev": rkey },
        "validationStatus": "valid",
    });
    s.records.push(r);
    json_response(StatusCode::OK, HeaderMap::new(), out)
}

pub(super) fn get_record(state: &Shared, query: &HashMap<String, String>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let s = lock(state);
    let repo = get("repo");
    let did = s
        .accounts
        .iter()
        .find(|a| a.did == repo || a.handle == repo)
        .map(|a| a.did.clone())
        .unwrap_or_else(|| repo.to_owned());
    let uri = format!("at://{did}/{}/{}", get("collection"), get("rkey"));
    match s.live(&uri) {
        Some(r) => json_response(
            StatusCode::OK,
            HeaderMap::new(),
            json!({ "uri": r.uri, "cid": r.cid, "value": r.record }),
        ),
        None => xrpc_error(
            StatusCode::BAD_REQUEST,
            "RecordNotFound",
            &format!("Could not locate record: {uri}"),
        ),
    }
}

pub(super) async fn delete_record(state: &Shared, did: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let repo = body.get("repo").and_then(Value::as_str).unwrap_or_default();
    let rkey = body.get("rkey").and_then(Value::as_str).unwrap_or_default();
    let mut s = lock(state);
    let handle = s.account(did).map(|a| a.handle.clone()).unwrap_or_default();
    if repo != did && repo != handle {
        return bad("Input/repo does not match the authenticated account");
    }
    if let Some(r) = s
        .records
        .iter_mut()
        .find(|r| r.did == did && r.rkey == rkey && !r.deleted)
    {
        r.deleted = true;
    }
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "commit": { "rev": rkey } }),
    )
}
