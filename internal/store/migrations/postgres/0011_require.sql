-- A statement a transaction depends on (a flow's claim, an update guarded
-- by a version) is sent in one batch with the others and COMMIT, so the
-- code cannot look at its row count before COMMIT goes. Wrapped as
--   WITH changed AS (UPDATE ... RETURNING 1) SELECT lanyard_require(count(*), 'k') FROM changed
-- it raises instead when it changed nothing: the batch stops there, COMMIT
-- is not run, and the error's SQLSTATE and message say which statement it was.
CREATE OR REPLACE FUNCTION lanyard_require(n BIGINT, what TEXT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
BEGIN
    IF n = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'LY001', MESSAGE = what;
    END IF;
    RETURN n;
END
$$;
