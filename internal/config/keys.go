package config

import (
	"encoding/base64"
	"errors"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// keySpec describes one supported config key. Supporting a new key is one
// entry in the keys table plus the Config field it fills.
type keySpec struct {
	path string
	// secret keeps the value out of error messages.
	secret     bool
	setDefault func(*Config)
	fromYAML   func(c *Config, v any, d *decodeCtx) error
	fromEnv    func(c *Config, s string, d *decodeCtx) error
}

// field binds a key to the Config field at, decoded with cd; def is applied
// when the key is set neither in a file nor in the environment.
func field[T any](path string, cd codec[T], def T, at func(*Config) *T) keySpec {
	return keySpec{
		path:       path,
		setDefault: func(c *Config) { *at(c) = def },
		fromYAML: func(c *Config, v any, d *decodeCtx) error {
			t, err := cd.fromYAML(v, d)
			if err == nil {
				*at(c) = t
			}
			return err
		},
		fromEnv: func(c *Config, s string, d *decodeCtx) error {
			t, err := cd.fromEnv(s, d)
			if err == nil {
				*at(c) = t
			}
			return err
		},
	}
}

// ignored accepts a key without using it (e.g. "version"). Each decode
// writes to a fresh value, so concurrent Loads do not share one.
func ignored(path string) keySpec {
	return field(path, anything, nil, func(*Config) *any { return new(any) })
}

func (k keySpec) sensitive() keySpec {
	k.secret = true
	return k
}

// envName is the environment variable Kratos reads for the key:
// serve.public.base_url -> SERVE_PUBLIC_BASE_URL.
func (k keySpec) envName() string {
	return strings.ToUpper(strings.ReplaceAll(k.path, ".", "_"))
}

var keys = slices.Concat(flowKeys, beforeKeys, coreKeys, protectionKeys, sqliteKeys, totpKeys, lookupKeys, securityKeys, webAuthnKeys, oidcKeys, uiKeys, tracingKeys, clientsKeys)

var coreKeys = []keySpec{
	ignored("version"),
	// revision names the config for deploy tooling: GET /admin/health/config answers it.
	field("revision", text, "", func(c *Config) *string { return &c.Revision }),
	field("dsn", text, "", func(c *Config) *string { return &c.DSN }).sensitive(),
	field("dev", boolean, false, func(c *Config) *bool { return &c.Dev }),

	field("serve.public.host", text, "", func(c *Config) *string { return &c.Serve.Public.Host }),
	field("serve.public.port", integer[int](1, 65535), 4433, func(c *Config) *int { return &c.Serve.Public.Port }),
	field("serve.public.base_url", baseURL, nil, func(c *Config) **url.URL { return &c.Serve.Public.BaseURL }),
	field("serve.public.cors.enabled", boolean, false, func(c *Config) *bool { return &c.Serve.Public.CORS.Enabled }),
	field("serve.public.cors.allowed_origins", corsOrigins, []string{"*"}, func(c *Config) *[]string { return &c.Serve.Public.CORS.AllowedOrigins }),
	field("serve.public.cors.allowed_methods", stringList, []string{"POST", "GET", "PUT", "PATCH", "DELETE"}, func(c *Config) *[]string { return &c.Serve.Public.CORS.AllowedMethods }),
	field("serve.public.cors.allowed_headers", stringList, []string{"Authorization", "Content-Type", "X-Session-Token"}, func(c *Config) *[]string { return &c.Serve.Public.CORS.AllowedHeaders }),
	field("serve.public.cors.exposed_headers", stringList, []string{"Content-Type"}, func(c *Config) *[]string { return &c.Serve.Public.CORS.ExposedHeaders }),
	field("serve.public.cors.allow_credentials", boolean, true, func(c *Config) *bool { return &c.Serve.Public.CORS.AllowCredentials }),
	field("serve.public.cors.max_age", integer[int](0, 86400), 0, func(c *Config) *int { return &c.Serve.Public.CORS.MaxAge }),
	ignored("serve.public.cors.debug"),
	field("serve.admin.host", text, "", func(c *Config) *string { return &c.Serve.Admin.Host }),
	field("serve.admin.port", integer[int](1, 65535), 4434, func(c *Config) *int { return &c.Serve.Admin.Port }),
	field("serve.admin.base_url", baseURL, nil, func(c *Config) **url.URL { return &c.Serve.Admin.BaseURL }),

	field("identity.default_schema_id", text, "default", func(c *Config) *string { return &c.Identity.DefaultSchemaID }),
	field("identity.schemas", schemaList, nil, func(c *Config) *[]SchemaRef { return &c.Identity.Schemas }),

	field("secrets.default", signingSecrets, nil, func(c *Config) *[]string { return &c.Secrets.Default }).sensitive(),
	field("secrets.cookie", signingSecrets, nil, func(c *Config) *[]string { return &c.Secrets.Cookie }).sensitive(),
	field("secrets.cipher", cipherSecrets, nil, func(c *Config) *[]string { return &c.Secrets.Cipher }).sensitive(),

	// Kratos's schema says "warning"; logrus (and so Kratos) also takes "warn".
	field("log.level", enum("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"), "info", func(c *Config) *string { return &c.Log.Level }),
	field("log.format", enum("text", "json"), "text", func(c *Config) *string { return &c.Log.Format }),
	field("log.leak_sensitive_values", boolean, false, func(c *Config) *bool { return &c.Log.LeakSensitiveValues }),

	field("hashers.algorithm", enum("bcrypt", "argon2"), "bcrypt", func(c *Config) *string { return &c.Hashers.Algorithm }),
	field("hashers.bcrypt.cost", integer[int](4, 31), 12, func(c *Config) *int { return &c.Hashers.Bcrypt.Cost }),
	field("hashers.argon2.memory", kibibytes, 128<<10, func(c *Config) *uint32 { return &c.Hashers.Argon2.Memory }),
	field("hashers.argon2.iterations", integer[uint32](1, math.MaxUint32), 1, func(c *Config) *uint32 { return &c.Hashers.Argon2.Iterations }),
	field("hashers.argon2.parallelism", integer[uint8](1, math.MaxUint8), defaultParallelism(), func(c *Config) *uint8 { return &c.Hashers.Argon2.Parallelism }),
	field("hashers.argon2.salt_length", integer[uint32](16, 1024), 16, func(c *Config) *uint32 { return &c.Hashers.Argon2.SaltLength }),
	field("hashers.argon2.key_length", integer[uint32](16, 1024), 32, func(c *Config) *uint32 { return &c.Hashers.Argon2.KeyLength }),
	field("hashers.argon2.expected_duration", duration, 500*time.Millisecond, func(c *Config) *time.Duration { return &c.Hashers.Argon2.ExpectedDuration }),
	field("hashers.argon2.expected_deviation", duration, 500*time.Millisecond, func(c *Config) *time.Duration { return &c.Hashers.Argon2.ExpectedDeviation }),
	field("selfservice.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.DefaultBrowserReturnURL }),
	field("selfservice.allowed_return_urls", returnURLList, nil, func(c *Config) *[]string { return &c.Selfservice.AllowedReturnURLs }),
	field("selfservice.flows.login.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Login.UIURL }),
	field("selfservice.flows.login.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Login.Lifespan }),
	field("selfservice.flows.login.style", enum(LoginStyleUnified, LoginStyleIdentifierFirst), LoginStyleUnified, func(c *Config) *string { return &c.Selfservice.Flows.Login.Style }),
	field("selfservice.flows.login.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Login.AfterReturnURL }),
	field("selfservice.flows.registration.enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Flows.Registration.Enabled }),
	field("selfservice.flows.registration.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Registration.UIURL }),
	field("selfservice.flows.registration.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Registration.Lifespan }),
	field("selfservice.flows.registration.style", enum(RegistrationStyleProfileFirst, RegistrationStyleUnified), RegistrationStyleProfileFirst, func(c *Config) *string { return &c.Selfservice.Flows.Registration.Style }),
	field("selfservice.flows.registration.enable_legacy_one_step", boolean, false, func(c *Config) *bool { return &c.Selfservice.Flows.Registration.LegacyOneStep }),
	field("selfservice.flows.registration.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Registration.AfterReturnURL }),
	field("selfservice.flows.registration.after.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterHooks }),
	field("selfservice.flows.registration.after.password.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterPasswordHooks }),
	field("selfservice.flows.registration.after.code.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterCodeHooks }),
	field("selfservice.flows.settings.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Settings.UIURL }),
	field("selfservice.flows.settings.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Settings.Lifespan }),
	field("selfservice.flows.settings.privileged_session_max_age", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Settings.PrivilegedSessionMaxAge }),
	field("selfservice.flows.settings.required_aal", enum("aal1", "highest_available"), "highest_available", func(c *Config) *string { return &c.Selfservice.Flows.Settings.RequiredAAL }),
	field("selfservice.flows.settings.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Settings.AfterReturnURL }),
	field("selfservice.flows.settings.after.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterHooks }),
	field("selfservice.flows.settings.after.password.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterPasswordHooks }),
	field("selfservice.flows.settings.after.profile.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterProfileHooks }),
	field("selfservice.flows.error.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Error.UIURL }),
	field("selfservice.flows.logout.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Logout.AfterReturnURL }),
	field("selfservice.methods.password.enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Password.Enabled }),
	field("selfservice.methods.password.config.haveibeenpwned_enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Password.HaveIBeenPwnedEnabled }),
	field("selfservice.methods.password.config.haveibeenpwned_host", text, "api.pwnedpasswords.com", func(c *Config) *string { return &c.Selfservice.Methods.Password.HaveIBeenPwnedHost }),
	field("selfservice.methods.password.config.max_breaches", integer[int](0, 100), 0, func(c *Config) *int { return &c.Selfservice.Methods.Password.MaxBreaches }),
	field("selfservice.methods.password.config.ignore_network_errors", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Password.IgnoreNetworkErrors }),
	field("selfservice.methods.password.config.min_password_length", integer[int](6, 1024), 8, func(c *Config) *int { return &c.Selfservice.Methods.Password.MinPasswordLength }),
	field("selfservice.methods.password.config.identifier_similarity_check_enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Password.IdentifierSimilarityCheck }),
	field("selfservice.methods.profile.enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Profile.Enabled }),

	field("session.lifespan", duration, 24*time.Hour, func(c *Config) *time.Duration { return &c.Session.Lifespan }),
	field("session.earliest_possible_extend", duration, 0, func(c *Config) *time.Duration { return &c.Session.EarliestPossibleExtend }),
	field("session.whoami.required_aal", enum("aal1", "highest_available"), "highest_available", func(c *Config) *string { return &c.Session.WhoamiRequiredAAL }),
	field("session.cookie.name", text, "ory_kratos_session", func(c *Config) *string { return &c.Session.Cookie.Name }),
	field("session.cookie.domain", text, "", func(c *Config) *string { return &c.Session.Cookie.Domain }),
	field("session.cookie.path", text, "", func(c *Config) *string { return &c.Session.Cookie.Path }),
	field("session.cookie.same_site", enum("Lax", "Strict", "None"), "", func(c *Config) *string { return &c.Session.Cookie.SameSite }),
	field("session.cookie.persistent", boolean, true, func(c *Config) *bool { return &c.Session.Cookie.Persistent }),
	field("cookies.domain", text, "", func(c *Config) *string { return &c.Cookies.Domain }),
	field("cookies.path", text, "/", func(c *Config) *string { return &c.Cookies.Path }),
	field("cookies.same_site", enum("Lax", "Strict", "None"), "Lax", func(c *Config) *string { return &c.Cookies.SameSite }),

	field("hashers.argon2.dedicated_memory", byteSize, 1<<30, func(c *Config) *uint64 { return &c.Hashers.Argon2.DedicatedMemory }),
	field("ciphers.algorithm", cipherAlgorithm, DefaultCipherAlgorithm, func(c *Config) *string { return &c.Ciphers.Algorithm }),

	field("courier.smtp.connection_uri", smtpURI, "", func(c *Config) *string { return &c.Courier.SMTP.ConnectionURI }).sensitive(),
	field("courier.smtp.client_cert_path", localPath, "", func(c *Config) *string { return &c.Courier.SMTP.ClientCertPath }),
	field("courier.smtp.client_key_path", localPath, "", func(c *Config) *string { return &c.Courier.SMTP.ClientKeyPath }),
	field("courier.smtp.from_address", emailAddress, "no-reply@ory.kratos.sh", func(c *Config) *string { return &c.Courier.SMTP.FromAddress }),
	field("courier.smtp.from_name", text, "", func(c *Config) *string { return &c.Courier.SMTP.FromName }),
	field("courier.smtp.local_name", text, "localhost", func(c *Config) *string { return &c.Courier.SMTP.LocalName }),
	field("courier.smtp.headers", stringMap, nil, func(c *Config) *map[string]string { return &c.Courier.SMTP.Headers }),
	field("courier.delivery_strategy", enum("smtp", "http"), "smtp", func(c *Config) *string { return &c.Courier.DeliveryStrategy }),
	field("courier.http.request_config", httpRequestConfig, nil, func(c *Config) **HTTPRequest { return &c.Courier.HTTP }).sensitive(),
	field("courier.channels", courierChannels, nil, func(c *Config) *[]CourierChannel { return &c.Courier.Channels }).sensitive(),
	field("courier.message_retries", integer[int](0, 1000), 5, func(c *Config) *int { return &c.Courier.MessageRetries }),
	field("courier.template_override_path", localPath, "", func(c *Config) *string { return &c.Courier.TemplateOverridePath }),
	field("courier.templates", courierTemplates, nil, func(c *Config) *map[string]string { return &c.Courier.Templates }),
	field("courier.worker.pull_count", integer[int](1, 1000), 10, func(c *Config) *int { return &c.Courier.Worker.PullCount }),
	field("courier.worker.pull_wait", duration, time.Second, func(c *Config) *time.Duration { return &c.Courier.Worker.PullWait }),
}

// keyIndex maps a dotted path to its spec; objectPaths holds every proper
// prefix of a supported key (e.g. "serve", "serve.public"), which must be
// objects if present.
var keyIndex, objectPaths = func() (map[string]*keySpec, map[string]bool) {
	idx := make(map[string]*keySpec, len(keys))
	objs := map[string]bool{}
	for i := range keys {
		k := &keys[i]
		if _, dup := idx[k.path]; dup {
			panic("config: duplicate key " + k.path)
		}
		idx[k.path] = k
		for p := k.path; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			objs[p] = true
		}
	}
	for p := range objs {
		if idx[p] != nil {
			panic("config: key " + p + " is both a value and an object")
		}
	}
	return idx, objs
}()

func defaultParallelism() uint8 {
	return uint8(min(2*runtime.NumCPU(), math.MaxUint8))
}

// signingSecrets follows Kratos's schema for secrets.default and
// secrets.cookie: at least 16 characters each, no duplicates.
var signingSecrets = then(stringList, func(ss []string, d *decodeCtx) ([]string, error) {
	seen := make(map[string]bool, len(ss))
	for i, s := range ss {
		if n := utf8.RuneCountInString(s); n < 16 {
			return nil, d.errorf("secret %d is %d characters long; at least 16 are required", i, n)
		}
		if seen[s] {
			return nil, d.errorf("secret %d is a duplicate of an earlier one", i)
		}
		seen[s] = true
	}
	return ss, nil
})

// cipherSecrets are used as 32-byte keys: Kratos's schema asks for exactly
// 32 characters and its key is the secret's bytes, so only 32 ASCII
// characters satisfy both.
var cipherSecrets = then(stringList, func(ss []string, d *decodeCtx) ([]string, error) {
	for i, s := range ss {
		if len(s) != 32 {
			return nil, d.errorf("secret %d is %d bytes long; cipher secrets must be exactly 32 (32 ASCII characters)", i, len(s))
		}
		if n := utf8.RuneCountInString(s); n != 32 {
			return nil, d.errorf("secret %d is 32 bytes but %d characters long; cipher secrets must be exactly 32 ASCII characters", i, n)
		}
	}
	return ss, nil
})

var schemaList = objectList(func(i int, m map[string]any, d *decodeCtx) (SchemaRef, error) {
	var ref SchemaRef
	for _, f := range sortedKeys(m) {
		switch f {
		case "id", "url":
		default:
			d.warn(unsupportedWarning(d.path + "." + f))
		}
	}
	id, ok := m["id"].(string)
	if !ok || id == "" {
		return ref, d.errorf("item %d: \"id\" must be a non-empty string", i)
	}
	raw, ok := m["url"].(string)
	if !ok || raw == "" {
		return ref, d.errorf("item %d (id %q): \"url\" must be a non-empty string", i, id)
	}
	u, err := resolveSchemaURL(raw, d.dir)
	if err != nil {
		return ref, d.errorf("item %d (id %q): %v", i, id, err)
	}
	return SchemaRef{ID: id, URL: u}, nil
})

// resolveSchemaURL checks a schema location and makes relative file:// URLs
// absolute. Kratos writes relative files as file://./x.json or file://x.json
// (the "host" is really the first path segment), so file URLs are taken
// apart by hand rather than with url.Parse.
func resolveSchemaURL(raw, dir string) (string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", errors.New("url " + quoteShort(raw) + " has no scheme (use file://, base64://, http:// or https://)")
	}
	switch strings.ToLower(scheme) {
	case "file":
		p, _, _ := strings.Cut(rest, "?")
		if p == "" {
			return "", errors.New("file url " + quoteShort(raw) + " has no path")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return "file://" + filepath.ToSlash(filepath.Clean(p)), nil
	case "base64":
		if _, err := decodeBase64(rest); err != nil {
			return "", errors.New("base64 url does not hold valid base64")
		}
		return "base64://" + rest, nil
	case "http", "https":
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", errors.New("url " + quoteShort(raw) + " is not a valid http(s) URL")
		}
		return raw, nil
	default:
		return "", errors.New("url scheme " + quoteShort(scheme) + " is not supported (use file://, base64://, http:// or https://)")
	}
}

// decodeBase64 accepts the standard and URL alphabets, padded or not, as
// people produce both with common tools.
func decodeBase64(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// urlText is an absolute http(s) URL kept as text.
var urlText = then(httpURL, func(u *url.URL, _ *decodeCtx) (string, error) { return u.String(), nil })

// hookList is a hooks list: [{hook: session}, {hook: web_hook, config: {...}}].
var hookList = objectList(func(i int, m map[string]any, d *decodeCtx) (Hook, error) {
	name, ok := m["hook"].(string)
	if !ok || name == "" {
		return Hook{}, d.errorf("item %d: \"hook\" must name a hook", i)
	}
	cfg, _ := m["config"].(map[string]any)
	h := Hook{Name: name, Config: cfg}
	if name == "web_hook" {
		var err error
		if h.WebHook, err = decodeWebHook(i, cfg, d); err != nil {
			return Hook{}, err
		}
	}
	return h, nil
})
