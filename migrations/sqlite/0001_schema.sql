-- psn schema, SQLite. Same tables and version numbers as migrations/postgres. Every hub (personal or company) gets every table.
-- Times are RFC 3339 text in UTC (they sort as text); ids are prefixed nanoids (post_…, acct_…).

CREATE TABLE accounts (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    handle            TEXT NOT NULL,
    display_name      TEXT,
    platform_user_id  TEXT,
    server_url        TEXT,
    credentials       BLOB,          -- AES-256-GCM sealed; the key never lives in the database
    key_id            TEXT,
    token_expires_at  TEXT,
    scopes            TEXT,
    status            TEXT NOT NULL DEFAULT 'active',
    last_error        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (platform, handle)
);

CREATE TABLE posts (
    id                TEXT PRIMARY KEY,
    group_id          TEXT NOT NULL,
    platform          TEXT NOT NULL,
    account_id        TEXT REFERENCES accounts (id),
    status            TEXT NOT NULL,
    content           TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    scheduled_at      TEXT,
    schedule_tz       TEXT,
    run_at            TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    locked_by         TEXT,
    lease_until       TEXT,
    publish_key       TEXT,
    platform_post_id  TEXT,
    platform_url      TEXT,
    published_at      TEXT,
    last_error        TEXT,
    approval_hash     TEXT,
    approved_by       TEXT,
    approved_at       TEXT,
    engagement_score  REAL,
    is_outlier        INTEGER NOT NULL DEFAULT 0,
    created_by        TEXT NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    -- The time a post is listed under: its run time once it has one.
    sort_at           TEXT GENERATED ALWAYS AS (COALESCE(run_at, created_at)) STORED,
    CONSTRAINT posts_status_known CHECK (status IN ('draft', 'pending_approval', 'scheduled', 'publishing',
        'published', 'failed', 'needs_reconcile', 'cancelled')),
    CONSTRAINT posts_scheduled_has_run_at CHECK (status <> 'scheduled' OR run_at IS NOT NULL),
    CONSTRAINT posts_publishing_has_lease CHECK (status <> 'publishing' OR (locked_by IS NOT NULL AND lease_until IS NOT NULL))
);
-- The scheduler's claim: due scheduled posts by run_at.
CREATE INDEX posts_due ON posts (run_at) WHERE status = 'scheduled';
-- The lease sweeper: expired leases.
CREATE INDEX posts_leases ON posts (lease_until) WHERE status = 'publishing';
-- list_pending: the queue and what needs attention, by time.
CREATE INDEX posts_pending ON posts (sort_at, id)
    WHERE status IN ('scheduled', 'pending_approval', 'publishing', 'failed', 'needs_reconcile');
CREATE INDEX posts_by_time ON posts (sort_at, id);
CREATE INDEX posts_group ON posts (group_id);
CREATE INDEX posts_account_published ON posts (account_id, published_at) WHERE status = 'published';

CREATE TABLE publish_attempts (
    id                TEXT PRIMARY KEY,
    post_id           TEXT NOT NULL REFERENCES posts (id),
    attempt           INTEGER NOT NULL,
    instance          TEXT NOT NULL,
    status            TEXT NOT NULL,   -- in_flight, succeeded, retryable, failed, unknown, lease_lost, lease_expired
    claimed_at        TEXT NOT NULL,
    request_sent_at   TEXT,
    finished_at       TEXT,
    platform_post_id  TEXT,
    error             TEXT,
    detail            TEXT,
    UNIQUE (post_id, attempt)
);

CREATE TABLE metrics (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id           TEXT NOT NULL REFERENCES posts (id),
    collected_at      TEXT NOT NULL,
    impressions       INTEGER,
    likes             INTEGER,
    replies           INTEGER,
    reposts           INTEGER,
    quotes            INTEGER,
    bookmarks         INTEGER,
    link_clicks       INTEGER,
    score             REAL,
    raw               TEXT NOT NULL
);
CREATE INDEX metrics_post_time ON metrics (post_id, collected_at DESC);

CREATE TABLE ideas (
    id                TEXT PRIMARY KEY,
    text              TEXT NOT NULL,
    tags              TEXT NOT NULL DEFAULT '[]',
    pillar            TEXT,
    source            TEXT,
    status            TEXT NOT NULL DEFAULT 'new',
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX ideas_by_time ON ideas (created_at DESC, id DESC);

CREATE TABLE series (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT,
    cadence           TEXT,            -- a cron expression
    timezone          TEXT,
    template          TEXT NOT NULL DEFAULT '{}',
    active            INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE trends (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    topic             TEXT NOT NULL,
    score             REAL,
    data              TEXT NOT NULL DEFAULT '{}',
    observed_at       TEXT NOT NULL
);
CREATE INDEX trends_recent ON trends (observed_at DESC);

CREATE TABLE opportunities (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    platform_post_id  TEXT NOT NULL,
    url               TEXT,
    author_handle     TEXT,
    text              TEXT NOT NULL,
    score             REAL NOT NULL,
    breakdown         TEXT NOT NULL,
    pillar            TEXT,
    first_seen_at     TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    UNIQUE (platform, platform_post_id)
);

CREATE TABLE preference_models (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    model             TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE team_members (
    id                TEXT PRIMARY KEY,
    handle            TEXT NOT NULL UNIQUE, -- the name psn knows the person by (email or login)
    display_name      TEXT,
    role              TEXT NOT NULL CHECK (role IN ('member', 'approver', 'admin')),
    created_at        TEXT NOT NULL
);

CREATE TABLE brand_preferences (
    key               TEXT PRIMARY KEY,
    value             TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE TABLE notification_sessions (
    id                TEXT PRIMARY KEY,
    channel           TEXT NOT NULL,   -- webhook, whatsapp
    recipient         TEXT NOT NULL,
    state             TEXT NOT NULL DEFAULT '{}',
    expires_at        TEXT,
    created_at        TEXT NOT NULL
);

-- One row per (job, tick): the instance whose insert wins runs the job.
CREATE TABLE cron_runs (
    job               TEXT NOT NULL,
    tick              TEXT NOT NULL,
    instance          TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    finished_at       TEXT,
    status            TEXT NOT NULL DEFAULT 'running',
    error             TEXT,
    PRIMARY KEY (job, tick)
);

-- Liveness of scheduler instances.
CREATE TABLE scheduler_instances (
    instance          TEXT PRIMARY KEY,
    hostname          TEXT NOT NULL,
    pid               INTEGER NOT NULL,
    version           TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    heartbeat_at      TEXT NOT NULL
);

CREATE TABLE audit_log (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                TEXT NOT NULL,
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    detail            TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_subject ON audit_log (subject, id);
