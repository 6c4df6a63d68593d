package hasher

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"hash"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// pbkdf2Hash is "$pbkdf2-<digest>$i=<iterations>,l=<length>$<salt>$<key>",
// salt and key in unpadded standard base64. As in Kratos, l is informative:
// the key length is that of the decoded key.
type pbkdf2Hash struct {
	prf        func() hash.Hash
	iterations int
	salt, key  []byte
}

// pbkdf2Digests follows Kratos, which maps sha224 and sha384 to SHA-3.
var pbkdf2Digests = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha224": func() hash.Hash { return sha3.New224() },
	"sha256": sha256.New,
	"sha384": func() hash.Hash { return sha3.New384() },
	"sha512": sha512.New,
}

func parsePbkdf2(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	prf, ok := pbkdf2Digests[strings.TrimPrefix(parts[1], "pbkdf2-")]
	if !ok {
		return nil, ErrUnknownFormat
	}
	if len(parts) != 5 {
		return nil, malformed("pbkdf2: want $%s$i=..,l=..$salt$key", parts[1])
	}
	v, err := parseParams(parts[2], maxIterations, "i", "l")
	if err != nil {
		return nil, err
	}
	h := &pbkdf2Hash{prf: prf, iterations: int(v[0])}
	if h.iterations < 1 {
		return nil, malformed("pbkdf2: iterations must be at least 1")
	}
	if h.salt, err = decodeB64("pbkdf2 salt", parts[3]); err != nil {
		return nil, err
	}
	if h.key, err = decodeB64("pbkdf2 key", parts[4]); err != nil {
		return nil, err
	}
	if err := checkKeyLen(len(h.key)); err != nil {
		return nil, err
	}
	size := prf().Size()
	if blocks := (len(h.key) + size - 1) / size; h.iterations*blocks > maxIterations {
		return nil, malformed("pbkdf2: iterations × blocks exceeds %d", maxIterations)
	}
	return h, nil
}

func (h *pbkdf2Hash) matches(password []byte) (bool, error) {
	got, err := pbkdf2.Key(h.prf, string(password), h.salt, h.iterations, len(h.key))
	if err != nil {
		return false, err
	}
	return equal(got, h.key), nil
}

type scryptParams struct{ n, r, p int }

func (p scryptParams) check() error {
	switch {
	case p.n < 2 || p.n&(p.n-1) != 0 || p.n > scryptMaxN:
		return malformed("scrypt: N=%d must be a power of two from 2 to %d", p.n, scryptMaxN)
	case p.r < 1 || p.r > scryptMaxR:
		return malformed("scrypt: r=%d out of range [1, %d]", p.r, scryptMaxR)
	case p.p < 1 || p.p > scryptMaxP:
		return malformed("scrypt: p=%d out of range [1, %d]", p.p, scryptMaxP)
	case p.n*p.r*p.p > scryptMaxWork:
		return malformed("scrypt: N × r × p exceeds %d", scryptMaxWork)
	case 128*p.n*p.r > scryptMaxBytes:
		return malformed("scrypt: 128 × N × r exceeds %d bytes", scryptMaxBytes)
	}
	return nil
}

func (p scryptParams) memoryBytes() uint64 { return 128 * uint64(p.r) * uint64(p.n+p.p) }

func parseScryptParams(s string) (scryptParams, error) {
	v, err := parseParams(s, 1<<31, "ln", "r", "p")
	if err != nil {
		return scryptParams{}, err
	}
	return scryptParams{n: int(v[0]), r: int(v[1]), p: int(v[2])}, nil
}

// scryptHash is "$scrypt$ln=<N>,r=<r>,p=<p>$<salt>$<key>", salt and key in
// standard base64. Unlike passlib, Kratos puts N itself, not log2(N), in ln.
type scryptHash struct {
	scryptParams
	salt, key []byte
}

func parseScrypt(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 5 {
		return nil, malformed("scrypt: want $scrypt$ln=..,r=..,p=..$salt$key")
	}
	p, err := parseScryptParams(parts[2])
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	h := &scryptHash{scryptParams: p}
	if h.salt, err = decodeB64("scrypt salt", parts[3]); err != nil {
		return nil, err
	}
	if h.key, err = decodeB64("scrypt key", parts[4]); err != nil {
		return nil, err
	}
	if err := checkKeyLen(len(h.key)); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *scryptHash) matches(password []byte) (bool, error) {
	got, err := scrypt.Key(password, h.salt, h.n, h.r, h.p, len(h.key))
	if err != nil {
		return false, malformed("scrypt: %v", err)
	}
	return equal(got, h.key), nil
}

// firescryptHash is Firebase's modified scrypt as Kratos imports it:
// "$firescrypt$ln=<mem_cost>,r=<rounds>,p=<p>$<salt>$<hash>$<salt separator>$<signer key>",
// all in standard base64, with N = 2^mem_cost. The password is correct when
// AES-256-CTR (zero IV) of the signer key under scrypt(password,
// salt‖separator) equals hash.
type firescryptHash struct {
	scryptParams
	salt, hash, signerKey []byte
}

func parseFirescrypt(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 7 {
		return nil, malformed("firescrypt: want $firescrypt$ln=..,r=..,p=..$salt$hash$separator$signer_key")
	}
	p, err := parseScryptParams(parts[2])
	if err != nil {
		return nil, err
	}
	if p.n < 1 || p.n > 30 {
		return nil, malformed("firescrypt: mem_cost %d out of range [1, 30]", p.n)
	}
	p.n = 1 << p.n
	if err := p.check(); err != nil {
		return nil, err
	}
	h := &firescryptHash{scryptParams: p}
	var sep []byte
	if h.salt, err = decodeB64("firescrypt salt", parts[3]); err != nil {
		return nil, err
	}
	if h.hash, err = decodeB64("firescrypt hash", parts[4]); err != nil {
		return nil, err
	}
	if sep, err = decodeB64("firescrypt salt separator", parts[5]); err != nil {
		return nil, err
	}
	if h.signerKey, err = decodeB64("firescrypt signer key", parts[6]); err != nil {
		return nil, err
	}
	if err := checkKeyLen(len(h.hash)); err != nil {
		return nil, err
	}
	if len(h.hash) != len(h.signerKey) {
		return nil, malformed("firescrypt: hash and signer key differ in length")
	}
	h.salt = append(h.salt, sep...)
	return h, nil
}

func (h *firescryptHash) matches(password []byte) (bool, error) {
	key, err := scrypt.Key(password, h.salt, h.n, h.r, h.p, 32)
	if err != nil {
		return false, malformed("firescrypt: %v", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return false, err
	}
	got := make([]byte, len(h.signerKey))
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(got, h.signerKey)
	return equal(got, h.hash), nil
}
