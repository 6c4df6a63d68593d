-- Sign-in and sign-up by one-time code: selfservice_codes also holds the
-- codes of login and registration flows. A registration code has no
-- identity yet (identity_id NULL).
--
-- SQLite cannot change a CHECK in place: the table is rebuilt (create the
-- new shape, copy, drop the old, rename) and its indexes made again. No
-- table refers to selfservice_codes, so foreign keys stay on throughout.
CREATE TABLE selfservice_codes_new (
    id            TEXT PRIMARY KEY,
    purpose       TEXT NOT NULL CHECK (purpose IN ('recovery', 'verification', 'login', 'registration')),
    method        TEXT NOT NULL CHECK (method IN ('code', 'link')),
    flow_id       TEXT NOT NULL REFERENCES selfservice_flows (id) ON DELETE CASCADE,
    identity_id   TEXT REFERENCES identities (id) ON DELETE CASCADE,
    address_via   TEXT NOT NULL,
    address_value TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    expires_at    TEXT NOT NULL,
    used_at       TEXT,
    created_at    TEXT NOT NULL
);
INSERT INTO selfservice_codes_new (id, purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, used_at, created_at)
    SELECT id, purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, used_at, created_at
    FROM selfservice_codes;
DROP TABLE selfservice_codes;
ALTER TABLE selfservice_codes_new RENAME TO selfservice_codes;
CREATE INDEX selfservice_codes_flow_idx ON selfservice_codes (flow_id);
-- Link tokens are looked up by their hash alone.
CREATE UNIQUE INDEX selfservice_codes_link_idx ON selfservice_codes (code_hash) WHERE method = 'link';

-- Identifier-first sign-in looks an identifier up whatever its credential
-- type; the unique (type, identifier) index cannot serve that.
CREATE INDEX identity_credential_identifiers_identifier_idx ON identity_credential_identifiers (identifier);
