-- Self-service flows of every kind share one table: the flow path is the
-- same for all of them, and kind-specific state lives in ui and internal.
CREATE TABLE selfservice_flows (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('api', 'browser')),
    state         TEXT NOT NULL,
    active        TEXT,
    request_url   TEXT NOT NULL,
    return_to     TEXT,
    issued_at     TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ui            TEXT NOT NULL,
    csrf_hash     TEXT NOT NULL DEFAULT '',
    refresh       BOOLEAN NOT NULL DEFAULT FALSE,
    requested_aal TEXT,
    identity_id   TEXT REFERENCES identities (id) ON DELETE CASCADE,
    internal      TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (expires_at);

CREATE TABLE selfservice_errors (
    id         TEXT PRIMARY KEY,
    error      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Tokens are stored as SHA-256 digests: a copy of the table does not hand
-- out sessions.
CREATE TABLE sessions (
    id                     TEXT PRIMARY KEY,
    identity_id            TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_hash             TEXT NOT NULL UNIQUE,
    logout_token_hash      TEXT NOT NULL UNIQUE,
    active                 BOOLEAN NOT NULL,
    aal                    TEXT NOT NULL,
    authentication_methods TEXT NOT NULL,
    -- Devices live in the row so that whoami reads one row.
    devices                TEXT NOT NULL,
    issued_at              TEXT NOT NULL,
    authenticated_at       TEXT NOT NULL,
    expires_at             TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX sessions_identity_idx ON sessions (identity_id, created_at);
