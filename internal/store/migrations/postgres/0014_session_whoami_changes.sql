-- session_whoami_changes is SQLite's 0013 on PostgreSQL: the log that keeps
-- a server's in-memory copy of whoami's rows exact (session.WhoamiCache).
-- Before it answers from memory, a server reads the log's newest entry with
-- those since its last read, in one snapshot, and forgets the sessions they
-- name; a change committed by any instance is seen by the next request.
--
-- Entries are numbered in commit order: a logging transaction takes an
-- advisory lock at commit (the triggers are deferred) and holds it until
-- its commit is visible, so the next one, numbering after the newest entry
-- it sees, comes after it; a rolled-back one leaves no number behind. So a
-- snapshot whose newest entry is N holds every entry up to N: the log has
-- no holes, and a reader can tell a trimmed log from a quiet one. Taken
-- last, after every row lock of the transaction, and followed by nothing
-- that waits, the lock cannot close a cycle; it is held only for the
-- commit itself. (A counter row instead would leave a dead version for
-- every entry, which readers and the next writers wade through.)
--
-- An entry names a session by its token's digest, or an identity: a
-- change to what whoami shows of an identity names the identity, and a
-- server forgets every session of it kept before the entry. (Listing the
-- identity's sessions instead would miss one inserted meanwhile: an insert
-- takes only a key-share lock on its identity, which an update does not
-- wait for.)
CREATE TABLE session_whoami_changes (
    seq         BIGINT PRIMARY KEY,
    token_hash  TEXT,
    identity_id UUID,
    CHECK ((token_hash IS NULL) <> (identity_id IS NULL))
);

-- Logs the tokens' digests, or the identity, as the next entries; keeps
-- the last 65,536 to 66,560 of them: a server more changes behind than
-- that starts its memory afresh.
CREATE FUNCTION session_whoami_log(hashes TEXT[], identity UUID) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    last BIGINT;
    n    BIGINT;
BEGIN
    IF coalesce(cardinality(hashes), 0) = 0 AND identity IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7104310424);
    SELECT coalesce(max(seq), 0) INTO last FROM session_whoami_changes;
    IF identity IS NULL THEN
        n := cardinality(hashes);
        INSERT INTO session_whoami_changes (seq, token_hash)
            SELECT last + u.o, u.h FROM unnest(hashes) WITH ORDINALITY AS u (h, o);
    ELSE
        n := 1;
        INSERT INTO session_whoami_changes (seq, identity_id) VALUES (last + 1, identity);
    END IF;
    IF (last + n) / 1024 > last / 1024 THEN
        DELETE FROM session_whoami_changes WHERE seq <= last + n - 65536;
    END IF;
END $$;

CREATE FUNCTION session_whoami_session_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.token_hash IS DISTINCT FROM OLD.token_hash THEN
        PERFORM session_whoami_log(ARRAY[OLD.token_hash, NEW.token_hash], NULL);
    ELSE
        PERFORM session_whoami_log(ARRAY[OLD.token_hash], NULL);
    END IF;
    RETURN NULL;
END $$;

-- Every change to a session, and its deletion (by hand, or with its identity).
CREATE CONSTRAINT TRIGGER session_whoami_session_changed AFTER UPDATE OR DELETE ON sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION session_whoami_session_changed();

CREATE FUNCTION session_whoami_identity_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM session_whoami_log(NULL, NEW.id);
    RETURN NULL;
END $$;

-- Every change to an identity's columns whoami shows; not the updates that
-- only lock its row, or touch updated_at.
CREATE CONSTRAINT TRIGGER session_whoami_identity_changed AFTER UPDATE ON identities
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.revision IS DISTINCT FROM NEW.revision
        OR OLD.schema_id IS DISTINCT FROM NEW.schema_id OR OLD.public_view IS DISTINCT FROM NEW.public_view
        OR OLD.public_view_factors IS DISTINCT FROM NEW.public_view_factors
        OR OLD.public_view_revision IS DISTINCT FROM NEW.public_view_revision)
    EXECUTE FUNCTION session_whoami_identity_changed();
