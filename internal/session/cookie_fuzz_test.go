package session

import (
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzCookieDecode feeds arbitrary cookie values to the session cookie
// decoder: it must not panic and must open nothing it did not seal; what
// it seals it opens again, with every secret of a rotation, and a sealed
// cookie with any byte changed opens no more.
func FuzzCookieDecode(f *testing.F) {
	seal, err := newCookieCodec([]string{"first-secret-0123456789"})
	if err != nil {
		f.Fatal(err)
	}
	rotated, err := newCookieCodec([]string{"second-secret-0123456789", "first-secret-0123456789"})
	if err != nil {
		f.Fatal(err)
	}
	const liveToken = "ory_st_seedseedseedseedseedseedseedseed"
	live := seal.encode(liveToken, time.Now().Add(time.Hour))
	expired := seal.encode("ory_st_oldoldoldoldoldoldoldoldoldoldold", time.Now().Add(-time.Hour))
	for _, s := range []string{
		live, expired, "", "x", "!!!!", live[:len(live)-1], live + "A",
		base64.RawURLEncoding.EncodeToString(make([]byte, 11)), // shorter than a nonce
		base64.RawURLEncoding.EncodeToString(make([]byte, 12)), // a nonce, nothing sealed
		base64.StdEncoding.EncodeToString([]byte("padded+/==")),
		"\x00\xff\xed\xa0\x80",
	} {
		f.Add(s, "ory_st_token")
	}
	f.Fuzz(func(t *testing.T, value, token string) {
		for _, c := range []*cookieCodec{seal, rotated} {
			// Only the seed was sealed (each fuzzing process seals its
			// own, with a fresh nonce): anything else that opens is a
			// forgery.
			got, ok := c.decode(value)
			if ok && got != liveToken {
				t.Fatalf("decode(%q) opened %q, a cookie nobody sealed", value, got)
			}
			if !ok && got != "" {
				t.Fatalf("a refused cookie answered the token %q", got)
			}
		}

		if !utf8.ValidString(token) {
			return // server tokens are ASCII; JSON would replace the bytes
		}
		sealed := seal.encode(token, time.Now().Add(time.Hour))
		for _, c := range []*cookieCodec{seal, rotated} {
			if got, ok := c.decode(sealed); !ok || got != token {
				t.Fatalf("a sealed %q opened as %q, %v", token, got, ok)
			}
		}
		if _, ok := rotated.decode(rotated.encode(token, time.Now().Add(-time.Second))); ok {
			t.Fatal("an expired cookie opened")
		}
		raw, err := base64.RawURLEncoding.DecodeString(sealed)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(value + token))
		i := int(sum[0]) % len(raw)
		raw[i] ^= 1 + sum[1]%255
		if got, ok := seal.decode(base64.RawURLEncoding.EncodeToString(raw)); ok {
			t.Fatalf("a cookie with byte %d changed opened as %q", i, got)
		}
	})
}
