-- SQLite's 0012 adds session_whoami, whoami's one-row copy of a session
-- and its identity. PostgreSQL serves the join from its shared buffers and
-- stays flat with it: nothing to do here, but the versions stay the same
-- on both.
SELECT 1;
