-- SQLite's 0013 adds session_whoami_changes, the log that keeps a server's
-- in-memory copy of session_whoami exact. PostgreSQL has neither: nothing
-- to do here, but the versions stay the same on both.
SELECT 1;
