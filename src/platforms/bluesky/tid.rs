//! Record keys. A TID is a 64-bit number (53 bits of microseconds, 10 of clock id) written
//! as 13 sortable base-32 characters. psn's TIDs keep the low five clock bits zero, so part
//! `k` of a thread can take the key `publish_key + k` and every part's key is known before
//! anything is sent.

use chrono::Utc;
use sha2::{Digest, Sha256};

const TID_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A fresh TID (timestamp identifier) for a post's `publish_key`: microseconds since the
/// epoch and a random clock id whose low five bits are zero, so parts of a thread can
/// take the next keys.
pub fn new_tid() -> String {
    let micros = u64::try_from(Utc::now().timestamp_micros()).unwrap_or(0) & ((1 << 53) - 1);
    let clock: u64 = rand::random_range(0..32u64) << 5;
    encode_tid((micros << 10) | clock)
}

/// The record key of part `k` of the post with `publish_key`.
pub fn part_rkey(publish_key: &str, k: usize) -> String {
    let base = decode_tid(publish_key).unwrap_or_else(|| {
        // Not a TID (a key chosen for another platform): derive one from it, the same
        // way every time.
        let digest = Sha256::digest(publish_key.as_bytes());
        let mut n = [0u8; 8];
        n.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(n) & (u64::MAX >> 1)) & !0x1f
    });
    encode_tid(base.wrapping_add(k as u64) & (u64::MAX >> 1))
}

/// Whether `s` is a syntactically valid TID.
pub fn is_tid(s: &str) -> bool {
    decode_tid(s).is_some()
}

fn encode_tid(n: u64) -> String {
    (0..13)
        .rev()
        .map(|i| TID_ALPHABET[((n >> (i * 5)) & 0x1f) as usize] as char)
        .collect()
}

fn decode_tid(s: &str) -> Option<u64> {
    if s.len() != 13 {
        return None;
    }
    let mut n: u64 = 0;
    for (i, b) in s.bytes().enumerate() {
        let v = TID_ALPHABET.iter().position(|&c| c == b)? as u64;
        if i == 0 && v >= 16 {
            return None;
        }
        n = (n << 5) | v;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_are_valid_sortable_and_parts_follow() {
        let a = new_tid();
        assert!(is_tid(&a), "{a}");
        assert_eq!(a.len(), 13);
        let parts: Vec<String> = (0..40).map(|k| part_rkey(&a, k)).collect();
        assert_eq!(parts[0], a);
        for w in parts.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
            assert!(is_tid(&w[1]));
        }
        assert_eq!(part_rkey(&a, 3), part_rkey(&a, 3));
        // A key that is not a TID still yields valid, stable TIDs.
        let derived = part_rkey("post_abc", 0);
        assert!(is_tid(&derived));
        assert_eq!(derived, part_rkey("post_abc", 0));
        assert_ne!(derived, part_rkey("post_abc", 1));
        assert!(!is_tid("zzzzzzzzzzzzz"));
        assert!(!is_tid("short"));
    }
}
