package hasher

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Bounds on imported hashes. An import is trusted data, but a hash with
// absurd parameters would let anyone who knows the identifier burn CPU or
// memory on every login attempt, so such hashes are refused as malformed.
const (
	maxHashBytes    = 4096
	maxIterations   = 10_000_000 // pbkdf2 (iterations × blocks), sha-crypt rounds
	bcryptMaxCost   = 18         // ~64× the default cost 12
	argon2MaxMemory = 4 << 20    // KiB (4 GiB)
	argon2MaxTime   = 100
	// argon2MaxWork bounds memory × passes, in KiB.
	argon2MaxWork  = 8 << 20
	scryptMaxN     = 1 << 20
	scryptMaxR     = 32
	scryptMaxP     = 16
	scryptMaxWork  = 1 << 24 // N × r × p
	scryptMaxBytes = 1 << 30 // 128 × N × r
	// A derived key shorter than this would make false matches plausible.
	minKeyLen = 8
	maxKeyLen = 512
)

// verifier is a parsed hash that can check a password.
type verifier interface {
	matches(password []byte) (bool, error)
}

// memoryHard verifiers allocate memoryBytes while deriving and go through
// the memory gate.
type memoryHard interface {
	memoryBytes() uint64
}

type scheme struct {
	prefix string
	parse  func(hash string) (verifier, error)
}

// schemes are tried in order; no prefix is a prefix of a later one.
var schemes = []scheme{
	{"$2a$", parseBcrypt},
	{"$2b$", parseBcrypt},
	{"$2y$", parseBcrypt},
	{"$argon2id$", parseArgon2},
	{"$argon2i$", parseArgon2},
	{"$pbkdf2-", parsePbkdf2},
	{"$scrypt$", parseScrypt},
	{"$firescrypt$", parseFirescrypt},
	{"{SSHA}", parseSSHA},
	{"{SSHA256}", parseSSHA},
	{"{SSHA512}", parseSSHA},
	{"$sha1$", parseSaltedSHA},
	{"$sha256$", parseSaltedSHA},
	{"$sha512$", parseSaltedSHA},
	{"$md5$", parseMD5},
	{"$hmac-", parseHMAC},
	{"$md5-crypt$", parseMD5Crypt},
	{"$1$", parseMD5Crypt},
	{"$sha256-crypt$", parseSHACrypt},
	{"$5$", parseSHACrypt},
	{"$sha512-crypt$", parseSHACrypt},
	{"$6$", parseSHACrypt},
}

func parse(hash []byte) (verifier, error) {
	for _, s := range schemes {
		if !bytes.HasPrefix(hash, []byte(s.prefix)) {
			continue
		}
		if len(hash) > maxHashBytes {
			return nil, malformed("hash longer than %d bytes", maxHashBytes)
		}
		return s.parse(string(hash))
	}
	return nil, ErrUnknownFormat
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// decodeB64 decodes standard-alphabet base64 with or without padding;
// exporters differ on padding, never on the alphabet.
func decodeB64(what, s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(s)-len(strings.TrimRight(s, "=")) > 2 {
		return nil, malformed("%s is not valid base64", what)
	}
	return b, nil
}

// parseParams reads "k1=v1,k2=v2,..." with exactly the given keys in order
// and decimal values no larger than limit.
func parseParams(s string, limit uint64, keys ...string) ([]uint64, error) {
	fields := strings.Split(s, ",")
	if len(fields) != len(keys) {
		return nil, malformed("parameters %q: want %s", s, strings.Join(keys, ","))
	}
	out := make([]uint64, len(keys))
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != keys[i] {
			return nil, malformed("parameters %q: want %s", s, strings.Join(keys, ","))
		}
		n, err := parseUint(v, limit)
		if err != nil {
			return nil, malformed("parameter %s: %v", k, err)
		}
		out[i] = n
	}
	return out, nil
}

func parseUint(s string, limit uint64) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, fmt.Errorf("%q exceeds %d", s, limit)
	}
	return n, nil
}

func checkKeyLen(n int) error {
	if n < minKeyLen || n > maxKeyLen {
		return malformed("derived key of %d bytes, want %d to %d", n, minKeyLen, maxKeyLen)
	}
	return nil
}

func equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
