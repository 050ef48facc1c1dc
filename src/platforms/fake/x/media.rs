//! The fake's media: one-request image upload, chunked initialize/append/finalize, STATUS
//! polling through pending → in_progress → succeeded, and alt text.

use super::*;

/// Reads a multipart body into (field name → bytes).
pub(super) async fn multipart_fields(req: Request) -> Result<HashMap<String, Vec<u8>>, Response> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| invalid(&format!("expected a multipart body: {e}")))?;
    let mut out = HashMap::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| invalid(&format!("bad multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| invalid(&format!("bad multipart field: {e}")))?;
        out.insert(name, bytes.to_vec());
    }
    Ok(out)
}

pub(super) fn media_json(m: &FakeMedia) -> Value {
    let mut v = json!({
        "id": m.id, "media_key": format!("3_{}", m.id), "size": m.total_bytes,
        "expires_after_secs": 86400,
    });
    if m.state != "succeeded" || m.category != "tweet_image" {
        v["processing_info"] = json!({
            "state": m.state,
            "check_after_secs": 1,
            "progress_percent": match m.state.as_str() { "pending" => 0, "in_progress" => 50, _ => 100 },
        });
    }
    v
}

pub(super) async fn upload_simple(state: &Shared, user_id: &str, req: Request) -> Response {
    let fields = match multipart_fields(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(bytes) = fields.get("media").filter(|b| !b.is_empty()) else {
        return invalid("media: a non-empty `media` field is required");
    };
    let category = fields
        .get("media_category")
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_else(|| "tweet_image".into());
    if category != "tweet_image" && category != "dm_image" && category != "subtitles" {
        return invalid("media_category: use the chunked upload for videos and GIFs");
    }
    if bytes.len() > 5 * 1024 * 1024 {
        return invalid("media: images may be at most 5 MB");
    }
    let mut s = lock(state);
    let id = s.next_id();
    let m = FakeMedia {
        id,
        owner_id: user_id.to_owned(),
        category,
        media_type: None,
        total_bytes: bytes.len(),
        received_bytes: bytes.len(),
        segments: vec![0],
        finalized: true,
        state: "succeeded".into(),
        status_polls: 0,
        alt_text: None,
    };
    let body = json!({ "data": media_json(&m) });
    s.media.push(m);
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) async fn initialize(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let total = body.get("total_bytes").and_then(Value::as_u64).unwrap_or(0);
    let Some(media_type) = body.get("media_type").and_then(Value::as_str) else {
        return invalid("$.media_type: string expected");
    };
    if total == 0 || total > 512 * 1024 * 1024 {
        return invalid("$.total_bytes: between 1 and 536870912 expected");
    }
    let category = body
        .get("media_category")
        .and_then(Value::as_str)
        .unwrap_or("tweet_video")
        .to_owned();
    let mut s = lock(state);
    let id = s.next_id();
    s.media.push(FakeMedia {
        id: id.clone(),
        owner_id: user_id.to_owned(),
        category,
        media_type: Some(media_type.to_owned()),
        total_bytes: usize::try_from(total).unwrap_or(usize::MAX),
        received_bytes: 0,
        segments: Vec::new(),
        finalized: false,
        state: "uploading".into(),
        status_polls: 0,
        alt_text: None,
    });
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "data": { "id": id, "media_key": format!("7_{id}"), "expires_after_secs": 86400 } }),
    )
}

pub(super) async fn append(state: &Shared, user_id: &str, id: &str, req: Request) -> Response {
    let fields = match multipart_fields(req).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(bytes) = fields.get("media") else {
        return invalid("media: a `media` field is required");
    };
    let Some(index) = fields
        .get("segment_index")
        .and_then(|b| String::from_utf8_lossy(b).trim().parse::<u32>().ok())
    else {
        return invalid("segment_index: a number is required");
    };
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && !m.finalized)
    else {
        return invalid("media_id: not an upload in progress");
    };
    if m.segments.contains(&index) {
        return invalid("segment_index: segment already received");
    }
    m.segments.push(index);
    m.received_bytes += bytes.len();
    StatusCode::OK.into_response()
}

pub(super) fn finalize(state: &Shared, user_id: &str, id: &str) -> Response {
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && !m.finalized)
    else {
        return invalid("media_id: not an upload in progress");
    };
    if m.received_bytes != m.total_bytes {
        return invalid(&format!(
            "File size mismatch: expected {} bytes, received {}",
            m.total_bytes, m.received_bytes
        ));
    }
    m.finalized = true;
    m.state = if m.category == "tweet_image" {
        "succeeded"
    } else {
        "pending"
    }
    .into();
    let body = json!({ "data": media_json(m) });
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) fn media_status(
    state: &Shared,
    user_id: &str,
    query: &HashMap<String, String>,
) -> Response {
    if query.get("command").map(String::as_str) != Some("STATUS") {
        return invalid("command: only STATUS is supported on GET");
    }
    let id = query.get("media_id").cloned().unwrap_or_default();
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id && m.finalized)
    else {
        return invalid("media_id: unknown media");
    };
    m.status_polls += 1;
    m.state = match m.state.as_str() {
        "pending" => "in_progress",
        "in_progress" => "succeeded",
        other => other,
    }
    .into();
    let body = json!({ "data": media_json(m) });
    json_response(StatusCode::OK, HeaderMap::new(), body)
}

pub(super) async fn metadata(state: &Shared, user_id: &str, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    let Some(alt) = body
        .pointer("/metadata/alt_text/text")
        .and_then(Value::as_str)
    else {
        return invalid("$.metadata.alt_text.text: string expected");
    };
    if alt.chars().count() > 1000 {
        return invalid("$.metadata.alt_text.text: at most 1000 characters");
    }
    let mut s = lock(state);
    let Some(m) = s
        .media
        .iter_mut()
        .find(|m| m.id == id && m.owner_id == user_id)
    else {
        return invalid("$.id: unknown media");
    };
    m.alt_text = Some(alt.to_owned());
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({ "data": { "associated_metadata": true } }),
    )
}
