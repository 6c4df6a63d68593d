-- One-time codes and link tokens of recovery and verification. Only an
-- HMAC of each is stored: six digits are too few to survive a plain hash.
CREATE TABLE selfservice_codes (
    id            UUID PRIMARY KEY,
    purpose       TEXT NOT NULL CHECK (purpose IN ('recovery', 'verification')),
    method        TEXT NOT NULL CHECK (method IN ('code', 'link')),
    flow_id       UUID NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id   UUID REFERENCES identities (id) ON DELETE CASCADE,
    address_via   TEXT NOT NULL,
    address_value TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX selfservice_codes_flow_idx ON selfservice_codes (flow_id);
-- Link tokens are looked up by their hash alone.
CREATE UNIQUE INDEX selfservice_codes_link_idx ON selfservice_codes (code_hash) WHERE method = 'link';
