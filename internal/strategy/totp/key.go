package totp

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
)

// Keys as Kratos makes them, which every authenticator app reads.
const (
	secretSize = 20
	period     = 30
	// skew is how many steps before and after the current one a code may
	// be for, so that a clock a little off still works.
	skew   = 1
	qrSize = 256
)

// pendingKeyName is where a settings flow keeps the key it shows until a
// code confirms it: the otpauth URL, encrypted, as a JSON string.
const pendingKeyName = "totp_url_encrypted"

// storedConfig is the config of a TOTP credential. Lanyard writes the key
// URL encrypted; a config in Kratos's shape, the URL in the clear, is read
// too.
type storedConfig struct {
	URLEncrypted string `json:"totp_url_encrypted,omitempty"`
	URL          string `json:"totp_url,omitempty"`
}

// shownConfig is Kratos's config of a TOTP credential, as the admin API
// shows it.
type shownConfig struct {
	URL string `json:"totp_url"`
}

// hasTOTP reports whether i has an app set up: a TOTP credential holding
// a key, as the assurance level counts it.
func hasTOTP(i *identity.Identity) bool {
	c, ok := i.Credentials[ID]
	if !ok {
		return false
	}
	var cfg storedConfig
	return json.Unmarshal(c.Config, &cfg) == nil && (cfg.URLEncrypted != "" || cfg.URL != "")
}

// newKey makes a key for the account named account.
func (m *Method) newKey(account string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: m.issuer, AccountName: account, Period: period, SecretSize: secretSize,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// accountName is what authenticator apps list the key under: the trait the
// schema marks as the TOTP account name, else the identity's id.
func accountName(c flow.NodeContext) string {
	if c.Schema != nil {
		var traits any
		if json.Unmarshal(c.Identity.Traits, &traits) == nil {
			if x, err := c.Schema.Validate(traits); err == nil && x.TOTPAccountName != "" {
				return x.TOTPAccountName
			}
		}
	}
	return c.Identity.ID.String()
}

// pendingKey is the key settings flow f shows: the one it showed before,
// so that the code typed in confirms the key scanned, or a new one.
func (m *Method) pendingKey(f *flow.Flow, c flow.NodeContext) (*otp.Key, error) {
	if k, ok := m.pending(f); ok {
		return k, nil
	}
	k, err := m.newKey(accountName(c))
	if err != nil {
		return nil, fmt.Errorf("totp: making a key: %w", err)
	}
	sealed, err := m.cipher.Encrypt([]byte(k.URL()))
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(sealed)
	if err != nil {
		return nil, err
	}
	f.Internal[pendingKeyName] = raw
	return k, nil
}

// pending is the key settings flow f shows, if any it can still open.
func (m *Method) pending(f *flow.Flow) (*otp.Key, bool) {
	var sealed string
	if json.Unmarshal(f.Internal[pendingKeyName], &sealed) != nil || sealed == "" {
		return nil, false
	}
	plain, err := m.cipher.Decrypt(sealed)
	if err != nil {
		return nil, false
	}
	k, err := parseKey(string(plain))
	return k, err == nil
}

// sealConfig is the stored config of a credential for the key at url.
func (m *Method) sealConfig(url string) ([]byte, error) {
	sealed, err := m.cipher.Encrypt([]byte(url))
	if err != nil {
		return nil, err
	}
	return json.Marshal(storedConfig{URLEncrypted: sealed})
}

// keyURL opens the key URL of a stored credential config.
func (m *Method) keyURL(stored json.RawMessage) (string, error) {
	var cfg storedConfig
	if err := json.Unmarshal(stored, &cfg); err != nil {
		return "", errors.New("totp: the credential config is not a JSON object")
	}
	if cfg.URLEncrypted == "" {
		return cfg.URL, nil
	}
	plain, err := m.cipher.Decrypt(cfg.URLEncrypted)
	if err != nil {
		return "", fmt.Errorf("totp: opening the stored key: %w", err)
	}
	return string(plain), nil
}

// credentialKey is the key of i's TOTP credential. One that cannot be
// opened is a server error (the cipher secret that sealed it is gone),
// never a wrong code.
func (m *Method) credentialKey(i *identity.Identity) (*otp.Key, error) {
	u, err := m.keyURL(i.Credentials[ID].Config)
	if err != nil {
		return nil, err
	}
	k, err := parseKey(u)
	if err != nil {
		return nil, fmt.Errorf("totp: the stored key of identity %s is corrupt: %w", i.ID, err)
	}
	return k, nil
}

// Declassify shows a stored TOTP config as Kratos stores it, the key URL
// in the clear: what the admin API answers with include_credential=totp
// (identity.Declassifier).
func (m *Method) Declassify(stored json.RawMessage) (json.RawMessage, error) {
	u, err := m.keyURL(stored)
	if err != nil {
		return nil, err
	}
	return json.Marshal(shownConfig{URL: u})
}

func parseKey(u string) (*otp.Key, error) {
	k, err := otp.NewKeyFromURL(u)
	if err != nil {
		return nil, errors.New("not an otpauth URL")
	}
	if k.Type() != "totp" || k.Secret() == "" {
		return nil, errors.New("not a TOTP key")
	}
	return k, nil
}

// qrDataURI is the QR code of k's URL as a PNG data: URL.
func qrDataURI(k *otp.Key) (string, error) {
	img, err := k.Image(qrSize, qrSize)
	if err != nil {
		return "", fmt.Errorf("totp: drawing the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// match reports whether code is k's code for a time step within skew of
// at, and for which step (the latest, should two match). Every candidate
// is compared in constant time.
func match(k *otp.Key, code string, at time.Time) (int64, bool) {
	p := int64(k.Period())
	if p <= 0 {
		p = period
	}
	opts := hotp.ValidateOpts{Digits: k.Digits(), Algorithm: k.Algorithm(), Encoder: k.Encoder()}
	current := at.Unix() / p
	matched, found := int64(0), false
	for step := current - skew; step <= current+skew; step++ {
		if step < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(k.Secret(), uint64(step), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched, found = step, true
		}
	}
	return matched, found
}
