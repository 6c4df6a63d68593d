package config

// SQLite is sqlite.*, Lanyard's own section: how a server uses an SQLite
// database (PostgreSQL ignores it).
type SQLite struct {
	WhoamiCache WhoamiCache
}

// WhoamiCache keeps sessions in memory for whoami, exact across processes
// sharing the file (session.WhoamiCache).
type WhoamiCache struct {
	// MaxMiB bounds its memory; 0 turns it off.
	MaxMiB int
	// Prefill reads sessions into it at start, in the background.
	Prefill bool
}

var sqliteKeys = []keySpec{
	field("sqlite.whoami_cache.max_mib", integer[int](0, 1<<20), 64, func(c *Config) *int { return &c.SQLite.WhoamiCache.MaxMiB }),
	field("sqlite.whoami_cache.prefill", boolean, true, func(c *Config) *bool { return &c.SQLite.WhoamiCache.Prefill }),
}
