//! Media inspection: turns what the user passed (a local path or a URL) into a [`Media`]
//! with its kind, MIME type and size. The only I/O is reading a local file's metadata and
//! its first bytes; per-platform limits live in `domain::validate`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::post::{Media, MediaKind};

/// Why a media source was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("media source is empty: pass a local file path or an https URL")]
    Empty,
    #[error(
        "media `{media}` is neither a local file path nor an https URL: pass an absolute path, \
         a path relative to the current directory, a path starting with ~/, or https://…"
    )]
    BadSource { media: String },
    #[error(
        "media URL `{url}` uses plain http: use an https URL (http is allowed only for \
         localhost and 127.0.0.1)"
    )]
    InsecureUrl { url: String },
    #[error("cannot expand `~` in `{path}`: the home directory is unknown; pass an absolute path")]
    NoHome { path: String },
    #[error("media file `{path}` does not exist: check the path, or pass an https URL")]
    NotFound { path: String },
    #[error("media `{path}` is not a regular file: pass the path of an image or video file")]
    NotAFile { path: String },
    #[error("cannot read media file `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("media file `{path}` is empty: pass a file with an image or video in it")]
    EmptyFile { path: String },
    #[error(
        "cannot tell what kind of media `{media}` is: psn accepts PNG, JPEG, GIF and WebP images \
         and MP4, MOV and WebM videos (a URL must end in .jpg, .jpeg, .png, .gif, .webp, .mp4, \
         .mov or .webm)"
    )]
    UnknownType { media: String },
    #[error(
        "media `{media}` is a {format} file, which the platforms do not take: convert it to JPEG \
         or PNG"
    )]
    Unsupported { media: String, format: &'static str },
    #[error(
        "media `{media}` is {size}, over the {limit} limit for a {kind}: compress, resize or \
         shorten it"
    )]
    TooLarge {
        media: String,
        kind: &'static str,
        size: String,
        limit: String,
    },
}

/// Inspects a media source: a local path (absolute, `~/`-relative, or relative to the
/// current directory) or an https URL. A local file's type comes from its magic bytes,
/// with the extension as fallback; a URL's type from its extension, its size unknown.
pub fn inspect(source: &str, alt: Option<String>) -> Result<Media, MediaError> {
    let source = source.trim();
    if source.is_empty() {
        return Err(MediaError::Empty);
    }
    let alt = alt.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    if let Some((scheme, _)) = source.split_once("://") {
        return inspect_url(source, scheme, alt);
    }
    let cwd = std::env::current_dir().map_err(|e| MediaError::Unreadable {
        path: shorten(source),
        reason: format!("the current directory is unavailable ({e}); pass an absolute path"),
    })?;
    let home = dirs::home_dir();
    let path = resolve_path(source, &cwd, home.as_deref())?;
    inspect_file(&path, alt)
}

const MB: u64 = 1024 * 1024;
const IMAGE_CAP: u64 = 8 * MB;
/// X takes GIFs up to 15 MB, more than other images.
const GIF_CAP: u64 = 15 * MB;
const VIDEO_CAP: u64 = 512 * MB;

/// Resolves a local path: `~` and `~/…` against the home directory, relative paths
/// against `cwd`.
fn resolve_path(input: &str, cwd: &Path, home: Option<&Path>) -> Result<PathBuf, MediaError> {
    let rest = if input == "~" {
        Some("")
    } else {
        input.strip_prefix("~/")
    };
    if let Some(rest) = rest {
        let home = home.ok_or_else(|| MediaError::NoHome {
            path: shorten(input),
        })?;
        return Ok(home.join(rest));
    }
    if input.starts_with('~') {
        // `~user/…` would need a user database lookup; ask for something plainer.
        return Err(MediaError::BadSource {
            media: shorten(input),
        });
    }
    let path = Path::new(input);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    })
}

fn inspect_url(url: &str, scheme: &str, alt: Option<String>) -> Result<Media, MediaError> {
    let after_scheme = &url[scheme.len() + 3..];
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..authority_end];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(MediaError::BadSource {
            media: shorten(url),
        });
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => return Err(MediaError::InsecureUrl { url: shorten(url) }),
        _ => {
            return Err(MediaError::BadSource {
                media: shorten(url),
            });
        }
    }
    let path = &after_scheme[authority_end..];
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (kind, mime) = by_extension(path).ok_or_else(|| MediaError::UnknownType {
        media: shorten(url),
    })?;
    Ok(Media {
        source: url.to_string(),
        kind,
        mime: mime.to_string(),
        size_bytes: None,
        alt,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "::1"
}

fn inspect_file(path: &Path, alt: Option<String>) -> Result<Media, MediaError> {
    let shown = shorten(&path.to_string_lossy());
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => MediaError::NotFound {
            path: shown.clone(),
        },
        _ => MediaError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        },
    })?;
    if !meta.is_file() {
        return Err(MediaError::NotAFile { path: shown });
    }
    let size = meta.len();
    if size == 0 {
        return Err(MediaError::EmptyFile { path: shown });
    }
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut f| read_head(&mut f, &mut head))
        .map_err(|e| MediaError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let (kind, mime) = match sniff(&head[..read]) {
        Sniffed::Known(kind, mime) => (kind, mime),
        Sniffed::Unsupported(format) => {
            return Err(MediaError::Unsupported {
                media: shown,
                format,
            });
        }
        Sniffed::Unknown => {
            by_extension(&path.to_string_lossy()).ok_or(MediaError::UnknownType {
                media: shown.clone(),
            })?
        }
    };
    let (cap, kind_name) = match kind {
        MediaKind::Image => (IMAGE_CAP, "image"),
        MediaKind::Gif => (GIF_CAP, "GIF"),
        MediaKind::Video => (VIDEO_CAP, "video"),
    };
    if size > cap {
        return Err(MediaError::TooLarge {
            media: shown,
            kind: kind_name,
            size: megabytes(size),
            limit: megabytes(cap),
        });
    }
    Ok(Media {
        source: path.to_string_lossy().into_owned(),
        kind,
        mime: mime.to_string(),
        size_bytes: Some(size),
        alt,
    })
}

/// Reads up to `buf.len()` bytes, fewer only at the end of the file.
fn read_head(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

enum Sniffed {
    Known(MediaKind, &'static str),
    Unsupported(&'static str),
    Unknown,
}

/// Detects the format from a file's first bytes.
fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Known(MediaKind::Image, "image/png");
    }
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Known(MediaKind::Image, "image/jpeg");
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Sniffed::Known(MediaKind::Gif, "image/gif");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Sniffed::Known(MediaKind::Image, "image/webp");
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Sniffed::Known(MediaKind::Video, "video/webm");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"qt  " => Sniffed::Known(MediaKind::Video, "video/quicktime"),
            b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                Sniffed::Unsupported("HEIC")
            }
            b"avif" | b"avis" => Sniffed::Unsupported("AVIF"),
            _ => Sniffed::Known(MediaKind::Video, "video/mp4"),
        };
    }
    Sniffed::Unknown
}

/// The kind and MIME type for a path's or URL path's extension.
fn by_extension(path: &str) -> Option<(MediaKind, &'static str)> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let (_, ext) = name.rsplit_once('.')?;
    let found = match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => (MediaKind::Image, "image/jpeg"),
        "png" => (MediaKind::Image, "image/png"),
        "webp" => (MediaKind::Image, "image/webp"),
        "gif" => (MediaKind::Gif, "image/gif"),
        "mp4" => (MediaKind::Video, "video/mp4"),
        "mov" => (MediaKind::Video, "video/quicktime"),
        "webm" => (MediaKind::Video, "video/webm"),
        _ => return None,
    };
    Some(found)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

/// Keeps error messages readable when someone passes a huge string.
fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(bytes).unwrap();
        path
    }

    fn inspect_path(path: &Path) -> Result<Media, MediaError> {
        inspect(path.to_str().unwrap(), None)
    }

    #[test]
    fn detects_types_from_magic_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &[u8], MediaKind, &str)] = &[
            (
                "a.bin",
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
                MediaKind::Image,
                "image/png",
            ),
            (
                "b",
                &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10],
                MediaKind::Image,
                "image/jpeg",
            ),
            ("c.png", b"GIF89a\x01\0\x01\0", MediaKind::Gif, "image/gif"),
            (
                "d",
                b"RIFF\x24\0\0\0WEBPVP8 ",
                MediaKind::Image,
                "image/webp",
            ),
            (
                "e",
                b"\0\0\0\x18ftypmp42\0\0\0\0",
                MediaKind::Video,
                "video/mp4",
            ),
            (
                "f.mp4",
                b"\0\0\0\x14ftypqt  \0\0\0\0",
                MediaKind::Video,
                "video/quicktime",
            ),
            (
                "g",
                &[0x1A, 0x45, 0xDF, 0xA3, 0x9F],
                MediaKind::Video,
                "video/webm",
            ),
        ];
        for (name, bytes, kind, mime) in cases {
            let path = file_with(dir.path(), name, bytes);
            let media = inspect_path(&path).unwrap();
            assert_eq!(media.kind, *kind, "{name}");
            assert_eq!(media.mime, *mime, "{name}");
            assert_eq!(media.size_bytes, Some(bytes.len() as u64));
            assert_eq!(media.source, path.to_string_lossy());
        }
    }

    #[test]
    fn falls_back_to_the_extension_and_refuses_the_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with(dir.path(), "clip.MOV", b"not a real header");
        let media = inspect(path.to_str().unwrap(), Some("  a clip ".into())).unwrap();
        assert_eq!(media.kind, MediaKind::Video);
        assert_eq!(media.mime, "video/quicktime");
        assert_eq!(media.alt.as_deref(), Some("a clip"));
        let path = file_with(dir.path(), "notes.txt", b"hello");
        let err = inspect_path(&path).unwrap_err();
        assert!(matches!(err, MediaError::UnknownType { .. }));
        assert!(err.to_string().contains("psn accepts PNG, JPEG"));
        let path = file_with(dir.path(), "photo.jpg", b"\0\0\0\x18ftypheic\0\0\0\0");
        assert!(matches!(
            inspect_path(&path).unwrap_err(),
            MediaError::Unsupported { format: "HEIC", .. }
        ));
    }

    #[test]
    fn refuses_missing_files_directories_empty_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.png");
        assert!(matches!(
            inspect_path(&missing).unwrap_err(),
            MediaError::NotFound { .. }
        ));
        assert!(matches!(
            inspect_path(dir.path()).unwrap_err(),
            MediaError::NotAFile { .. }
        ));
        let empty = file_with(dir.path(), "empty.png", b"");
        assert!(matches!(
            inspect_path(&empty).unwrap_err(),
            MediaError::EmptyFile { .. }
        ));
        let big = file_with(dir.path(), "big.png", b"\x89PNG\r\n\x1a\n");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(9 * MB)
            .unwrap();
        let err = inspect_path(&big).unwrap_err();
        assert!(matches!(err, MediaError::TooLarge { kind: "image", .. }));
        assert!(
            err.to_string().contains("9.0 MB, over the 8.0 MB limit"),
            "{err}"
        );
    }

    #[test]
    fn resolves_home_and_relative_paths() {
        let cwd = Path::new("/work/here");
        let home = Path::new("/home/me");
        assert_eq!(
            resolve_path("~/pics/a.png", cwd, Some(home)).unwrap(),
            PathBuf::from("/home/me/pics/a.png")
        );
        assert_eq!(
            resolve_path("pics/a.png", cwd, Some(home)).unwrap(),
            PathBuf::from("/work/here/pics/a.png")
        );
        assert_eq!(
            resolve_path("/abs/a.png", cwd, Some(home)).unwrap(),
            PathBuf::from("/abs/a.png")
        );
        assert!(matches!(
            resolve_path("~/a.png", cwd, None).unwrap_err(),
            MediaError::NoHome { .. }
        ));
        assert!(matches!(
            resolve_path("~bob/a.png", cwd, Some(home)).unwrap_err(),
            MediaError::BadSource { .. }
        ));
    }

    #[test]
    fn urls_must_be_https_except_on_localhost() {
        let media = inspect("https://cdn.example.com/v/clip.mp4?sig=abc", None).unwrap();
        assert_eq!(media.kind, MediaKind::Video);
        assert_eq!(media.mime, "video/mp4");
        assert_eq!(media.size_bytes, None);
        let media = inspect("HTTPS://cdn.example.com/a.JPEG#x", None).unwrap();
        assert_eq!(media.mime, "image/jpeg");
        assert!(inspect("http://localhost:8080/a.png", None).is_ok());
        assert!(inspect("http://127.0.0.1/a.gif", None).is_ok());
        let err = inspect("http://example.com/a.png", None).unwrap_err();
        assert!(matches!(err, MediaError::InsecureUrl { .. }));
        assert!(err.to_string().contains("use an https URL"));
        assert!(matches!(
            inspect("ftp://example.com/a.png", None).unwrap_err(),
            MediaError::BadSource { .. }
        ));
        assert!(matches!(
            inspect("https://example.com/page.html", None).unwrap_err(),
            MediaError::UnknownType { .. }
        ));
        assert!(matches!(
            inspect("https://example.com", None).unwrap_err(),
            MediaError::UnknownType { .. }
        ));
        assert!(matches!(
            inspect("https:///a.png", None).unwrap_err(),
            MediaError::BadSource { .. }
        ));
        assert!(matches!(
            inspect("   ", None).unwrap_err(),
            MediaError::Empty
        ));
    }

    #[test]
    fn huge_input_gives_a_short_error() {
        let huge = format!("https://example.com/{}", "x".repeat(100_000));
        let err = inspect(&huge, None).unwrap_err();
        assert!(err.to_string().len() < 600);
    }
}
