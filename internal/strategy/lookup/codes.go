package lookup

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/text"
)

// A set has this many codes of codeLength characters from alphabet, as
// Kratos makes them.
const (
	setSize    = 12
	codeLength = 8
	alphabet   = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// storedConfig is the credential's config: Kratos's shape, with each code
// sealed by the cipher so that whoever reads the database cannot sign in
// with it. Its recovery_codes stay a non-empty list, which is what makes
// the identity's second factor count (identity.FactorRules).
type storedConfig struct {
	RecoveryCodes []storedCode `json:"recovery_codes"`
}

type storedCode struct {
	Code   string     `json:"code"`
	UsedAt *time.Time `json:"used_at"`
}

// code is one backup code in the clear.
type code struct {
	Value  string     `json:"code"`
	UsedAt *time.Time `json:"used_at"`
}

// newSet makes setSize fresh random codes.
func newSet() ([]code, error) {
	set := make([]code, setSize)
	for k := range set {
		v, err := randomCode()
		if err != nil {
			return nil, err
		}
		set[k].Value = v
	}
	return set, nil
}

// randomCode draws codeLength characters uniformly from alphabet: bytes
// at or above the largest multiple of its size are drawn again.
func randomCode() (string, error) {
	const limit = 256 - 256%len(alphabet)
	out := make([]byte, 0, codeLength)
	buf := make([]byte, 2*codeLength)
	for len(out) < codeLength {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < codeLength {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// seal encrypts each code of set for the credential's config.
func seal(c cipher.Cipher, set []code) (json.RawMessage, error) {
	cfg := storedConfig{RecoveryCodes: make([]storedCode, len(set))}
	for k, rc := range set {
		sealed, err := c.Encrypt([]byte(rc.Value))
		if err != nil {
			return nil, err
		}
		cfg.RecoveryCodes[k] = storedCode{Code: sealed, UsedAt: rc.UsedAt}
	}
	return json.Marshal(cfg)
}

// marshal writes cfg as the column holds it.
func marshal(cfg storedConfig) (string, error) {
	raw, err := json.Marshal(cfg)
	return string(raw), err
}

// errCorrupt marks a stored credential that cannot be read: a server
// fault (a lost secrets.cipher key, say), never the user's mistake.
var errCorrupt = errors.New("lookup: the stored backup codes cannot be read")

// decode reads a credential's config without opening its codes.
func decode(raw []byte) (storedConfig, error) {
	var cfg storedConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return cfg, nil
}

// open decrypts every code of cfg.
func open(c cipher.Cipher, cfg storedConfig) ([]code, error) {
	set := make([]code, len(cfg.RecoveryCodes))
	for k, sc := range cfg.RecoveryCodes {
		plain, err := c.Decrypt(sc.Code)
		if err != nil {
			return nil, fmt.Errorf("%w: code %d: %v", errCorrupt, k, err)
		}
		set[k] = code{Value: string(plain), UsedAt: sc.UsedAt}
	}
	return set, nil
}

// match answers the index of the code equal to given, or -1. Every code
// is compared, each in constant time, so that how long it takes says
// nothing about which code, or how much of one, was right.
func match(set []code, given string) int {
	found := -1
	for k, rc := range set {
		if subtle.ConstantTimeCompare([]byte(rc.Value), []byte(given)) == 1 {
			found = k
		}
	}
	return found
}

// hasCodes reports whether raw, a credential config, holds any code: the
// test Kratos applies for showing reveal and disable, and for counting
// the factor. Used codes count.
func hasCodes(raw []byte) bool {
	cfg, err := decode(raw)
	return err == nil && len(cfg.RecoveryCodes) > 0
}

// listNode shows set: unused codes as they are, used ones as "used".
func listNode(set []code) *flow.Node {
	shown := make([]string, len(set))
	each := make([]*text.Message, len(set))
	for k, rc := range set {
		if rc.UsedAt != nil {
			shown[k], each[k] = "used", text.LookupCodeUsed(*rc.UsedAt)
			continue
		}
		shown[k], each[k] = rc.Value, text.LookupCode(rc.Value)
	}
	return flow.Text(group, nodeCodes, text.LookupCodeList(shown, each), text.LookupCodesLabel())
}
