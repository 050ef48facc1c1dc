//! Media upload to X: one request for images, initialize/append/finalize for videos and
//! GIFs, then `STATUS` polling until X has processed them.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::wire::{MediaEnvelope, ProcessingInfo};
use super::{CHUNK, MAX_STATUS_POLLS, XClient};
use crate::domain::{Media, MediaKind};
use crate::platforms::http::{self, CallKind};
use crate::platforms::{Credentials, PlatformError};

/// X's size limits: images 5 MB, GIFs 15 MB, videos 512 MB.
const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;
const MAX_GIF_BYTES: u64 = 15 * 1024 * 1024;
const MAX_VIDEO_BYTES: u64 = 512 * 1024 * 1024;

impl XClient {
    /// Uploads one media item and returns its media id.
    pub(super) async fn upload(
        &self,
        creds: &Credentials,
        media: &Media,
    ) -> Result<String, PlatformError> {
        let max = match media.kind {
            MediaKind::Image => MAX_IMAGE_BYTES,
            MediaKind::Gif => MAX_GIF_BYTES,
            MediaKind::Video => MAX_VIDEO_BYTES,
        };
        let id = match media.kind {
            MediaKind::Image => {
                let bytes = http::load_media(&self.http, &media.source, max).await?;
                self.upload_simple(creds, media, bytes).await?
            }
            // A local video is read chunk by chunk, never whole; a URL is downloaded
            // (capped) first, since X wants the total size up front.
            MediaKind::Gif | MediaKind::Video if !http::is_url(&media.source) => {
                let path = media
                    .source
                    .strip_prefix("file://")
                    .unwrap_or(&media.source);
                let unreadable = |e: std::io::Error| PlatformError::Permanent {
                    message: format!("cannot read media file {}: {e}", http::shorten(path)),
                };
                let size = tokio::fs::metadata(path).await.map_err(unreadable)?.len();
                if size > max {
                    return Err(PlatformError::Permanent {
                        message: format!(
                            "media {} is {size} bytes; X accepts at most {max}",
                            http::shorten(path)
                        ),
                    });
                }
                let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
                self.upload_chunked(creds, media, size, &mut file).await?
            }
            MediaKind::Gif | MediaKind::Video => {
                let bytes = http::load_media(&self.http, &media.source, max).await?;
                let size = bytes.len() as u64;
                self.upload_chunked(creds, media, size, &mut bytes.as_slice())
                    .await?
            }
        };
        if let Some(alt) = media.alt.as_deref().filter(|a| !a.trim().is_empty()) {
            let body = json!({ "id": id, "metadata": { "alt_text": { "text": alt } } });
            self.call(
                self.http
                    .post(self.url("/2/media/metadata"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&body),
                CallKind::Read,
                "setting alt text on X media",
            )
            .await?;
        }
        Ok(id)
    }

    async fn upload_simple(
        &self,
        creds: &Credentials,
        media: &Media,
        bytes: Vec<u8>,
    ) -> Result<String, PlatformError> {
        let form = Form::new()
            .part("media", media_part(media, bytes)?)
            .text("media_category", "tweet_image");
        let reply = self
            .call(
                self.http
                    .post(self.url("/2/media/upload"))
                    .bearer_auth(creds.access_token.expose())
                    .multipart(form),
                CallKind::Read,
                "uploading an image to X",
            )
            .await?;
        let up: MediaEnvelope = reply.json("uploading an image to X", CallKind::Read)?;
        let id = up.id().ok_or_else(|| PlatformError::Permanent {
            message: "uploading an image to X: the answer held no media id".into(),
        })?;
        if let Some(info) = up.data.and_then(|d| d.processing_info) {
            self.wait_processed(creds, &id, info).await?;
        }
        Ok(id)
    }

    /// INITIALIZE with the total size, APPEND `CHUNK`-sized segments read from `source`,
    /// FINALIZE, then wait for processing.
    async fn upload_chunked(
        &self,
        creds: &Credentials,
        media: &Media,
        total: u64,
        source: &mut (dyn AsyncRead + Unpin + Send),
    ) -> Result<String, PlatformError> {
        let category = match media.kind {
            MediaKind::Gif => "tweet_gif",
            _ => "tweet_video",
        };
        let init = json!({
            "media_type": media.mime,
            "total_bytes": total,
            "media_category": category,
        });
        let what = "starting a chunked upload to X";
        let reply = self
            .call(
                self.http
                    .post(self.url("/2/media/upload/initialize"))
                    .bearer_auth(creds.access_token.expose())
                    .json(&init),
                CallKind::Read,
                what,
            )
            .await?;
        let id = reply
            .json::<MediaEnvelope>(what, CallKind::Read)?
            .id()
            .ok_or_else(|| PlatformError::Permanent {
                message: format!("{what}: the answer held no media id"),
            })?;
        let mut sent: u64 = 0;
        for index in 0.. {
            let chunk = read_chunk(source)
                .await
                .map_err(|e| PlatformError::Permanent {
                    message: format!("cannot read {}: {e}", http::shorten(&media.source)),
                })?;
            if chunk.is_empty() {
                break;
            }
            sent += chunk.len() as u64;
            let form = Form::new()
                .part("media", media_part(media, chunk)?)
                .text("segment_index", index.to_string());
            self.call(
                self.http
                    .post(self.url(&format!("/2/media/upload/{id}/append")))
                    .bearer_auth(creds.access_token.expose())
                    .multipart(form),
                CallKind::Read,
                "uploading a chunk to X",
            )
            .await?;
        }
        if sent != total {
            return Err(PlatformError::Permanent {
                message: format!(
                    "{} changed while it was uploaded ({sent} bytes read, {total} expected)",
                    http::shorten(&media.source)
                ),
            });
        }
        let what = "finishing a chunked upload to X";
        let reply = self
            .call(
                self.http
                    .post(self.url(&format!("/2/media/upload/{id}/finalize")))
                    .bearer_auth(creds.access_token.expose()),
                CallKind::Read,
                what,
            )
            .await?;
        let fin: MediaEnvelope = reply.json(what, CallKind::Read)?;
        if let Some(info) = fin.data.and_then(|d| d.processing_info) {
            self.wait_processed(creds, &id, info).await?;
        }
        Ok(id)
    }

    /// Polls `STATUS` until X has processed the media, honouring `check_after_secs`.
    async fn wait_processed(
        &self,
        creds: &Credentials,
        id: &str,
        mut info: ProcessingInfo,
    ) -> Result<(), PlatformError> {
        for _ in 0..MAX_STATUS_POLLS {
            match info.state.as_str() {
                "succeeded" => return Ok(()),
                "failed" => {
                    let why = info
                        .error
                        .and_then(|e| e.message.or(e.name))
                        .unwrap_or_else(|| "no reason given".into());
                    return Err(PlatformError::Permanent {
                        message: format!("X could not process media {id}: {why}"),
                    });
                }
                _ => {}
            }
            let wait =
                Duration::from_secs(info.check_after_secs.unwrap_or(1)).min(self.max_poll_wait);
            tokio::time::sleep(wait).await;
            let what = "checking X media processing";
            let reply = self
                .call(
                    self.http
                        .get(self.url("/2/media/upload"))
                        .bearer_auth(creds.access_token.expose())
                        .query(&[("command", "STATUS"), ("media_id", id)]),
                    CallKind::Read,
                    what,
                )
                .await?;
            let status: MediaEnvelope = reply.json(what, CallKind::Read)?;
            match status.data.and_then(|d| d.processing_info) {
                Some(next) => info = next,
                None => return Ok(()),
            }
        }
        Err(PlatformError::Retryable {
            message: format!("X is still processing media {id}; try again later"),
            retry_after: None,
        })
    }
}

/// Reads up to `CHUNK` bytes: fewer only at the end.
async fn read_chunk(source: &mut (dyn AsyncRead + Unpin + Send)) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0;
    while filled < buf.len() {
        let n = source.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

fn media_part(media: &Media, bytes: Vec<u8>) -> Result<Part, PlatformError> {
    let name = media
        .source
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("media")
        .to_owned();
    Part::bytes(bytes)
        .file_name(name)
        .mime_str(&media.mime)
        .map_err(|_| PlatformError::Permanent {
            message: format!("`{}` is not a valid MIME type", http::shorten(&media.mime)),
        })
}
