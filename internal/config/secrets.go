package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// DevSecretsFile is the name of the generated secrets file in DataDir.
const DevSecretsFile = "secrets.json"

type devSecrets struct {
	Default []string `json:"default,omitempty"`
	Cookie  []string `json:"cookie,omitempty"`
	Cipher  []string `json:"cipher,omitempty"`
}

// EnsureDevSecrets fills empty Secrets.Default, Cookie and Cipher in dev
// mode with random secrets kept in <DataDir>/secrets.json, so that sessions
// and encrypted data survive restarts. Outside dev mode it does nothing
// (Load already rejects a config without cookie secrets).
func EnsureDevSecrets(c *Config) error {
	s := &c.Secrets
	if !c.Dev || (len(s.Default) > 0 && len(s.Cookie) > 0 && len(s.Cipher) > 0) {
		return nil
	}
	if c.DataDir == "" {
		return errors.New("config: no data directory for the generated dev secrets")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("config: creating data directory: %w", err)
	}
	path := filepath.Join(c.DataDir, DevSecretsFile)
	orig := c.Secrets
	err := fillDevSecrets(c, path)
	if errors.Is(err, errLostRace) {
		// Another process created the file first: use its secrets.
		c.Secrets = orig
		err = fillDevSecrets(c, path)
	}
	return err
}

func fillDevSecrets(c *Config, path string) error {
	s := &c.Secrets
	stored, exists, err := readDevSecrets(path)
	if err != nil {
		return err
	}
	changed := false
	fill := func(dst *[]string, kept *[]string, gen func() (string, error)) error {
		if len(*dst) > 0 {
			return nil
		}
		if len(*kept) == 0 {
			v, err := gen()
			if err != nil {
				return fmt.Errorf("config: generating dev secret: %w", err)
			}
			*kept = []string{v}
			changed = true
		}
		*dst = append([]string(nil), *kept...)
		return nil
	}
	if err := fill(&s.Default, &stored.Default, signingSecret); err != nil {
		return err
	}
	if err := fill(&s.Cookie, &stored.Cookie, signingSecret); err != nil {
		return err
	}
	if err := fill(&s.Cipher, &stored.Cipher, cipherSecret); err != nil {
		return err
	}
	if changed {
		return writeDevSecrets(path, stored, exists)
	}
	return nil
}

func readDevSecrets(path string) (*devSecrets, bool, error) {
	var s devSecrets
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &s, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("config: reading dev secrets: %w", err)
	}
	bad := func(why string) (*devSecrets, bool, error) {
		return nil, true, fmt.Errorf("config: dev secrets file %s is invalid (%s); delete it to generate new secrets", path, why)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return bad("not JSON of the expected shape")
	}
	for _, v := range append(append([]string(nil), s.Default...), s.Cookie...) {
		if utf8.RuneCountInString(v) < 16 {
			return bad("a default or cookie secret is shorter than 16 characters")
		}
	}
	for _, v := range s.Cipher {
		if len(v) != 32 {
			return bad("a cipher secret is not 32 bytes long")
		}
	}
	return &s, true, nil
}

// writeDevSecrets writes through a temporary file so a crash never leaves a
// half-written file. A new file is published with link(2), which fails if
// another process created it meanwhile; then that process's secrets win and
// are read back, so concurrent first starts agree.
func writeDevSecrets(path string, s *devSecrets, exists bool) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("config: writing dev secrets: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("config: writing dev secrets: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: writing dev secrets: %w", err)
	}
	if exists {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("config: writing dev secrets: %w", err)
		}
		return nil
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errLostRace
		}
		return fmt.Errorf("config: writing dev secrets: %w", err)
	}
	return nil
}

var errLostRace = errors.New("config: dev secrets file was created concurrently")

// signingSecret is 256 random bits, base64url: 43 characters.
func signingSecret() (string, error) { return randomString(32) }

// cipherSecret is 192 random bits, base64url: exactly the 32 characters a
// cipher key needs.
func cipherSecret() (string, error) { return randomString(24) }

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
