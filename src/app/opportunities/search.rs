//! Searching, scoring, remembering. One search per keyword or phrase and platform (both
//! APIs treat the words of a query as all required); hits are merged by post, scored
//! against every pillar, and the best pillar wins.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::{Author, Opportunity, ScoreOpportunitiesOutput, Skipped, Strategy};
use crate::app::access::{Access, describe};
use crate::app::metrics::{OnProgress, Progress};
use crate::app::{AppResult, Ctx};
use crate::domain::relevance::{Analyzer, PillarTerms, relevance};
use crate::domain::score::{OpportunityInput, Tier, opportunity_score};
use crate::domain::{Account, AccountStatus, Platform, now};
use crate::platforms::{PlatformError, SearchHit, SearchQuery};
use crate::store::StoredOpportunity;

/// Platforms psn can search.
pub const SEARCHABLE: [Platform; 2] = [Platform::X, Platform::Bluesky];

pub(super) async fn run(
    cx: Ctx<'_>,
    access: &Access,
    strategy: &Strategy,
    limit: u32,
    include_seen: bool,
    progress: OnProgress<'_>,
) -> AppResult<ScoreOpportunitiesOutput> {
    let at = now();
    let mut skipped = Vec::new();
    let terms: Vec<String> = {
        let mut seen = HashSet::new();
        strategy
            .pillars
            .iter()
            .flat_map(|p| p.keywords.iter().chain(&p.phrases))
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty() && seen.insert(t.to_lowercase()))
            .collect()
    };
    let platforms: Vec<Platform> = strategy
        .platforms
        .iter()
        .copied()
        .filter(|p| {
            let ok = SEARCHABLE.contains(p);
            if !ok {
                skipped.push(Skipped {
                    platform: *p,
                    reason: format!("{p} offers no post search"),
                    retry_at: None,
                });
            }
            ok
        })
        .collect();
    let total = u32::try_from(platforms.len() * terms.len()).unwrap_or(u32::MAX);
    let mut done = 0u32;
    let mut searches = 0u32;
    let mut hits: BTreeMap<(Platform, String), SearchHit> = BTreeMap::new();
    let since = at - Duration::hours(i64::from(strategy.max_age_hours));
    for platform in platforms {
        let (account, mut creds, client) = match open(cx, access, platform).await {
            Ok(o) => o,
            Err(reason) => {
                skipped.push(Skipped {
                    platform,
                    reason,
                    retry_at: None,
                });
                done = done.saturating_add(terms.len() as u32);
                continue;
            }
        };
        for (i, term) in terms.iter().enumerate() {
            let query = SearchQuery {
                query: query_for(platform, term, &strategy.languages),
                limit: strategy.per_query,
                since: Some(since),
                latest: true,
                cursor: None,
            };
            searches += 1;
            let mut answer = client.search(&creds, &query).await;
            if matches!(answer, Err(PlatformError::AuthExpired { .. })) {
                match access.refresh(cx, &account, &creds).await {
                    Ok(fresh) => {
                        creds = fresh;
                        answer = client.search(&creds, &query).await;
                    }
                    Err(reason) => answer = Err(PlatformError::Permanent { message: reason }),
                }
            }
            done = done.saturating_add(1);
            match answer {
                Ok(page) => {
                    for hit in page.hits {
                        if is_own(&hit, &account, creds.user_id.as_deref()) {
                            continue;
                        }
                        hits.entry((platform, hit.platform_post_id.clone()))
                            .or_insert(hit);
                    }
                }
                Err(e) => {
                    let retry_at = match &e {
                        PlatformError::RateLimited { until, .. } => Some(*until),
                        _ => None,
                    };
                    skipped.push(Skipped {
                        platform,
                        reason: format!(
                            "search stopped at `{term}`: {}; the remaining searches on {platform} were not made",
                            describe(&e)
                        ),
                        retry_at,
                    });
                    done = done.saturating_add((terms.len() - i - 1) as u32);
                    break;
                }
            }
            progress(Progress {
                done,
                total,
                message: format!("searched {platform} for `{term}`"),
            });
        }
    }

    let analyzer = Analyzer::new(strategy.language());
    let pillars: Vec<PillarTerms> = strategy
        .pillars
        .iter()
        .map(|p| PillarTerms::new(&analyzer, &p.name, &p.keywords, &p.phrases))
        .collect();
    let found = u32::try_from(hits.len()).unwrap_or(u32::MAX);
    let mut dropped = 0u32;
    let mut scored: Vec<Opportunity> = Vec::new();
    for ((platform, _), hit) in hits {
        let opp = score_hit(&analyzer, &pillars, platform, hit, at);
        if opp.tier == Tier::Dropped {
            dropped += 1;
        } else {
            scored.push(opp);
        }
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.created_at.cmp(&a.created_at))
            .then(a.platform_post_id.cmp(&b.platform_post_id))
    });

    let mut seen: HashSet<(Platform, String)> = HashSet::new();
    for platform in SEARCHABLE {
        let ids: Vec<String> = scored
            .iter()
            .filter(|o| o.platform == platform)
            .map(|o| o.platform_post_id.clone())
            .collect();
        if !ids.is_empty() {
            for id in cx.store.seen_opportunities(platform, &ids).await? {
                seen.insert((platform, id));
            }
        }
    }
    let today = at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(at, |d| d.and_utc());
    let used = cx.store.count_opportunities_since(today).await?;
    let mut room = u64::from(strategy.daily_cap).saturating_sub(used);
    let (mut already_seen, mut over_cap) = (0u32, 0u32);
    let mut returned = Vec::new();
    for mut opp in scored {
        let was_seen = seen.contains(&(opp.platform, opp.platform_post_id.clone()));
        if was_seen {
            // Refresh its score and last sighting; keep the id it was first given.
            opp.id = cx.store.upsert_opportunity(&stored(&opp, at)).await?;
            opp.seen_before = true;
            if include_seen && returned.len() < limit as usize {
                returned.push(opp);
            } else {
                already_seen += 1;
            }
        } else if room == 0 {
            over_cap += 1;
        } else if returned.len() < limit as usize {
            opp.id = cx.store.upsert_opportunity(&stored(&opp, at)).await?;
            room -= 1;
            returned.push(opp);
        }
    }
    Ok(ScoreOpportunitiesOutput {
        opportunities: returned,
        searches,
        found,
        dropped,
        already_seen,
        over_daily_cap: over_cap,
        daily_cap: strategy.daily_cap,
        skipped,
    })
}

/// The search string for one term: X gets `-is:retweet` (a retweet is not a
/// conversation) and, with exactly one language, `lang:`.
fn query_for(platform: Platform, term: &str, languages: &[String]) -> String {
    match platform {
        Platform::X => {
            let mut q = format!("{term} -is:retweet");
            if let [one] = languages {
                q.push_str(&format!(" lang:{}", one.trim()));
            }
            q
        }
        _ => term.to_owned(),
    }
}

fn is_own(hit: &SearchHit, account: &Account, user_id: Option<&str>) -> bool {
    let mine = account.handle.trim_start_matches('@');
    hit.author_handle
        .as_deref()
        .is_some_and(|h| h.trim_start_matches('@').eq_ignore_ascii_case(mine))
        || (user_id.is_some() && hit.author_id.as_deref() == user_id)
}

type Opened = (
    Account,
    crate::platforms::Credentials,
    std::sync::Arc<dyn crate::platforms::PlatformClient>,
);

/// The platform's first active account, opened: searches are made on its behalf.
async fn open(cx: Ctx<'_>, access: &Access, platform: Platform) -> Result<Opened, String> {
    let client = access
        .client(platform)
        .ok_or_else(|| format!("psn cannot search {platform} yet"))?;
    let account = cx
        .store
        .list_accounts()
        .await
        .map_err(|e| format!("cannot read accounts: {e}"))?
        .into_iter()
        .find(|a| a.platform == platform && a.status == AccountStatus::Active)
        .ok_or_else(|| {
            format!("no {platform} account is connected (searching needs one): run `psn connect {platform}`")
        })?;
    let creds = access.open(&account)?;
    Ok((account, creds, client))
}

fn score_hit(
    analyzer: &Analyzer,
    pillars: &[PillarTerms],
    platform: Platform,
    hit: SearchHit,
    at: DateTime<Utc>,
) -> Opportunity {
    let tokens = analyzer.tokens(&hit.text);
    let (pillar, best) = pillars
        .iter()
        .map(|p| (p.name.clone(), relevance(&tokens, p)))
        .max_by(|a, b| a.1.relevance.total_cmp(&b.1.relevance))
        .unwrap_or_default();
    let age_hours = hit
        .created_at
        .map(|t| (at - t).num_seconds() as f64 / 3600.0);
    let input = OpportunityInput {
        relevance: best.relevance,
        followers: hit.author_followers,
        likes: hit.likes.unwrap_or(0),
        reposts: hit.reposts.unwrap_or(0),
        replies: hit.replies.unwrap_or(0),
        quotes: hit.quotes.unwrap_or(0),
        age_hours,
    };
    let (factors, score) = opportunity_score(&input);
    let tier = Tier::of(score);
    let reason = format!(
        "{}: {} pillar `{pillar}`{}; {} {}; {:.1} engagements/h; {}",
        tier.as_str(),
        if best.matched.is_empty() {
            "close to"
        } else {
            "matches"
        },
        if best.matched.is_empty() {
            String::new()
        } else {
            format!(" ({})", best.matched.join(", "))
        },
        hit.author_handle
            .as_deref()
            .map_or("unknown author".to_owned(), |h| format!(
                "@{}",
                h.trim_start_matches('@')
            )),
        hit.author_followers
            .map_or("(followers unknown)".to_owned(), |f| format!(
                "has {f} followers"
            )),
        factors.engagement_per_hour,
        age_hours.map_or("age unknown".to_owned(), |h| format!(
            "{:.1} h old",
            h.max(0.0)
        )),
    );
    Opportunity {
        id: new_id(),
        platform,
        platform_post_id: hit.platform_post_id,
        url: hit.url,
        text: hit.text,
        author: Author {
            handle: hit.author_handle,
            id: hit.author_id,
            followers: hit.author_followers,
        },
        created_at: hit.created_at,
        score,
        tier,
        factors,
        pillar,
        matched: best.matched,
        reason,
        seen_before: false,
    }
}

fn stored(o: &Opportunity, at: DateTime<Utc>) -> StoredOpportunity {
    StoredOpportunity {
        id: o.id.clone(),
        platform: o.platform,
        platform_post_id: o.platform_post_id.clone(),
        url: o.url.clone(),
        author_handle: o.author.handle.clone(),
        text: o.text.clone(),
        score: o.score,
        breakdown: serde_json::json!({
            "tier": o.tier,
            "factors": o.factors,
            "matched": o.matched,
            "reason": o.reason,
            "author": o.author,
            "created_at": o.created_at,
        }),
        pillar: Some(o.pillar.clone()),
        first_seen_at: at,
        last_seen_at: at,
    }
}

/// `opp_` and 12 letters or digits, like psn's other ids.
fn new_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body: String = (0..12)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("opp_{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_queries_skip_retweets_and_name_a_single_language() {
        assert_eq!(
            query_for(Platform::X, "social media", &["de".into()]),
            "social media -is:retweet lang:de"
        );
        assert_eq!(
            query_for(Platform::X, "cron", &["en".into(), "de".into()]),
            "cron -is:retweet"
        );
        assert_eq!(query_for(Platform::Bluesky, "cron", &["en".into()]), "cron");
    }

    #[test]
    fn new_ids_look_like_psn_ids() {
        let id = new_id();
        assert!(id.starts_with("opp_") && id.len() == 16, "{id}");
        assert_ne!(new_id(), id);
    }
}
