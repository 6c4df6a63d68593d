package config

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// env is a fake environment for LoadOptions.LookupEnv.
type env map[string]string

func (e env) lookup(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const (
	testCookieSecret = "cookie-secret-0123456789"
	testCipherSecret = "0123456789abcdef0123456789abcdef"
)

// prodBase is a minimal valid configuration outside dev mode.
const prodBase = `
dsn: postgres://user:hunter2@db/lanyard
secrets:
  cookie: [` + testCookieSecret + `]
identity:
  schemas:
    - id: default
      url: file:///etc/lanyard/identity.schema.json
`

func load(t *testing.T, opts LoadOptions) (*Config, []string, error) {
	t.Helper()
	if opts.LookupEnv == nil {
		opts.LookupEnv = env{}.lookup
	}
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	return Load(opts)
}

func mustLoad(t *testing.T, opts LoadOptions) (*Config, []string) {
	t.Helper()
	c, w, err := load(t, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, w
}

func TestDefaultsOutsideDevMode(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("dev", c.Dev, false)
	check("public host", c.Serve.Public.Host, "")
	check("public port", c.Serve.Public.Port, 4433)
	check("public base", c.Serve.Public.BaseURL, "http://127.0.0.1:4433/")
	check("public addr", c.Serve.Public.Addr(), ":4433")
	check("admin host", c.Serve.Admin.Host, "")
	check("admin port", c.Serve.Admin.Port, 4434)
	check("admin base", c.Serve.Admin.BaseURL, "http://127.0.0.1:4434/")
	check("log level", c.Log.Level, "info")
	check("log format", c.Log.Format, "text")
	check("leak", c.Log.LeakSensitiveValues, false)
	check("algorithm", c.Hashers.Algorithm, "bcrypt")
	check("cost", c.Hashers.Bcrypt.Cost, 12)
	a := c.Hashers.Argon2
	check("memory", a.Memory, 128*1024)
	check("iterations", a.Iterations, 1)
	check("parallelism", a.Parallelism, min(2*runtime.NumCPU(), 255))
	check("salt", a.SaltLength, 16)
	check("key", a.KeyLength, 32)
	check("duration", a.ExpectedDuration, 500*time.Millisecond)
	check("deviation", a.ExpectedDeviation, 500*time.Millisecond)
	check("dedicated", a.DedicatedMemory, 1<<30)
	check("default schema", c.Identity.DefaultSchemaID, "default")
	check("dir", c.Dir, dir)
	check("data dir", c.DataDir, filepath.Join(dir, ".lanyard"))
	check("cookie falls back", c.Secrets.Cookie, []string{testCookieSecret})
}

func TestDevModeDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts LoadOptions
	}{
		{"flag", LoadOptions{Dev: true}},
		{"key", LoadOptions{Files: []string{"dev.yml"}}},
		{"env", LoadOptions{LookupEnv: env{"DEV": "true"}.lookup}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "dev.yml", "dev: true\n")
			tc.opts.WorkDir = dir
			c, _ := mustLoad(t, tc.opts)
			if !c.Dev {
				t.Fatal("not in dev mode")
			}
			if c.Serve.Public.Host != "127.0.0.1" || c.Serve.Admin.Host != "127.0.0.1" {
				t.Errorf("hosts = %q, %q", c.Serve.Public.Host, c.Serve.Admin.Host)
			}
			if got := c.Serve.Admin.BaseURL.String(); got != "http://127.0.0.1:4434/" {
				t.Errorf("admin base = %s", got)
			}
			if want := "sqlite://" + dir + "/.lanyard/lanyard.sqlite?_fk=true"; c.DSN != want {
				t.Errorf("dsn = %s, want %s", c.DSN, want)
			}
			if len(c.Identity.Schemas) != 0 || c.Identity.DefaultSchemaID != BuiltinSchemaID {
				t.Errorf("identity = %+v", c.Identity)
			}
			if len(c.Secrets.Cookie) != 0 {
				t.Errorf("cookie secrets = %v", c.Secrets.Cookie)
			}
		})
	}
}

func TestDevModeExplicitEmptyHostMeansAllInterfaces(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", "serve: {public: {host: \"\", port: 8080}}\n")
	c, _ := mustLoad(t, LoadOptions{Files: []string{f}, Dev: true})
	if c.Serve.Public.Host != "" || c.Serve.Public.BaseURL.String() != "http://127.0.0.1:8080/" {
		t.Errorf("public = %+v", c.Serve.Public)
	}
}

func TestMergeOrder(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yml", prodBase)
	a := writeFile(t, dir, "a.yml", `
serve:
  public:
    port: 1111
    host: 10.0.0.1
  admin:
    port: 2222
log:
  level: debug
  format: json
secrets:
  default: [default-secret-0001, default-secret-0002]
  cookie: [cookie-secret-aaaaaa, cookie-secret-bbbbbb]
`)
	b := writeFile(t, dir, "b.json", `{
	"serve": {"public": {"port": 3333}},
	"log": {"level": "error"},
	"secrets": {"cookie": ["cookie-secret-cccccc"]}
}`)
	work := t.TempDir()
	c, _ := mustLoad(t, LoadOptions{Files: []string{base, a, b}, WorkDir: work})
	if c.Serve.Public.Port != 3333 {
		t.Errorf("later file must win: port %d", c.Serve.Public.Port)
	}
	if c.Serve.Public.Host != "10.0.0.1" || c.Serve.Admin.Port != 2222 || c.Log.Format != "json" {
		t.Errorf("objects must merge deep: %+v %+v", c.Serve, c.Log)
	}
	if c.Log.Level != "error" {
		t.Errorf("log level %q", c.Log.Level)
	}
	if !slices.Equal(c.Secrets.Cookie, []string{"cookie-secret-cccccc"}) {
		t.Errorf("lists must replace: %v", c.Secrets.Cookie)
	}
	if !slices.Equal(c.Secrets.Default, []string{"default-secret-0001", "default-secret-0002"}) {
		t.Errorf("default secrets %v", c.Secrets.Default)
	}
	if c.Dir != work {
		t.Errorf("Dir = %s, want the working directory %s", c.Dir, work)
	}
	if v, ok := c.Raw("serve.public.host"); !ok || v != "10.0.0.1" {
		t.Errorf("Raw = %v, %v", v, ok)
	}
	if _, ok := c.Raw("serve.public.nope"); ok {
		t.Error("Raw found a missing key")
	}
}

func TestRelativeFilesResolveAgainstWorkDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "conf/k.yml", prodBase)
	c, _ := mustLoad(t, LoadOptions{Files: []string{"conf/k.yml"}, WorkDir: dir})
	if c.Dir != dir {
		t.Errorf("Dir = %s, want the working directory %s", c.Dir, dir)
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "cfg/k.yml", prodBase+`
serve:
  public:
    port: 1111
log:
  level: debug
`)
	e := env{
		"DSN":                               "postgres://env@db/x",
		"DEV":                               "false",
		"SERVE_PUBLIC_PORT":                 "5555",
		"SERVE_PUBLIC_HOST":                 "0.0.0.0",
		"SERVE_ADMIN_BASE_URL":              "https://admin.example.com/kratos",
		"LOG_LEVEL":                         "warning",
		"LOG_FORMAT":                        "json",
		"LOG_LEAK_SENSITIVE_VALUES":         "true",
		"SECRETS_COOKIE":                    `["env-cookie-secret-01", "env-cookie-secret-02"]`,
		"SECRETS_DEFAULT":                   "env-default-secret-1, env-default-secret-2",
		"SECRETS_CIPHER":                    testCipherSecret,
		"IDENTITY_DEFAULT_SCHEMA_ID":        "customer",
		"IDENTITY_SCHEMAS":                  `[{"id":"customer","url":"file://./customer.json"},{"id":"default","url":"https://example.com/s.json"}]`,
		"HASHERS_ALGORITHM":                 "argon2",
		"HASHERS_BCRYPT_COST":               "14",
		"HASHERS_ARGON2_MEMORY":             "64MB",
		"HASHERS_ARGON2_ITERATIONS":         "3",
		"HASHERS_ARGON2_PARALLELISM":        "4",
		"HASHERS_ARGON2_SALT_LENGTH":        "32",
		"HASHERS_ARGON2_KEY_LENGTH":         "64",
		"HASHERS_ARGON2_EXPECTED_DURATION":  "1s",
		"HASHERS_ARGON2_EXPECTED_DEVIATION": "250ms",
		"HASHERS_ARGON2_DEDICATED_MEMORY":   "2GiB",
		"LANYARD_DATA_DIR":                  "data",
		"SERVE_ADMIN_PORT":                  "", // empty: ignored
	}
	c, _ := mustLoad(t, LoadOptions{Files: []string{f}, LookupEnv: e.lookup, WorkDir: dir})
	got := fmt.Sprintf("%s|%v|%d|%s|%s|%s|%s|%s|%v|%v|%v|%v|%s",
		c.DSN, c.Dev, c.Serve.Public.Port, c.Serve.Public.Host, c.Serve.Public.BaseURL,
		c.Serve.Admin.BaseURL, c.Log.Level, c.Log.Format, c.Log.LeakSensitiveValues,
		c.Secrets.Cookie, c.Secrets.Default, c.Secrets.Cipher, c.DataDir)
	want := fmt.Sprintf("postgres://env@db/x|false|5555|0.0.0.0|http://127.0.0.1:5555/|https://admin.example.com/kratos/|warn|json|true|[env-cookie-secret-01 env-cookie-secret-02]|[env-default-secret-1 env-default-secret-2]|[%s]|%s",
		testCipherSecret, filepath.Join(dir, "data"))
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if c.Serve.Admin.Port != 4434 {
		t.Errorf("empty env var must be ignored, admin port %d", c.Serve.Admin.Port)
	}
	wantSchemas := []SchemaRef{
		{ID: "customer", URL: "file://" + filepath.ToSlash(dir) + "/customer.json"},
		{ID: "default", URL: "https://example.com/s.json"},
	}
	if !slices.Equal(c.Identity.Schemas, wantSchemas) || c.Identity.DefaultSchemaID != "customer" {
		t.Errorf("identity = %+v", c.Identity)
	}
	h := c.Hashers
	want2 := Hashers{Algorithm: "argon2", Bcrypt: Bcrypt{Cost: 14}, Argon2: Argon2{
		Memory: 64 * 1024, Iterations: 3, Parallelism: 4, SaltLength: 32, KeyLength: 64,
		ExpectedDuration: time.Second, ExpectedDeviation: 250 * time.Millisecond, DedicatedMemory: 2 << 30,
	}}
	if h != want2 {
		t.Errorf("hashers = %+v, want %+v", h, want2)
	}
}

func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
version: v26.2.0
selfservice:
  methods:
    oidc:
      enabled: true
  allowed_return_urls: [http://a, http://b]
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: session
courier: {sms: {enabled: false}}
serve:
  public:
    cors:
      enabled: true
log:
  redaction_text: "***"
`)
	g := writeFile(t, dir, "k2.yml", `
identity:
  schemas:
    - id: default
      url: file:///x.json
      extra: 1
selfservice:
  methods:
    oidc:
      enabled: false
`)
	_, w := mustLoad(t, LoadOptions{Files: []string{f, g}})
	want := []string{
		`config key "courier.sms.enabled" is not supported by Lanyard yet and is ignored`,
		`config key "identity.schemas.extra" is not supported by Lanyard yet and is ignored`,
		`config key "log.redaction_text" is not supported by Lanyard yet and is ignored`,
	}
	if !slices.Equal(w, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(w, "\n"), strings.Join(want, "\n"))
	}
}

func TestBcryptCostRaisedOutsideDevMode(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+"hashers: {bcrypt: {cost: 4}}\n")
	c, w := mustLoad(t, LoadOptions{Files: []string{f}})
	if c.Hashers.Bcrypt.Cost != 12 {
		t.Errorf("cost = %d", c.Hashers.Bcrypt.Cost)
	}
	if len(w) != 1 || !strings.Contains(w[0], "raised to 12") {
		t.Errorf("warnings = %v", w)
	}
	c, w = mustLoad(t, LoadOptions{Files: []string{f}, Dev: true})
	if c.Hashers.Bcrypt.Cost != 4 || len(w) != 0 {
		t.Errorf("dev: cost = %d, warnings %v", c.Hashers.Bcrypt.Cost, w)
	}
}

func TestSchemaURLs(t *testing.T) {
	dir := t.TempDir()
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"type":"object"}`))
	a := writeFile(t, dir, "a/k.yml", prodBase)
	b := writeFile(t, dir, "b/sub/k.yml", `
identity:
  default_schema_id: dot
  schemas:
    - {id: dot, url: "file://./identity.schema.json"}
    - {id: bare, url: "file://identity.schema.json"}
    - {id: nested, url: "file://schemas/x.json"}
    - {id: parent, url: "file://../y.json"}
    - {id: abs, url: "file:///srv/z.json"}
    - {id: b64, url: "base64://`+b64+`"}
    - {id: web, url: "https://example.com/s.json"}
`)
	// Relative files are the working directory's, as in Kratos, whichever
	// directory the config file is in.
	work := filepath.Join(dir, "work")
	c, _ := mustLoad(t, LoadOptions{Files: []string{a, b}, WorkDir: work})
	base := filepath.ToSlash(work)
	want := []SchemaRef{
		{"dot", "file://" + base + "/identity.schema.json"},
		{"bare", "file://" + base + "/identity.schema.json"},
		{"nested", "file://" + base + "/schemas/x.json"},
		{"parent", "file://" + filepath.ToSlash(dir) + "/y.json"},
		{"abs", "file:///srv/z.json"},
		{"b64", "base64://" + b64},
		{"web", "https://example.com/s.json"},
	}
	if !slices.Equal(c.Identity.Schemas, want) {
		t.Errorf("schemas:\n%v\nwant\n%v", c.Identity.Schemas, want)
	}
	if p, ok := c.Identity.Schemas[0].FilePath(); !ok || p != base+"/identity.schema.json" {
		t.Errorf("FilePath = %q, %v", p, ok)
	}
	if _, ok := c.Identity.Schemas[6].FilePath(); ok {
		t.Error("FilePath of an https URL")
	}
}

func TestValidationErrors(t *testing.T) {
	const secret = "super-secret-value-xyz"
	for _, tc := range []struct {
		name string
		yaml string // merged over prodBase
		env  env
		dev  bool
		want []string // all must appear in the error
	}{
		{name: "port string", yaml: "serve: {public: {port: \"4433\"}}", want: []string{`"serve.public.port"`, `expected an integer, got "4433"`}},
		{name: "port range", yaml: "serve: {admin: {port: 70000}}", want: []string{`"serve.admin.port"`, "70000 is out of range (1 to 65535)"}},
		{name: "port negative", yaml: "serve: {admin: {port: -1}}", want: []string{`"serve.admin.port"`, "-1 is out of range"}},
		{name: "port float", yaml: "serve: {admin: {port: 1.5}}", want: []string{`"serve.admin.port"`, "got 1.5"}},
		{name: "same ports", yaml: "serve: {admin: {port: 4433}}", want: []string{`"serve.public.port"`, "both listeners use port 4433"}},
		{name: "host type", yaml: "serve: {public: {host: 5}}", want: []string{`"serve.public.host"`, "expected a string, got 5"}},
		{name: "serve not object", yaml: "serve: 5", want: []string{`"serve"`, "expected an object, got 5"}},
		{name: "base url relative", yaml: "serve: {public: {base_url: /kratos}}", want: []string{`"serve.public.base_url"`, `"/kratos"`}},
		{name: "base url scheme", yaml: "serve: {public: {base_url: \"ftp://x/\"}}", want: []string{`"serve.public.base_url"`, `"ftp://x/"`}},
		{name: "base url query", yaml: "serve: {admin: {base_url: \"http://x/?a=b\"}}", want: []string{`"serve.admin.base_url"`, "query"}},
		{name: "dev type", yaml: "dev: yes please", want: []string{`"dev"`, `expected true or false, got "yes please"`}},
		{name: "log level", yaml: "log: {level: loud}", want: []string{`"log.level"`, `"loud" is not one of trace, debug`}},
		{name: "log format", yaml: "log: {format: xml}", want: []string{`"log.format"`, `"xml" is not one of text, json`}},
		{name: "leak type", yaml: "log: {leak_sensitive_values: 1}", want: []string{`"log.leak_sensitive_values"`, "got 1"}},
		{name: "algorithm", yaml: "hashers: {algorithm: md5}", want: []string{`"hashers.algorithm"`, `"md5" is not one of bcrypt, argon2`}},
		{name: "bcrypt high", yaml: "hashers: {bcrypt: {cost: 32}}", want: []string{`"hashers.bcrypt.cost"`, "32 is out of range (4 to 31)"}},
		{name: "bcrypt low dev", dev: true, yaml: "hashers: {bcrypt: {cost: 3}}", want: []string{`"hashers.bcrypt.cost"`, "3 is out of range"}},
		{name: "argon2 memory", yaml: "hashers: {argon2: {memory: lots}}", want: []string{`"hashers.argon2.memory"`, `"lots"`}},
		{name: "argon2 memory unit", yaml: "hashers: {argon2: {memory: 12XB}}", want: []string{`"hashers.argon2.memory"`, `"12XB"`}},
		{name: "argon2 memory tiny", yaml: "hashers: {argon2: {memory: 100B}}", want: []string{`"hashers.argon2.memory"`, "out of range"}},
		{name: "argon2 memory negative", yaml: "hashers: {argon2: {memory: -5}}", want: []string{`"hashers.argon2.memory"`, "-5"}},
		{name: "argon2 iterations", yaml: "hashers: {argon2: {iterations: 0}}", want: []string{`"hashers.argon2.iterations"`, "0 is out of range"}},
		{name: "argon2 parallelism", yaml: "hashers: {argon2: {parallelism: 256}}", want: []string{`"hashers.argon2.parallelism"`, "256 is out of range (1 to 255)"}},
		{name: "argon2 salt", yaml: "hashers: {argon2: {salt_length: 8}}", want: []string{`"hashers.argon2.salt_length"`, "8 is out of range"}},
		{name: "argon2 key", yaml: "hashers: {argon2: {key_length: 15}}", want: []string{`"hashers.argon2.key_length"`, "15 is out of range"}},
		{name: "argon2 duration", yaml: "hashers: {argon2: {expected_duration: 5}}", want: []string{`"hashers.argon2.expected_duration"`, "got 5"}},
		{name: "argon2 duration negative", yaml: "hashers: {argon2: {expected_deviation: -1s}}", want: []string{`"hashers.argon2.expected_deviation"`, `"-1s"`}},
		{name: "argon2 dedicated", yaml: "hashers: {argon2: {dedicated_memory: 1QB}}", want: []string{`"hashers.argon2.dedicated_memory"`, `"1QB"`}},
		{name: "dsn missing", yaml: "dsn: \"\"", want: []string{`"dsn"`, "required outside dev mode"}},
		{name: "dsn mysql", yaml: "dsn: mysql://root:" + secret + "@tcp(db)/x", want: []string{`"dsn"`, `"mysql" is not supported`}},
		{name: "dsn garbage", yaml: "dsn: " + secret, want: []string{`"dsn"`, "expected \"memory\" or a URL"}},
		{name: "dsn type", yaml: "dsn: [" + secret + "]", want: []string{`"dsn"`, "(value hidden)"}},
		{name: "cookie secret short", yaml: "secrets: {cookie: [short]}", want: []string{`"secrets.cookie"`, "secret 0 is 5 characters long; at least 16"}},
		{name: "cookie secret dup", yaml: "secrets: {cookie: [" + secret + ", " + secret + "]}", want: []string{`"secrets.cookie"`, "secret 1 is a duplicate"}},
		{name: "cookie secret type", yaml: "secrets: {cookie: " + secret + "}", want: []string{`"secrets.cookie"`, "expected a list of strings, got (value hidden)"}},
		{name: "default secret short", yaml: "secrets: {default: [abc]}", want: []string{`"secrets.default"`, "at least 16"}},
		{name: "cipher secret length", yaml: "secrets: {cipher: [" + secret + "]}", want: []string{`"secrets.cipher"`, "secret 0 is 22 bytes long; cipher secrets must be exactly 32"}},
		{name: "secrets missing", yaml: "secrets: {cookie: null}", want: []string{`"secrets.cookie"`, "required outside dev mode"}},
		{name: "schemas empty", yaml: "identity: {schemas: []}", want: []string{`"identity.schemas"`, "at least one identity schema is required"}},
		{name: "cookie secrets empty", yaml: "secrets: {cookie: []}", want: []string{`"secrets.cookie"`, "required outside dev mode"}},
		{name: "schemas missing", yaml: "identity: {schemas: null}", want: []string{`"identity.schemas"`, "at least one identity schema is required"}},
		{name: "schemas type", yaml: "identity: {schemas: file:///x.json}", want: []string{`"identity.schemas"`, `expected a list of objects, got "file:///x.json"`}},
		{name: "schema no id", yaml: "identity: {schemas: [{url: file:///x.json}]}", want: []string{`"identity.schemas"`, `item 0: "id" must be a non-empty string`}},
		{name: "schema no url", yaml: "identity: {schemas: [{id: default}]}", want: []string{`"identity.schemas"`, `"url" must be a non-empty string`}},
		{name: "schema scheme", yaml: "identity: {schemas: [{id: default, url: \"ftp://x/s.json\"}]}", want: []string{`"identity.schemas"`, `url scheme "ftp" is not supported`}},
		{name: "schema no scheme", yaml: "identity: {schemas: [{id: default, url: ./s.json}]}", want: []string{`"identity.schemas"`, `"./s.json" has no scheme`}},
		{name: "schema bad base64", yaml: "identity: {schemas: [{id: default, url: \"base64://!!!\"}]}", want: []string{`"identity.schemas"`, "valid base64"}},
		{name: "schema bad http", yaml: "identity: {schemas: [{id: default, url: \"https://\"}]}", want: []string{`"identity.schemas"`, "not a valid http(s) URL"}},
		{name: "schema dup", yaml: "identity: {schemas: [{id: a, url: \"file:///a\"}, {id: a, url: \"file:///b\"}], default_schema_id: a}", want: []string{`"identity.schemas"`, `schema id "a" is used more than once`}},
		{name: "default schema unknown", yaml: "identity: {default_schema_id: other}", want: []string{`"identity.default_schema_id"`, `"other" is not the id of any schema`}},
		{name: "default schema unknown dev", dev: true, yaml: "identity: {default_schema_id: other, schemas: null}", want: []string{`"identity.default_schema_id"`, `"other" names no schema`}},
		{name: "env port", env: env{"SERVE_PUBLIC_PORT": "http"}, want: []string{"SERVE_PUBLIC_PORT", `"serve.public.port"`, `got "http"`}},
		{name: "env bool", env: env{"DEV": "maybe"}, want: []string{"DEV", `"dev"`, `"maybe"`}},
		{name: "env duration", env: env{"HASHERS_ARGON2_EXPECTED_DURATION": "soon"}, want: []string{`"hashers.argon2.expected_duration"`, `"soon"`}},
		{name: "env secrets json", env: env{"SECRETS_COOKIE": `["` + secret}, want: []string{`"secrets.cookie"`, "JSON array of strings"}},
		{name: "env schemas json", env: env{"IDENTITY_SCHEMAS": `{"id": 1}`}, want: []string{`"identity.schemas"`, "expected a list of objects"}},
		{name: "env schemas invalid", env: env{"IDENTITY_SCHEMAS": `[{`}, want: []string{`"identity.schemas"`, "expected a JSON array of objects"}},
		{name: "several at once", yaml: "serve: {public: {port: 0}}\nlog: {format: xml}", want: []string{`"serve.public.port"`, `"log.format"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := []string{writeFile(t, dir, "base.yml", prodBase)}
			if tc.yaml != "" {
				files = append(files, writeFile(t, dir, "case.yml", tc.yaml))
			}
			lookup := tc.env
			if lookup == nil {
				lookup = env{}
			}
			c, _, err := load(t, LoadOptions{Files: files, Dev: tc.dev, LookupEnv: lookup.lookup})
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Error("config returned together with an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, leak := range []string{secret, "hunter2", testCookieSecret} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error leaks a secret: %q", err)
				}
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"bad.yml", "dsn: [unclosed", "invalid YAML"},
		{"bad.json", `{"dsn": }`, "invalid JSON"},
		{"list.yml", "- a\n- b\n", "top level must be an object"},
		{"scalar.yml", "hello", "top level must be an object"},
	} {
		f := writeFile(t, dir, tc.name, tc.content)
		_, _, err := load(t, LoadOptions{Files: []string{f}, Dev: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: error %v, want %q naming the file", tc.name, err, tc.want)
		}
	}
	_, _, err := load(t, LoadOptions{Files: []string{filepath.Join(dir, "missing.yml")}, Dev: true})
	if err == nil || !strings.Contains(err.Error(), "missing.yml") || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEmptyFileAndNonStringKeys(t *testing.T) {
	dir := t.TempDir()
	e := writeFile(t, dir, "empty.yml", "# nothing\n")
	n := writeFile(t, dir, "n.yml", "1: one\ntrue: yes\n")
	_, w := mustLoad(t, LoadOptions{Files: []string{e, n}, Dev: true})
	if len(w) != 2 || !strings.Contains(w[0], `"1"`) || !strings.Contains(w[1], `"true"`) {
		t.Errorf("warnings %v", w)
	}
}

func TestKratosExampleLoadsInDevMode(t *testing.T) {
	const example = "/work/shared/examples/kratos.yml"
	if _, err := os.Stat(example); err != nil {
		t.Skip("example config not present")
	}
	// As a Kratos user would: from the example's directory.
	c, w := mustLoad(t, LoadOptions{Files: []string{example}, Dev: true, WatchCourier: true, WorkDir: filepath.Dir(example)})
	if !c.Dev || !c.WatchCourier {
		t.Error("dev or watch-courier lost")
	}
	if c.DSN != "sqlite://./kratos.sqlite?_fk=true" {
		t.Errorf("dsn %s", c.DSN)
	}
	want := []SchemaRef{{ID: "default", URL: "file:///work/shared/examples/identity.schema.json"}}
	if !slices.Equal(c.Identity.Schemas, want) {
		t.Errorf("schemas %v", c.Identity.Schemas)
	}
	if c.PublicURL("/self-service/login/browser") != "http://127.0.0.1:4433/self-service/login/browser" {
		t.Errorf("public url %s", c.PublicURL("/self-service/login/browser"))
	}
	for _, prefix := range []string{"selfservice."} {
		found := false
		for _, x := range w {
			if strings.HasPrefix(x, `config key "`+prefix) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning for %s*", prefix)
		}
	}
	for _, x := range w {
		for _, supported := range []string{`"dsn"`, `"serve.public.port"`, `"identity.schemas"`, `"secrets.`, `"log.`, `"version"`, `"courier.`, `"ciphers.`} {
			if strings.Contains(x, supported) {
				t.Errorf("warning for a supported key: %s", x)
			}
		}
	}
}

func TestByteSizes(t *testing.T) {
	for in, want := range map[any]uint64{
		"128MB": 128 << 20, "1GB": 1 << 30, "64KiB": 64 << 10, "64kb": 64 << 10, "1.5GB": 3 << 29,
		"512": 512, "10 MB": 10 << 20, "2T": 2 << 40, 4096: 4096,
	} {
		got, err := byteSize.fromYAML(in, &decodeCtx{path: "x"})
		if err != nil || got != want {
			t.Errorf("%v: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"", "MB", "1..2MB", "-1MB", "99999999999EB", true, 1.5} {
		if _, err := byteSize.fromYAML(in, &decodeCtx{path: "x"}); err == nil {
			t.Errorf("%v: no error", in)
		}
	}
}

func TestURLJoin(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
serve:
  public: {base_url: "https://id.example.com/kratos"}
  admin: {base_url: "http://10.0.0.1:4434/"}
`)
	c, _ := mustLoad(t, LoadOptions{Files: []string{f}})
	for _, tc := range []struct{ got, want string }{
		{c.PublicURL("/self-service/login"), "https://id.example.com/kratos/self-service/login"},
		{c.PublicURL("self-service/login?flow=1"), "https://id.example.com/kratos/self-service/login?flow=1"},
		{c.PublicURL(""), "https://id.example.com/kratos/"},
		{c.AdminURL("//admin/identities"), "http://10.0.0.1:4434/admin/identities"},
		{Listener{Host: "::1", Port: 80}.URL("/x"), "http://[::1]:80/x"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase)
	g := writeFile(t, dir, "k2.yml", "secrets: {cipher: ["+testCipherSecret+"]}\n")
	c, _ := mustLoad(t, LoadOptions{Files: []string{f, g}})
	for _, format := range []string{"%v", "%+v", "%#v"} {
		s := fmt.Sprintf(format, c)
		if strings.Contains(s, testCookieSecret) || strings.Contains(s, testCipherSecret) {
			t.Errorf("%s prints a secret: %s", format, s)
		}
	}
}

func TestEnvReplacesInvalidFileValue(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase)
	g := writeFile(t, dir, "k2.yml", "serve: {public: {port: nope}}\n")
	c, _ := mustLoad(t, LoadOptions{Files: []string{f, g}, LookupEnv: env{"SERVE_PUBLIC_PORT": "9000"}.lookup})
	if c.Serve.Public.Port != 9000 {
		t.Errorf("port %d", c.Serve.Public.Port)
	}
}

// FuzzLoad checks that no config file makes Load panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(prodBase))
	f.Add([]byte(`{"serve": {"public": {"port": 1e400}}, "identity": {"schemas": [{"id": 1}]}}`))
	f.Add([]byte("hashers: {argon2: {memory: 1.5GB, parallelism: -1}}\nsecrets: {cipher: [x]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	if b, err := os.ReadFile("/work/shared/examples/kratos.yml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "k.yml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, dev := range []bool{false, true} {
			c, _, err := Load(LoadOptions{Files: []string{p}, Dev: dev, WorkDir: dir, LookupEnv: env{}.lookup})
			if (c == nil) == (err == nil) {
				t.Fatalf("config %v with error %v", c, err)
			}
		}
	})
}

func TestInvalidValueReportedOnce(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", "dsn: memory\nsecrets: {cookie: [abc]}\nidentity: {schemas: [{id: x}]}\n")
	_, _, err := load(t, LoadOptions{Files: []string{f}})
	if err == nil || strings.Contains(err.Error(), "required outside dev mode") || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want exactly the two invalid values reported, got %v", err)
	}
}
