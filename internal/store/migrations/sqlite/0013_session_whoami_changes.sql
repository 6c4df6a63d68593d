-- SQLite only. A server keeps session_whoami rows in memory, shared by its
-- readers (SQLite empties a connection's page cache whenever another
-- connection commits, so at a million sessions every whoami read a leaf
-- from the OS). session_whoami_changes names, in commit order, every row
-- changed or deleted, written by triggers in the transaction of the change
-- whoever writes; before it answers from memory, a server reads the log's
-- newest entry and forgets the rows that entries since its last read
-- name, so a revocation committed by any process is seen on the next
-- request. AUTOINCREMENT: a number is never used twice, even once the
-- table has been emptied; the oldest entries are trimmed, and a server
-- that finds the entry it last read gone forgets everything.
CREATE TABLE session_whoami_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    k   INTEGER NOT NULL
);

CREATE TRIGGER session_whoami_changed AFTER UPDATE ON session_whoami BEGIN
    INSERT INTO session_whoami_changes (k) VALUES (OLD.k);
    INSERT INTO session_whoami_changes (k) SELECT NEW.k WHERE NEW.k IS NOT OLD.k;
END;

CREATE TRIGGER session_whoami_deleted AFTER DELETE ON session_whoami BEGIN
    INSERT INTO session_whoami_changes (k) VALUES (OLD.k);
END;

-- Keeps the last 65,536 to 66,560 entries: a server more changes behind
-- than that starts its memory afresh.
CREATE TRIGGER session_whoami_changes_trim AFTER INSERT ON session_whoami_changes
WHEN NEW.seq % 1024 = 0 BEGIN
    DELETE FROM session_whoami_changes WHERE seq <= NEW.seq - 65536;
END;
