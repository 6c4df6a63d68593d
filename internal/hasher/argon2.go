package hasher

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

type argon2Params struct {
	id      bool // argon2id, else argon2i
	memory  uint32
	time    uint32
	threads uint8
	saltLen uint32 // used when generating
	keyLen  uint32 // used when generating
}

// check applies the same bounds to our configuration and to imports, so a
// hash we generate is always one we accept.
func (p argon2Params) check() error {
	switch {
	case p.time < 1 || p.time > argon2MaxTime:
		return fmt.Errorf("argon2: iterations %d out of range [1, %d]", p.time, argon2MaxTime)
	case p.threads < 1:
		return fmt.Errorf("argon2: parallelism must be at least 1")
	case p.memory < 8*uint32(p.threads):
		// The reference implementation rejects this; x/crypto would
		// silently raise it and derive a different key.
		return fmt.Errorf("argon2: memory %d KiB is below 8 × parallelism", p.memory)
	case p.memory > argon2MaxMemory:
		return fmt.Errorf("argon2: memory %d KiB exceeds %d", p.memory, argon2MaxMemory)
	case uint64(p.memory)*uint64(p.time) > argon2MaxWork:
		return fmt.Errorf("argon2: memory × iterations exceeds %d KiB", argon2MaxWork)
	}
	return nil
}

func (p argon2Params) memoryBytes() uint64 { return uint64(p.memory) << 10 }

func (p argon2Params) derive(password, salt []byte, keyLen uint32) []byte {
	if p.id {
		return argon2.IDKey(password, salt, p.time, p.memory, p.threads, keyLen)
	}
	return argon2.Key(password, salt, p.time, p.memory, p.threads, keyLen)
}

func (p argon2Params) encode(salt, key []byte) []byte {
	variant := "argon2i"
	if p.id {
		variant = "argon2id"
	}
	return fmt.Appendf(nil, "$%s$v=%d$m=%d,t=%d,p=%d$%s$%s", variant, argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// argon2Hash is "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>"
// (or argon2i), salt and key in unpadded standard base64.
type argon2Hash struct {
	argon2Params
	salt, key []byte
}

func parseArgon2(s string) (verifier, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 {
		return nil, malformed("argon2: want $%s$v=19$m=..,t=..,p=..$salt$key", parts[1])
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return nil, malformed("argon2: version %q unsupported, want v=%d", parts[2], argon2.Version)
	}
	v, err := parseParams(parts[3], 1<<32-1, "m", "t", "p")
	if err != nil {
		return nil, err
	}
	if v[2] > 255 {
		return nil, malformed("argon2: parallelism %d exceeds 255", v[2])
	}
	h := &argon2Hash{argon2Params: argon2Params{
		id: parts[1] == "argon2id", memory: uint32(v[0]), time: uint32(v[1]), threads: uint8(v[2]),
	}}
	if err := h.check(); err != nil {
		return nil, malformed("%v", err)
	}
	if h.salt, err = decodeB64("argon2 salt", parts[4]); err != nil {
		return nil, err
	}
	if h.key, err = decodeB64("argon2 key", parts[5]); err != nil {
		return nil, err
	}
	if err := checkKeyLen(len(h.key)); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *argon2Hash) matches(password []byte) (bool, error) {
	return equal(h.derive(password, h.salt, uint32(len(h.key))), h.key), nil
}
