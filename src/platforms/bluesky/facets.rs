//! Rich-text facets: links, mentions and hashtags found in a post's text, with the UTF-8
//! byte offsets Bluesky expects.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FacetKind {
    Link(String),
    Mention(String),
    Tag(String),
}

/// A facet found in text, with UTF-8 byte offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facet {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: FacetKind,
}

const TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'', '…'];

/// Finds links (http/https), mentions (`@handle.domain`) and hashtags in `text`. Offsets
/// are byte offsets into the UTF-8 text, which is what Bluesky expects.
pub(super) fn detect_facets(text: &str) -> Vec<Facet> {
    let mut out = Vec::new();
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, &text[s..]));
    }
    for (offset, raw) in words {
        // A leading bracket is not part of the link, mention or tag.
        let lead = raw.len() - raw.trim_start_matches(['(', '[', '"', '\'']).len();
        let word = raw[lead..].trim_end_matches(TRAILING);
        let start = offset + lead;
        let end = start + word.len();
        if word.starts_with("https://") || word.starts_with("http://") {
            if word.len() > "https://".len() {
                out.push(Facet {
                    start,
                    end,
                    kind: FacetKind::Link(word.to_owned()),
                });
            }
        } else if let Some(handle) = word.strip_prefix('@') {
            let valid = handle.contains('.')
                && !handle.starts_with('.')
                && handle
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if valid {
                out.push(Facet {
                    start,
                    end,
                    kind: FacetKind::Mention(handle.to_ascii_lowercase()),
                });
            }
        } else if let Some(tag) = word.strip_prefix('#') {
            let valid = !tag.is_empty()
                && !tag.chars().all(|c| c.is_ascii_digit())
                && !tag.contains('#')
                && tag.chars().count() <= 64;
            if valid {
                out.push(Facet {
                    start,
                    end,
                    kind: FacetKind::Tag(tag.to_owned()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facets_use_utf8_byte_offsets() {
        let text = "héllo @alice.bsky.social see https://example.com/a?b=1. #rust! (#psn) #123";
        let facets = detect_facets(text);
        let found: Vec<(&str, &FacetKind)> = facets
            .iter()
            .map(|f| (&text[f.start..f.end], &f.kind))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "@alice.bsky.social",
                    &FacetKind::Mention("alice.bsky.social".into())
                ),
                (
                    "https://example.com/a?b=1",
                    &FacetKind::Link("https://example.com/a?b=1".into())
                ),
                ("#rust", &FacetKind::Tag("rust".into())),
                ("#psn", &FacetKind::Tag("psn".into())),
            ]
        );
        // "é" is two bytes: the mention starts at byte 7, not char 6.
        assert_eq!(facets[0].start, 7);
    }
}
