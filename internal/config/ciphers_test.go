package config

import (
	"slices"
	"strings"
	"testing"
)

func TestCipherAlgorithm(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yml", prodBase)

	c, w := mustLoad(t, LoadOptions{Files: []string{base}})
	if c.Ciphers.Algorithm != "xchacha20-poly1305" {
		t.Errorf("default = %q; want xchacha20-poly1305 (Lanyard always encrypts)", c.Ciphers.Algorithm)
	}
	if len(w) != 0 {
		t.Errorf("warnings for the default: %v", w)
	}

	for _, alg := range []string{"aes", "xchacha20-poly1305"} {
		f := writeFile(t, dir, alg+".yml", "ciphers: {algorithm: "+alg+"}\n")
		c, w := mustLoad(t, LoadOptions{Files: []string{base, f}})
		if c.Ciphers.Algorithm != alg || len(w) != 0 {
			t.Errorf("%s: algorithm %q, warnings %v", alg, c.Ciphers.Algorithm, w)
		}
	}

	// noop, Kratos's default, still starts; Lanyard says it encrypts anyway.
	noop := writeFile(t, dir, "noop.yml", "ciphers: {algorithm: noop}\n")
	c, w = mustLoad(t, LoadOptions{Files: []string{base, noop}})
	want := []string{`config key "ciphers.algorithm": noop is not honoured; Lanyard never stores secrets in the clear and encrypts them with xchacha20-poly1305`}
	if c.Ciphers.Algorithm != "noop" || !slices.Equal(w, want) {
		t.Errorf("noop: algorithm %q, warnings %q", c.Ciphers.Algorithm, w)
	}

	// The environment overrides the file, as for every key.
	c, w = mustLoad(t, LoadOptions{Files: []string{base, noop}, LookupEnv: env{"CIPHERS_ALGORITHM": "aes"}.lookup})
	if c.Ciphers.Algorithm != "aes" || len(w) != 0 {
		t.Errorf("CIPHERS_ALGORITHM=aes: algorithm %q, warnings %v", c.Ciphers.Algorithm, w)
	}
	_, w = mustLoad(t, LoadOptions{Files: []string{base}, LookupEnv: env{"CIPHERS_ALGORITHM": "noop"}.lookup})
	if !slices.Equal(w, want) {
		t.Errorf("CIPHERS_ALGORITHM=noop: warnings %q", w)
	}
}

func TestCipherAlgorithmInvalid(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yml", prodBase)
	for _, tc := range []struct {
		name string
		yaml string
		env  env
		want []string
	}{
		{name: "unknown", yaml: "ciphers: {algorithm: rot13}", want: []string{`"ciphers.algorithm"`, `"rot13" is not one of noop, aes, xchacha20-poly1305`}},
		{name: "case", yaml: "ciphers: {algorithm: AES}", want: []string{`"ciphers.algorithm"`, `"AES"`}},
		{name: "not a string", yaml: "ciphers: {algorithm: 256}", want: []string{`"ciphers.algorithm"`, "expected a string"}},
		{name: "ciphers not an object", yaml: "ciphers: aes", want: []string{`"ciphers"`, "expected an object"}},
		{name: "env", env: env{"CIPHERS_ALGORITHM": "aes-128"}, want: []string{"CIPHERS_ALGORITHM", `"ciphers.algorithm"`, `"aes-128"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := []string{base}
			if tc.yaml != "" {
				files = append(files, writeFile(t, t.TempDir(), "case.yml", tc.yaml))
			}
			lookup := tc.env
			if lookup == nil {
				lookup = env{}
			}
			c, _, err := load(t, LoadOptions{Files: files, LookupEnv: lookup.lookup})
			if err == nil || c != nil {
				t.Fatalf("no error; algorithm %q", c.Ciphers.Algorithm)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestCipherSecretLength: Kratos's schema asks for exactly 32 characters
// and its key is the secret's bytes, so Lanyard asks for both: 32 ASCII
// characters. The secret itself never appears in the error.
func TestCipherSecretLength(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yml", prodBase)
	for secret, ok := range map[string]bool{
		testCipherSecret:                   true,
		testCipherSecret[:31]:              false,
		testCipherSecret + "x":             false,
		strings.Repeat("é", 32):            false, // 32 characters, 64 bytes
		strings.Repeat("é", 16):            false, // 32 bytes, but Kratos's schema counts 16 characters
		"EXAMPLE-CIPHER-SECRET-32-BYTES!!": true,
	} {
		f := writeFile(t, t.TempDir(), "s.yml", "secrets: {cipher: ['"+testCipherSecret+"', '"+secret+"']}\n")
		c, _, err := load(t, LoadOptions{Files: []string{base, f}})
		if ok != (err == nil) {
			t.Errorf("secret of %d bytes: err %v", len(secret), err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), `"secrets.cipher"`) || !strings.Contains(err.Error(), "secret 1 is") || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q", err)
			}
			continue
		}
		if !slices.Equal(c.Secrets.Cipher, []string{testCipherSecret, secret}) {
			t.Errorf("cipher secrets %d, want both in order", len(c.Secrets.Cipher))
		}
	}
	// The generated dev secret fits.
	s, err := cipherSecret()
	if err != nil || len(s) != 32 {
		t.Errorf("generated cipher secret is %d bytes, %v", len(s), err)
	}
}
