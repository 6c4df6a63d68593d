package config

// Ciphers is ciphers.*: how secrets kept at rest are encrypted with
// secrets.cipher.
type Ciphers struct {
	// Algorithm is xchacha20-poly1305 (Lanyard's default), aes
	// (AES-256-GCM) or noop. Kratos's noop only hex-encodes; Lanyard never
	// stores secrets in the clear and encrypts with xchacha20-poly1305
	// instead, with a warning at start-up.
	Algorithm string
}

// DefaultCipherAlgorithm is what Lanyard encrypts with unless aes is
// configured; Kratos's default, noop, does not encrypt.
const DefaultCipherAlgorithm = "xchacha20-poly1305"

var cipherAlgorithm = then(enum("noop", "aes", "xchacha20-poly1305"), func(s string, d *decodeCtx) (string, error) {
	if s == "noop" {
		d.warn(`config key "ciphers.algorithm": noop is not honoured; Lanyard never stores secrets in the clear and encrypts them with ` + DefaultCipherAlgorithm)
	}
	return s, nil
})
