-- PostgreSQL's 0014 adds its session_whoami_changes, which SQLite has had
-- since 0013: nothing to do here, but the versions stay the same on both.
SELECT 1;
