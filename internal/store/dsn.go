package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kratos (ory/x sqlcon) takes these options out of any DSN's query string
// and sizes its connection pool with them; the rest goes to the driver.
const (
	optMaxConns        = "max_conns"
	optMaxIdleConns    = "max_idle_conns"
	optMaxConnLifetime = "max_conn_lifetime"
	optMaxConnIdleTime = "max_conn_idle_time"
)

// pool is what a DSN says about the connection pool. Negative fields were
// not given and keep Lanyard's defaults.
type pool struct {
	maxOpen, maxIdle         int
	maxLifetime, maxIdleTime time.Duration
}

// takePool removes Kratos's pool options from q and parses them: counts
// are whole numbers (0 connections means no limit, as in database/sql),
// times Go durations such as "1h" or "90s" (0 means forever).
func takePool(q url.Values) (pool, error) {
	p := pool{maxOpen: -1, maxIdle: -1, maxLifetime: -1, maxIdleTime: -1}
	count := func(key string, dst *int) error {
		if !q.Has(key) {
			return nil
		}
		v := q.Get(key)
		q.Del(key)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("dsn: option %s must be a whole number of connections, got %s", key, quoteValue(v))
		}
		*dst = n
		return nil
	}
	span := func(key string, dst *time.Duration) error {
		if !q.Has(key) {
			return nil
		}
		v := q.Get(key)
		q.Del(key)
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("dsn: option %s must be a duration such as \"1h\" or \"30s\", got %s", key, quoteValue(v))
		}
		*dst = d
		return nil
	}
	err := errors.Join(
		count(optMaxConns, &p.maxOpen),
		count(optMaxIdleConns, &p.maxIdle),
		span(optMaxConnLifetime, &p.maxLifetime),
		span(optMaxConnIdleTime, &p.maxIdleTime),
	)
	return p, err
}

// apply sizes db: what the DSN set, otherwise the given defaults.
func (p pool) apply(db *sql.DB, maxOpen, maxIdle int, maxLifetime, maxIdleTime time.Duration) {
	pick := func(v, def int) int {
		if v >= 0 {
			return v
		}
		return def
	}
	pickTime := func(v, def time.Duration) time.Duration {
		if v >= 0 {
			return v
		}
		return def
	}
	db.SetMaxOpenConns(pick(p.maxOpen, maxOpen))
	db.SetMaxIdleConns(pick(p.maxIdle, maxIdle))
	db.SetConnMaxLifetime(pickTime(p.maxLifetime, maxLifetime))
	db.SetConnMaxIdleTime(pickTime(p.maxIdleTime, maxIdleTime))
}

func quoteValue(v string) string {
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return strconv.Quote(v)
}

// unknownOptions is the error for query options nobody understands. Only
// the names are shown: values may be secrets.
func unknownOptions(keys []string, hint string) error {
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = quoteValue(k)
	}
	noun := "option"
	if len(keys) > 1 {
		noun = "options"
	}
	return fmt.Errorf("dsn: unknown %s %s: %s", noun, strings.Join(quoted, ", "), hint)
}

// postgresParams are the connection parameters pgx handles itself (those
// of libpq, and pgx's own).
var postgresParams = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "database": true, "user": true, "password": true,
	"passfile": true, "connect_timeout": true, "sslmode": true, "ssl": true, "sslkey": true, "sslcert": true,
	"sslcertmode": true, "sslrootcert": true, "sslnegotiation": true, "sslpassword": true, "sslsni": true,
	"krbspn": true, "krbsrvname": true, "target_session_attrs": true, "service": true, "servicefile": true,
	"min_protocol_version": true, "max_protocol_version": true, "channel_binding": true, "require_auth": true,
	"statement_cache_capacity": true, "description_cache_capacity": true, "default_query_exec_mode": true,
}

// postgresServerParams are run-time parameters that libpq knows by name or
// that DSNs commonly carry; pgx sends them to the server when connecting.
// Any other name would reach the server too, which refuses a name it does
// not know only then ("unrecognized configuration parameter"); so names
// are checked here, and other server settings go through "options".
var postgresServerParams = map[string]bool{
	"application_name": true, "fallback_application_name": true, "options": true, "client_encoding": true,
	"search_path": true, "timezone": true, "datestyle": true, "intervalstyle": true, "extra_float_digits": true,
	"statement_timeout": true, "lock_timeout": true, "idle_in_transaction_session_timeout": true,
	"idle_session_timeout": true, "transaction_timeout": true, "default_transaction_isolation": true,
	"default_transaction_read_only": true, "work_mem": true, "role": true,
}

// postgresDSN takes Kratos's pool options out of a postgres:// DSN and
// refuses options that neither Kratos nor pgx understands.
func postgresDSN(dsn string) (string, pool, error) {
	base, rawQuery, _ := strings.Cut(dsn, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", pool{}, errors.New("dsn: the query string is not valid URL encoding")
	}
	p, err := takePool(q)
	if err != nil {
		return "", pool{}, err
	}
	var unknown []string
	for k := range q {
		if !postgresParams[k] && !postgresServerParams[strings.ToLower(k)] {
			unknown = append(unknown, k)
		}
	}
	if err := unknownOptions(unknown, "it is neither a pool option of Kratos ("+
		strings.Join([]string{optMaxConns, optMaxIdleConns, optMaxConnLifetime, optMaxConnIdleTime}, ", ")+
		") nor a PostgreSQL connection parameter; set other server parameters with options=-c name=value"); err != nil {
		return "", pool{}, err
	}
	if len(q) == 0 {
		return base, p, nil
	}
	return base + "?" + q.Encode(), p, nil
}

// sqliteDSN is what a Kratos-style SQLite DSN asks for, mapped onto how
// Lanyard opens SQLite (WAL, one writer connection, a pool of readers).
type sqliteDSN struct {
	path   string // absolute; empty in memory
	memory bool
	// pragmas are set on every connection: name -> value. (The driver
	// runs busy_timeout first and the others in name order.)
	pragmas map[string]string
	journal string // journal_mode
	txlock  string // how the writer begins transactions
	mode    string // the SQLite URI mode: rwc or rw
	pool    pool
	// warnings are options that are accepted but do not do what they
	// would in Kratos; they are logged.
	warnings []string
}

// parseSQLiteDSN reads the forms sqlite://./rel.db, sqlite:///abs.db,
// sqlite:rel.db, sqlite://file:x.db, file:x.db, sqlite://:memory:,
// sqlite://file::memory: and "memory", with the options of the driver
// Kratos uses (mattn/go-sqlite3), its aliases included.
func parseSQLiteDSN(dsn string) (*sqliteDSN, error) {
	s := &sqliteDSN{journal: "WAL", txlock: "immediate", mode: "rwc"}
	if dsn == "memory" {
		s.memory = true
		s.pool = pool{maxOpen: -1, maxIdle: -1, maxLifetime: -1, maxIdleTime: -1}
		s.pragmas = defaultPragmas()
		return s, nil
	}
	rest := dsn
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if r, ok := strings.CutPrefix(rest, prefix); ok {
			rest = r
			break
		}
	}
	rest = strings.TrimPrefix(rest, "file:") // sqlite://file:x.db, as SQLite's own URIs
	path, rawQuery, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, errors.New("dsn: the query string is not valid URL encoding")
	}
	if s.pool, err = takePool(q); err != nil {
		return nil, err
	}

	s.pragmas = defaultPragmas()
	var unknown []string
	for _, k := range sortedKeys(q) {
		v := q.Get(k)
		if v == "" && sqliteOptions[k] {
			continue // as in mattn/go-sqlite3: an empty value is no value
		}
		bad := func(want string) error {
			return fmt.Errorf("dsn: option %s must be %s, got %s", k, want, quoteValue(v))
		}
		switch k {
		case "_fk", "_foreign_keys":
			on, ok := sqliteBool(v)
			if !ok {
				return nil, bad("true or false")
			}
			if !on {
				s.warnings = append(s.warnings, "dsn option "+k+"="+v+" is ignored: Lanyard always enforces foreign keys")
			}
		case "_journal_mode", "_journal":
			switch mode := strings.ToUpper(v); mode {
			case "WAL", "DELETE", "TRUNCATE", "PERSIST":
				s.journal = mode
			case "MEMORY", "OFF":
				return nil, fmt.Errorf("dsn: option %s=%s is refused: without a journal on disk a crash can corrupt the database; use WAL (Lanyard's default), DELETE, TRUNCATE or PERSIST", k, v)
			default:
				return nil, bad("one of WAL, DELETE, TRUNCATE, PERSIST")
			}
		case "_busy_timeout", "_timeout":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, bad("a whole number of milliseconds")
			}
			s.pragmas["busy_timeout"] = strconv.Itoa(n)
		case "_synchronous", "_sync":
			level, ok := map[string]string{"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA", "OFF": "OFF", "NORMAL": "NORMAL", "FULL": "FULL", "EXTRA": "EXTRA"}[strings.ToUpper(v)]
			if !ok {
				return nil, bad("one of OFF, NORMAL, FULL, EXTRA")
			}
			s.pragmas["synchronous"] = level
		case "_txlock":
			switch lock := strings.ToLower(v); lock {
			case "immediate", "exclusive":
				s.txlock = lock
			case "deferred":
				s.warnings = append(s.warnings, "dsn option _txlock=deferred is ignored: Lanyard's writer starts its transactions immediate, so that writers queue instead of failing with \"database is locked\"")
			default:
				return nil, bad("one of immediate, exclusive, deferred")
			}
		case "mode":
			switch m := strings.ToLower(v); m {
			case "rwc", "rw":
				s.mode = m
			case "memory":
				s.memory = true
			case "ro":
				return nil, errors.New("dsn: option mode=ro is refused: Lanyard writes to its database (sessions, flows, migrations)")
			default:
				return nil, bad("one of rwc, rw, memory")
			}
		case "cache":
			// Lanyard shares one in-memory database between its pools
			// itself and keeps file databases private to each connection.
			if c := strings.ToLower(v); c != "shared" && c != "private" {
				return nil, bad("shared or private")
			}
		case "_cache_size":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, bad("a whole number")
			}
			s.pragmas["cache_size"] = strconv.Itoa(n)
		case "_secure_delete":
			switch {
			case strings.EqualFold(v, "fast"):
				s.pragmas["secure_delete"] = "FAST"
			default:
				on, ok := sqliteBool(v)
				if !ok {
					return nil, bad("true, false or FAST")
				}
				s.pragmas["secure_delete"] = map[bool]string{true: "1", false: "0"}[on]
			}
		case "_auto_vacuum", "_vacuum":
			mode, ok := map[string]string{"0": "NONE", "1": "FULL", "2": "INCREMENTAL", "NONE": "NONE", "FULL": "FULL", "INCREMENTAL": "INCREMENTAL"}[strings.ToUpper(v)]
			if !ok {
				return nil, bad("one of none, full, incremental")
			}
			s.pragmas["auto_vacuum"] = mode
		case "_loc":
			// Lanyard stores times as UTC text and parses them itself.
		default:
			unknown = append(unknown, k)
		}
	}
	if err := unknownOptions(unknown, "Lanyard understands Kratos's pool options ("+
		strings.Join([]string{optMaxConns, optMaxIdleConns, optMaxConnLifetime, optMaxConnIdleTime}, ", ")+
		") and the SQLite options _fk, _journal_mode, _busy_timeout, _synchronous, _txlock, mode, cache, _cache_size, _secure_delete, _auto_vacuum and _loc"); err != nil {
		return nil, err
	}

	if path == ":memory:" || path == "" {
		s.memory = true
	}
	if s.memory {
		return s, nil
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if s.path, err = filepath.Abs(path); err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	return s, nil
}

// sqliteOptions are the SQLite options parseSQLiteDSN understands.
var sqliteOptions = map[string]bool{
	"_fk": true, "_foreign_keys": true, "_journal_mode": true, "_journal": true, "_busy_timeout": true, "_timeout": true,
	"_synchronous": true, "_sync": true, "_txlock": true, "mode": true, "cache": true, "_cache_size": true,
	"_secure_delete": true, "_auto_vacuum": true, "_vacuum": true, "_loc": true,
}

// defaultPragmas are Lanyard's: wait up to 10s for a lock, enforce
// foreign keys, and with WAL sync at checkpoints only.
func defaultPragmas() map[string]string {
	return map[string]string{"busy_timeout": "10000", "foreign_keys": "1", "synchronous": "NORMAL"}
}

// sqliteBool reads booleans as mattn/go-sqlite3 does.
func sqliteBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true, true
	case "0", "no", "false", "off":
		return false, true
	}
	return false, false
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// writerDSN and readerDSN are the modernc.org/sqlite DSNs of the two pools.
func (s *sqliteDSN) writerDSN(memoryName string) string {
	if s.memory {
		// A named shared-cache in-memory database lets the reader pool
		// see what the writer wrote.
		return "file:" + memoryName + "?mode=memory&cache=shared&" + s.pragmaQuery()
	}
	dsn := s.fileDSN() + "&_txlock=" + s.txlock
	if s.walFile() {
		// The checkpointer copies (checkpoint.go); the writer checkpoints
		// only what is left once the WAL is long, so that the WAL restarts.
		dsn += fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)&_pragma=journal_size_limit(%d)", walRestartPages, walSizeLimit)
	}
	return dsn
}

// walFile reports whether the database is a file in WAL mode, whose WAL
// the checkpointer copies back.
func (s *sqliteDSN) walFile() bool { return !s.memory && s.journal == "WAL" }

// readerCacheKiB is each reader's page cache when the DSN sets no
// _cache_size: whoami reads one leaf of session_whoami, and with SQLite's
// 2 MiB default the inner pages of a million sessions' B-trees do not stay
// cached either, so each lookup is several pread calls into the OS cache.
// The cache fills only as pages are read: a small database keeps its size.
const readerCacheKiB = 32 << 10

func (s *sqliteDSN) readerDSN(memoryName string) string {
	if s.memory {
		return s.writerDSN(memoryName)
	}
	dsn := s.fileDSN()
	if _, set := s.pragmas["cache_size"]; !set {
		dsn += "&_pragma=cache_size(-" + strconv.Itoa(readerCacheKiB) + ")"
	}
	return dsn + "&_pragma=query_only(1)"
}

func (s *sqliteDSN) fileDSN() string {
	return "file:" + (&url.URL{Path: s.path}).EscapedPath() + "?mode=" + s.mode + "&" + s.pragmaQuery() + "&_pragma=journal_mode(" + s.journal + ")"
}

func (s *sqliteDSN) pragmaQuery() string {
	names := make([]string, 0, len(s.pragmas))
	for name := range s.pragmas {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = "_pragma=" + url.QueryEscape(name+"("+s.pragmas[name]+")")
	}
	return strings.Join(parts, "&")
}
