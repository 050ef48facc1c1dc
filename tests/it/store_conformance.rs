//! The store conformance suite: every scenario runs on SQLite and on Postgres.

use chrono::Duration;
use psn::domain::{
    Account, AccountId, AccountStatus, GroupId, Idea, IdeaId, IdeaStatus, NewPost, Platform, Post,
    PostContent, PostEvent, PostPart, PostStatus, Sealed, now,
};
use psn::store::{Counted, IdeaFilter, PageRequest, PostFilter, StoreError};

use crate::both_stores;
use crate::support::db::TestStore;

both_stores!(
    posts_round_trip,
    a_group_is_inserted_whole_or_not_at_all,
    updates_check_version_and_status_machine,
    failed_updates_leave_the_row_as_it_was,
    listing_filters_and_pages_without_gaps,
    capped_counts_are_exact_up_to_the_cap,
    accounts_upsert_by_platform_and_handle,
    ideas_list_newest_first_with_filters,
    migrations_are_idempotent_and_refuse_a_newer_schema,
);

fn content(text: &str) -> PostContent {
    PostContent {
        parts: vec![PostPart {
            text: text.into(),
            media: vec![],
        }],
    }
}

fn draft(platform: Platform, text: &str) -> Post {
    NewPost {
        group_id: GroupId::new(),
        platform,
        account_id: None,
        content: content(text),
        max_attempts: 5,
        created_by: "test".into(),
    }
    .into_post(now())
}

fn scheduled(mut post: Post, at: chrono::DateTime<chrono::Utc>) -> Post {
    post.status = PostStatus::Scheduled;
    post.scheduled_at = Some(at);
    post.run_at = Some(at);
    post.schedule_tz = Some("Europe/Berlin".into());
    post
}

async fn posts_round_trip(t: &TestStore) {
    let s = &t.store;
    let mut thread = draft(Platform::Bluesky, "first 🧵");
    thread.content.parts.push(PostPart {
        text: "second — ünïcödé".into(),
        media: vec![],
    });
    let later = scheduled(draft(Platform::X, "hello"), now() + Duration::hours(3));
    s.insert_posts(&[thread.clone(), later.clone()], "test")
        .await
        .unwrap();

    assert_eq!(s.get_post(&thread.id).await.unwrap(), thread);
    assert_eq!(s.get_post(&later.id).await.unwrap(), later);

    let missing = draft(Platform::X, "never stored");
    assert!(matches!(
        s.get_post(&missing.id).await,
        Err(StoreError::NotFound { kind: "post", .. })
    ));
    let history = s.list_audit(thread.id.as_str(), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, "create");
}

async fn a_group_is_inserted_whole_or_not_at_all(t: &TestStore) {
    let s = &t.store;
    let a = draft(Platform::X, "a");
    let mut b = draft(Platform::Bluesky, "b");
    b.id = a.id.clone(); // the second row collides with the first
    let err = s.insert_posts(&[a.clone(), b], "test").await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
    assert!(matches!(
        s.get_post(&a.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.count_posts(&PostFilter::default()).await.unwrap(), 0);
}

async fn updates_check_version_and_status_machine(t: &TestStore) {
    let s = &t.store;
    let post = draft(Platform::X, "draft");
    s.insert_posts(std::slice::from_ref(&post), "test")
        .await
        .unwrap();

    let at = now() + Duration::minutes(10);
    let mut next = post
        .apply(PostEvent::Schedule {
            needs_approval: false,
        })
        .unwrap();
    next.scheduled_at = Some(at);
    next.run_at = Some(at);
    let stored = s
        .update_post(
            &post,
            &next,
            PostEvent::Schedule {
                needs_approval: false,
            },
            "alice",
        )
        .await
        .unwrap();
    assert_eq!(stored.status, PostStatus::Scheduled);
    assert_eq!(stored.version, post.version + 1);
    assert_eq!(stored.run_at, Some(at));
    assert!(stored.updated_at >= post.updated_at);

    // A second writer holding the old version loses, whatever it wanted.
    let mut other = post.apply(PostEvent::Cancel).unwrap();
    other.last_error = Some("nope".into());
    let err = s
        .update_post(&post, &other, PostEvent::Cancel, "bob")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { kind: "post", .. }),
        "{err:?}"
    );

    let history = s.list_audit(post.id.as_str(), 10).await.unwrap();
    let actions: Vec<_> = history
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(actions, [("create", "test"), ("schedule", "alice")]);
    assert_eq!(history[1].detail["from"], "draft");
    assert_eq!(history[1].detail["to"], "scheduled");
}

async fn failed_updates_leave_the_row_as_it_was(t: &TestStore) {
    let s = &t.store;
    let post = draft(Platform::Linkedin, "keep me");
    s.insert_posts(std::slice::from_ref(&post), "test")
        .await
        .unwrap();

    // An event the status machine refuses.
    let mut bogus = post.clone();
    bogus.status = PostStatus::Published;
    let err = s
        .update_post(&post, &bogus, PostEvent::PublishSucceeded, "test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err:?}");

    // A next state that does not match the event.
    let mut lying = post.apply(PostEvent::Cancel).unwrap();
    lying.status = PostStatus::Scheduled;
    assert!(
        s.update_post(&post, &lying, PostEvent::Cancel, "test")
            .await
            .is_err()
    );

    // A scheduled post without a run time violates the schema's checks.
    let mut no_time = post
        .apply(PostEvent::Schedule {
            needs_approval: false,
        })
        .unwrap();
    no_time.run_at = None;
    assert!(
        s.update_post(
            &post,
            &no_time,
            PostEvent::Schedule {
                needs_approval: false
            },
            "test"
        )
        .await
        .is_err()
    );

    assert_eq!(s.get_post(&post.id).await.unwrap(), post);
    assert_eq!(
        s.list_audit(post.id.as_str(), 10).await.unwrap().len(),
        1,
        "only the create is recorded"
    );
}

async fn listing_filters_and_pages_without_gaps(t: &TestStore) {
    let s = &t.store;
    let base = now() + Duration::days(1);
    let mut all = Vec::new();
    for i in 0..23 {
        let platform = if i % 3 == 0 {
            Platform::Bluesky
        } else {
            Platform::X
        };
        // Several posts share a time, so the id must break ties.
        let post = scheduled(
            draft(platform, &format!("post {i}")),
            base + Duration::minutes(i / 4),
        );
        all.push(post);
    }
    let drafts: Vec<Post> = (0..4)
        .map(|i| draft(Platform::X, &format!("draft {i}")))
        .collect();
    s.insert_posts(&all, "test").await.unwrap();
    s.insert_posts(&drafts, "test").await.unwrap();

    let filter = PostFilter {
        statuses: vec![PostStatus::Scheduled],
        ..PostFilter::default()
    };
    let mut seen = Vec::new();
    let mut page = PageRequest::first(5);
    loop {
        let got = s.list_posts(&filter, &page).await.unwrap();
        assert!(got.items.len() <= 5);
        seen.extend(got.items.iter().map(|p| (p.sort_at(), p.id.clone())));
        match got.next_cursor {
            Some(c) => page.after = Some(psn::store::Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    let mut expected: Vec<_> = all.iter().map(|p| (p.sort_at(), p.id.clone())).collect();
    expected.sort();
    assert_eq!(seen, expected, "every scheduled post once, in time order");

    let bluesky = PostFilter {
        platform: Some(Platform::Bluesky),
        ..filter.clone()
    };
    assert_eq!(s.count_posts(&bluesky).await.unwrap(), 8);
    let window = PostFilter {
        from: Some(base + Duration::minutes(1)),
        to: Some(base + Duration::minutes(3)),
        ..filter
    };
    let got = s
        .list_posts(&window, &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(got.items.len(), 8);
    assert!(got.next_cursor.is_none());
    assert_eq!(s.count_posts(&PostFilter::default()).await.unwrap(), 27);
    let group = PostFilter {
        group: Some(drafts[0].group_id.clone()),
        ..PostFilter::default()
    };
    assert_eq!(
        s.list_posts(&group, &PageRequest::first(10))
            .await
            .unwrap()
            .items,
        vec![drafts[0].clone()]
    );
}

async fn capped_counts_are_exact_up_to_the_cap(t: &TestStore) {
    let s = &t.store;
    let base = now() + Duration::days(1);
    let queued: Vec<Post> = (0..5)
        .map(|i| scheduled(draft(Platform::X, &format!("q {i}")), base))
        .collect();
    let drafts: Vec<Post> = (0..3)
        .map(|i| draft(Platform::X, &format!("d {i}")))
        .collect();
    s.insert_posts(&queued, "test").await.unwrap();
    s.insert_posts(&drafts, "test").await.unwrap();
    let scheduled_only = PostFilter {
        statuses: vec![PostStatus::Scheduled],
        ..PostFilter::default()
    };
    let count =
        |f: PostFilter, cap: u64| async move { s.count_posts_capped(&f, cap).await.unwrap() };
    assert_eq!(count(scheduled_only.clone(), 6).await, Counted::Exact(5));
    assert_eq!(
        count(scheduled_only.clone(), 5).await,
        Counted::Exact(5),
        "at the cap: exact"
    );
    assert_eq!(
        count(scheduled_only.clone(), 4).await,
        Counted::MoreThan(4),
        "one over"
    );
    assert_eq!(count(scheduled_only.clone(), 0).await, Counted::MoreThan(0));
    assert_eq!(count(PostFilter::default(), 8).await, Counted::Exact(8));
    assert_eq!(count(PostFilter::default(), 7).await, Counted::MoreThan(7));
    assert_eq!(
        count(PostFilter::default(), u64::MAX).await,
        Counted::Exact(8)
    );
    let bluesky = PostFilter {
        platform: Some(Platform::Bluesky),
        ..PostFilter::default()
    };
    assert_eq!(count(bluesky.clone(), 0).await, Counted::Exact(0));
    assert_eq!(count(bluesky, 10).await, Counted::Exact(0));
}

async fn accounts_upsert_by_platform_and_handle(t: &TestStore) {
    let s = &t.store;
    let at = now();
    let account = Account {
        id: AccountId::new(),
        platform: Platform::Bluesky,
        handle: "psn.bsky.social".into(),
        display_name: Some("psn".into()),
        platform_user_id: Some("did:plc:abc".into()),
        server_url: Some("https://bsky.social".into()),
        credentials: Some(Sealed {
            key_id: "k1".into(),
            ciphertext: vec![1, 2, 3, 0, 255],
        }),
        token_expires_at: Some(at + Duration::hours(2)),
        scopes: None,
        status: AccountStatus::Active,
        last_error: None,
        created_at: at,
        updated_at: at,
    };
    assert_eq!(s.upsert_account(&account).await.unwrap(), account);
    assert_eq!(s.get_account(&account.id).await.unwrap(), account);

    // Connecting the same handle again keeps the id and replaces the credentials.
    let again = Account {
        id: AccountId::new(),
        credentials: Some(Sealed {
            key_id: "k2".into(),
            ciphertext: vec![9; 40],
        }),
        status: AccountStatus::NeedsReauth,
        ..account.clone()
    };
    let stored = s.upsert_account(&again).await.unwrap();
    assert_eq!(stored.id, account.id);
    assert_eq!(stored.credentials, again.credentials);
    assert_eq!(stored.status, AccountStatus::NeedsReauth);

    let found = s
        .find_account(Platform::Bluesky, "psn.bsky.social")
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some(account.id.clone()));
    assert!(
        s.find_account(Platform::X, "psn.bsky.social")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.list_accounts().await.unwrap().len(), 1);
    assert!(matches!(
        s.get_account(&AccountId::new()).await,
        Err(StoreError::NotFound {
            kind: "account",
            ..
        })
    ));
}

async fn ideas_list_newest_first_with_filters(t: &TestStore) {
    let s = &t.store;
    let start = now();
    let mut ideas = Vec::new();
    for i in 0..7 {
        let at = start + Duration::seconds(i);
        let idea = Idea {
            id: IdeaId::new(),
            text: format!("idea {i}"),
            tags: if i % 2 == 0 {
                vec!["rust".into(), "100%_real".into()]
            } else {
                vec!["rusty".into()]
            },
            pillar: Some(if i < 3 { "engineering" } else { "founder" }.into()),
            source: None,
            status: IdeaStatus::New,
            created_by: "test".into(),
            created_at: at,
            updated_at: at,
        };
        s.insert_idea(&idea).await.unwrap();
        ideas.push(idea);
    }
    let first = s
        .list_ideas(&IdeaFilter::default(), &PageRequest::first(4))
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|i| i.text.as_str())
            .collect::<Vec<_>>(),
        ["idea 6", "idea 5", "idea 4", "idea 3"]
    );
    let after = psn::store::Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
    let second = s
        .list_ideas(
            &IdeaFilter::default(),
            &PageRequest {
                limit: 4,
                after: Some(after),
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 3);
    assert!(second.next_cursor.is_none());
    assert_eq!(second.items[2], ideas[0]);

    let rust = IdeaFilter {
        tag: Some("rust".into()),
        ..IdeaFilter::default()
    };
    assert_eq!(
        s.list_ideas(&rust, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        4,
        "`rust` is not `rusty`"
    );
    let pct = IdeaFilter {
        tag: Some("100%_real".into()),
        ..IdeaFilter::default()
    };
    assert_eq!(
        s.list_ideas(&pct, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    let founder = IdeaFilter {
        pillar: Some("founder".into()),
        ..IdeaFilter::default()
    };
    assert_eq!(
        s.list_ideas(&founder, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
}

async fn migrations_are_idempotent_and_refuse_a_newer_schema(t: &TestStore) {
    let s = &t.store;
    let status = s.migrate().await.unwrap();
    assert!(status.pending().is_empty());
    assert_eq!(status.applied, status.known);

    // Pretend a newer psn migrated this database.
    let url = t.url.clone().unwrap_or_else(|| {
        t.settings
            .database
            .url
            .as_ref()
            .unwrap()
            .expose()
            .to_owned()
    });
    let future = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                  VALUES (9999, 'from the future', TRUE, X'00', 1)";
    if url.starts_with("postgres") {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(future.replace("X'00'", "'\\x00'::bytea").leak() as &'static str)
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(future).execute(&mut conn).await.unwrap();
    }
    let err = s.migrate().await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 9999, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade psn"), "{err}");
}
