package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/identity"
)

// CredentialProvider is one linked provider account in the config of an
// oidc credential, in Kratos's shape. The initial tokens are what the
// provider issued at linking, sealed with the cipher when stored.
type CredentialProvider struct {
	Subject             string `json:"subject"`
	Provider            string `json:"provider"`
	InitialIDToken      string `json:"initial_id_token"`
	InitialAccessToken  string `json:"initial_access_token"`
	InitialRefreshToken string `json:"initial_refresh_token"`
	Organization        string `json:"organization,omitempty"`
	UseAutoLink         bool   `json:"use_auto_link,omitempty"`
}

// CredentialConfig is the config of credential type oidc.
type CredentialConfig struct {
	Providers []CredentialProvider `json:"providers"`
}

// Identifier is the credential identifier of a provider account, unique
// across identities.
func Identifier(providerID, subject string) string { return providerID + ":" + subject }

// Identifiers are the credential identifiers of cfg's accounts.
func (cfg CredentialConfig) Identifiers() []string {
	ids := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		ids = append(ids, Identifier(p.Provider, p.Subject))
	}
	return ids
}

// Add links p, replacing the entry of the same account if there is one.
func (cfg *CredentialConfig) Add(p CredentialProvider) {
	if i := slices.IndexFunc(cfg.Providers, func(e CredentialProvider) bool {
		return e.Provider == p.Provider && e.Subject == p.Subject
	}); i >= 0 {
		cfg.Providers[i] = p
		return
	}
	cfg.Providers = append(cfg.Providers, p)
}

// Remove unlinks every account of providerID and reports whether there
// was one.
func (cfg *CredentialConfig) Remove(providerID string) bool {
	n := len(cfg.Providers)
	cfg.Providers = slices.DeleteFunc(cfg.Providers, func(e CredentialProvider) bool { return e.Provider == providerID })
	return len(cfg.Providers) != n
}

// Has reports whether an account of providerID is linked.
func (cfg CredentialConfig) Has(providerID string) bool {
	return slices.ContainsFunc(cfg.Providers, func(e CredentialProvider) bool { return e.Provider == providerID })
}

// Sealed answers the config with its tokens encrypted with c, as it is
// stored (empty tokens stay empty).
func (cfg CredentialConfig) Sealed(c cipher.Cipher) (CredentialConfig, error) {
	return cfg.mapTokens(func(token string) (string, error) {
		sealed, err := c.Encrypt([]byte(token))
		if err != nil {
			return "", fmt.Errorf("oidc credential: sealing a token: %w", err)
		}
		return sealed, nil
	})
}

// Opened answers a stored config with its tokens decrypted with c. A token
// that cannot be opened is an error: the whole config stays sealed.
func (cfg CredentialConfig) Opened(c cipher.Cipher) (CredentialConfig, error) {
	return cfg.mapTokens(func(token string) (string, error) {
		plain, err := c.Decrypt(token)
		if err != nil {
			return "", fmt.Errorf("oidc credential: opening a token: %w", err)
		}
		return string(plain), nil
	})
}

func (cfg CredentialConfig) mapTokens(f func(string) (string, error)) (CredentialConfig, error) {
	out := CredentialConfig{Providers: slices.Clone(cfg.Providers)}
	for i := range out.Providers {
		for _, token := range []*string{&out.Providers[i].InitialIDToken, &out.Providers[i].InitialAccessToken, &out.Providers[i].InitialRefreshToken} {
			if *token == "" {
				continue
			}
			v, err := f(*token)
			if err != nil {
				return CredentialConfig{}, err
			}
			*token = v
		}
	}
	return out, nil
}

// ParseCredentialConfig reads the config of a stored oidc credential.
func ParseCredentialConfig(stored json.RawMessage) (CredentialConfig, error) {
	var cfg CredentialConfig
	if err := json.Unmarshal(stored, &cfg); err != nil {
		return CredentialConfig{}, errors.New("oidc credential: the config is not a JSON object of providers")
	}
	return cfg, nil
}

// Declassify is the identity.Declassifier for credentials of type oidc:
// what the admin API shows with include_credential=oidc, the config
// Kratos shows, the initial tokens decrypted with c.
func Declassify(c cipher.Cipher) identity.Declassifier {
	return func(stored json.RawMessage) (json.RawMessage, error) {
		cfg, err := ParseCredentialConfig(stored)
		if err != nil {
			return nil, err
		}
		opened, err := cfg.Opened(c)
		if err != nil {
			return nil, err
		}
		return json.Marshal(opened)
	}
}

// String keeps the tokens out of logs.
func (p CredentialProvider) String() string {
	return fmt.Sprintf("{provider:%s subject:%s (tokens hidden)}", p.Provider, p.Subject)
}

// GoString does the same for %#v.
func (p CredentialProvider) GoString() string { return "oidc.CredentialProvider" + p.String() }
