package hasher

import (
	"context"
	"errors"
	"testing"
)

// cheap reports whether verifying v takes at most a few milliseconds, so
// the fuzzer spends its time on parsing rather than on legitimate work.
func cheap(v verifier) bool {
	switch v := v.(type) {
	case *bcryptHash:
		return v.cost <= 5
	case *argon2Hash:
		return uint64(v.memory)*uint64(v.time) <= 1024
	case *pbkdf2Hash:
		return v.iterations <= 10_000
	case *scryptHash:
		return v.n*v.r*v.p <= 1<<14
	case *firescryptHash:
		return v.n*v.r*v.p <= 1<<14
	case *cryptHash:
		return v.rounds <= 10_000
	}
	return true
}

func FuzzCompare(f *testing.F) {
	for _, v := range literalVectors {
		f.Add([]byte(v.password), []byte(v.hash))
	}
	for _, c := range generatedImports(&testing.T{}, []byte("pw")) {
		f.Add([]byte("pw"), []byte(c.hash))
	}
	f.Add([]byte("x"), []byte("$argon2id$v=19$m=8,t=1,p=1$$AAAAAAAAAAA"))
	f.Add([]byte(""), []byte("$5$rounds=1000$$"))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, password, hash []byte) {
		v, err := parse(hash)
		if Recognised(hash) != (err == nil) {
			t.Fatalf("Recognised disagrees with parse for %q", hash)
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse(%q) = %v: neither unknown nor malformed", hash, err)
			}
			if cerr := anyHasher.Compare(ctx, password, hash); cerr == nil || cerr.Error() != err.Error() {
				t.Fatalf("Compare(%q) = %v, parse said %v", hash, cerr, err)
			}
			return
		}
		if !cheap(v) {
			return
		}
		err = anyHasher.Compare(ctx, password, hash)
		if err != nil && !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Compare(%q) = %v", hash, err)
		}
	})
}
