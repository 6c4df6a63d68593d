// Package cipher encrypts secrets kept at rest (TOTP secrets, tokens) with
// the keys of secrets.cipher, in Kratos's format: the hex encoding of the
// random nonce followed by the sealed box, so that data Kratos encrypted
// with "aes" or "xchacha20-poly1305" decrypts here and the other way round.
package cipher

import (
	"crypto/aes"
	stdcipher "crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Algorithms, as ciphers.algorithm names them.
const (
	AES               = "aes"                // AES-256-GCM, 12-byte nonce
	XChaCha20Poly1305 = "xchacha20-poly1305" // 24-byte nonce
	// Noop is Kratos's default, which only hex-encodes. Lanyard never
	// stores secrets in the clear, so it encrypts with XChaCha20-Poly1305.
	Noop = "noop"
)

// KeySize is the length every secrets.cipher entry must have: its bytes
// are the key, as in Kratos.
const KeySize = 32

// Cipher seals and opens values stored in the database.
type Cipher interface {
	// Encrypt seals plaintext with the first secret. Every result, even for
	// an empty plaintext, is authenticated and non-empty.
	Encrypt(plaintext []byte) (string, error)
	// Decrypt opens what Encrypt sealed with any of the secrets. Anything
	// else (garbage, tampered, truncated or empty input, an unknown key)
	// gives ErrDecrypt.
	Decrypt(ciphertext string) ([]byte, error)
}

var (
	// ErrNoSecrets means secrets.cipher is empty.
	ErrNoSecrets = errors.New("cipher: no secrets.cipher configured")
	// ErrDecrypt means a ciphertext could not be opened. It says nothing
	// about why, so that it leaks nothing about the keys or the input.
	ErrDecrypt = errors.New("cipher: the value is not valid ciphertext for any configured secret")
)

// New returns the cipher for algorithm with secrets, the first of which
// encrypts while all decrypt (rotation: prepend a new secret, keep the old
// ones until no data sealed with them is left).
func New(algorithm string, secrets []string) (Cipher, error) {
	var primary, other func([]byte) (stdcipher.AEAD, error)
	switch algorithm {
	case XChaCha20Poly1305, Noop:
		primary, other = chacha20poly1305.NewX, newGCM
	case AES:
		primary, other = newGCM, chacha20poly1305.NewX
	default:
		return nil, fmt.Errorf("cipher: unknown algorithm %q (use %s, %s or %s)", algorithm, XChaCha20Poly1305, AES, Noop)
	}
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	c := &aeadCipher{}
	for i, s := range secrets {
		if len(s) != KeySize {
			return nil, fmt.Errorf("cipher: secret %d is %d bytes long; cipher secrets must be exactly %d", i, len(s), KeySize)
		}
		a, err := primary([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("cipher: secret %d: %w", i, err)
		}
		c.open = append(c.open, a)
	}
	c.seal = c.open[0]
	// Data sealed before ciphers.algorithm changed (say, under noop, which
	// is XChaCha20-Poly1305 here, before switching to aes) stays readable.
	// Both algorithms authenticate, so trying the other one can only
	// succeed for genuine ciphertexts.
	for _, s := range secrets {
		a, err := other([]byte(s))
		if err != nil {
			return nil, err
		}
		c.open = append(c.open, a)
	}
	return c, nil
}

func newGCM(key []byte) (stdcipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return stdcipher.NewGCM(block)
}

type aeadCipher struct {
	seal stdcipher.AEAD
	// open holds an AEAD per secret for the configured algorithm, in
	// secrets order, then one per secret for the other algorithm.
	open []stdcipher.AEAD
}

func (c *aeadCipher) Encrypt(plaintext []byte) (string, error) {
	n := c.seal.NonceSize()
	buf := make([]byte, n, n+len(plaintext)+c.seal.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("cipher: reading a random nonce: %w", err)
	}
	return hex.EncodeToString(c.seal.Seal(buf, buf, plaintext, nil)), nil
}

func (c *aeadCipher) Decrypt(ciphertext string) ([]byte, error) {
	raw, err := hex.DecodeString(ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	for _, a := range c.open {
		n := a.NonceSize()
		if len(raw) < n+a.Overhead() {
			continue
		}
		if plain, err := a.Open(nil, raw[:n], raw[n:], nil); err == nil {
			if plain == nil {
				plain = []byte{}
			}
			return plain, nil
		}
	}
	return nil, ErrDecrypt
}
