// Package config loads Lanyard's configuration from Kratos-format YAML files
// and environment variables into a typed, validated Config.
package config

import (
	"fmt"
	"net/url"
	"time"
)

// Config is the effective configuration after files, environment and
// defaults have been merged and validated.
type Config struct {
	// Dir is the working directory, against which relative paths and
	// file:// URLs were resolved (as Kratos does; not the config file's
	// directory).
	Dir string

	// Revision is the top-level revision key: a name for this config that
	// GET /admin/health/config answers, so deploy tooling can wait for a
	// rollout.
	Revision string

	DSN string
	Dev bool
	// WatchCourier mirrors the --watch-courier flag.
	WatchCourier bool

	Serve    Serve
	Identity Identity
	Secrets  Secrets
	Log      Log
	Hashers  Hashers
	Ciphers  Ciphers

	Selfservice Selfservice
	// FeatureFlags holds feature_flags.*.
	FeatureFlags FeatureFlags
	Session      Session
	Cookies      Cookies
	Courier      Courier
	// Protection is Lanyard's own protection.* section.
	Protection Protection
	// SQLite is Lanyard's own sqlite.* section, Postgres its postgres.*.
	SQLite   SQLite
	Postgres Postgres
	Security Security
	// UI is Lanyard's own ui.* section (the built-in pages).
	UI UI
	// Tracing is tracing.*: OpenTelemetry spans over OTLP/HTTP.
	Tracing Tracing
	// Clients is clients.*: outgoing HTTP calls.
	Clients Clients

	// DataDir holds the embedded database and generated development
	// secrets when they are not configured. Default: ./.lanyard
	DataDir string

	// raw is the merged tree of all config files (before environment
	// overrides), kept for keys that are not typed yet; see Raw. It is a
	// pointer so that printing a Config with %v does not dump the tree and
	// the secrets in it.
	raw *rawTree
}

type rawTree struct{ m map[string]any }

type Serve struct {
	Public Listener
	Admin  Listener
}

type Listener struct {
	Host string
	Port int
	CORS CORS
	// BaseURL always ends with a slash.
	BaseURL *url.URL
}

// Addr is host:port for net.Listen.
func (l Listener) Addr() string {
	return joinHostPort(l.Host, l.Port)
}

// BuiltinSchemaID is the id of the schema the server provides in dev mode
// when identity.schemas is empty.
const BuiltinSchemaID = "default"

type Identity struct {
	DefaultSchemaID string
	Schemas         []SchemaRef
}

// SchemaRef names an identity schema. URL is absolute: relative file://
// URLs (file://./x.json, file://profiles/x.json) have been resolved
// against Config.Dir, the working directory.
type SchemaRef struct {
	ID  string
	URL string
}

// Secrets hold signing and encryption keys. Cookie falls back to Default
// (as in Kratos) already in Load, so use Cookie for cookies.
type Secrets struct {
	Default []string
	Cookie  []string
	Cipher  []string
}

// String keeps secrets out of logs and %v output of a Config.
func (s Secrets) String() string {
	return fmt.Sprintf("{Default:%d secrets Cookie:%d secrets Cipher:%d secrets}", len(s.Default), len(s.Cookie), len(s.Cipher))
}

// GoString does the same for %#v.
func (s Secrets) GoString() string { return "config.Secrets" + s.String() }

type Log struct {
	Level               string // trace, debug, info, warn, error, fatal, panic
	Format              string // text or json
	LeakSensitiveValues bool
}

type Hashers struct {
	Algorithm string // bcrypt (default) or argon2
	Bcrypt    Bcrypt
	Argon2    Argon2
}

type Bcrypt struct {
	Cost int
}

type Argon2 struct {
	Memory            uint32 // KiB
	Iterations        uint32
	Parallelism       uint8
	SaltLength        uint32
	KeyLength         uint32
	ExpectedDuration  time.Duration
	ExpectedDeviation time.Duration
	DedicatedMemory   uint64 // bytes
}

// Selfservice holds the self-service flow settings (selfservice.*).
type Selfservice struct {
	DefaultBrowserReturnURL string
	AllowedReturnURLs       []string
	Flows                   Flows
	Methods                 Methods
}

type Flows struct {
	Login        LoginFlow
	Registration RegistrationFlow
	Settings     SettingsFlow
	Recovery     AddressFlow
	Verification AddressFlow
	Error        struct{ UIURL string }
	Logout       struct{ AfterReturnURL string }
}

type LoginFlow struct {
	UIURL    string
	Lifespan time.Duration
	// Style is LoginStyleUnified or LoginStyleIdentifierFirst.
	Style          string
	AfterReturnURL string
	// BeforeHooks run when a flow is created (web_hook only).
	BeforeHooks []Hook
	// AfterHooks run after a sign-in with any method that has no list of
	// its own; a method's list (nil when not configured) replaces them.
	AfterHooks             []Hook
	AfterPasswordHooks     []Hook
	AfterCodeHooks         []Hook
	AfterTOTPHooks         []Hook
	AfterLookupSecretHooks []Hook
	AfterWebAuthnHooks     []Hook
	AfterPasskeyHooks      []Hook
	AfterOIDCHooks         []Hook
}

type RegistrationFlow struct {
	Enabled  bool
	UIURL    string
	Lifespan time.Duration
	// Style is RegistrationStyleProfileFirst or RegistrationStyleUnified;
	// LegacyOneStep overrides it (see OneStep).
	Style          string
	LegacyOneStep  bool
	AfterReturnURL string
	BeforeHooks    []Hook
	// AfterHooks are the hooks run after registration with any method;
	// AfterPasswordHooks and AfterCodeHooks those after a password or code
	// registration (they replace AfterHooks for that method, as in
	// Kratos). Nil means not configured.
	AfterHooks         []Hook
	AfterPasswordHooks []Hook
	AfterCodeHooks     []Hook
	AfterWebAuthnHooks []Hook
	AfterPasskeyHooks  []Hook
	AfterOIDCHooks     []Hook
}

// Hook is one entry of a hooks list, e.g. {hook: session}.
type Hook struct {
	Name   string
	Config map[string]any
	// WebHook is the decoded config of a web_hook.
	WebHook *WebHook
}

type Methods struct {
	Password PasswordMethod
	Code     CodeMethod
	Link     LinkMethod
	Profile  struct{ Enabled bool }
	TOTP     TOTPMethod
	// LookupSecret is selfservice.methods.lookup_secret: backup codes.
	LookupSecret struct{ Enabled bool }
	WebAuthn     WebAuthnMethod
	Passkey      PasskeyMethod
	// OIDC is selfservice.methods.oidc: social sign-in.
	OIDC OIDCMethod
}

type PasswordMethod struct {
	Enabled                   bool
	HaveIBeenPwnedEnabled     bool
	HaveIBeenPwnedHost        string
	MaxBreaches               int
	IgnoreNetworkErrors       bool
	MinPasswordLength         int
	IdentifierSimilarityCheck bool
}

// Session holds session.* settings.
type Session struct {
	Lifespan time.Duration
	// EarliestPossibleExtend: 0 means a session may be extended any time.
	EarliestPossibleExtend time.Duration
	// WhoamiRequiredAAL is "aal1" or "highest_available".
	WhoamiRequiredAAL string
	Cookie            SessionCookie
}

type SessionCookie struct {
	Name       string
	Domain     string
	Path       string
	SameSite   string // Lax, Strict or None; "" means cookies.same_site
	Persistent bool
}

// Cookies holds cookies.* settings, the defaults of every cookie.
type Cookies struct {
	Domain   string
	Path     string
	SameSite string
}

// CORS is serve.<listener>.cors.
type CORS struct {
	Enabled          bool
	AllowedOrigins   []string
	AllowedMethods   []string
	AllowedHeaders   []string
	ExposedHeaders   []string
	AllowCredentials bool
	MaxAge           int
}

type SettingsFlow struct {
	UIURL                   string
	Lifespan                time.Duration
	PrivilegedSessionMaxAge time.Duration
	// RequiredAAL is "aal1" or "highest_available".
	RequiredAAL        string
	AfterReturnURL     string
	BeforeHooks        []Hook
	AfterHooks         []Hook
	AfterPasswordHooks []Hook
	AfterProfileHooks  []Hook
	AfterWebAuthnHooks []Hook
	AfterPasskeyHooks  []Hook
	AfterOIDCHooks     []Hook
}

// Courier holds courier.* settings: how queued emails and SMS messages are
// delivered.
type Courier struct {
	SMTP CourierSMTP
	// DeliveryStrategy is how emails leave: "smtp" (default) or "http".
	DeliveryStrategy string
	// HTTP is courier.http.request_config, used when DeliveryStrategy is
	// "http"; nil when not configured.
	HTTP *HTTPRequest
	// Channels are the extra delivery channels; an SMS goes to the one
	// with id "sms".
	Channels []CourierChannel
	// MessageRetries is how often a failed message is retried before it
	// is abandoned.
	MessageRetries int
	// TemplateOverridePath is an absolute directory laid out like Kratos's
	// (recovery_code/valid/email.subject.gotmpl, ...), or "".
	TemplateOverridePath string
	// Templates maps a template part such as
	// "recovery_code.valid.email.subject", "...email.body.html",
	// "...email.body.plaintext" or "...sms.body.plaintext" to its location:
	// an absolute file:// URL, base64:// or http(s)://.
	Templates map[string]string
	Worker    CourierWorker
}

// CourierSMTP is courier.smtp.
type CourierSMTP struct {
	// ConnectionURI is smtp:// or smtps:// with credentials; "" when unset.
	ConnectionURI  string
	ClientCertPath string
	ClientKeyPath  string
	FromAddress    string
	FromName       string
	LocalName      string
	Headers        map[string]string
}

// String keeps the connection URI, which may hold a password, out of logs.
func (s CourierSMTP) String() string {
	return fmt.Sprintf("{ConnectionURI:%t FromAddress:%s FromName:%s LocalName:%s Headers:%d}", s.ConnectionURI != "", s.FromAddress, s.FromName, s.LocalName, len(s.Headers))
}

// GoString does the same for %#v.
func (s CourierSMTP) GoString() string { return "config.CourierSMTP" + s.String() }

// CourierWorker is courier.worker.
type CourierWorker struct {
	PullCount int
	PullWait  time.Duration
}

// CourierChannel is one item of courier.channels.
type CourierChannel struct {
	ID      string
	Type    string // "http"
	Request HTTPRequest
}

// HTTPRequest is a Kratos request_config: where and how to send an HTTP
// request.
type HTTPRequest struct {
	URL     string
	Method  string
	Headers map[string]string
	// Body locates a Jsonnet template (absolute file://, base64:// or
	// http(s)://) that builds the request body; "" means the default body.
	Body string
	Auth HTTPAuth
}

// HTTPAuth is request_config.auth.
type HTTPAuth struct {
	Type     string // "", "basic_auth" or "api_key"
	User     string // basic_auth
	Password string // basic_auth
	Name     string // api_key
	Value    string // api_key
	In       string // api_key: "header" or "cookie"
}

// String keeps credentials out of logs.
func (a HTTPAuth) String() string { return "{Type:" + a.Type + " (credentials hidden)}" }

// GoString does the same for %#v.
func (a HTTPAuth) GoString() string { return "config.HTTPAuth" + a.String() }
