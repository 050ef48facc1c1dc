//! Checks every free-text input gets before it goes near the database, and short
//! previews for messages.

use super::error::{AppError, AppResult};

/// Checks one text field: not too long, no NUL (Postgres cannot store it), and not
/// empty unless `allow_empty`.
pub fn check_text(field: &str, value: &str, max_chars: usize, allow_empty: bool) -> AppResult<()> {
    problems(field, value, max_chars, allow_empty).map_or(Ok(()), |p| Err(AppError::invalid(p)))
}

/// Like [`check_text`], but returns the problem so callers can collect several.
pub fn problems(field: &str, value: &str, max_chars: usize, allow_empty: bool) -> Option<String> {
    if !allow_empty && value.trim().is_empty() {
        return Some(format!("{field} is empty: write something"));
    }
    if value.contains('\0') {
        return Some(format!(
            "{field} contains a NUL character (U+0000): remove it"
        ));
    }
    // Counting stops early so a megabyte of input costs little.
    let count = value.chars().take(max_chars + 1).count();
    if count > max_chars {
        return Some(format!(
            "{field} is longer than psn accepts ({} characters, at most {max_chars}): shorten it",
            value.chars().count()
        ));
    }
    None
}

/// The first `max` characters of `text` on one line, with `…` when cut.
pub fn preview(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        flat.to_owned()
    } else {
        let head: String = flat.chars().take(max).collect();
        format!("{}…", head.trim_end())
    }
}

/// A count with thousands separators: `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nul_empty_and_huge() {
        assert!(check_text("text", "hi", 10, false).is_ok());
        assert!(check_text("text", "  ", 10, false).is_err());
        assert!(check_text("text", "", 10, true).is_ok());
        let nul = check_text("text", "a\0b", 10, false).unwrap_err();
        assert!(nul.to_string().contains("NUL"), "{nul}");
        let huge = "x".repeat(1 << 20);
        let msg = check_text("text", &huge, 100, false)
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 200, "{msg}");
    }

    #[test]
    fn previews_are_one_line() {
        assert_eq!(preview("a\nb", 10), "a b");
        assert_eq!(preview("abcdef", 3), "abc…");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
