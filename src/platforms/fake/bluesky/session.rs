//! The fake PDS's sessions: createSession (limited like bsky.social), refreshSession with
//! single-use refresh JWTs, and handle resolution.

use super::*;

pub(super) async fn create_session(state: &Shared, req: Request) -> Response {
    let body = match body_json(req).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let identifier = body
        .get("identifier")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut s = lock(state);
    let now = Utc::now();
    s.sessions.retain(|t| now - *t < SESSION_WINDOW);
    if s.sessions.len() >= SESSIONS_PER_WINDOW {
        let oldest = s.sessions.first().copied().unwrap_or(now);
        let reset = (oldest + SESSION_WINDOW - now).num_seconds().max(1);
        let mut r = xrpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
        );
        r.headers_mut()
            .extend(rate_headers(SESSIONS_PER_WINDOW as u64, 0, reset, 300));
        return r;
    }
    let Some(account) = s
        .accounts
        .iter()
        .find(|a| {
            (a.handle.to_ascii_lowercase() == identifier || a.did == identifier)
                && a.app_password == password
        })
        .cloned()
    else {
        return xrpc_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationRequired",
            "Invalid identifier or password",
        );
    };
    s.sessions.push(now);
    s.sessions_created += 1;
    let (access, refresh) = s.session(&account.did);
    let remaining = SESSIONS_PER_WINDOW - s.sessions.len();
    let mut r = json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({
            "accessJwt": access, "refreshJwt": refresh, "handle": account.handle, "did": account.did,
            "didDoc": s.did_doc(&account.did, &account.handle), "active": true,
        }),
    );
    r.headers_mut().extend(rate_headers(
        SESSIONS_PER_WINDOW as u64,
        remaining as u64,
        300,
        300,
    ));
    r
}

pub(super) fn refresh_session(state: &Shared, headers: &HeaderMap) -> Response {
    let mut s = lock(state);
    let token = bearer(headers).unwrap_or_default();
    if s.access.contains_key(&token) {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "Invalid token type",
        );
    }
    let Some(did) = s.refresh.remove(&token) else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "Token has been revoked",
        );
    };
    let handle = s
        .account(&did)
        .map(|a| a.handle.clone())
        .unwrap_or_default();
    let (access, refresh) = s.session(&did);
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({
            "accessJwt": access, "refreshJwt": refresh, "handle": handle, "did": did,
            "didDoc": s.did_doc(&did, &handle), "active": true,
        }),
    )
}

pub(super) fn resolve_handle(state: &Shared, query: &HashMap<String, String>) -> Response {
    let handle = query
        .get("handle")
        .map(|h| h.to_ascii_lowercase())
        .unwrap_or_default();
    let s = lock(state);
    match s
        .accounts
        .iter()
        .find(|a| a.handle.to_ascii_lowercase() == handle)
    {
        Some(a) => json_response(StatusCode::OK, HeaderMap::new(), json!({ "did": a.did })),
        None => bad("Unable to resolve handle"),
    }
}
