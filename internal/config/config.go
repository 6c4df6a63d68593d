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
	// Dir is the directory of the first config file (or the working
	// directory), against which relative file:// URLs were resolved.
	Dir string

	DSN string
	Dev bool
	// WatchCourier mirrors the --watch-courier flag.
	WatchCourier bool

	Serve    Serve
	Identity Identity
	Secrets  Secrets
	Log      Log
	Hashers  Hashers

	Selfservice Selfservice
	Session     Session
	Cookies     Cookies

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
// URLs have been resolved against Config.Dir.
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
	Error        struct{ UIURL string }
	Logout       struct{ AfterReturnURL string }
}

type LoginFlow struct {
	UIURL          string
	Lifespan       time.Duration
	AfterReturnURL string
}

type RegistrationFlow struct {
	Enabled        bool
	UIURL          string
	Lifespan       time.Duration
	LegacyOneStep  bool
	AfterReturnURL string
	// AfterHooks are the hooks run after registration with any method;
	// AfterPasswordHooks those after a password registration (they replace
	// AfterHooks for that method, as in Kratos). Nil means not configured.
	AfterHooks         []Hook
	AfterPasswordHooks []Hook
}

// Hook is one entry of a hooks list, e.g. {hook: session}.
type Hook struct {
	Name   string
	Config map[string]any
}

type Methods struct {
	Password PasswordMethod
	Profile  struct{ Enabled bool }
}

type PasswordMethod struct {
	Enabled                   bool
	HaveIBeenPwnedEnabled     bool
	MinPasswordLength         int
	IdentifierSimilarityCheck bool
}

// Session holds session.* settings.
type Session struct {
	Lifespan time.Duration
	// EarliestPossibleExtend: 0 means a session may be extended any time.
	EarliestPossibleExtend time.Duration
	Cookie                 SessionCookie
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
	AfterReturnURL          string
	AfterHooks              []Hook
	AfterPasswordHooks      []Hook
	AfterProfileHooks       []Hook
}
