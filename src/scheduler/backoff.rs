//! When to try again after a definite non-delivery.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The first retry waits about this long; each later one twice as long.
const BASE: Duration = Duration::from_secs(15);
/// No retry waits longer than this (unless the platform says so).
const CAP: Duration = Duration::from_secs(15 * 60);

/// The next run time after failed attempt number `attempt` (1-based): exponential
/// back-off with jitter (a random point in the upper half of the window, so instances
/// that failed together do not retry together), and never before the platform's own
/// `retry_after` (Retry-After or a rate-limit reset).
pub fn next_run_at(
    attempt: i64,
    now: DateTime<Utc>,
    retry_after: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let window = BASE.saturating_mul(1 << exp).min(CAP);
    let half = window / 2;
    let jitter = Duration::from_millis(rand::random_range(0..=half.as_millis().max(1) as u64));
    let backoff = now + (half + jitter);
    match retry_after {
        // A small jitter after the reset, so many posts do not hit the API at the same instant.
        Some(after) if after > backoff => {
            after + Duration::from_millis(rand::random_range(0..=2000))
        }
        _ => backoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubles_and_caps() {
        let now = Utc::now();
        for attempt in 1..=20 {
            let expected = BASE.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            for _ in 0..20 {
                let wait = (next_run_at(attempt, now, None) - now).to_std().unwrap();
                assert!(
                    wait >= expected / 2 && wait <= expected,
                    "attempt {attempt}: {wait:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn honours_a_later_reset() {
        let now = Utc::now();
        let reset = now + Duration::from_secs(600);
        let at = next_run_at(1, now, Some(reset));
        assert!(at >= reset && at <= reset + Duration::from_secs(2));
        // An earlier reset does not shorten the back-off.
        let at = next_run_at(3, now, Some(now + Duration::from_secs(1)));
        assert!(at - now >= chrono::Duration::seconds(30));
    }
}
