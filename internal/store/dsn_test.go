package store

import (
	"maps"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTakePool(t *testing.T) {
	q, _ := url.ParseQuery("sslmode=disable&max_conns=20&max_idle_conns=4&max_conn_lifetime=1h&max_conn_idle_time=90s")
	p, err := takePool(q)
	if err != nil {
		t.Fatal(err)
	}
	if want := (pool{20, 4, time.Hour, 90 * time.Second}); p != want {
		t.Errorf("pool = %+v, want %+v", p, want)
	}
	if q.Encode() != "sslmode=disable" {
		t.Errorf("left in the query: %s", q.Encode())
	}

	q, _ = url.ParseQuery("sslmode=disable")
	if p, err := takePool(q); err != nil || p != (pool{-1, -1, -1, -1}) {
		t.Errorf("no options: %+v, %v", p, err)
	}
	q, _ = url.ParseQuery("max_conns=0&max_conn_lifetime=0")
	if p, err := takePool(q); err != nil || p.maxOpen != 0 || p.maxLifetime != 0 {
		t.Errorf("zeros: %+v, %v", p, err)
	}

	for raw, want := range map[string]string{
		"max_conns=many":         `option max_conns must be a whole number of connections, got "many"`,
		"max_conns=-1":           `option max_conns must be a whole number`,
		"max_idle_conns=1.5":     `option max_idle_conns must be a whole number`,
		"max_conn_lifetime=3600": `option max_conn_lifetime must be a duration such as "1h" or "30s", got "3600"`,
		"max_conn_idle_time=-1m": `option max_conn_idle_time must be a duration`,
	} {
		q, _ := url.ParseQuery(raw)
		if _, err := takePool(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", raw, err, want)
		}
	}
}

func TestPostgresDSN(t *testing.T) {
	const base = "postgres://kratos:s3cret@db.internal:5432/kratos"
	got, p, err := postgresDSN(base + "?sslmode=disable&max_conns=20&max_idle_conns=20&max_conn_lifetime=1h&max_conn_idle_time=10m")
	if err != nil {
		t.Fatal(err)
	}
	if got != base+"?sslmode=disable" {
		t.Errorf("dsn = %s", got)
	}
	if p != (pool{20, 20, time.Hour, 10 * time.Minute}) {
		t.Errorf("pool = %+v", p)
	}
	if got, _, err := postgresDSN(base + "?max_conns=5"); err != nil || got != base {
		t.Errorf("only pool options: %s, %v", got, err)
	}
	if got, _, err := postgresDSN(base); err != nil || got != base {
		t.Errorf("no query: %s, %v", got, err)
	}

	// What pgx and libpq understand passes through, and so do common
	// server settings.
	passes := "sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=10&application_name=kratos" +
		"&search_path=auth&TimeZone=UTC&statement_timeout=30000&options=-c%20lock_timeout%3D5s&target_session_attrs=read-write" +
		"&default_query_exec_mode=exec&sslnegotiation=direct"
	got, _, err = postgresDSN(base + "?" + passes)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := url.ParseQuery(passes)
	gotQuery, _ := url.ParseQuery(strings.SplitN(got, "?", 2)[1])
	if gotQuery.Encode() != want.Encode() {
		t.Errorf("query = %s, want %s", gotQuery.Encode(), want.Encode())
	}

	// Anything else would reach the server as a run-time parameter.
	_, _, err = postgresDSN(base + "?sslmode=disable&pool_max_conns=5&maxconns=hunter2&max_conns=20")
	if err == nil {
		t.Fatal("unknown options accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, `unknown options "maxconns", "pool_max_conns"`) || !strings.Contains(msg, "options=-c") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "s3cret") {
		t.Errorf("the error shows a value: %v", err)
	}
	if _, _, err := postgresDSN(base + "?SSLMODE=disable"); err == nil || !strings.Contains(err.Error(), `unknown option "SSLMODE"`) {
		t.Errorf("upper-case libpq keyword: %v", err)
	}
	if _, _, err := postgresDSN(base + "?sslmode=disable;x=1"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad encoding: %v", err)
	}
}

func TestParseSQLiteDSNForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for dsn, want := range map[string]string{
		"sqlite://file.db?_fk=true":                       filepath.Join(dir, "file.db"),
		"sqlite://./file.db?_fk=true&mode=rwc":            filepath.Join(dir, "file.db"),
		"sqlite:///var/lib/kratos/db.sqlite?_fk=true":     "/var/lib/kratos/db.sqlite",
		"sqlite:///abs/path.db?_fk=true&mode=rwc&_txlock": "/abs/path.db", // an empty _txlock keeps the default
		"sqlite://file:/abs/uri.db?_fk=true":              "/abs/uri.db",
		"sqlite:rel.db":                                   filepath.Join(dir, "rel.db"),
		"file:viafile.db?cache=shared":                    filepath.Join(dir, "viafile.db"),
		"sqlite://./with%20space.db":                      filepath.Join(dir, "with space.db"),
	} {
		d, err := parseSQLiteDSN(dsn)
		if err != nil {
			t.Errorf("%s: %v", dsn, err)
			continue
		}
		if d.memory || d.path != want {
			t.Errorf("%s: path %q (memory %v), want %q", dsn, d.path, d.memory, want)
		}
	}
	for _, dsn := range []string{
		"memory", "sqlite://:memory:", "sqlite://file::memory:?_fk=true", "sqlite://file::memory:?_fk=true&cache=shared",
		"sqlite://file.db?mode=memory", "sqlite://", "file:lanyard?mode=memory&cache=shared",
	} {
		d, err := parseSQLiteDSN(dsn)
		if err != nil || !d.memory {
			t.Errorf("%s: %+v, %v; want in memory", dsn, d, err)
		}
	}
}

func TestParseSQLiteDSNOptions(t *testing.T) {
	d, err := parseSQLiteDSN("sqlite:///db.sqlite?_fk=1&_journal_mode=delete&_busy_timeout=5000&_sync=2&_txlock=exclusive&mode=rw" +
		"&_cache_size=-4000&_secure_delete=fast&_auto_vacuum=incremental&_loc=auto&max_conns=20&max_idle_conns=2")
	if err != nil {
		t.Fatal(err)
	}
	if d.journal != "DELETE" || d.txlock != "exclusive" || d.mode != "rw" || len(d.warnings) != 0 {
		t.Errorf("parsed %+v", d)
	}
	wantPragmas := map[string]string{"busy_timeout": "5000", "foreign_keys": "1", "synchronous": "FULL",
		"auto_vacuum": "INCREMENTAL", "cache_size": "-4000", "secure_delete": "FAST"}
	if !maps.Equal(d.pragmas, wantPragmas) {
		t.Errorf("pragmas = %v, want %v", d.pragmas, wantPragmas)
	}
	if d.pool.maxOpen != 20 || d.pool.maxIdle != 2 {
		t.Errorf("pool = %+v", d.pool)
	}
	writer, reader := d.writerDSN("x"), d.readerDSN("x")
	for _, part := range []string{"file:/db.sqlite?mode=rw&", "_pragma=journal_mode(DELETE)", "_pragma=busy_timeout%285000%29"} {
		if !strings.Contains(writer, part) || !strings.Contains(reader, part) {
			t.Errorf("%q missing in\n%s\n%s", part, writer, reader)
		}
	}
	if !strings.HasSuffix(writer, "&_txlock=exclusive") || !strings.HasSuffix(reader, "&_pragma=query_only(1)") {
		t.Errorf("writer %s\nreader %s", writer, reader)
	}

	// Lanyard's defaults when the DSN says nothing.
	d, _ = parseSQLiteDSN("sqlite:///db.sqlite")
	if d.journal != "WAL" || d.txlock != "immediate" || d.mode != "rwc" || !maps.Equal(d.pragmas, defaultPragmas()) {
		t.Errorf("defaults %+v", d)
	}

	// Accepted, but not what they would do in Kratos: said in a warning.
	d, err = parseSQLiteDSN("sqlite:///db.sqlite?_fk=false&_txlock=deferred")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.warnings) != 2 || !strings.Contains(d.warnings[0], "_fk=false") || !strings.Contains(d.warnings[1], "_txlock=deferred") {
		t.Errorf("warnings = %q", d.warnings)
	}
	if d.pragmas["foreign_keys"] != "1" || d.txlock != "immediate" {
		t.Errorf("foreign keys or txlock changed: %+v", d)
	}

	for dsn, want := range map[string]string{
		"sqlite:///db.sqlite?_journal_mode=OFF":   "_journal_mode=OFF is refused",
		"sqlite:///db.sqlite?_journal=memory":     "_journal=memory is refused",
		"sqlite:///db.sqlite?_journal_mode=fast":  `option _journal_mode must be one of WAL`,
		"sqlite:///db.sqlite?mode=ro":             "mode=ro is refused",
		"sqlite:///db.sqlite?mode=wat":            "option mode must be one of rwc, rw, memory",
		"sqlite:///db.sqlite?_fk=maybe":           "option _fk must be true or false",
		"sqlite:///db.sqlite?_busy_timeout=soon":  "option _busy_timeout must be a whole number of milliseconds",
		"sqlite:///db.sqlite?_sync=sometimes":     "option _sync must be one of OFF",
		"sqlite:///db.sqlite?_txlock=now":         "option _txlock must be one of",
		"sqlite:///db.sqlite?cache=lots":          "option cache must be shared or private",
		"sqlite:///db.sqlite?max_conns=x":         "option max_conns must be a whole number",
		"sqlite:///db.sqlite?_fk=true&_foo=1&z=2": `unknown options "_foo", "z"`,
		"sqlite:///db.sqlite?_auth_pass=hunter2":  `unknown option "_auth_pass"`,
	} {
		_, err := parseSQLiteDSN(dsn)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "dsn: ") {
			t.Errorf("%s: err = %v, want it to contain %q", dsn, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows a value: %v", dsn, err)
		}
	}
}
