-- Identities and what hangs off them. Times are fixed-width UTC text
-- (see store.FormatTime) so that they compare and sort correctly.
CREATE TABLE identities (
    id               TEXT PRIMARY KEY,
    schema_id        TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'inactive')),
    state_changed_at TEXT,
    traits           TEXT NOT NULL,
    metadata_public  TEXT,
    metadata_admin   TEXT,
    external_id      TEXT UNIQUE,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE identity_credentials (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    config      TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (identity_id, type)
);

-- Identifiers are stored normalised (emails lower-cased), so this constraint
-- is what makes two racing sign-ups on one address produce one identity.
CREATE TABLE identity_credential_identifiers (
    id            TEXT PRIMARY KEY,
    identity_id   TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL REFERENCES identity_credentials (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    identifier    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (type, identifier)
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);
CREATE INDEX identity_credential_identifiers_credential_idx ON identity_credential_identifiers (credential_id);

CREATE TABLE identity_verifiable_addresses (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    verified_at TEXT,
    status      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

CREATE TABLE identity_recovery_addresses (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);
