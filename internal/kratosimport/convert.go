package kratosimport

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
)

// Credential types whose configs hold secrets that Lanyard keeps sealed
// with secrets.cipher while Kratos keeps them in the clear (TOTP keys,
// backup codes) or under its own cipher (social sign-in tokens). The rest
// (password hashes, security keys, passkeys, code addresses) Lanyard
// reads in Kratos's shape and takes as they are.
const (
	typeTOTP   = "totp"
	typeLookup = "lookup_secret"
	typeOIDC   = "oidc"
)

// ErrNoCipher means a credential needs secrets.cipher and none is set.
var ErrNoCipher = errors.New(`the Kratos database has TOTP keys, backup codes or social sign-in tokens, which Lanyard stores encrypted: set "secrets.cipher" in Lanyard's config (Kratos's own secrets.cipher if it encrypted them)`)

// sealer converts one sealed credential type: plain is its secrets in the
// clear from Kratos's config, opened from Lanyard's stored config, and
// seal what Lanyard stores.
type sealer struct {
	kratosPlain func(c cipher.Cipher, config json.RawMessage) (any, error)
	lanyardOpen func(c cipher.Cipher, config json.RawMessage) (any, error)
	seal        func(c cipher.Cipher, plain any) (json.RawMessage, error)
}

var sealers = map[string]sealer{
	typeTOTP:   {kratosTOTP, lanyardTOTP, sealTOTP},
	typeLookup: {kratosLookup, lanyardLookup, sealLookup},
	typeOIDC:   {kratosOIDC, lanyardOIDC, sealOIDC},
}

// convert turns i's credentials from Kratos's configs into what Lanyard
// stores. A sealed config whose secrets equal those of before's (the copy
// an earlier run stored) is kept byte for byte, so that a second run
// changes nothing although sealing is randomised.
func convert(c cipher.Cipher, i, before *identity.Identity) error {
	for typ, cred := range i.Credentials {
		s, ok := sealers[typ]
		if !ok {
			continue
		}
		if c == nil {
			return ErrNoCipher
		}
		plain, err := s.kratosPlain(c, cred.Config)
		if err != nil {
			return fmt.Errorf("identity %s, credential %s: %w", i.ID, typ, err)
		}
		if before != nil {
			if old, ok := before.Credentials[typ]; ok {
				if stored, err := s.lanyardOpen(c, old.Config); err == nil && samePlain(stored, plain) {
					cred.Config = old.Config
					continue
				}
			}
		}
		sealed, err := s.seal(c, plain)
		if err != nil {
			return fmt.Errorf("identity %s, credential %s: %w", i.ID, typ, err)
		}
		cred.Config = sealed
	}
	return nil
}

func samePlain(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// openKratos opens a secret Kratos stored under its cipher: sealed with
// secrets.cipher ("aes", "xchacha20-poly1305": the format c reads) or
// only hex-encoded ("noop", Kratos's default). Secrets are printable
// text; anything else means the value was sealed with a key Lanyard was
// not given.
func openKratos(c cipher.Cipher, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if plain, err := c.Decrypt(v); err == nil {
		return string(plain), nil
	}
	raw, err := hex.DecodeString(v)
	if err == nil && printable(raw) {
		return string(raw), nil
	}
	return "", errors.New(`a secret could not be decrypted: give Lanyard Kratos's "secrets.cipher"`)
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return len(b) > 0
}

type totpConfig struct {
	URL          string `json:"totp_url,omitempty"`
	URLEncrypted string `json:"totp_url_encrypted,omitempty"`
}

func kratosTOTP(c cipher.Cipher, config json.RawMessage) (any, error) {
	var cfg totpConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, errors.New("the config is not a JSON object")
	}
	u := cfg.URL
	if !strings.HasPrefix(u, "otpauth://") {
		opened, err := openKratos(c, u)
		if err != nil {
			return nil, err
		}
		u = opened
	}
	if !strings.HasPrefix(u, "otpauth://") {
		return nil, errors.New("totp_url is not an otpauth:// URL")
	}
	return u, nil
}

func lanyardTOTP(c cipher.Cipher, config json.RawMessage) (any, error) {
	var cfg totpConfig
	if err := json.Unmarshal(config, &cfg); err != nil || cfg.URLEncrypted == "" {
		return nil, errors.New("not a sealed TOTP config")
	}
	plain, err := c.Decrypt(cfg.URLEncrypted)
	return string(plain), err
}

func sealTOTP(c cipher.Cipher, plain any) (json.RawMessage, error) {
	sealed, err := c.Encrypt([]byte(plain.(string)))
	if err != nil {
		return nil, err
	}
	return json.Marshal(totpConfig{URLEncrypted: sealed})
}

type lookupCode struct {
	Code   string     `json:"code"`
	UsedAt *time.Time `json:"used_at"`
}

type lookupConfig struct {
	RecoveryCodes []lookupCode `json:"recovery_codes"`
}

func kratosLookup(_ cipher.Cipher, config json.RawMessage) (any, error) {
	var cfg lookupConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, errors.New("the config is not a JSON object of recovery_codes")
	}
	for k := range cfg.RecoveryCodes {
		// Old Kratos versions wrote the zero time for an unused code.
		if u := cfg.RecoveryCodes[k].UsedAt; u != nil && !u.IsZero() {
			t := u.UTC()
			cfg.RecoveryCodes[k].UsedAt = &t
		} else {
			cfg.RecoveryCodes[k].UsedAt = nil
		}
	}
	return cfg, nil
}

func lanyardLookup(c cipher.Cipher, config json.RawMessage) (any, error) {
	var cfg lookupConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, err
	}
	for k, rc := range cfg.RecoveryCodes {
		plain, err := c.Decrypt(rc.Code)
		if err != nil {
			return nil, err
		}
		cfg.RecoveryCodes[k].Code = string(plain)
		if rc.UsedAt != nil {
			t := rc.UsedAt.UTC()
			cfg.RecoveryCodes[k].UsedAt = &t
		}
	}
	return cfg, nil
}

func sealLookup(c cipher.Cipher, plain any) (json.RawMessage, error) {
	cfg := plain.(lookupConfig)
	out := lookupConfig{RecoveryCodes: make([]lookupCode, len(cfg.RecoveryCodes))}
	for k, rc := range cfg.RecoveryCodes {
		sealed, err := c.Encrypt([]byte(rc.Code))
		if err != nil {
			return nil, err
		}
		out.RecoveryCodes[k] = lookupCode{Code: sealed, UsedAt: rc.UsedAt}
	}
	return json.Marshal(out)
}

func kratosOIDC(c cipher.Cipher, config json.RawMessage) (any, error) {
	cfg, err := oidc.ParseCredentialConfig(config)
	if err != nil {
		return nil, err
	}
	for k := range cfg.Providers {
		p := &cfg.Providers[k]
		for _, token := range []*string{&p.InitialIDToken, &p.InitialAccessToken, &p.InitialRefreshToken} {
			if *token, err = openKratos(c, *token); err != nil {
				return nil, fmt.Errorf("provider %s: %w", p.Provider, err)
			}
		}
	}
	return cfg, nil
}

func lanyardOIDC(c cipher.Cipher, config json.RawMessage) (any, error) {
	cfg, err := oidc.ParseCredentialConfig(config)
	if err != nil {
		return nil, err
	}
	return cfg.Opened(c)
}

func sealOIDC(c cipher.Cipher, plain any) (json.RawMessage, error) {
	sealed, err := plain.(oidc.CredentialConfig).Sealed(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealed)
}
