package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// OIDCMethod is selfservice.methods.oidc: sign-in with OpenID Connect and
// OAuth2 providers.
type OIDCMethod struct {
	Enabled bool
	// BaseRedirectURI is what callback URLs given to providers start with;
	// it defaults to the public base URL and always ends with a slash.
	BaseRedirectURI *url.URL
	Providers       []OIDCProvider
}

// PKCE modes of a provider (pkce).
const (
	PKCEAuto  = "auto"
	PKCENever = "never"
	PKCEForce = "force"
)

// Claims sources of a provider (claims_source).
const (
	ClaimsSourceIDToken  = "id_token"
	ClaimsSourceUserinfo = "userinfo"
)

// OIDCProvider is one item of selfservice.methods.oidc.config.providers.
// Optional fields left out of the config hold their defaults: PKCE auto,
// ClaimsSource id_token, SubjectSource userinfo and AccountLinkingMode
// confirm_with_existing_credential.
type OIDCProvider struct {
	// ID names the provider in callback paths, credential identifiers and
	// form values.
	ID string
	// Provider is the preset: one of OIDCPresets.
	Provider     string
	Label        string
	ClientID     string
	ClientSecret string
	IssuerURL    string
	AuthURL      string
	TokenURL     string
	// MapperURL locates the Jsonnet claims mapper: an absolute file://,
	// base64:// or http(s):// URL.
	MapperURL string
	Scope     []string
	// RequestedClaims is the OpenID Connect claims request object, nil
	// when not configured.
	RequestedClaims map[string]any
	PKCE            string
	// MicrosoftTenant is set exactly when Provider is "microsoft".
	MicrosoftTenant string
	SubjectSource   string
	// The Apple fields are set exactly when Provider is "apple"; they sign
	// the client secret Apple asks for instead of a static one.
	AppleTeamID                string
	ApplePrivateKeyID          string
	ApplePrivateKey            string
	OrganizationID             string
	AdditionalIDTokenAudiences []string
	ClaimsSource               string
	FedCMConfigURL             string
	NetIDTokenOriginHeader     string
	AccountLinkingMode         string
}

// String keeps the client secret and the Apple private key out of logs.
func (p OIDCProvider) String() string {
	return fmt.Sprintf("{ID:%s Provider:%s ClientID:%s IssuerURL:%s (secrets hidden)}", p.ID, p.Provider, p.ClientID, p.IssuerURL)
}

// GoString does the same for %#v.
func (p OIDCProvider) GoString() string { return "config.OIDCProvider" + p.String() }

// RedirectURI is the callback URL registered with the provider: PKCE
// forced uses the one generic callback (the provider is found from the
// state), and providers of an organization have their own route.
func (m OIDCMethod) RedirectURI(p OIDCProvider) string {
	base := "/"
	if m.BaseRedirectURI != nil {
		base = m.BaseRedirectURI.String()
	}
	base = strings.TrimSuffix(base, "/")
	switch {
	case p.OrganizationID != "":
		return base + "/self-service/methods/oidc/organization/" + url.PathEscape(p.OrganizationID) + "/callback/" + url.PathEscape(p.ID)
	case p.PKCE == PKCEForce:
		return base + "/self-service/methods/oidc/callback"
	default:
		return base + "/self-service/methods/oidc/callback/" + url.PathEscape(p.ID)
	}
}

// OIDCPresets are the provider names Kratos's config schema accepts. Kratos
// also knows "jackson" but its schema refuses it, so Lanyard does too.
var OIDCPresets = []string{
	"generic", "google", "github", "github-app", "gitlab", "microsoft", "discord", "salesforce", "slack",
	"facebook", "auth0", "vk", "yandex", "apple", "spotify", "netid", "dingtalk", "linkedin", "linkedin_v2",
	"patreon", "lark", "x", "line", "fedcm-test", "amazon", "uaepass",
}

var oidcKeys = []keySpec{
	field("selfservice.methods.oidc.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.OIDC.Enabled }),
	field("selfservice.methods.oidc.config.base_redirect_uri", baseURL, nil, func(c *Config) **url.URL { return &c.Selfservice.Methods.OIDC.BaseRedirectURI }),
	field("selfservice.methods.oidc.config.providers", oidcProviders, nil, func(c *Config) *[]OIDCProvider { return &c.Selfservice.Methods.OIDC.Providers }).sensitive(),

	field("selfservice.flows.login.after.oidc.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterOIDCHooks }),
	field("selfservice.flows.registration.after.oidc.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterOIDCHooks }),
	field("selfservice.flows.settings.after.oidc.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterOIDCHooks }),
}

// oidcProviders decodes the provider list with the rules of Kratos's
// schema. Errors name the field (providers[2].client_id); the key is
// sensitive, so values are only shown where they cannot be secrets.
var oidcProviders = then(objectList(decodeOIDCProvider), func(ps []OIDCProvider, d *decodeCtx) ([]OIDCProvider, error) {
	seen := make(map[string]int, len(ps))
	for i, p := range ps {
		if j, dup := seen[p.ID]; dup {
			return nil, oidcField(d, i, "id").errorf("%s is already the id of providers[%d]; ids must be unique", quoteShort(p.ID), j)
		}
		seen[p.ID] = i
	}
	return ps, nil
})

// oidcField is the context of one field of providers[i], so that errors
// and warnings name it.
func oidcField(d *decodeCtx, i int, name string) *decodeCtx {
	return &decodeCtx{path: d.path + "[" + strconv.Itoa(i) + "]." + name, secret: d.secret, dir: d.dir, warn: d.warn}
}

var oidcProviderFields = []string{
	"id", "provider", "label", "client_id", "client_secret", "issuer_url", "auth_url", "token_url", "mapper_url",
	"scope", "requested_claims", "pkce", "microsoft_tenant", "subject_source", "apple_team_id",
	"apple_private_key_id", "apple_private_key", "organization_id", "additional_id_token_audiences",
	"claims_source", "fedcm_config_url", "net_id_token_origin_header", "account_linking_mode",
}

func decodeOIDCProvider(i int, m map[string]any, d *decodeCtx) (OIDCProvider, error) {
	p := OIDCProvider{PKCE: PKCEAuto, ClaimsSource: ClaimsSourceIDToken, SubjectSource: "userinfo", AccountLinkingMode: "confirm_with_existing_credential"}
	at := func(name string) *decodeCtx { return oidcField(d, i, name) }
	for _, f := range sortedKeys(m) {
		if !slices.Contains(oidcProviderFields, f) {
			d.warn(unsupportedWarning(at(f).path))
		}
	}
	_, hasSecret := m["client_secret"]
	_, hasTenant := m["microsoft_tenant"]

	var err error
	str := func(name string, dst *string, required bool) {
		if err != nil {
			return
		}
		v, ok := m[name]
		if !ok || v == nil {
			if required {
				err = at(name).errorf("required")
			}
			return
		}
		s, isString := v.(string)
		switch {
		case !isString:
			err = at(name).errorf("expected a string")
		case required && s == "":
			err = at(name).errorf("must not be empty")
		default:
			*dst = s
		}
	}
	// Non-secret fields: their values may be echoed in errors.
	plain := func(name string) *decodeCtx { c := at(name); c.secret = false; return c }
	// oneOf leaves the default in dst when the field is not given.
	oneOf := func(name string, dst *string, allowed ...string) {
		str(name, dst, false)
		if err == nil && !slices.Contains(allowed, *dst) {
			err = plain(name).errorf("%s is not one of %s", quoteShort(*dst), strings.Join(allowed, ", "))
		}
	}
	absURL := func(name string, dst *string) {
		str(name, dst, false)
		if err != nil || *dst == "" {
			return
		}
		if u, perr := url.Parse(*dst); perr != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
			err = plain(name).errorf("expected an absolute URL, got %s", quoteShort(*dst))
		}
	}
	list := func(name string, dst *[]string) {
		if err != nil {
			return
		}
		v, ok := m[name]
		if !ok || v == nil {
			return
		}
		*dst, err = stringList.fromYAML(v, plain(name))
	}

	str("id", &p.ID, true)
	str("provider", &p.Provider, true)
	if err == nil && !slices.Contains(OIDCPresets, p.Provider) {
		err = plain("provider").errorf("%s is not a supported provider; use one of %s", quoteShort(p.Provider), strings.Join(OIDCPresets, ", "))
	}
	str("label", &p.Label, false)
	str("client_id", &p.ClientID, true)
	str("client_secret", &p.ClientSecret, false)
	absURL("issuer_url", &p.IssuerURL)
	absURL("auth_url", &p.AuthURL)
	absURL("token_url", &p.TokenURL)
	str("mapper_url", &p.MapperURL, true)
	if err == nil {
		var rerr error
		if p.MapperURL, rerr = resolveSchemaURL(p.MapperURL, d.dir); rerr != nil {
			err = plain("mapper_url").errorf("%v", rerr)
		}
	}
	list("scope", &p.Scope)
	if err == nil {
		if v, ok := m["requested_claims"]; ok && v != nil {
			p.RequestedClaims, err = requestedClaims(v, plain("requested_claims"))
		}
	}
	oneOf("pkce", &p.PKCE, PKCEAuto, PKCENever, PKCEForce)
	str("microsoft_tenant", &p.MicrosoftTenant, false)
	oneOf("subject_source", &p.SubjectSource, "userinfo", "me", "oid")
	str("apple_team_id", &p.AppleTeamID, false)
	str("apple_private_key_id", &p.ApplePrivateKeyID, false)
	str("apple_private_key", &p.ApplePrivateKey, false)
	str("organization_id", &p.OrganizationID, false)
	list("additional_id_token_audiences", &p.AdditionalIDTokenAudiences)
	oneOf("claims_source", &p.ClaimsSource, ClaimsSourceIDToken, ClaimsSourceUserinfo)
	absURL("fedcm_config_url", &p.FedCMConfigURL)
	str("net_id_token_origin_header", &p.NetIDTokenOriginHeader, false)
	oneOf("account_linking_mode", &p.AccountLinkingMode, "confirm_with_existing_credential", "automatic")
	if err != nil {
		return p, err
	}

	// The rules that tie fields to the preset, as Kratos's schema has them.
	switch {
	case p.Provider == "microsoft" && p.MicrosoftTenant == "":
		return p, at("microsoft_tenant").errorf("required when provider is microsoft (e.g. common, organizations, consumers or a tenant id)")
	case p.Provider != "microsoft" && hasTenant:
		return p, at("microsoft_tenant").errorf("only allowed when provider is microsoft")
	}
	if p.Provider == "apple" {
		if p.ClientSecret != "" {
			return p, at("client_secret").errorf("not allowed when provider is apple: the client secret is signed with apple_private_key")
		}
		for _, f := range []struct{ name, value string }{
			{"apple_team_id", p.AppleTeamID}, {"apple_private_key_id", p.ApplePrivateKeyID}, {"apple_private_key", p.ApplePrivateKey},
		} {
			if f.value == "" {
				return p, at(f.name).errorf("required when provider is apple")
			}
		}
		return p, nil
	}
	if !hasSecret {
		return p, at("client_secret").errorf("required (only provider apple goes without)")
	}
	for _, f := range []struct{ name, value string }{
		{"apple_team_id", p.AppleTeamID}, {"apple_private_key_id", p.ApplePrivateKeyID}, {"apple_private_key", p.ApplePrivateKey},
	} {
		if f.value != "" {
			return p, at(f.name).errorf("only allowed when provider is apple")
		}
	}
	return p, nil
}

// requestedClaims checks an OpenID Connect claims request object: its
// userinfo and id_token members map claim names to null or to
// {essential, value, values}.
func requestedClaims(v any, d *decodeCtx) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, d.errorf("expected an object such as {id_token: {email: null}}, got %s", d.show(v))
	}
	for _, target := range []string{"userinfo", "id_token"} {
		tv, ok := m[target]
		if !ok {
			continue
		}
		claims, ok := tv.(map[string]any)
		if !ok {
			return nil, d.errorf("%s must be an object of claims", target)
		}
		for _, name := range sortedKeys(claims) {
			if claims[name] == nil {
				continue
			}
			spec, ok := claims[name].(map[string]any)
			if !ok {
				return nil, d.errorf("%s.%s must be null or an object with essential, value or values", target, name)
			}
			for _, k := range sortedKeys(spec) {
				switch k {
				case "essential":
					if _, ok := spec[k].(bool); !ok {
						return nil, d.errorf("%s.%s.essential must be true or false", target, name)
					}
				case "values":
					if _, ok := spec[k].([]any); !ok {
						return nil, d.errorf("%s.%s.values must be a list", target, name)
					}
				case "value":
				default:
					return nil, d.errorf("%s.%s: %q is not a claim request field (use essential, value or values)", target, name, k)
				}
			}
		}
	}
	return m, nil
}

// finalizeOIDC defaults the redirect base to the public base URL.
func (l *loader) finalizeOIDC(c *Config) {
	o := &c.Selfservice.Methods.OIDC
	if o.BaseRedirectURI == nil && c.Serve.Public.BaseURL != nil {
		u := *c.Serve.Public.BaseURL
		o.BaseRedirectURI = &u
	}
}
