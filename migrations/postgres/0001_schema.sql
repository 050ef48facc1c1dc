-- psn schema, Postgres. Every hub (personal or company) gets every table.
-- Times are timestamptz in UTC; ids are prefixed nanoids (post_…, acct_…).

CREATE TABLE accounts (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    handle            TEXT NOT NULL,
    display_name      TEXT,
    platform_user_id  TEXT,
    server_url        TEXT,
    credentials       BYTEA,          -- AES-256-GCM sealed; the key never lives in the database
    key_id            TEXT,
    token_expires_at  TIMESTAMPTZ,
    scopes            TEXT,
    status            TEXT NOT NULL DEFAULT 'active',
    last_error        TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (platform, handle)
);

CREATE TABLE posts (
    id                TEXT PRIMARY KEY,
    group_id          TEXT NOT NULL,
    platform          TEXT NOT NULL,
    account_id        TEXT REFERENCES accounts (id),
    status            TEXT NOT NULL,
    content           JSONB NOT NULL,
    content_hash      TEXT NOT NULL,
    scheduled_at      TIMESTAMPTZ,
    schedule_tz       TEXT,
    run_at            TIMESTAMPTZ,
    attempts          BIGINT NOT NULL DEFAULT 0,
    max_attempts      BIGINT NOT NULL,
    locked_by         TEXT,
    lease_until       TIMESTAMPTZ,
    publish_key       TEXT,
    platform_post_id  TEXT,
    platform_url      TEXT,
    published_at      TIMESTAMPTZ,
    last_error        TEXT,
    approval_hash     TEXT,
    approved_by       TEXT,
    approved_at       TIMESTAMPTZ,
    engagement_score  DOUBLE PRECISION,
    is_outlier        BOOLEAN NOT NULL DEFAULT FALSE,
    created_by        TEXT NOT NULL,
    version           BIGINT NOT NULL DEFAULT 1,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- The time a post is listed under: its run time once it has one.
    sort_at           TIMESTAMPTZ GENERATED ALWAYS AS (COALESCE(run_at, created_at)) STORED,
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
    attempt           BIGINT NOT NULL,
    instance          TEXT NOT NULL,
    status            TEXT NOT NULL,   -- in_flight, succeeded, retryable, failed, unknown, lease_lost, lease_expired
    claimed_at        TIMESTAMPTZ NOT NULL,
    request_sent_at   TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    platform_post_id  TEXT,
    error             TEXT,
    detail            JSONB,
    UNIQUE (post_id, attempt)
);

CREATE TABLE metrics (
    id                BIGSERIAL PRIMARY KEY,
    post_id           TEXT NOT NULL REFERENCES posts (id),
    collected_at      TIMESTAMPTZ NOT NULL,
    impressions       BIGINT,
    likes             BIGINT,
    replies           BIGINT,
    reposts           BIGINT,
    quotes            BIGINT,
    bookmarks         BIGINT,
    link_clicks       BIGINT,
    score             DOUBLE PRECISION,
    raw               JSONB NOT NULL
);
CREATE INDEX metrics_post_time ON metrics (post_id, collected_at DESC);

CREATE TABLE ideas (
    id                TEXT PRIMARY KEY,
    text              TEXT NOT NULL,
    tags              JSONB NOT NULL DEFAULT '[]',
    pillar            TEXT,
    source            TEXT,
    status            TEXT NOT NULL DEFAULT 'new',
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX ideas_by_time ON ideas (created_at DESC, id DESC);

CREATE TABLE series (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    description       TEXT,
    cadence           TEXT,            -- a cron expression
    timezone          TEXT,
    template          JSONB NOT NULL DEFAULT '{}',
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE trends (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    topic             TEXT NOT NULL,
    score             DOUBLE PRECISION,
    data              JSONB NOT NULL DEFAULT '{}',
    observed_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX trends_recent ON trends (observed_at DESC);

CREATE TABLE opportunities (
    id                TEXT PRIMARY KEY,
    platform          TEXT NOT NULL,
    platform_post_id  TEXT NOT NULL,
    url               TEXT,
    author_handle     TEXT,
    text              TEXT NOT NULL,
    score             DOUBLE PRECISION NOT NULL,
    breakdown         JSONB NOT NULL,
    pillar            TEXT,
    first_seen_at     TIMESTAMPTZ NOT NULL,
    last_seen_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (platform, platform_post_id)
);

CREATE TABLE preference_models (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    model             JSONB NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE team_members (
    id                TEXT PRIMARY KEY,
    handle            TEXT NOT NULL UNIQUE, -- the name psn knows the person by (email or login)
    display_name      TEXT,
    role              TEXT NOT NULL CHECK (role IN ('member', 'approver', 'admin')),
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE brand_preferences (
    key               TEXT PRIMARY KEY,
    value             JSONB NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE notification_sessions (
    id                TEXT PRIMARY KEY,
    channel           TEXT NOT NULL,   -- webhook, whatsapp
    recipient         TEXT NOT NULL,
    state             JSONB NOT NULL DEFAULT '{}',
    expires_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL
);

-- One row per (job, tick): the instance whose insert wins runs the job.
CREATE TABLE cron_runs (
    job               TEXT NOT NULL,
    tick              TIMESTAMPTZ NOT NULL,
    instance          TEXT NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    status            TEXT NOT NULL DEFAULT 'running',
    error             TEXT,
    PRIMARY KEY (job, tick)
);

-- Liveness of scheduler instances.
CREATE TABLE scheduler_instances (
    instance          TEXT PRIMARY KEY,
    hostname          TEXT NOT NULL,
    pid               BIGINT NOT NULL,
    version           TEXT NOT NULL,
    started_at        TIMESTAMPTZ NOT NULL,
    heartbeat_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id                BIGSERIAL PRIMARY KEY,
    at                TIMESTAMPTZ NOT NULL,
    actor             TEXT NOT NULL,
    action            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    detail            JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_subject ON audit_log (subject, id);
