package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// EffectiveRevision is what GET /admin/health/config answers: the revision
// key when the config has one, else a hex HMAC-SHA256 of the effective
// config, so that each change gives a new value.
//
// Kratos answers a plain SHA-256 of the config. The config holds secrets
// (the DSN's password, client secrets, API keys of web hooks), and a plain
// hash lets anyone who reads the endpoint and knows the rest of the file
// (it is often in a repository) test guesses of a weak one offline. Keyed
// with the first cookie secret, which Load requires to be at least 16
// characters, the value reveals nothing without that secret.
func (c *Config) EffectiveRevision() string {
	if c.Revision != "" {
		return c.Revision
	}
	// json.Marshal is deterministic here: struct fields keep their order
	// and map keys are sorted; raw (unexported) is left out.
	b, err := json.Marshal(c)
	if err != nil {
		// Config holds only plain data; this cannot happen, and a constant
		// would hide every change, so the error is the answer.
		return "unavailable: " + err.Error()
	}
	var key []byte
	if len(c.Secrets.Cookie) > 0 {
		key = []byte(c.Secrets.Cookie[0])
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return hex.EncodeToString(mac.Sum(nil))
}
