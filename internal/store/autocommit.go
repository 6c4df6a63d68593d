package store

// Autocommit returns queries that write outside any transaction, each
// statement atomic on its own: for a write that is one statement, this
// spares PostgreSQL's BEGIN and COMMIT round trips. On SQLite they go
// through the one writer connection, as Write's do.
func (s *Store) Autocommit() *Q {
	return &Q{db: s.writer, dialect: s.dialect}
}
