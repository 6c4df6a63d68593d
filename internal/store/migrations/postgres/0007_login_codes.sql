-- Sign-in and sign-up by one-time code: selfservice_codes also holds the
-- codes of login and registration flows. A registration code has no
-- identity yet (identity_id NULL).
--
-- The column's CHECK was created unnamed; PostgreSQL calls it
-- <table>_<column>_check, CockroachDB check_<column>.
ALTER TABLE selfservice_codes DROP CONSTRAINT IF EXISTS selfservice_codes_purpose_check;
ALTER TABLE selfservice_codes DROP CONSTRAINT IF EXISTS check_purpose;
ALTER TABLE selfservice_codes ADD CONSTRAINT selfservice_codes_purpose_check
    CHECK (purpose IN ('recovery', 'verification', 'login', 'registration'));

-- Identifier-first sign-in looks an identifier up whatever its credential
-- type; the unique (type, identifier) index cannot serve that.
CREATE INDEX identity_credential_identifiers_identifier_idx ON identity_credential_identifiers (identifier);
