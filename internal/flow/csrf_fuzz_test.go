package flow

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/wire"
)

// FuzzCSRFVerify feeds arbitrary cookie values and submitted tokens to
// the CSRF check: it must not panic, must refuse with Kratos's
// security_csrf_violation, and must accept exactly what an independent
// reading of the double-submit scheme accepts. A masked token always
// verifies against its own cookie, and never once a byte of it changes.
func FuzzCSRFVerify(f *testing.F) {
	tok := token(7)
	cookie := base64.StdEncoding.EncodeToString(tok)
	masked := Mask(tok)
	for _, s := range []struct{ cookie, submitted string }{
		{cookie, masked},
		{cookie, cookie}, // an unmasked copy of the cookie
		{cookie, ""},
		{"", masked},
		{cookie, Mask(token(8))},
		{cookie, masked[:len(masked)-4]},
		{cookie, "%%%"},
		{"not base64", masked},
		{base64.StdEncoding.EncodeToString(make([]byte, 31)), masked},
		{cookie, base64.StdEncoding.EncodeToString(make([]byte, 3*csrfTokenLen))},
		{cookie, "\x00\xff\xed\xa0\x80"},
		{"\xff", "\x00"},
	} {
		f.Add(s.cookie, s.submitted, []byte("seed"))
	}
	c := testCSRF()
	f.Fuzz(func(t *testing.T, cookieValue, submitted string, seed []byte) {
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		r.Header.Set("Cookie", c.CookieName()+"="+cookieValue)
		err := c.Verify(r, submitted)
		if want := acceptsCSRF(r, c.CookieName(), submitted); (err == nil) != want {
			t.Fatalf("Verify(cookie %q, submitted %q) = %v; the scheme says accept = %v", cookieValue, submitted, err, want)
		}
		if err != nil {
			var e *wire.Error
			if !errors.As(err, &e) || e.Code != http.StatusForbidden || e.ID != "security_csrf_violation" {
				t.Fatalf("Verify error %v, want a 403 security_csrf_violation", err)
			}
		}
		if got := unmask(submitted); got != nil && len(got) != csrfTokenLen {
			t.Fatalf("unmask(%q) gave %d bytes", submitted, len(got))
		}

		// A token of the fuzzer's choosing, masked, verifies; tampered, not.
		sum := sha256.Sum256(seed)
		own := sum[:]
		r = httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		withCSRFCookie(r, c, own)
		m := Mask(own)
		if err := c.Verify(r, m); err != nil {
			t.Fatalf("a fresh mask of the cookie's token was refused: %v", err)
		}
		raw, _ := base64.StdEncoding.DecodeString(m)
		i := int(sum[0]) % len(raw)
		raw[i] ^= 1 + sum[1]%255
		if err := c.Verify(r, base64.StdEncoding.EncodeToString(raw)); err == nil {
			t.Fatalf("a mask with byte %d changed was accepted", i)
		}
	})
}

// acceptsCSRF is the scheme written out again: the cookie is the base64 of
// 32 bytes; the submission is base64 of those 32 bytes, or of 32 bytes of
// pad followed by the token XOR the pad.
func acceptsCSRF(r *http.Request, cookieName, submitted string) bool {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(ck.Value)
	if err != nil || len(want) != 32 {
		return false
	}
	if submitted == "" {
		submitted = r.Header.Get("X-CSRF-Token")
	}
	got, err := base64.StdEncoding.DecodeString(submitted)
	if err != nil {
		return false
	}
	switch len(got) {
	case 32:
	case 64:
		plain := make([]byte, 32)
		for i := range plain {
			plain[i] = got[i] ^ got[32+i]
		}
		got = plain
	default:
		return false
	}
	return bytes.Equal(got, want)
}
