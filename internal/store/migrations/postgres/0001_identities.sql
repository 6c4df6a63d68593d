-- Identities and what hangs off them.
CREATE TABLE identities (
    id               UUID PRIMARY KEY,
    schema_id        TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'inactive')),
    state_changed_at TIMESTAMPTZ,
    traits           JSONB NOT NULL,
    metadata_public  JSONB,
    metadata_admin   JSONB,
    external_id      TEXT UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE identity_credentials (
    id          UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    config      JSONB NOT NULL,
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (identity_id, type)
);

-- Identifiers are stored normalised (emails lower-cased), so this constraint
-- is what makes two racing sign-ups on one address produce one identity.
CREATE TABLE identity_credential_identifiers (
    id            UUID PRIMARY KEY,
    identity_id   UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    credential_id UUID NOT NULL REFERENCES identity_credentials (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    identifier    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (type, identifier)
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);
CREATE INDEX identity_credential_identifiers_credential_idx ON identity_credential_identifiers (credential_id);

CREATE TABLE identity_verifiable_addresses (
    id          UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    verified_at TIMESTAMPTZ,
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

CREATE TABLE identity_recovery_addresses (
    id          UUID PRIMARY KEY,
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (via, value)
);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);
