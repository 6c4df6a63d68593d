-- PostgreSQL's 0011 adds lanyard_require, which pipelined transactions use.
-- SQLite runs in the process and does not pipeline: nothing to do here,
-- but the versions stay the same on both.
SELECT 1;
