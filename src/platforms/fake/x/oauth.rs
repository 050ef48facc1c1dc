//! The fake's OAuth 2: an authorize page that approves at once as the chosen user, and a
//! token endpoint checking PKCE, redirect URI, client id and single-use refresh tokens.

use super::*;

pub(super) fn oauth_error(description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        HeaderMap::new(),
        json!({ "error": "invalid_request", "error_description": description }),
    )
}

pub(super) fn authorize(state: &Shared, query: &HashMap<String, String>) -> Response {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    if get("response_type") != "code"
        || get("client_id") != CLIENT_ID
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("state").is_empty()
        || !get("scope").split(' ').any(|s| s == "tweet.write")
    {
        return (StatusCode::BAD_REQUEST, "invalid authorize request").into_response();
    }
    let redirect = get("redirect_uri");
    let Ok(mut url) = reqwest::Url::parse(redirect) else {
        return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response();
    };
    let mut s = lock(state);
    let Some(user_id) = s.authorizing_user.clone() else {
        return (StatusCode::FORBIDDEN, "no user is signed in to the fake").into_response();
    };
    let code = random_token("code-");
    s.codes.insert(
        code.clone(),
        Code {
            user_id,
            challenge: get("code_challenge").to_owned(),
            redirect_uri: redirect.to_owned(),
        },
    );
    url.query_pairs_mut()
        .append_pair("state", get("state"))
        .append_pair("code", &code);
    let mut resp = StatusCode::FOUND.into_response();
    resp.headers_mut().insert("location", header(url));
    resp
}

pub(super) async fn token(state: &Shared, req: Request) -> Response {
    let basic_client = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(id, _)| id.to_owned()));
    let form = match axum::Form::<Vec<(String, String)>>::from_request(req, &()).await {
        Ok(f) => f.0.into_iter().collect::<HashMap<_, _>>(),
        Err(_) => return oauth_error("expected a form body"),
    };
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let client = basic_client.as_deref().unwrap_or(get("client_id"));
    if client != CLIENT_ID {
        return json_response(
            StatusCode::UNAUTHORIZED,
            HeaderMap::new(),
            json!({ "error": "unauthorized_client", "error_description": "Missing valid authorization header" }),
        );
    }
    let endpoint = if get("grant_type") == "refresh_token" {
        Endpoint::Refresh
    } else {
        Endpoint::Login
    };
    let fault = lock(state).faults.take(endpoint);
    if let Some(f) = &fault
        && let Some(resp) = fault_response(f)
    {
        return resp;
    }
    let mut s = lock(state);
    let user_id = match get("grant_type") {
        "authorization_code" => {
            let Some(code) = s.codes.remove(get("code")) else {
                return oauth_error("Value passed for the authorization code was invalid.");
            };
            let digest = Sha256::digest(get("code_verifier").as_bytes());
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            if challenge != code.challenge {
                return oauth_error(
                    "Value passed for the code verifier did not match the code challenge.",
                );
            }
            if get("redirect_uri") != code.redirect_uri {
                return oauth_error(
                    "Value passed for the redirect uri did not match the uri of the authorization code.",
                );
            }
            code.user_id
        }
        "refresh_token" => match s.refresh.remove(get("refresh_token")) {
            Some(user) => user,
            None => return oauth_error("Value passed for the token was invalid."),
        },
        _ => return oauth_error("Value passed for the grant type was invalid."),
    };
    let (access, refresh) = s.issue(&user_id);
    json_response(
        StatusCode::OK,
        HeaderMap::new(),
        json!({
            "token_type": "bearer", "expires_in": ACCESS_TTL_SECS, "access_token": access,
            "scope": crate::platforms::x::SCOPES, "refresh_token": refresh,
        }),
    )
}
