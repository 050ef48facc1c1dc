//! Bluesky's wire types: what its XRPC answers look like. Private to the adapter.

use serde::Deserialize;
use serde_json::Value;

use super::jwt_expiry;
use crate::config::Secret;
use crate::platforms::Credentials;

pub(super) struct StrongRef {
    pub(super) uri: String,
    pub(super) cid: String,
    pub(super) text: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct XrpcError {
    pub(super) error: Option<String>,
    pub(super) message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireSession {
    pub(super) access_jwt: String,
    pub(super) refresh_jwt: String,
    #[serde(default)]
    pub(super) handle: String,
    pub(super) did: String,
    /// The account's DID document: names the PDS that holds the repository, which may
    /// differ from the server that answered (an entryway such as bsky.social).
    #[serde(default)]
    pub(super) did_doc: Option<Value>,
}

impl WireSession {
    pub(super) fn into_credentials(self, pds: Option<String>) -> Credentials {
        let pds = self.pds_endpoint().or(pds);
        Credentials {
            expires_at: jwt_expiry(&self.access_jwt),
            access_token: Secret::new(self.access_jwt),
            refresh_token: Some(Secret::new(self.refresh_jwt)),
            user_id: Some(self.did),
            handle: self.handle,
            server_url: pds,
        }
    }
}

impl WireSession {
    /// The `#atproto_pds` service endpoint of the DID document, if it names one.
    fn pds_endpoint(&self) -> Option<String> {
        self.did_doc
            .as_ref()?
            .get("service")?
            .as_array()?
            .iter()
            .find(|s| {
                s.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.ends_with("#atproto_pds"))
            })?
            .get("serviceEndpoint")?
            .as_str()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| u.trim_end_matches('/').to_owned())
    }
}

#[derive(Deserialize)]
pub(super) struct WireRecord {
    pub(super) uri: String,
    pub(super) cid: Option<String>,
    pub(super) value: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct WirePosts {
    pub(super) posts: Vec<WirePost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WirePost {
    pub(super) uri: String,
    pub(super) author: Option<WireAuthor>,
    pub(super) record: Option<Value>,
    pub(super) like_count: Option<u64>,
    pub(super) repost_count: Option<u64>,
    pub(super) reply_count: Option<u64>,
    pub(super) quote_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireAuthor {
    pub(super) did: String,
    pub(super) handle: String,
    pub(super) followers_count: Option<u64>,
}

#[derive(Deserialize)]
pub(super) struct WireSearch {
    pub(super) posts: Vec<WirePost>,
    pub(super) cursor: Option<String>,
}
