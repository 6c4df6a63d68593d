-- Session token exchange: a native app's API flow, completed by social
-- sign-in in the system browser, hands its session over once the app shows
-- both codes. Only SHA-256 digests of the codes are stored (each carries
-- about 380 bits, so a plain hash suffices), and the session token is
-- sealed with secrets.cipher. A pair is deleted when it is answered.
CREATE TABLE session_token_exchanges (
    id                  TEXT PRIMARY KEY,
    init_code_hash      TEXT NOT NULL,
    return_to_code_hash TEXT NOT NULL,
    session_id          TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    session_token       TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX session_token_exchanges_init_idx ON session_token_exchanges (init_code_hash);
-- Deleting a session cascades here.
CREATE INDEX session_token_exchanges_session_idx ON session_token_exchanges (session_id);
