-- SQLite only. A million sessions spread whoami's join over four random
-- B-tree leaves (the token index, the session row, the identity's id index
-- and its row); reading them costs more than the rest of the request.
-- session_whoami holds everything whoami reads in one row, keyed by an
-- integer from the token's SHA-256 (its first 60 bits: whoami_key), so a
-- lookup is one descent of one table.
--
-- Triggers keep it exact in the transaction of every change to a session
-- or an identity, whoever writes (the server, an import, an operator's
-- sqlite3), so it can never answer what the tables no longer say. A key
-- two tokens share keeps the first session's row (INSERT OR IGNORE); whoami
-- checks the whole digest and falls back to the join, so a collision is
-- slower, never wrong. PostgreSQL keeps its buffers in one shared cache
-- and stays flat with the join.
ALTER TABLE sessions ADD COLUMN whoami_key INTEGER GENERATED ALWAYS AS (
        ((instr('0123456789abcdef', substr(token_hash, 1, 1)) - 1) << 56) +
        ((instr('0123456789abcdef', substr(token_hash, 2, 1)) - 1) << 52) +
        ((instr('0123456789abcdef', substr(token_hash, 3, 1)) - 1) << 48) +
        ((instr('0123456789abcdef', substr(token_hash, 4, 1)) - 1) << 44) +
        ((instr('0123456789abcdef', substr(token_hash, 5, 1)) - 1) << 40) +
        ((instr('0123456789abcdef', substr(token_hash, 6, 1)) - 1) << 36) +
        ((instr('0123456789abcdef', substr(token_hash, 7, 1)) - 1) << 32) +
        ((instr('0123456789abcdef', substr(token_hash, 8, 1)) - 1) << 28) +
        ((instr('0123456789abcdef', substr(token_hash, 9, 1)) - 1) << 24) +
        ((instr('0123456789abcdef', substr(token_hash, 10, 1)) - 1) << 20) +
        ((instr('0123456789abcdef', substr(token_hash, 11, 1)) - 1) << 16) +
        ((instr('0123456789abcdef', substr(token_hash, 12, 1)) - 1) << 12) +
        ((instr('0123456789abcdef', substr(token_hash, 13, 1)) - 1) << 8) +
        ((instr('0123456789abcdef', substr(token_hash, 14, 1)) - 1) << 4) +
        ((instr('0123456789abcdef', substr(token_hash, 15, 1)) - 1) << 0)
) VIRTUAL;

CREATE TABLE session_whoami (
    k                      INTEGER PRIMARY KEY,
    token_hash             TEXT NOT NULL,
    session_id             TEXT NOT NULL,
    identity_id            TEXT NOT NULL,
    active                 BOOLEAN NOT NULL,
    aal                    TEXT NOT NULL,
    authentication_methods TEXT NOT NULL,
    devices                TEXT NOT NULL,
    issued_at              TEXT NOT NULL,
    authenticated_at       TEXT NOT NULL,
    expires_at             TEXT NOT NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    identity_state         TEXT NOT NULL,
    identity_revision      INTEGER NOT NULL,
    schema_id              TEXT NOT NULL,
    public_view            TEXT,
    public_view_factors    INTEGER NOT NULL,
    public_view_revision   INTEGER
);
CREATE INDEX session_whoami_identity_idx ON session_whoami (identity_id);

-- The row of one session, as the triggers copy it.
CREATE VIEW session_whoami_rows AS
SELECT s.whoami_key, s.token_hash, s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.devices, s.issued_at, s.authenticated_at, s.expires_at, s.created_at, s.updated_at,
       i.state, i.revision, i.schema_id, i.public_view, i.public_view_factors, i.public_view_revision
FROM sessions s JOIN identities i ON i.id = s.identity_id;

CREATE TRIGGER session_whoami_insert AFTER INSERT ON sessions BEGIN
    INSERT OR IGNORE INTO session_whoami SELECT * FROM session_whoami_rows WHERE id = NEW.id;
END;

CREATE TRIGGER session_whoami_update AFTER UPDATE ON sessions BEGIN
    DELETE FROM session_whoami WHERE k = OLD.whoami_key AND session_id = OLD.id;
    INSERT OR IGNORE INTO session_whoami SELECT * FROM session_whoami_rows WHERE id = NEW.id;
END;

CREATE TRIGGER session_whoami_delete AFTER DELETE ON sessions BEGIN
    DELETE FROM session_whoami WHERE k = OLD.whoami_key AND session_id = OLD.id;
END;

CREATE TRIGGER session_whoami_identity_update AFTER UPDATE ON identities BEGIN
    UPDATE session_whoami SET identity_state = NEW.state, identity_revision = NEW.revision, schema_id = NEW.schema_id,
        public_view = NEW.public_view, public_view_factors = NEW.public_view_factors, public_view_revision = NEW.public_view_revision
    WHERE identity_id = NEW.id;
END;

-- Cascading deletes of its sessions remove their rows too; this covers an
-- identity deleted with foreign keys off.
CREATE TRIGGER session_whoami_identity_delete AFTER DELETE ON identities BEGIN
    DELETE FROM session_whoami WHERE identity_id = OLD.id;
END;

INSERT OR IGNORE INTO session_whoami SELECT * FROM session_whoami_rows;
