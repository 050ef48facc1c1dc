//! Per-platform content validation by each platform's real rules: length as the platform
//! measures it, thread support, and what media a part may carry. Nothing here does I/O;
//! media sizes come from [`Media::size_bytes`], filled in by `domain::media::inspect`.

use schemars::JsonSchema;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use super::platform::Platform;
use super::post::{Media, MediaKind, PostContent, PostPart};

/// Limits that differ per account or instance rather than per platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The Mastodon instance's `max_characters` (500 on mastodon.social).
    pub mastodon_max_chars: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            mastodon_max_chars: 500,
        }
    }
}

/// The measured length of one part against its platform's limit.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PartMeasure {
    /// The part number, starting at 1.
    pub part: u32,
    pub length: u32,
    pub limit: u32,
    /// What `length` counts: "weighted characters" (X), "graphemes" (Bluesky) or "characters".
    pub unit: &'static str,
}

/// What validation found: errors block the post, warnings do not.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ValidationReport {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub measures: Vec<PartMeasure>,
}

impl ValidationReport {
    /// True when nothing blocks the post.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Validates a post's content for one platform.
pub fn validate(platform: Platform, content: &PostContent, limits: &Limits) -> ValidationReport {
    let mut report = ValidationReport::default();
    let name = display_name(platform);
    let parts = &content.parts;
    if parts.is_empty() {
        report.errors.push(format!(
            "{name} post has no parts: give at least one part with text or media"
        ));
        return report;
    }
    let threads = supports_threads(platform);
    if !threads && parts.len() > 1 {
        report.errors.push(format!(
            "{name} does not support threads, but this post has {} parts: merge them into one part, \
             or target {name} with a separate single-part post",
            parts.len()
        ));
    }
    for (index, part) in parts.iter().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let label = if parts.len() > 1 {
            format!("{name} part {number}")
        } else {
            format!("{name} post")
        };
        if part.text.trim().is_empty() && part.media.is_empty() {
            report
                .errors
                .push(format!("{label} is empty: add text or media"));
        }
        let (length, limit, unit) = measure(platform, &part.text, limits);
        report.measures.push(PartMeasure {
            part: number,
            length,
            limit,
            unit,
        });
        if length > limit {
            let split = if threads {
                " or split it into another part"
            } else {
                ""
            };
            report.errors.push(format!(
                "{label} is {length} {unit}, over the {limit} limit: shorten it by {}{split}",
                length - limit
            ));
        }
        check_text_extras(platform, &label, &part.text, &mut report);
        check_media(platform, &label, index, part, &mut report);
    }
    report
}

/// The length of `text` as X counts it (twitter-text v3): NFC-normalised; every URL counts
/// 23; code points in the light ranges count 1 and all others 2; an emoji, however many
/// code points its sequence has (ZWJ, skin tones, flags, keycaps), counts 2.
pub fn x_weighted_length(text: &str) -> u32 {
    let text: String = text.nfc().collect();
    let mut total: u64 = 0;
    let mut pos = 0;
    for (start, end) in find_urls(&text, true) {
        total += weigh_plain(&text[pos..start]);
        total += URL_LENGTH;
        pos = end;
    }
    total += weigh_plain(&text[pos..]);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// What every URL counts as on X and Mastodon (the t.co length).
const URL_LENGTH: u64 = 23;

const X_LIMIT: u32 = 280;
const BLUESKY_GRAPHEMES: u32 = 300;
const BLUESKY_BYTES: usize = 3000;
const LINKEDIN_LIMIT: u32 = 3000;
const THREADS_LIMIT: u32 = 500;
const INSTAGRAM_LIMIT: u32 = 2200;
const INSTAGRAM_HASHTAGS: usize = 30;
const TIKTOK_LIMIT: u32 = 2200;

const MB: u64 = 1024 * 1024;
const X_IMAGE_BYTES: u64 = 5 * MB;
const X_GIF_BYTES: u64 = 15 * MB;
const X_VIDEO_BYTES: u64 = 512 * MB;
/// Bluesky's blob limit for images is in decimal bytes.
const BLUESKY_IMAGE_BYTES: u64 = 2_000_000;
const BLUESKY_VIDEO_BYTES: u64 = 100 * MB;

const WEIGHTED: &str = "weighted characters";
const GRAPHEMES: &str = "graphemes";
const CHARACTERS: &str = "characters";

fn display_name(platform: Platform) -> &'static str {
    match platform {
        Platform::X => "X",
        Platform::Bluesky => "Bluesky",
        Platform::Linkedin => "LinkedIn",
        Platform::Instagram => "Instagram",
        Platform::Tiktok => "TikTok",
        Platform::Threads => "Threads",
        Platform::Mastodon => "Mastodon",
    }
}

fn supports_threads(platform: Platform) -> bool {
    matches!(
        platform,
        Platform::X | Platform::Bluesky | Platform::Threads | Platform::Mastodon
    )
}

/// Length, limit and unit of one part's text. "Characters" are Unicode scalar values,
/// which never undercounts what LinkedIn, Threads, Instagram and TikTok show.
fn measure(platform: Platform, text: &str, limits: &Limits) -> (u32, u32, &'static str) {
    let chars = || u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    match platform {
        Platform::X => (x_weighted_length(text), X_LIMIT, WEIGHTED),
        Platform::Bluesky => (grapheme_count(text), BLUESKY_GRAPHEMES, GRAPHEMES),
        Platform::Linkedin => (chars(), LINKEDIN_LIMIT, CHARACTERS),
        Platform::Threads => (chars(), THREADS_LIMIT, CHARACTERS),
        Platform::Instagram => (chars(), INSTAGRAM_LIMIT, CHARACTERS),
        Platform::Tiktok => (chars(), TIKTOK_LIMIT, CHARACTERS),
        Platform::Mastodon => (mastodon_length(text), limits.mastodon_max_chars, CHARACTERS),
    }
}

fn grapheme_count(text: &str) -> u32 {
    u32::try_from(text.graphemes(true).count()).unwrap_or(u32::MAX)
}

fn check_text_extras(platform: Platform, label: &str, text: &str, report: &mut ValidationReport) {
    match platform {
        Platform::Bluesky if text.len() > BLUESKY_BYTES => report.errors.push(format!(
            "{label} is {} bytes of UTF-8, over Bluesky's {BLUESKY_BYTES}-byte limit: shorten it",
            text.len()
        )),
        Platform::Instagram => {
            let tags = hashtag_count(text);
            if tags > INSTAGRAM_HASHTAGS {
                report.errors.push(format!(
                    "{label} has {tags} hashtags, over Instagram's limit of {INSTAGRAM_HASHTAGS}: \
                     remove {}",
                    tags - INSTAGRAM_HASHTAGS
                ));
            }
        }
        _ => {}
    }
}

fn check_media(
    platform: Platform,
    label: &str,
    index: usize,
    part: &PostPart,
    report: &mut ValidationReport,
) {
    let media = &part.media;
    let images = media.iter().filter(|m| m.kind == MediaKind::Image).count();
    let gifs = media.iter().filter(|m| m.kind == MediaKind::Gif).count();
    let videos = media.iter().filter(|m| m.kind == MediaKind::Video).count();
    let errors = &mut report.errors;
    match platform {
        Platform::X => {
            if videos + gifs > 0 && media.len() > 1 {
                errors.push(format!(
                    "{label} has {} media with a video or GIF among them: X takes up to 4 images, \
                     or one video or GIF on its own; move the others to another part",
                    media.len()
                ));
            } else if images > 4 {
                errors.push(format!(
                    "{label} has {images} images, over X's limit of 4: remove {} or move them to \
                     another part",
                    images - 4
                ));
            }
            for (n, m) in media.iter().enumerate() {
                let cap = match m.kind {
                    MediaKind::Image => X_IMAGE_BYTES,
                    MediaKind::Gif => X_GIF_BYTES,
                    MediaKind::Video => X_VIDEO_BYTES,
                };
                check_size(errors, label, n, m, cap, "X");
            }
        }
        Platform::Bluesky => {
            if videos > 0 && media.len() > 1 {
                errors.push(format!(
                    "{label} has {} media with a video among them: Bluesky takes up to 4 images, \
                     or one video on its own; move the others to another part",
                    media.len()
                ));
            } else if images + gifs > 4 {
                errors.push(format!(
                    "{label} has {} images, over Bluesky's limit of 4: remove {} or move them to \
                     another part",
                    images + gifs,
                    images + gifs - 4
                ));
            }
            for (n, m) in media.iter().enumerate() {
                let cap = match m.kind {
                    MediaKind::Video => BLUESKY_VIDEO_BYTES,
                    MediaKind::Image | MediaKind::Gif => BLUESKY_IMAGE_BYTES,
                };
                check_size(errors, label, n, m, cap, "Bluesky");
            }
            warn_missing_alt(report, label, media);
        }
        Platform::Mastodon => {
            if (videos + gifs > 0) && media.len() > 1 {
                errors.push(format!(
                    "{label} has {} media with a video or GIF among them: Mastodon takes up to 4 \
                     images, or one video or GIF on its own; move the others to another part",
                    media.len()
                ));
            } else if media.len() > 4 {
                errors.push(format!(
                    "{label} has {} attachments, over Mastodon's limit of 4: remove {} or move \
                     them to another part",
                    media.len(),
                    media.len() - 4
                ));
            }
            warn_missing_alt(report, label, media);
        }
        Platform::Threads => {
            if media.len() > 10 {
                errors.push(format!(
                    "{label} has {} media, over Threads' carousel limit of 10: remove {} or move \
                     them to another part",
                    media.len(),
                    media.len() - 10
                ));
            }
        }
        Platform::Linkedin => {
            if videos > 0 && media.len() > 1 {
                errors.push(format!(
                    "{label} has {} media with a video among them: LinkedIn takes up to 20 images, \
                     or one video on its own",
                    media.len()
                ));
            } else if media.len() > 20 {
                errors.push(format!(
                    "{label} has {} images, over LinkedIn's limit of 20: remove {}",
                    media.len(),
                    media.len() - 20
                ));
            }
        }
        Platform::Instagram => {
            if index == 0 && images + videos == 0 {
                errors.push(format!(
                    "{label} has no image or video: Instagram has no text-only posts; attach at \
                     least one image or video"
                ));
            }
            if gifs > 0 {
                errors.push(format!(
                    "{label} has a GIF: Instagram does not take GIFs; convert it to an MP4 video"
                ));
            }
            if media.len() > 10 {
                errors.push(format!(
                    "{label} has {} media, over Instagram's carousel limit of 10: remove {}",
                    media.len(),
                    media.len() - 10
                ));
            }
        }
        Platform::Tiktok => {
            if videos != 1 || media.len() != 1 {
                errors.push(format!(
                    "{label} has {videos} videos and {} other media: TikTok needs exactly one \
                     video and nothing else; attach one MP4, MOV or WebM file",
                    images + gifs
                ));
            }
        }
    }
}

fn check_size(
    errors: &mut Vec<String>,
    label: &str,
    n: usize,
    media: &Media,
    cap: u64,
    platform: &str,
) {
    if let Some(size) = media.size_bytes
        && size > cap
    {
        let kind = kind_name(media.kind);
        errors.push(format!(
            "{label} {kind} {} (`{}`) is {}, over {platform}'s {} limit for a {kind}: compress or \
             resize it",
            n + 1,
            media.source,
            megabytes(size),
            megabytes(cap)
        ));
    }
}

fn warn_missing_alt(report: &mut ValidationReport, label: &str, media: &[Media]) {
    for (n, m) in media.iter().enumerate() {
        let missing = m.alt.as_deref().is_none_or(|alt| alt.trim().is_empty());
        if missing && m.kind != MediaKind::Video {
            report.warnings.push(format!(
                "{label} {} {} has no alt text: add a short description for people using screen \
                 readers",
                kind_name(m.kind),
                n + 1
            ));
        }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Gif => "GIF",
        MediaKind::Video => "video",
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

/// Sums twitter-text weights over text that holds no URL.
fn weigh_plain(text: &str) -> u64 {
    text.graphemes(true)
        .map(|g| {
            if is_emoji(g) {
                2
            } else {
                g.chars().map(char_weight).sum()
            }
        })
        .sum()
}

/// twitter-text v3: these ranges weigh 100 (one character), everything else 200 (two).
fn char_weight(c: char) -> u64 {
    match u32::from(c) {
        0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247 => 1,
        _ => 2,
    }
}

/// Whether a grapheme cluster is an emoji as twitter-text's emoji parsing sees it.
/// Emoji-presentation code points (the U+1Fxxx planes, regional indicators, skin tones)
/// make one; text-default symbols (©, ☺, ❤, digits) only with U+FE0F or a keycap.
fn is_emoji(grapheme: &str) -> bool {
    let mut chars = grapheme.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if grapheme
        .chars()
        .any(|c| ('\u{1F000}'..='\u{1FAFF}').contains(&c))
    {
        return true;
    }
    let keycap = grapheme.contains('\u{20E3}');
    let presentation = keycap || grapheme.contains('\u{FE0F}');
    match first {
        '0'..='9' | '#' | '*' => keycap,
        '\u{A9}'
        | '\u{AE}'
        | '\u{203C}'
        | '\u{2049}'
        | '\u{2122}'
        | '\u{2139}'
        | '\u{2194}'..='\u{2BFF}'
        | '\u{3030}'
        | '\u{303D}'
        | '\u{3297}'
        | '\u{3299}' => presentation,
        _ => false,
    }
}

/// Mastodon's count: graphemes, with each http(s) URL as 23 and each `@user@domain`
/// mention as just `@user`.
fn mastodon_length(text: &str) -> u32 {
    let mut total: u64 = 0;
    let mut pos = 0;
    for (start, end) in find_urls(text, false) {
        total += mastodon_plain(&text[pos..start]);
        total += URL_LENGTH;
        pos = end;
    }
    total += mastodon_plain(&text[pos..]);
    u32::try_from(total).unwrap_or(u32::MAX)
}

/// Graphemes in URL-free text, counting a remote mention's domain as nothing.
fn mastodon_plain(text: &str) -> u64 {
    let mut total = 0u64;
    let mut pos = 0;
    for (domain_start, domain_end) in remote_mention_domains(text) {
        total += text[pos..domain_start].graphemes(true).count() as u64;
        pos = domain_end;
    }
    total + text[pos..].graphemes(true).count() as u64
}

/// Byte ranges of the `@domain` tails of `@user@domain` mentions.
fn remote_mention_domains(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let preceded_ok = i == 0 || !is_word_byte(bytes[i - 1]) && bytes[i - 1] != b'/';
        if bytes[i] != b'@' || !preceded_ok {
            i += 1;
            continue;
        }
        let user_end = scan(bytes, i + 1, |b| b.is_ascii_alphanumeric() || b == b'_');
        if user_end == i + 1 || bytes.get(user_end) != Some(&b'@') {
            i = user_end.max(i + 1);
            continue;
        }
        let mut domain_end = scan(bytes, user_end + 1, |b| {
            b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
        });
        while domain_end > user_end + 1 && !bytes[domain_end - 1].is_ascii_alphanumeric() {
            domain_end -= 1;
        }
        if domain_end > user_end + 1 {
            found.push((user_end, domain_end));
        }
        i = domain_end.max(user_end + 1);
    }
    found
}

fn hashtag_count(text: &str) -> usize {
    let mut count = 0;
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let starts = matches!(c, '#' | '＃')
            && prev.is_none_or(|p| !p.is_alphanumeric() && p != '&' && p != '#' && p != '_')
            && chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || *n == '_');
        if starts {
            count += 1;
        }
        prev = Some(c);
    }
    count
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

/// Byte ranges of the URLs in `text`, in order, roughly as twitter-text extracts them:
/// `http(s)://` URLs with a valid host, and (when `bare` is set) protocol-less domains with
/// a known top-level domain. A two-label domain under a country code needs a path to count
/// (`example.de/x`, not `main.rs`), as in twitter-text.
fn find_urls(text: &str, bare: bool) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut prev: Option<char> = None;
    let mut skip_until = 0;
    for (i, c) in text.char_indices() {
        if i >= skip_until && url_may_start(prev) {
            let matched = match_protocol_url(text, i).or_else(|| {
                (bare && c.is_ascii_alphanumeric() && bare_may_start(prev))
                    .then(|| match_bare_url(text, i))
                    .flatten()
            });
            if let Some(end) = matched {
                found.push((i, end));
                skip_until = end;
            }
        }
        prev = Some(c);
    }
    found
}

fn url_may_start(prev: Option<char>) -> bool {
    prev.is_none_or(|p| !(p.is_alphanumeric() || matches!(p, '@' | '＠' | '$' | '#' | '＃')))
}

fn bare_may_start(prev: Option<char>) -> bool {
    prev.is_none_or(|p| !matches!(p, '-' | '_' | '.' | '/'))
}

/// Matches `http://` or `https://` plus a valid host at `start`; returns the URL's end.
fn match_protocol_url(text: &str, start: usize) -> Option<usize> {
    let rest = &text[start..];
    let scheme_len = ["https://", "http://"].iter().find_map(|scheme| {
        rest.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| scheme.len())
    })?;
    let host_start = start + scheme_len;
    let host_end = host_start
        + text[host_start..]
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map_or(text.len() - host_start, |(j, _)| j);
    let host = text[host_start..host_end].trim_end_matches('.');
    if !valid_host(host, true) {
        return None;
    }
    Some(url_tail(text, host_start + host.len()))
}

/// Matches a protocol-less domain with a known top-level domain at `start`.
fn match_bare_url(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let host_end = scan(bytes, start, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
    });
    let host = text[start..host_end].trim_end_matches('.');
    if !valid_host(host, false) {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels
        .last()
        .copied()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !(GENERIC_TLDS.split_whitespace().any(|g| g == tld) || is_country_code(&tld)) {
        return None;
    }
    let host_end = start + host.len();
    let end = url_tail(text, host_end);
    let has_path = end > host_end;
    let short_country_domain = labels.len() == 2 && is_country_code(&tld);
    if short_country_domain && !has_path && !host.eq_ignore_ascii_case("t.co") {
        return None;
    }
    Some(end)
}

/// Host rules: two or more labels (or an IPv4 address), no empty label, labels at most 63
/// bytes that neither start nor end with `-`, underscores only below the registered domain,
/// and an alphabetic top-level domain.
fn valid_host(host: &str, allow_unicode: bool) -> bool {
    if host.is_empty() || (!allow_unicode && !host.is_ascii()) {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    if labels.len() == 4 && labels.iter().all(|l| l.parse::<u8>().is_ok()) {
        return true;
    }
    let registered = labels.len().saturating_sub(2);
    let labels_ok = labels.iter().enumerate().all(|(n, label)| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && (n < registered || !label.contains('_'))
    });
    let tld = labels.last().copied().unwrap_or_default();
    labels_ok && tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic)
}

/// After the host: an optional `:port`, then a path, query or fragment up to whitespace,
/// without trailing punctuation (a closing parenthesis stays when the URL opened one).
fn url_tail(text: &str, host_end: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = host_end;
    if bytes.get(end) == Some(&b':') {
        let port_end = scan(bytes, end + 1, |b| b.is_ascii_digit());
        if port_end > end + 1 {
            end = port_end;
        }
    }
    if !matches!(bytes.get(end), Some(b'/' | b'?' | b'#')) {
        return end;
    }
    let tail_len = text[end..]
        .char_indices()
        .find(|(_, c)| ends_url(*c))
        .map_or(text.len() - end, |(j, _)| j);
    let mut tail = &text[end..end + tail_len];
    let opens = tail.matches('(').count();
    let mut closes = tail.matches(')').count();
    while let Some(last) = tail.chars().next_back() {
        let unbalanced_paren = last == ')' && opens < closes;
        if last == ')' {
            closes = closes.saturating_sub(1);
        }
        let trailing = matches!(
            last,
            '.' | ',' | ':' | ';' | '!' | '?' | '\'' | ']' | '}' | '*' | '…'
        ) || unbalanced_paren;
        if !trailing {
            break;
        }
        tail = &tail[..tail.len() - last.len_utf8()];
    }
    end + tail.len()
}

fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '<'
                | '>'
                | '`'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'
                | '\u{FEFF}'
        )
}

/// Two-letter top-level domains are country codes; all are accepted.
fn is_country_code(tld: &str) -> bool {
    tld.len() == 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Common generic top-level domains twitter-text links without a protocol.
const GENERIC_TLDS: &str = "\
    com net org edu gov mil int info biz name pro aero asia cat coop jobs mobi museum \
    tel travel app dev page blog news tech online site store shop xyz club live cloud \
    design social media space website art fun top wiki email link one world today life \
    studio agency digital network systems software codes tools solutions company global \
    group zone video photo photos music games game events community team works run chat \
    bot ninja rocks guru expert academy school church health care law finance money bank \
    capital";

#[cfg(test)]
mod tests {
    use super::*;

    fn content(parts: &[&str]) -> PostContent {
        PostContent {
            parts: parts
                .iter()
                .map(|t| PostPart {
                    text: (*t).to_string(),
                    media: vec![],
                })
                .collect(),
        }
    }

    fn media(kind: MediaKind, size: Option<u64>, alt: Option<&str>) -> Media {
        let (mime, ext) = match kind {
            MediaKind::Image => ("image/png", "png"),
            MediaKind::Gif => ("image/gif", "gif"),
            MediaKind::Video => ("video/mp4", "mp4"),
        };
        Media {
            source: format!("/tmp/file.{ext}"),
            kind,
            mime: mime.into(),
            size_bytes: size,
            alt: alt.map(str::to_string),
        }
    }

    fn with_media(text: &str, media: Vec<Media>) -> PostContent {
        PostContent {
            parts: vec![PostPart {
                text: text.into(),
                media,
            }],
        }
    }

    #[test]
    fn x_plain_ascii_280_passes_and_281_fails() {
        let ok = "a".repeat(280);
        assert_eq!(x_weighted_length(&ok), 280);
        assert!(validate(Platform::X, &content(&[&ok]), &Limits::default()).is_ok());
        let long = "a".repeat(281);
        let report = validate(Platform::X, &content(&[&long]), &Limits::default());
        assert!(!report.is_ok());
        assert_eq!(report.measures[0].length, 281);
        assert!(report.errors[0].contains("281 weighted characters, over the 280 limit"));
        assert!(report.errors[0].contains("shorten it by 1"));
    }

    #[test]
    fn x_error_names_the_part_and_suggests_a_split() {
        let long = "b".repeat(291);
        let report = validate(Platform::X, &content(&["hi", &long]), &Limits::default());
        assert_eq!(
            report.errors,
            vec![
                "X part 2 is 291 weighted characters, over the 280 limit: shorten it by 11 or \
                 split it into another part"
            ]
        );
        assert_eq!(report.measures.len(), 2);
        assert_eq!(report.measures[1].part, 2);
    }

    #[test]
    fn x_urls_count_23_whatever_their_length() {
        assert_eq!(x_weighted_length("http://test.co"), 23);
        assert_eq!(x_weighted_length("Hi http://test.co"), 26);
        let long = format!("https://example.com/{}", "p".repeat(400));
        assert_eq!(x_weighted_length(&long), 23);
        assert_eq!(
            x_weighted_length("Test https://test.com test https://test.com test.com test"),
            86
        );
        assert_eq!(x_weighted_length("example.com/path/to/resource?x=1"), 23);
        assert_eq!(x_weighted_length("see (https://example.com/a)."), 23 + 7);
        // A country-code domain without a path is not linked; with a path it is.
        assert_eq!(x_weighted_length("main.rs"), 7);
        assert_eq!(x_weighted_length("example.de/x"), 23);
        assert_eq!(x_weighted_length("foo.co.jp"), 23);
        // Emails and 64-character labels are not URLs.
        assert_eq!(x_weighted_length("me@example.com"), 14);
        let label64 = format!("{}.com", "r".repeat(64));
        assert_eq!(x_weighted_length(&label64), 68);
    }

    #[test]
    fn x_conformance_long_tweets() {
        let body = format!("285 chars-{}", "xxxxxxxxxx-".repeat(25));
        assert_eq!(x_weighted_length(&body), 285);
        let with_url = format!(
            "285 chars- http://www.twitter.com/jack {}",
            "xxxxxxxxxx-".repeat(24)
        );
        assert_eq!(x_weighted_length(&with_url), 299);
        let ten = "https://www.twitter.com/aloha ".repeat(10);
        assert_eq!(x_weighted_length(&ten), 240);
    }

    #[test]
    fn x_cjk_weighs_two() {
        assert_eq!(x_weighted_length("故人西辞黄鹤楼"), 14);
        assert_eq!(x_weighted_length("the故人"), 7);
        assert_eq!(x_weighted_length("저찀쯿쿿"), 8);
        let cjk = "の".repeat(141);
        let report = validate(Platform::X, &content(&[&cjk]), &Limits::default());
        assert_eq!(report.measures[0].length, 282);
        assert!(!report.is_ok());
    }

    #[test]
    fn x_emoji_sequences_weigh_two() {
        assert_eq!(x_weighted_length("😷👾😡🔥💩"), 10);
        // Family (ZWJ sequence) and skin tone; twitter-text v2 gave these 16 and 9.
        assert_eq!(x_weighted_length("H🐱☺👨‍👩‍👧‍👦"), 7);
        assert_eq!(x_weighted_length("🙋🏽👨‍🎤"), 4);
        // Flags (regional indicators) and a tag-sequence flag.
        assert_eq!(x_weighted_length("🇩🇪"), 2);
        assert_eq!(x_weighted_length("Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴󠁧󠁢󠁥󠁮󠁧󠁿"), 34);
        // Keycap and a text symbol with emoji presentation.
        assert_eq!(x_weighted_length("1️⃣"), 2);
        assert_eq!(x_weighted_length("❤️"), 2);
        let families = "👨‍👩‍👧‍👦".repeat(140);
        assert_eq!(x_weighted_length(&families), 280);
    }

    #[test]
    fn x_text_is_nfc_normalised() {
        // "A" + combining acute accent composes to one character.
        assert_eq!(x_weighted_length("A\u{301}B"), 2);
        // A Hebrew letter with two points stays three code points.
        assert_eq!(x_weighted_length("A\u{5e9}\u{5bc}\u{5c1}"), 4);
    }

    #[test]
    fn x_general_punctuation_and_directional_marks() {
        let text = "This is a tweet with general punctuation characters: \u{2000}\u{2001}\u{2002}\u{2003}\u{2004}\u{2005}\u{2006}\u{2007}\u{2008}\u{2009}\u{200A}\u{200B}\u{200C}\u{200D} ‐ ‑ ‒ – — ― ‖  ‗ ‘ ’ ‚ ‛ “ ” „ ‟ ′ ″ ‴ ‵ ‶ ‷";
        assert_eq!(x_weighted_length(text), 112);
        assert_eq!(
            x_weighted_length("\u{2066}\u{202A}http://foobar.پاکستان/\u{202C}\u{2069}"),
            31
        );
    }

    #[test]
    fn bluesky_counts_graphemes_and_bytes() {
        let emoji = "👨‍👩‍👧‍👦".repeat(300);
        let report = validate(Platform::Bluesky, &content(&[&emoji]), &Limits::default());
        assert_eq!(report.measures[0].length, 300);
        assert_eq!(report.measures[0].unit, "graphemes");
        // 300 graphemes, but 7,500 bytes: over the byte limit.
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert!(report.errors[0].contains("3000-byte"));
        let short = "🦋".repeat(300);
        assert!(validate(Platform::Bluesky, &content(&[&short]), &Limits::default()).is_ok());
        let long = "a".repeat(301);
        let report = validate(Platform::Bluesky, &content(&[&long]), &Limits::default());
        assert!(report.errors[0].contains("301 graphemes, over the 300 limit"));
    }

    #[test]
    fn mastodon_urls_count_23_and_remote_mentions_count_the_user() {
        let url = format!("https://example.com/{}", "x".repeat(200));
        assert_eq!(mastodon_length(&url), 23);
        assert_eq!(mastodon_length("hi @alice@mastodon.social!"), 10);
        assert_eq!(mastodon_length("@bob"), 4);
        // A bare domain is plain text on Mastodon.
        assert_eq!(mastodon_length("example.com"), 11);
        let text = format!("{} {}", "a".repeat(476), url);
        let limits = Limits::default();
        let report = validate(Platform::Mastodon, &content(&[&text]), &limits);
        assert_eq!(report.measures[0].length, 500);
        assert!(report.is_ok());
        let small = Limits {
            mastodon_max_chars: 100,
        };
        let report = validate(Platform::Mastodon, &content(&[&text]), &small);
        assert_eq!(report.measures[0].limit, 100);
        assert!(report.errors[0].contains("over the 100 limit"));
    }

    #[test]
    fn instagram_needs_media_and_limits_hashtags() {
        let report = validate(
            Platform::Instagram,
            &content(&["a caption"]),
            &Limits::default(),
        );
        assert!(!report.is_ok());
        assert!(report.errors[0].contains("Instagram has no text-only posts"));
        let ok = with_media("a caption", vec![media(MediaKind::Image, Some(10), None)]);
        assert!(validate(Platform::Instagram, &ok, &Limits::default()).is_ok());
        let tags: String = (0..31).map(|n| format!("#tag{n} ")).collect();
        let many = with_media(&tags, vec![media(MediaKind::Video, None, None)]);
        let report = validate(Platform::Instagram, &many, &Limits::default());
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].contains("31 hashtags"));
        assert_eq!(hashtag_count("#a b#c &#38; # #_x"), 2);
        let caption = "c".repeat(2201);
        let long = with_media(&caption, vec![media(MediaKind::Image, None, None)]);
        assert!(!validate(Platform::Instagram, &long, &Limits::default()).is_ok());
    }

    #[test]
    fn tiktok_needs_exactly_one_video() {
        let image = with_media("hi", vec![media(MediaKind::Image, None, None)]);
        let report = validate(Platform::Tiktok, &image, &Limits::default());
        assert!(report.errors[0].contains("TikTok needs exactly one video"));
        assert!(!validate(Platform::Tiktok, &content(&["hi"]), &Limits::default()).is_ok());
        let video = with_media("hi", vec![media(MediaKind::Video, None, None)]);
        assert!(validate(Platform::Tiktok, &video, &Limits::default()).is_ok());
    }

    #[test]
    fn threads_only_where_the_platform_has_them() {
        let thread = content(&["one", "two"]);
        let report = validate(Platform::Linkedin, &thread, &Limits::default());
        assert!(report.errors[0].contains("LinkedIn does not support threads"));
        for p in [
            Platform::X,
            Platform::Bluesky,
            Platform::Threads,
            Platform::Mastodon,
        ] {
            assert!(validate(p, &thread, &Limits::default()).is_ok(), "{p}");
        }
        assert!(!validate(Platform::Tiktok, &thread, &Limits::default()).is_ok());
    }

    #[test]
    fn empty_parts_and_length_limits() {
        let report = validate(Platform::X, &content(&["ok", "  "]), &Limits::default());
        assert_eq!(report.errors, vec!["X part 2 is empty: add text or media"]);
        let empty = PostContent { parts: vec![] };
        assert!(!validate(Platform::Threads, &empty, &Limits::default()).is_ok());
        let threads = "t".repeat(501);
        assert!(!validate(Platform::Threads, &content(&[&threads]), &Limits::default()).is_ok());
        let linkedin = "l".repeat(3000);
        assert!(
            validate(
                Platform::Linkedin,
                &content(&[&linkedin]),
                &Limits::default()
            )
            .is_ok()
        );
        let linkedin = "l".repeat(3001);
        assert!(
            !validate(
                Platform::Linkedin,
                &content(&[&linkedin]),
                &Limits::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn media_counts_sizes_and_alt_text() {
        let four = (0..4)
            .map(|_| media(MediaKind::Image, Some(MB), Some("a cat")))
            .collect();
        assert!(validate(Platform::X, &with_media("", four), &Limits::default()).is_ok());
        let five = (0..5)
            .map(|_| media(MediaKind::Image, Some(MB), Some("a cat")))
            .collect();
        assert!(!validate(Platform::X, &with_media("", five), &Limits::default()).is_ok());
        let mixed = vec![
            media(MediaKind::Image, None, None),
            media(MediaKind::Video, None, None),
        ];
        assert!(!validate(Platform::X, &with_media("x", mixed), &Limits::default()).is_ok());
        let big = with_media("x", vec![media(MediaKind::Image, Some(6 * MB), None)]);
        let report = validate(Platform::X, &big, &Limits::default());
        assert!(
            report.errors[0].contains("over X's 5.0 MB limit"),
            "{report:?}"
        );
        let bsky = with_media("x", vec![media(MediaKind::Image, Some(2_100_000), None)]);
        let report = validate(Platform::Bluesky, &bsky, &Limits::default());
        assert_eq!(report.errors.len(), 1);
        assert!(report.warnings[0].contains("no alt text"));
        let eleven = (0..11)
            .map(|_| media(MediaKind::Image, None, None))
            .collect();
        assert!(
            !validate(
                Platform::Threads,
                &with_media("", eleven),
                &Limits::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn odd_input_does_not_panic() {
        let odd = "\u{0}\u{FFFF}\u{10FFFF}http://\u{301}https://.\u{200D}@@a@.#\u{FE0F}1\u{20E3}";
        for p in Platform::ALL {
            let _ = validate(
                p,
                &content(&[odd, "https://", "a.b.c.d/", "(((("]),
                &Limits::default(),
            );
        }
        // `x.io` is a bare two-label country-code domain: plain text.
        let huge = "https://a.com/ x.io ".repeat(50_000);
        assert_eq!(x_weighted_length(&huge), 50_000 * (23 + 1 + 4 + 1));
    }
}
