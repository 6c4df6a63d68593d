package cipher

import (
	"bytes"
	"crypto/aes"
	stdcipher "crypto/cipher"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	oldSecret = "old-cipher-secret-0123456789abcd"
	newSecret = "new-cipher-secret-0123456789abcd"
	strange   = "another-secret-nobody-configured"
)

var algorithms = []string{XChaCha20Poly1305, AES, Noop}

func mustNew(t *testing.T, algorithm string, secrets ...string) Cipher {
	t.Helper()
	c, err := New(algorithm, secrets)
	if err != nil {
		t.Fatalf("New(%s): %v", algorithm, err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			c := mustNew(t, alg, newSecret)
			for _, plain := range [][]byte{nil, {}, []byte("JBSWY3DPEHPK3PXP"), bytes.Repeat([]byte{0, 0xff}, 5000)} {
				sealed, err := c.Encrypt(plain)
				if err != nil {
					t.Fatal(err)
				}
				if sealed == "" || (len(plain) > 0 && strings.Contains(sealed, hex.EncodeToString(plain))) {
					t.Errorf("ciphertext %q is empty or shows the plaintext", sealed)
				}
				if _, err := hex.DecodeString(sealed); err != nil || strings.ToLower(sealed) != sealed {
					t.Errorf("ciphertext is not lower-case hex: %q", sealed)
				}
				got, err := c.Decrypt(sealed)
				if err != nil || !bytes.Equal(got, plain) {
					t.Errorf("Decrypt = %q, %v; want %q", got, err, plain)
				}
			}
		})
	}
}

func TestNoncesAreFresh(t *testing.T) {
	for _, alg := range algorithms {
		c := mustNew(t, alg, newSecret)
		seen := map[string]bool{}
		for range 100 {
			s, err := c.Encrypt([]byte("same"))
			if err != nil {
				t.Fatal(err)
			}
			if seen[s] {
				t.Fatalf("%s: the same plaintext sealed twice to %s", alg, s)
			}
			seen[s] = true
		}
	}
}

// TestKratosFormat opens values built the way Kratos builds them: the
// secret's bytes as the key, hex(nonce || sealed box), so databases move
// between the two.
func TestKratosFormat(t *testing.T) {
	plain := []byte("otpauth://totp/Example:ada?secret=JBSWY3DPEHPK3PXP")
	key := []byte(newSecret)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := stdcipher.NewGCM(block)
	x, _ := chacha20poly1305.NewX(key)
	for alg, a := range map[string]stdcipher.AEAD{AES: gcm, XChaCha20Poly1305: x} {
		nonce := bytes.Repeat([]byte{7}, a.NonceSize())
		foreign := hex.EncodeToString(a.Seal(nonce, nonce, plain, nil))
		got, err := mustNew(t, alg, newSecret).Decrypt(foreign)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: Decrypt of Kratos-format data = %q, %v", alg, got, err)
		}
		// And ours have the nonce size and overhead of the algorithm.
		ours, _ := mustNew(t, alg, newSecret).Encrypt(plain)
		if want := 2 * (a.NonceSize() + len(plain) + a.Overhead()); len(ours) != want {
			t.Errorf("%s: ciphertext is %d hex digits; want %d", alg, len(ours), want)
		}
		raw, _ := hex.DecodeString(ours)
		if opened, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], nil); err != nil || !bytes.Equal(opened, plain) {
			t.Errorf("%s: our ciphertext does not open with the plain algorithm: %v", alg, err)
		}
	}
}

func TestRotation(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			before, err := mustNew(t, alg, oldSecret).Encrypt([]byte("sealed before the rotation"))
			if err != nil {
				t.Fatal(err)
			}
			rotated := mustNew(t, alg, newSecret, oldSecret)
			if got, err := rotated.Decrypt(before); err != nil || string(got) != "sealed before the rotation" {
				t.Errorf("after prepending a secret: %q, %v", got, err)
			}
			after, err := rotated.Encrypt([]byte("sealed after"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mustNew(t, alg, oldSecret).Decrypt(after); !errors.Is(err, ErrDecrypt) {
				t.Errorf("new data opened with the old secret alone (err %v): the first secret must seal", err)
			}
			if got, err := mustNew(t, alg, newSecret).Decrypt(after); err != nil || string(got) != "sealed after" {
				t.Errorf("new data with the new secret: %q, %v", got, err)
			}
			if _, err := mustNew(t, alg, newSecret).Decrypt(before); !errors.Is(err, ErrDecrypt) {
				t.Errorf("old data opened after the old secret was removed: %v", err)
			}
		})
	}
}

// TestAlgorithmChange: data sealed under one algorithm still opens after
// ciphers.algorithm changes, since noop means XChaCha20-Poly1305 here and
// a later switch to aes must not lose what was stored.
func TestAlgorithmChange(t *testing.T) {
	for _, pair := range [][2]string{{Noop, AES}, {AES, XChaCha20Poly1305}, {XChaCha20Poly1305, AES}} {
		sealed, err := mustNew(t, pair[0], oldSecret).Encrypt([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := mustNew(t, pair[1], newSecret, oldSecret).Decrypt(sealed); err != nil || string(got) != "x" {
			t.Errorf("%s -> %s: %q, %v", pair[0], pair[1], got, err)
		}
	}
}

func TestWrongKeyRefused(t *testing.T) {
	for _, alg := range algorithms {
		sealed, _ := mustNew(t, alg, newSecret).Encrypt([]byte("secret"))
		if got, err := mustNew(t, alg, strange).Decrypt(sealed); !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: opened with a wrong key: %q, %v", alg, got, err)
		}
	}
}

func TestTamperingRefused(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			c := mustNew(t, alg, newSecret)
			sealed, _ := c.Encrypt([]byte("JBSWY3DPEHPK3PXP"))
			raw, _ := hex.DecodeString(sealed)
			var bad []string
			for i := range raw { // every bit position in every byte
				for bit := range 8 {
					b := bytes.Clone(raw)
					b[i] ^= 1 << bit
					bad = append(bad, hex.EncodeToString(b))
				}
			}
			for n := range len(raw) { // every truncation, down to ""
				bad = append(bad, hex.EncodeToString(raw[:n]))
			}
			bad = append(bad,
				sealed+"00",              // appended byte
				sealed[1:],               // odd length
				"zz"+sealed[2:],          // not hex
				" "+sealed,               // whitespace
				strings.Repeat("0", 200), // all zero
			)
			for _, s := range bad {
				if got, err := c.Decrypt(s); !errors.Is(err, ErrDecrypt) || got != nil {
					t.Fatalf("Decrypt(%q) = %q, %v; want ErrDecrypt", s, got, err)
				}
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		secrets []string
		want    string
	}{
		{"rot13", []string{newSecret}, `unknown algorithm "rot13"`},
		{"", []string{newSecret}, "unknown algorithm"},
		{AES, nil, ErrNoSecrets.Error()},
		{XChaCha20Poly1305, []string{newSecret, "short"}, "secret 1 is 5 bytes long"},
		{AES, []string{newSecret + "x"}, "secret 0 is 33 bytes long"},
		// 32 characters, but more bytes: Kratos's key is the bytes.
		{AES, []string{strings.Repeat("é", 32)}, "secret 0 is 64 bytes long"},
	} {
		c, err := New(tc.alg, tc.secrets)
		if err == nil || c != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %d secrets) = %v, %v; want an error containing %q", tc.alg, len(tc.secrets), c, err, tc.want)
		}
		for _, s := range tc.secrets {
			if err != nil && len(s) > 8 && strings.Contains(err.Error(), s) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	c, err := New(XChaCha20Poly1305, []string{newSecret, oldSecret})
	if err != nil {
		f.Fatal(err)
	}
	a, _ := New(AES, []string{oldSecret})
	for _, seed := range []Cipher{c, a} {
		s, _ := seed.Encrypt([]byte("seed"))
		f.Add(s)
	}
	f.Add("")
	f.Add("00")
	f.Add(strings.Repeat("ab", 40))
	f.Fuzz(func(t *testing.T, s string) {
		plain, err := c.Decrypt(s)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || plain != nil {
				t.Fatalf("Decrypt(%q) = %q, %v", s, plain, err)
			}
			return
		}
		// Whatever opens was sealed by one of the keys; sealing it again
		// must round-trip.
		again, err := c.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := c.Decrypt(again); err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("re-sealed value does not round-trip: %v", err)
		}
	})
}
