-- State of the brute-force protection (internal/guard). Times are Unix
-- microseconds in BIGINT columns, not timestamps: the counters are updated
-- by one INSERT ... ON CONFLICT DO UPDATE whose arithmetic on times must be
-- the same SQL text on both dialects.

-- Attempt counters, by scope ('login', 'code', ...) and an HMAC of the
-- normalised identifier (typos and passwords typed into the identifier
-- field are never stored). ip '' is the row of the identifier on every
-- client address; other rows hold one client address (or IPv6 /64).
CREATE TABLE guard_attempts (
    identifier_hash TEXT NOT NULL,
    scope           TEXT NOT NULL,
    ip              TEXT NOT NULL,
    failures        INTEGER NOT NULL,
    window_start    BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    refused         BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (identifier_hash, scope, ip)
);
CREATE INDEX guard_attempts_updated_idx ON guard_attempts (updated_at);

-- Token buckets of the per-client rate limits; tokens in millionths.
CREATE TABLE guard_buckets (
    key        TEXT PRIMARY KEY,
    tokens     BIGINT NOT NULL,
    allowed    BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX guard_buckets_updated_idx ON guard_buckets (updated_at);

-- Messages queued per address (an HMAC of it) in the current window.
CREATE TABLE guard_messages (
    address_hash TEXT PRIMARY KEY,
    messages     INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX guard_messages_window_idx ON guard_messages (window_start);
