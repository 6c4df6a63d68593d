-- Self-service flows of every kind share one table: the flow path is the
-- same for all of them, and kind-specific state lives in ui and internal.
CREATE TABLE selfservice_flows (
    id            UUID PRIMARY KEY,
    kind          TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('api', 'browser')),
    state         TEXT NOT NULL,
    active        TEXT,
    request_url   TEXT NOT NULL,
    return_to     TEXT,
    issued_at     TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ui            JSONB NOT NULL,
    csrf_hash     TEXT NOT NULL DEFAULT '',
    refresh       BOOLEAN NOT NULL DEFAULT FALSE,
    requested_aal TEXT,
    identity_id   UUID REFERENCES identities (id) ON DELETE CASCADE,
    internal      JSONB NOT NULL DEFAULT '{}',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX selfservice_flows_expires_idx ON selfservice_flows (expires_at);

CREATE TABLE selfservice_errors (
    id         UUID PRIMARY KEY,
    error      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Tokens are stored as SHA-256 digests: a copy of the table does not hand
-- out sessions.
CREATE TABLE sessions (
    id                     UUID PRIMARY KEY,
    identity_id            UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    token_hash             TEXT NOT NULL UNIQUE,
    logout_token_hash      TEXT NOT NULL UNIQUE,
    active                 BOOLEAN NOT NULL,
    aal                    TEXT NOT NULL,
    authentication_methods JSONB NOT NULL,
    -- Devices live in the row so that whoami reads one row.
    devices                JSONB NOT NULL,
    issued_at              TIMESTAMPTZ NOT NULL,
    authenticated_at       TIMESTAMPTZ NOT NULL,
    expires_at             TIMESTAMPTZ NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_identity_idx ON sessions (identity_id, created_at);
