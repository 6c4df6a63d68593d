package config

// SQLite is sqlite.*, Lanyard's own section: how a server uses an SQLite
// database (PostgreSQL ignores it).
type SQLite struct {
	WhoamiCache WhoamiCache
}

// Postgres is postgres.*, Lanyard's own section: how a server uses a
// PostgreSQL database (SQLite ignores it).
type Postgres struct {
	WhoamiCache WhoamiCache
}

// WhoamiCache keeps sessions in memory for whoami, exact across processes
// and instances sharing the database (session.WhoamiCache).
type WhoamiCache struct {
	// MaxMiB bounds its memory; 0 turns it off.
	MaxMiB int
	// Prefill reads sessions into it at start, in the background.
	Prefill bool
}

var sqliteKeys = []keySpec{
	field("sqlite.whoami_cache.max_mib", integer[int](0, 1<<20), 64, func(c *Config) *int { return &c.SQLite.WhoamiCache.MaxMiB }),
	field("sqlite.whoami_cache.prefill", boolean, true, func(c *Config) *bool { return &c.SQLite.WhoamiCache.Prefill }),
	field("postgres.whoami_cache.max_mib", integer[int](0, 1<<20), 64, func(c *Config) *int { return &c.Postgres.WhoamiCache.MaxMiB }),
	field("postgres.whoami_cache.prefill", boolean, true, func(c *Config) *bool { return &c.Postgres.WhoamiCache.Prefill }),
}

// WhoamiCacheOf is the whoami_cache section of the store dsn names.
func (c *Config) WhoamiCacheOf(postgres bool) WhoamiCache {
	if postgres {
		return c.Postgres.WhoamiCache
	}
	return c.SQLite.WhoamiCache
}
