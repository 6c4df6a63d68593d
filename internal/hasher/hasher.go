// Package hasher hashes new passwords with the configured algorithm (bcrypt
// or argon2id) and verifies passwords against our own hashes and against
// hashes imported from other systems, in the encodings Kratos accepts.
package hasher

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/semaphore"

	"github.com/lanyard-id/lanyard/internal/config"
)

var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("hasher: password does not match")
	// ErrUnknownFormat means the hash is in no encoding this package knows.
	ErrUnknownFormat = errors.New("hasher: unknown hash format")
	// ErrMalformed is wrapped by every error about a hash whose format is
	// known but whose content is broken or has parameters out of bounds.
	ErrMalformed = errors.New("hasher: malformed hash")
	// ErrPasswordTooLong is returned by Hash for passwords longer than
	// MaxPasswordBytes (Kratos message 4000033).
	ErrPasswordTooLong = errors.New("hasher: password too long")
)

const (
	algBcrypt = "bcrypt"
	algArgon2 = "argon2"

	// bcrypt silently ignores bytes past 72; Kratos rejects such passwords
	// instead of truncating them.
	bcryptMaxPassword = 72
	// maxPasswordBytes bounds the work a single verification can cause
	// (sha-crypt cost grows with the password length).
	maxPasswordBytes = 4096

	defaultBcryptCost = 12
)

// Hasher creates password hashes with the configured algorithm. It is safe
// for concurrent use.
type Hasher struct {
	alg    string
	cost   int // bcrypt
	argon2 argon2Params
	gate   *memoryGate
	// cpu admits as many hash computations at once as there are cores to
	// run them, first come first served: beyond that, more at once only
	// share the cores, so that every one of them finishes late (64 logins
	// at once all took 18 s instead of one after another).
	cpu *semaphore.Weighted

	dummyMu sync.Mutex
	dummy   []byte
}

// New validates cfg and returns a Hasher. Zero fields take Kratos's defaults
// (bcrypt cost 12; argon2 128 MiB, 1 iteration, parallelism 2×CPUs, 16-byte
// salt, 32-byte key, 1 GiB dedicated memory). Dev-mode cost relaxation is
// the config loader's job: any bcrypt cost from 4 to 18 is accepted here.
//
// hashers.argon2.dedicated_memory sizes the memory gate that every argon2
// and scrypt derivation of this Hasher passes, for new hashes and for
// imported ones alike, whatever the configured algorithm.
func New(cfg config.Hashers) (*Hasher, error) {
	dedicated := cfg.Argon2.DedicatedMemory
	if dedicated == 0 {
		dedicated = defaultDedicatedMemory
	}
	h := &Hasher{alg: cfg.Algorithm, gate: newMemoryGate(dedicated), cpu: semaphore.NewWeighted(int64(runtime.GOMAXPROCS(0)))}
	switch cfg.Algorithm {
	case "", algBcrypt:
		h.alg = algBcrypt
		h.cost = cfg.Bcrypt.Cost
		if h.cost == 0 {
			h.cost = defaultBcryptCost
		}
		if h.cost < bcrypt.MinCost || h.cost > bcryptMaxCost {
			return nil, fmt.Errorf("hasher: bcrypt cost %d out of range [%d, %d]", h.cost, bcrypt.MinCost, bcryptMaxCost)
		}
	case algArgon2:
		p, err := argon2FromConfig(cfg.Argon2)
		if err != nil {
			return nil, err
		}
		// Every one of our own hashes would need more than the whole
		// budget, so logins would hash one at a time and still exceed
		// it: a mistake better reported at start-up than found as a
		// queue of stalled logins. (Imports that large run alone.)
		if p.memoryBytes() > dedicated {
			return nil, fmt.Errorf("hasher: hashers.argon2.memory (%d KiB) exceeds hashers.argon2.dedicated_memory (%d KiB): "+
				"raise dedicated_memory to a multiple of memory, one per login that may hash at once", p.memory, dedicated>>10)
		}
		h.argon2 = p
	default:
		return nil, fmt.Errorf("hasher: unknown algorithm %q (want bcrypt or argon2)", cfg.Algorithm)
	}
	return h, nil
}

func argon2FromConfig(c config.Argon2) (argon2Params, error) {
	p := argon2Params{
		id:      true,
		memory:  c.Memory,
		time:    c.Iterations,
		threads: c.Parallelism,
		saltLen: c.SaltLength,
		keyLen:  c.KeyLength,
	}
	if p.memory == 0 {
		p.memory = 128 * 1024
	}
	if p.time == 0 {
		p.time = 1
	}
	if p.threads == 0 {
		p.threads = uint8(min(2*runtime.NumCPU(), 255))
	}
	if p.saltLen == 0 {
		p.saltLen = 16
	}
	if p.keyLen == 0 {
		p.keyLen = 32
	}
	if err := p.check(); err != nil {
		return p, fmt.Errorf("hasher: config: %w", err)
	}
	if p.saltLen < 8 {
		return p, fmt.Errorf("hasher: argon2 config: salt_length %d is below 8", p.saltLen)
	}
	if p.keyLen < 16 {
		return p, fmt.Errorf("hasher: argon2 config: key_length %d is below 16", p.keyLen)
	}
	return p, nil
}

// MaxPasswordBytes is the longest password Hash accepts.
func (h *Hasher) MaxPasswordBytes() int {
	if h.alg == algBcrypt {
		return bcryptMaxPassword
	}
	return maxPasswordBytes
}

// Hash returns the encoded hash of password: "$2a$<cost>$..." for bcrypt,
// "$argon2id$v=19$m=..,t=..,p=..$<salt>$<key>" for argon2.
func (h *Hasher) Hash(ctx context.Context, password []byte) (hash []byte, err error) {
	ctx, span := startSpan(ctx, "hash", h.alg)
	defer func() { endSpan(span, err) }()
	if len(password) > h.MaxPasswordBytes() {
		return nil, ErrPasswordTooLong
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.alg == algBcrypt {
		if err := h.cpu.Acquire(ctx, 1); err != nil {
			return nil, err
		}
		defer h.cpu.Release(1)
		return bcrypt.GenerateFromPassword(password, h.cost)
	}
	salt := make([]byte, h.argon2.saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	release, err := h.gate.acquire(ctx, h.argon2.memoryBytes())
	if err != nil {
		return nil, err
	}
	defer release()
	if err := h.cpu.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	defer h.cpu.Release(1)
	return h.argon2.encode(salt, h.argon2.derive(password, salt, h.argon2.keyLen)), nil
}

// NeedsRehash reports whether hash should be replaced by a fresh Hash of the
// same password after a successful login: it is another algorithm (e.g. an
// import), other parameters, or not understood at all.
func (h *Hasher) NeedsRehash(hash []byte) bool {
	v, err := parse(hash)
	if err != nil {
		return true
	}
	switch v := v.(type) {
	case *bcryptHash:
		return h.alg != algBcrypt || v.cost != h.cost
	case *argon2Hash:
		want := h.argon2
		got := v.argon2Params
		return h.alg != algArgon2 || !got.id || got.memory != want.memory || got.time != want.time ||
			got.threads != want.threads || uint32(len(v.salt)) != want.saltLen || uint32(len(v.key)) != want.keyLen
	}
	return true
}

// Dummy returns a hash of an unguessable password in the configured
// algorithm and cost. Comparing against it when the identifier is unknown
// makes unknown and known users cost the same time.
func (h *Hasher) Dummy() []byte {
	h.dummyMu.Lock()
	defer h.dummyMu.Unlock()
	if h.dummy == nil {
		pw := make([]byte, 32)
		_, _ = rand.Read(pw) // never fails since Go 1.24
		if d, err := h.Hash(context.Background(), pw); err == nil {
			h.dummy = d
		}
	}
	return h.dummy
}

// Compare checks password against hash, in any format Recognised accepts.
// It returns nil on a match, ErrMismatch for a wrong password,
// ErrUnknownFormat for an encoding it does not know, an error wrapping
// ErrMalformed for a broken hash, or ctx's error. Memory-hard hashes wait
// for their share of the dedicated memory first.
func (h *Hasher) Compare(ctx context.Context, password, hash []byte) (err error) {
	v, err := parse(hash)
	if err != nil {
		return err
	}
	ctx, span := startSpan(ctx, "verify", algorithmOf(v))
	defer func() { endSpan(span, err) }()
	if len(password) > maxPasswordBytes {
		return ErrMismatch
	}
	// bcrypt ignores bytes past 72, so a longer password must not match
	// (Kratos refuses it too). The comparison still runs on the prefix, so
	// that the answer takes as long as for any wrong password.
	tooLong := false
	if _, ok := v.(*bcryptHash); ok && len(password) > bcryptMaxPassword {
		password, tooLong = password[:bcryptMaxPassword], true
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if m, ok := v.(memoryHard); ok {
		release, err := h.gate.acquire(ctx, m.memoryBytes())
		if err != nil {
			return err
		}
		defer release()
	}
	// Memory first, then a core: always in this order, so neither wait
	// can hold up the other's holder.
	if err := h.cpu.Acquire(ctx, 1); err != nil {
		return err
	}
	defer h.cpu.Release(1)
	ok, err := v.matches(password)
	if err != nil {
		return err
	}
	if !ok || tooLong {
		return ErrMismatch
	}
	return nil
}

// Recognised reports whether Compare understands hash: its format is known
// and its parameters are well-formed and within bounds.
func Recognised(hash []byte) bool {
	_, err := parse(hash)
	return err == nil
}
