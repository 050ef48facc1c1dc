//! How well a post's text matches a content pillar: Snowball-stemmed tokens, so
//! "scheduling", "schedules" and "scheduled" all meet "schedule", compared two ways:
//!
//! - **coverage** `S = 1 − e^(−m / 1.5)`, where `m` counts the pillar's distinct stemmed
//!   keywords present in the post, plus 2 for each phrase found as a contiguous run of
//!   stemmed tokens (1 match → 0.49, 2 → 0.74, 3 → 0.86);
//! - **focus** `C`: the cosine similarity of the post's and the pillar's term-frequency
//!   vectors over stemmed, stop-word-free tokens (a post about the pillar scores higher
//!   than one that mentions a keyword in passing).
//!
//! `relevance = 0.6·S + 0.4·C`, in [0, 1]; no match at all is exactly 0.

use std::collections::HashMap;

use rust_stemmers::{Algorithm, Stemmer};

/// A few very common English words that carry no topic.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i",
    "in", "is", "it", "its", "of", "on", "or", "our", "so", "that", "the", "this", "to", "was",
    "we", "were", "what", "with", "you", "your",
];

/// Stems words for one language (ISO 639-1 code; unknown codes fall back to English).
pub struct Analyzer {
    stemmer: Stemmer,
}

impl Analyzer {
    pub fn new(language: &str) -> Self {
        let algorithm = match language.trim().to_ascii_lowercase().as_str() {
            "de" => Algorithm::German,
            "fr" => Algorithm::French,
            "es" => Algorithm::Spanish,
            "it" => Algorithm::Italian,
            "pt" => Algorithm::Portuguese,
            "nl" => Algorithm::Dutch,
            "sv" => Algorithm::Swedish,
            "no" | "nb" => Algorithm::Norwegian,
            "da" => Algorithm::Danish,
            "fi" => Algorithm::Finnish,
            "ru" => Algorithm::Russian,
            "ro" => Algorithm::Romanian,
            "hu" => Algorithm::Hungarian,
            "tr" => Algorithm::Turkish,
            _ => Algorithm::English,
        };
        Self {
            stemmer: Stemmer::create(algorithm),
        }
    }

    /// Lower-cased, stemmed words of `text`, in order, without stop words, URLs or
    /// mentions. Hashtags count as their word (`#rustlang` → `rustlang`).
    pub fn tokens(&self, text: &str) -> Vec<String> {
        text.split_whitespace()
            .filter(|w| !w.starts_with("http://") && !w.starts_with("https://"))
            .filter(|w| !w.starts_with('@'))
            .flat_map(|w| w.split(|c: char| !c.is_alphanumeric()))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }
}

/// A pillar prepared for matching.
pub struct PillarTerms {
    pub name: String,
    /// Each keyword's stemmed tokens joined (a keyword of two words must match both).
    keywords: Vec<(String, Vec<String>)>,
    /// Each phrase as its original text and stemmed token sequence.
    phrases: Vec<(String, Vec<String>)>,
    /// Term frequencies of every keyword and phrase token.
    vector: HashMap<String, f64>,
}

impl PillarTerms {
    pub fn new(analyzer: &Analyzer, name: &str, keywords: &[String], phrases: &[String]) -> Self {
        let prep = |items: &[String]| -> Vec<(String, Vec<String>)> {
            items
                .iter()
                .map(|k| (k.clone(), analyzer.tokens(k)))
                .filter(|(_, t)| !t.is_empty())
                .collect()
        };
        let keywords = prep(keywords);
        let phrases = prep(phrases);
        let mut vector = HashMap::new();
        for (_, toks) in keywords.iter().chain(&phrases) {
            for t in toks {
                *vector.entry(t.clone()).or_insert(0.0) += 1.0;
            }
        }
        Self {
            name: name.to_owned(),
            keywords,
            phrases,
            vector,
        }
    }
}

/// How one post matched one pillar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub relevance: f64,
    /// The keywords and phrases found, as the strategy spells them.
    pub matched: Vec<String>,
}

/// Scores a post's stemmed tokens against a pillar.
pub fn relevance(post_tokens: &[String], pillar: &PillarTerms) -> Match {
    let mut matched = Vec::new();
    let mut m = 0.0;
    for (original, toks) in &pillar.keywords {
        if toks.iter().all(|t| post_tokens.contains(t)) {
            m += 1.0;
            matched.push(original.clone());
        }
    }
    for (original, toks) in &pillar.phrases {
        if contains_run(post_tokens, toks) {
            m += 2.0;
            matched.push(original.clone());
        }
    }
    let coverage = 1.0 - (-m / 1.5_f64).exp();
    let focus = cosine(post_tokens, &pillar.vector);
    let relevance = if m == 0.0 && focus == 0.0 {
        0.0
    } else {
        (0.6 * coverage + 0.4 * focus).clamp(0.0, 1.0)
    };
    Match { relevance, matched }
}

fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && haystack.len() >= needle.len()
        && haystack.windows(needle.len()).any(|w| w == needle)
}

fn cosine(post_tokens: &[String], pillar: &HashMap<String, f64>) -> f64 {
    let mut post: HashMap<&str, f64> = HashMap::new();
    for t in post_tokens {
        *post.entry(t.as_str()).or_insert(0.0) += 1.0;
    }
    let dot: f64 = post
        .iter()
        .filter_map(|(t, n)| pillar.get(*t).map(|w| n * w))
        .sum();
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let np = norm(&mut post.values().copied());
    let nq = norm(&mut pillar.values().copied());
    if np == 0.0 || nq == 0.0 {
        0.0
    } else {
        (dot / (np * nq)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pillar(a: &Analyzer) -> PillarTerms {
        PillarTerms::new(
            a,
            "scheduling",
            &["schedule".into(), "rust".into()],
            &["social media".into()],
        )
    }

    #[test]
    fn stemming_matches_word_forms() {
        let a = Analyzer::new("en");
        let p = pillar(&a);
        let m = relevance(&a.tokens("Scheduling posts in Rust is fun"), &p);
        assert_eq!(m.matched, vec!["schedule", "rust"]);
        assert!(m.relevance > 0.5, "{m:?}");
        let none = relevance(&a.tokens("I had pasta for lunch"), &p);
        assert_eq!(none.relevance, 0.0);
        assert!(none.matched.is_empty());
    }

    #[test]
    fn phrases_need_their_words_in_order() {
        let a = Analyzer::new("en");
        let p = pillar(&a);
        let phrase = relevance(&a.tokens("tips for Social Media managers"), &p);
        let scattered = relevance(&a.tokens("media is social, they say"), &p);
        assert_eq!(phrase.matched, vec!["social media"]);
        assert!(scattered.matched.is_empty());
        assert!(phrase.relevance > scattered.relevance);
    }

    #[test]
    fn substrings_are_not_matches() {
        let a = Analyzer::new("en");
        let p = pillar(&a);
        // "trust" contains "rust" but is a different word.
        assert_eq!(relevance(&a.tokens("trust the process"), &p).relevance, 0.0);
    }

    #[test]
    fn focus_rewards_posts_about_the_pillar() {
        let a = Analyzer::new("en");
        let p = pillar(&a);
        let focused = relevance(&a.tokens("rust schedule"), &p);
        let passing = relevance(
            &a.tokens("rust: long day, coffee, meetings, emails, trains, weather"),
            &p,
        );
        assert!(focused.relevance > passing.relevance);
    }

    #[test]
    fn urls_and_mentions_are_ignored_and_other_languages_stem() {
        let a = Analyzer::new("en");
        assert_eq!(a.tokens("@rust https://rust.example #Rust"), vec!["rust"]);
        let de = Analyzer::new("de");
        assert_eq!(de.tokens("Planungen"), de.tokens("Planung"));
    }
}
