package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOptions are the inputs besides the config files' contents.
type LoadOptions struct {
	// Files are the -c flags, merged in order: later files win, objects
	// merge key by key, lists replace.
	Files []string
	// Dev is the --dev flag; the `dev: true` key enables dev mode too.
	Dev bool
	// WatchCourier is the --watch-courier flag.
	WatchCourier bool
	// LookupEnv reads environment overrides; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// WorkDir is the base for relative paths ("" means os.Getwd()).
	WorkDir string
}

// DataDirEnv overrides the default data directory (<WorkDir>/.lanyard).
const DataDirEnv = "LANYARD_DATA_DIR"

// Load reads, merges and validates the configuration. Besides the config it
// returns one human-readable warning per key Lanyard does not support
// (yet), sorted. All validation errors are joined into one error; no error
// message contains a secret value.
func Load(opts LoadOptions) (*Config, []string, error) {
	l := &loader{
		opts:     opts,
		lookup:   opts.LookupEnv,
		present:  map[string]bool{},
		warnings: map[string]bool{},
		invalid:  map[string]bool{},
	}
	if l.lookup == nil {
		l.lookup = os.LookupEnv
	}
	if err := l.setWorkDir(); err != nil {
		return nil, nil, err
	}
	c := &Config{WatchCourier: opts.WatchCourier, raw: &rawTree{m: map[string]any{}}}
	for i := range keys {
		keys[i].setDefault(c)
	}
	for _, f := range opts.Files {
		if err := l.readFile(c, f); err != nil {
			return nil, nil, err
		}
	}
	c.Dir = l.workDir
	l.readEnv()
	l.walk(c, c.raw.m, "")
	l.applyEnv(c)
	l.finalize(c)
	warnings := make([]string, 0, len(l.warnings))
	for w := range l.warnings {
		warnings = append(warnings, w)
	}
	slices.Sort(warnings)
	if len(l.errs) > 0 {
		return nil, warnings, errors.Join(l.errs...)
	}
	return c, warnings, nil
}

type loader struct {
	opts    LoadOptions
	lookup  func(string) (string, bool)
	workDir string
	// present records keys set by a file or the environment, for defaults
	// that depend on whether a key was given at all.
	present map[string]bool
	// env holds the non-empty overrides for supported keys, by key path.
	env      map[string]string
	warnings map[string]bool
	errs     []error
	// invalid marks keys whose value was rejected, so rules about missing
	// values do not report them a second time.
	invalid map[string]bool
}

func (l *loader) warn(w string) { l.warnings[w] = true }

func (l *loader) fail(err error) { l.errs = append(l.errs, err) }

func unsupportedWarning(path string) string {
	return fmt.Sprintf("config key %q is not supported by Lanyard yet and is ignored", path)
}

func (l *loader) setWorkDir() error {
	wd := l.opts.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return fmt.Errorf("config: cannot determine the working directory: %w", err)
		}
	}
	abs, err := filepath.Abs(wd)
	if err != nil {
		return fmt.Errorf("config: working directory %q: %w", wd, err)
	}
	l.workDir = abs
	return nil
}

func (l *loader) readFile(c *Config, name string) error {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(l.workDir, path)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %q does not exist", name)
	}
	if err != nil {
		return fmt.Errorf("config file %q: %w", name, err)
	}
	tree, err := parseTree(path, b)
	if err != nil {
		return fmt.Errorf("config file %q: %w", name, err)
	}
	merge(c.raw.m, tree)
	return nil
}

// parseTree decodes YAML, or JSON with a JSON decoder because YAML parsers
// trip over some valid JSON (tab indentation).
func parseTree(path string, b []byte) (map[string]any, error) {
	var v any
	trimmed := bytes.TrimSpace(b)
	if strings.EqualFold(filepath.Ext(path), ".json") || bytes.HasPrefix(trimmed, []byte("{")) {
		if len(trimmed) == 0 {
			return map[string]any{}, nil
		}
		var err error
		if v, err = decodeJSON(trimmed); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
	} else if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := normalise(v).(map[string]any)
	if !ok {
		return nil, errors.New("the top level must be an object of config keys")
	}
	return m, nil
}

// normalise turns maps with non-string keys (YAML allows `1: x`) into
// map[string]any so the rest of the loader sees one shape.
func normalise(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = normalise(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = normalise(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = normalise(e)
		}
	}
	return v
}

// merge copies src into dst: objects merge deep, everything else (lists
// included) replaces.
func merge(dst, src map[string]any) {
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			dm, ok := dst[k].(map[string]any)
			if !ok {
				dm = map[string]any{}
				dst[k] = dm
			}
			merge(dm, sm)
			continue
		}
		dst[k] = sv
	}
}

func joinPath(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// walk decodes supported keys and warns about every other leaf. A list is
// one leaf: its items are not keys.
func (l *loader) walk(c *Config, m map[string]any, prefix string) {
	for _, k := range sortedKeys(m) {
		v, p := m[k], joinPath(prefix, k)
		if spec := keyIndex[p]; spec != nil {
			if v == nil {
				continue // `key:` with no value leaves the default
			}
			l.present[p] = true
			if _, overridden := l.env[p]; overridden {
				continue // a bad file value does not matter when env replaces it
			}
			d := &decodeCtx{path: p, secret: spec.secret, dir: l.workDir, warn: l.warn}
			if err := spec.fromYAML(c, v, d); err != nil {
				l.fail(err)
				l.invalid[p] = true
			}
			continue
		}
		if sub, ok := v.(map[string]any); ok && (len(sub) > 0 || objectPaths[p]) {
			l.walk(c, sub, p)
			continue
		}
		if objectPaths[p] {
			if v != nil {
				d := &decodeCtx{path: p}
				l.fail(d.errorf("expected an object, got %s", d.show(v)))
			}
			continue
		}
		l.warn(unsupportedWarning(p))
	}
}

// readEnv collects Kratos-style overrides (serve.public.port ->
// SERVE_PUBLIC_PORT) for supported keys. Empty variables are ignored, as
// container tooling often defines variables it has no value for.
func (l *loader) readEnv() {
	l.env = map[string]string{}
	for i := range keys {
		if s, ok := l.lookup(keys[i].envName()); ok && strings.TrimSpace(s) != "" {
			l.env[keys[i].path] = s
		}
	}
}

func (l *loader) applyEnv(c *Config) {
	for i := range keys {
		k := &keys[i]
		s, ok := l.env[k.path]
		if !ok {
			continue
		}
		l.present[k.path] = true
		d := &decodeCtx{path: k.path, secret: k.secret, dir: l.workDir, warn: l.warn}
		if err := k.fromEnv(c, s, d); err != nil {
			l.fail(fmt.Errorf("environment variable %s: %w", k.envName(), err))
			l.invalid[k.path] = true
		}
	}
}

// finalize applies defaults that depend on other values and checks rules
// that span keys.
func (l *loader) finalize(c *Config) {
	c.Dev = c.Dev || l.opts.Dev

	for _, s := range []struct {
		name string
		ln   *Listener
	}{{"public", &c.Serve.Public}, {"admin", &c.Serve.Admin}} {
		if c.Dev && !l.present["serve."+s.name+".host"] {
			s.ln.Host = "127.0.0.1"
		}
		if s.ln.BaseURL == nil {
			host := s.ln.Host
			if isUnspecifiedHost(host) {
				host = "127.0.0.1"
			}
			s.ln.BaseURL = &url.URL{Scheme: "http", Host: joinHostPort(host, s.ln.Port), Path: "/"}
		}
	}
	if c.Serve.Public.Port == c.Serve.Admin.Port &&
		(c.Serve.Public.Host == c.Serve.Admin.Host || isUnspecifiedHost(c.Serve.Public.Host) || isUnspecifiedHost(c.Serve.Admin.Host)) {
		l.fail(fmt.Errorf("config keys \"serve.public.port\" and \"serve.admin.port\": both listeners use port %d", c.Serve.Public.Port))
	}

	if c.Log.Level == "warning" {
		c.Log.Level = "warn"
	}

	// Kratos silently raises low bcrypt costs outside dev mode; say so.
	if !c.Dev && c.Hashers.Bcrypt.Cost < 12 {
		if l.present["hashers.bcrypt.cost"] {
			l.warn(fmt.Sprintf("config key \"hashers.bcrypt.cost\": %d is raised to 12 outside dev mode", c.Hashers.Bcrypt.Cost))
		}
		c.Hashers.Bcrypt.Cost = 12
	}

	c.DataDir = filepath.Join(l.workDir, ".lanyard")
	if d, ok := l.lookup(DataDirEnv); ok && strings.TrimSpace(d) != "" {
		if !filepath.IsAbs(d) {
			d = filepath.Join(l.workDir, d)
		}
		c.DataDir = filepath.Clean(d)
	}

	l.finalizeDSN(c)
	l.finalizeIdentity(c)
	l.finalizeSecrets(c)
	l.finalizeCode(c)
	l.finalizeWebAuthn(c)
	l.finalizeOIDC(c)
}

func (l *loader) finalizeCode(c *Config) {
	code := &c.Selfservice.Methods.Code
	// Kratos's schema forbids both: a code cannot be the first factor and
	// the second one at once.
	if code.PasswordlessEnabled && code.MFAEnabled {
		l.fail(errors.New("config keys \"selfservice.methods.code.passwordless_enabled\" and \"selfservice.methods.code.mfa_enabled\": at most one may be true (a code is either the first factor or a second one)"))
	}
	if code.PasswordlessEnabled {
		code.Enabled = true
	}
}

func isUnspecifiedHost(h string) bool {
	switch h {
	case "", "0.0.0.0", "::", "[::]":
		return true
	}
	return false
}

// dsnSchemes are the database URL schemes Lanyard can open.
var dsnSchemes = map[string]bool{
	"sqlite": true, "sqlite3": true,
	"postgres": true, "postgresql": true,
	"cockroach": true, "cockroachdb": true, "crdb": true,
}

func (l *loader) finalizeDSN(c *Config) {
	d := &decodeCtx{path: "dsn", secret: true}
	switch {
	case c.DSN == "" && c.Dev:
		c.DSN = "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "lanyard.sqlite")) + "?_fk=true"
		return
	case c.DSN == "":
		l.fail(d.errorf("a database is required outside dev mode (e.g. postgres://user:pass@host/db or sqlite:///var/lib/lanyard/db.sqlite?_fk=true); set it in the config or with DSN"))
		return
	case c.DSN == "memory":
		return
	}
	scheme, _, ok := strings.Cut(c.DSN, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "@:/ ") {
		// The value may hold a password, so it is not echoed.
		l.fail(d.errorf("expected \"memory\" or a URL such as sqlite://... or postgres://..."))
		return
	}
	if !dsnSchemes[strings.ToLower(scheme)] {
		l.fail(d.errorf("database scheme %s is not supported (use sqlite, postgres or cockroach)", quoteShort(scheme)))
	}
}

func (l *loader) finalizeIdentity(c *Config) {
	id := c.Identity
	seen := map[string]bool{}
	for _, s := range id.Schemas {
		if seen[s.ID] {
			l.fail(fmt.Errorf("config key \"identity.schemas\": schema id %q is used more than once", s.ID))
		}
		seen[s.ID] = true
	}
	switch {
	case len(id.Schemas) == 0 && !c.Dev && !l.invalid["identity.schemas"]:
		l.fail(errors.New("config key \"identity.schemas\": at least one identity schema is required outside dev mode"))
	case len(id.Schemas) == 0 && id.DefaultSchemaID != BuiltinSchemaID:
		l.fail(fmt.Errorf("config key \"identity.default_schema_id\": %q names no schema: identity.schemas is empty, so only the built-in %q schema exists", id.DefaultSchemaID, BuiltinSchemaID))
	case len(id.Schemas) > 0 && !seen[id.DefaultSchemaID]:
		l.fail(fmt.Errorf("config key \"identity.default_schema_id\": %q is not the id of any schema in identity.schemas", id.DefaultSchemaID))
	}
}

func (l *loader) finalizeSecrets(c *Config) {
	// Kratos signs cookies with secrets.default when secrets.cookie is
	// unset; copying makes Secrets.Cookie the one place to look.
	if len(c.Secrets.Cookie) == 0 && len(c.Secrets.Default) > 0 {
		c.Secrets.Cookie = slices.Clone(c.Secrets.Default)
	}
	// A present but invalid value has already been reported.
	if len(c.Secrets.Cookie) == 0 && !c.Dev && !l.invalid["secrets.cookie"] && !l.invalid["secrets.default"] {
		l.fail(errors.New("config key \"secrets.cookie\": at least one secret of 16 or more characters is required outside dev mode (secrets.default also works)"))
	}
}
