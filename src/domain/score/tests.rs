//! Property tests over generated inputs (a fixed-seed generator, so failures repeat).

use super::*;

/// xorshift64*: deterministic, no dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn upto(&mut self, n: u64) -> u64 {
        self.next() % (n + 1)
    }
    fn opt(&mut self, n: u64) -> Option<u64> {
        (self.upto(4) != 0).then(|| self.upto(n))
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn counts(g: &mut Gen) -> Counts {
    Counts {
        impressions: g.opt(1_000_000),
        likes: g.opt(50_000),
        replies: g.opt(5_000),
        reposts: g.opt(5_000),
        quotes: g.opt(1_000),
        bookmarks: g.opt(5_000),
        link_clicks: g.opt(5_000),
    }
}

fn input(g: &mut Gen) -> OpportunityInput {
    OpportunityInput {
        relevance: g.unit(),
        followers: g.opt(50_000_000),
        likes: g.upto(100_000),
        reposts: g.upto(10_000),
        replies: g.upto(10_000),
        quotes: g.upto(10_000),
        age_hours: (g.upto(5) != 0).then(|| g.unit() * 96.0),
    }
}

#[test]
fn engagement_score_is_bounded_deterministic_and_monotone() {
    let mut g = Gen(0x5eed);
    for _ in 0..5_000 {
        let c = counts(&mut g);
        let s = engagement_score(&c);
        assert!((0.0..=100.0).contains(&s), "{c:?} → {s}");
        assert_eq!(s, engagement_score(&c), "deterministic");
        // One more of any action never lowers the score.
        let bumps: [fn(&mut Counts); 6] = [
            |c| c.likes = Some(c.likes.unwrap_or(0) + 1),
            |c| c.replies = Some(c.replies.unwrap_or(0) + 1),
            |c| c.reposts = Some(c.reposts.unwrap_or(0) + 1),
            |c| c.quotes = Some(c.quotes.unwrap_or(0) + 1),
            |c| c.bookmarks = Some(c.bookmarks.unwrap_or(0) + 1),
            |c| c.link_clicks = Some(c.link_clicks.unwrap_or(0) + 1),
        ];
        for bump in bumps {
            let mut more = c;
            bump(&mut more);
            assert!(engagement_score(&more) >= s, "{c:?} → {more:?}");
        }
        // More reach for the same engagement never raises it.
        if let Some(i) = c.impressions.filter(|i| *i > 0) {
            let wider = Counts {
                impressions: Some(i * 2),
                ..c
            };
            assert!(engagement_score(&wider) <= s);
        }
    }
}

#[test]
fn engagement_score_reference_values() {
    assert_eq!(engagement_score(&Counts::default()), 0.0);
    // 1,000 impressions, 50 likes: rate 5 % → 63.21.
    let c = Counts {
        impressions: Some(1000),
        likes: Some(50),
        ..Counts::default()
    };
    assert_eq!(engagement_score(&c), 63.21);
    // No reach: 10 replies = 40 weighted → 100·40/90.
    let b = Counts {
        replies: Some(10),
        ..Counts::default()
    };
    assert_eq!(engagement_score(&b), 44.44);
    // Deeper actions weigh more than likes.
    let likes = Counts {
        likes: Some(10),
        ..Counts::default()
    };
    assert!(engagement_score(&b) > engagement_score(&likes));
    // Zero impressions reported = no reach figure: the fallback applies.
    let zero = Counts {
        impressions: Some(0),
        ..b
    };
    assert_eq!(engagement_score(&zero), 44.44);
}

#[test]
fn outliers_need_five_times_a_real_average() {
    assert!(is_outlier(50.0, Some(10.0), 3));
    assert!(!is_outlier(49.99, Some(10.0), 3));
    assert!(!is_outlier(50.0, Some(10.0), 2), "too few posts to compare");
    assert!(!is_outlier(50.0, Some(0.0), 10), "no average");
    assert!(!is_outlier(50.0, None, 0));
}

#[test]
fn opportunity_score_is_bounded_deterministic_and_monotone() {
    let mut g = Gen(0xfeed);
    for _ in 0..5_000 {
        let i = input(&mut g);
        let (f, s) = opportunity_score(&i);
        assert!((0.0..=100.0).contains(&s), "{i:?} → {s}");
        for x in [f.relevance, f.influence, f.velocity, f.window] {
            assert!((0.0..=1.0).contains(&x), "{f:?}");
        }
        assert_eq!((f, s), opportunity_score(&i), "deterministic");
        let up = |j: OpportunityInput| opportunity_score(&j).1;
        assert!(
            up(OpportunityInput {
                relevance: (i.relevance + 0.1).min(1.0),
                ..i
            }) >= s
        );
        let more_followers = i.followers.map_or(UNKNOWN_FOLLOWERS * 2, |f| f * 2 + 1);
        assert!(
            up(OpportunityInput {
                followers: Some(more_followers),
                ..i
            }) >= s
        );
        assert!(
            up(OpportunityInput {
                likes: i.likes + 10,
                ..i
            }) >= s
        );
        assert!(
            up(OpportunityInput {
                replies: i.replies + 10,
                ..i
            }) >= s
        );
        if let Some(age) = i.age_hours {
            // Older, with the same engagement: lower velocity and window.
            assert!(
                up(OpportunityInput {
                    age_hours: Some(age + 1.0),
                    ..i
                }) <= s
            );
        }
    }
}

#[test]
fn opportunity_score_edges() {
    let base = OpportunityInput {
        relevance: 1.0,
        followers: Some(1_000_000),
        likes: 10_000,
        reposts: 1_000,
        replies: 1_000,
        quotes: 1_000,
        age_hours: Some(0.0),
    };
    let (_, best) = opportunity_score(&base);
    assert!(best > 99.0 && best <= 100.0, "{best}");
    let (_, irrelevant) = opportunity_score(&OpportunityInput {
        relevance: 0.0,
        ..base
    });
    assert_eq!(irrelevant, 0.0);
    let (_, nan) = opportunity_score(&OpportunityInput {
        relevance: f64::NAN,
        ..base
    });
    assert_eq!(
        nan, 0.0,
        "a NaN relevance is no relevance, never a NaN score"
    );
    let (f, _) = opportunity_score(&OpportunityInput {
        age_hours: Some(6.0),
        ..base
    });
    assert!((f.window - 0.5).abs() < 1e-12, "half-life of 6 hours");
    let (f, _) = opportunity_score(&OpportunityInput {
        age_hours: Some(-3.0),
        ..base
    });
    assert_eq!(
        f.window, 1.0,
        "a post from the future (clock skew) is fresh, not above 1"
    );
    assert_eq!(influence(Some(0)), 0.1);
    assert_eq!(influence(None), influence(Some(UNKNOWN_FOLLOWERS)));
    assert!((influence(Some(999)) - 0.55).abs() < 1e-9);
    assert_eq!(influence(Some(u64::MAX)), 1.0);
}

#[test]
fn tier_boundaries_are_exact() {
    assert_eq!(Tier::of(100.0), Tier::ActNow);
    assert_eq!(Tier::of(70.0), Tier::ActNow);
    assert_eq!(Tier::of(69.9), Tier::Digest);
    assert_eq!(Tier::of(60.0), Tier::Digest);
    assert_eq!(Tier::of(59.9), Tier::Low);
    assert_eq!(Tier::of(40.0), Tier::Low);
    assert_eq!(Tier::of(39.9), Tier::Dropped);
    assert_eq!(Tier::of(0.0), Tier::Dropped);
    // Every score on the one-decimal grid lands in exactly the tier its range says.
    for tenths in 0..=1000 {
        let s = f64::from(tenths) / 10.0;
        let expected = match tenths {
            700.. => Tier::ActNow,
            600..=699 => Tier::Digest,
            400..=599 => Tier::Low,
            _ => Tier::Dropped,
        };
        assert_eq!(Tier::of(s), expected, "{s}");
    }
}
