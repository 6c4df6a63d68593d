-- The newest time step (Unix time / period) at which each identity's TOTP
-- code was accepted. A code is accepted only for a later step, in one
-- conditional upsert, so that a code seen once cannot sign in again.
CREATE TABLE totp_accepted_steps (
    identity_id UUID PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    step        BIGINT NOT NULL
);
