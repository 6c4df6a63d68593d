-- Search in the admin identity list (GET /admin/identities?trait=...).
-- Every short string in an identity's traits, by its dotted path (array
-- elements count under their array's path), lower-cased: trait searches
-- find identities through the index instead of reading every document.
-- Rows are written with the identity, in its transaction.
CREATE TABLE identity_trait_search (
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (identity_id, path, value_lower)
);
CREATE INDEX identity_trait_search_value_idx ON identity_trait_search (path, value_lower, identity_id);

-- Identities stored before this migration. SQLite's lower() folds only
-- ASCII letters; rows Lanyard writes fold every letter.
WITH RECURSIVE walk (identity_id, path, type, value) AS (
    SELECT i.id, e.key, e.type, e.value
      FROM identities i, json_each(i.traits) e
     WHERE json_type(i.traits) = 'object'
    UNION ALL
    SELECT w.identity_id, CASE WHEN w.type = 'array' THEN w.path ELSE w.path || '.' || e.key END, e.type, e.value
      FROM walk w, json_each(w.value) e
     WHERE w.type IN ('object', 'array')
)
INSERT OR IGNORE INTO identity_trait_search (identity_id, path, value_lower)
SELECT identity_id, path, lower(value) FROM walk
 WHERE type = 'text' AND length(value) <= 256
   AND length(path) BETWEEN 1 AND 256 AND path NOT GLOB '*[^A-Za-z0-9_.-]*';
