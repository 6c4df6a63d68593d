-- Search in the admin identity list (GET /admin/identities?trait=...).
-- Every short string in an identity's traits, by its dotted path (array
-- elements count under their array's path), lower-cased: trait searches
-- find identities through the index instead of reading every document.
-- Rows are written with the identity, in its transaction.
CREATE TABLE identity_trait_search (
    identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    value_lower TEXT NOT NULL,
    PRIMARY KEY (identity_id, path, value_lower)
);
CREATE INDEX identity_trait_search_value_idx ON identity_trait_search (path, value_lower, identity_id);

-- Identifier prefixes compare byte by byte (~>=~ and ~<~), whatever the
-- database's collation; the unique index on (type, identifier) follows
-- the collation and cannot serve them.
CREATE INDEX identity_credential_identifiers_prefix_idx ON identity_credential_identifiers (type, identifier text_pattern_ops);

-- Identities stored before this migration.
WITH RECURSIVE walk (identity_id, path, v) AS (
    SELECT i.id, e.key, e.value
      FROM identities i, jsonb_each(CASE WHEN jsonb_typeof(i.traits) = 'object' THEN i.traits END) e
    UNION ALL
    SELECT w.identity_id, CASE WHEN c.key IS NULL THEN w.path ELSE w.path || '.' || c.key END, c.value
      FROM walk w CROSS JOIN LATERAL (
          SELECT key, value FROM jsonb_each(CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v END)
          UNION ALL
          SELECT NULL, value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v END)
      ) c
)
INSERT INTO identity_trait_search (identity_id, path, value_lower)
SELECT DISTINCT identity_id, path, lower(v #>> '{}') FROM walk
 WHERE jsonb_typeof(v) = 'string' AND char_length(v #>> '{}') <= 256
   AND path ~ '^[A-Za-z0-9_.-]+$' AND char_length(path) <= 256
ON CONFLICT DO NOTHING;
