package flow

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/wire"
)

const publicURL = "https://auth.example.com/"

func testCSRF() *CSRF { return NewCSRF(publicURL, true, "", "", http.SameSiteLaxMode) }

func token(b byte) []byte { return bytes.Repeat([]byte{b}, csrfTokenLen) }

// withCSRFCookie adds the CSRF cookie holding t.
func withCSRFCookie(r *http.Request, c *CSRF, t []byte) {
	r.AddCookie(&http.Cookie{Name: c.CookieName(), Value: base64.StdEncoding.EncodeToString(t)})
}

func TestMaskRoundTrip(t *testing.T) {
	tok := token(7)
	seen := map[string]bool{}
	for k := 0; k < 20; k++ {
		m := Mask(tok)
		if seen[m] {
			t.Fatal("two masks are equal: the pad is not fresh")
		}
		seen[m] = true
		if strings.Contains(m, base64.StdEncoding.EncodeToString(tok)) {
			t.Fatal("the mask shows the token")
		}
		if got := unmask(m); !bytes.Equal(got, tok) {
			t.Fatalf("unmask(Mask(t)) = %x; want %x", got, tok)
		}
	}
	// An unmasked token (as some clients copy the cookie) is accepted too.
	if got := unmask(base64.StdEncoding.EncodeToString(tok)); !bytes.Equal(got, tok) {
		t.Errorf("unmask of the raw token = %x", got)
	}
	for _, bad := range []string{"", "%%%", base64.StdEncoding.EncodeToString(make([]byte, 31)), base64.StdEncoding.EncodeToString(make([]byte, 65))} {
		if got := unmask(bad); got != nil {
			t.Errorf("unmask(%q) = %x; want nil", bad, got)
		}
	}
}

func TestCSRFCookieName(t *testing.T) {
	sum := sha256.Sum256([]byte(publicURL))
	if got := testCSRF().CookieName(); got != "csrf_token_"+hex.EncodeToString(sum[:]) {
		t.Errorf("cookie name %q", got)
	}
	if NewCSRF("https://other.example.com/", true, "", "", 0).CookieName() == testCSRF().CookieName() {
		t.Error("two deployments share a cookie name")
	}
}

func TestCSRFEnsureAndRotate(t *testing.T) {
	c := NewCSRF(publicURL, false, "example.com", "", http.SameSiteNoneMode)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/self-service/login/browser", nil)
	tok := c.Ensure(w, r)
	if len(tok) != csrfTokenLen {
		t.Fatalf("token of %d bytes", len(tok))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != c.CookieName() || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "example.com" || ck.MaxAge <= 0 {
		t.Errorf("cookie = %+v", ck)
	}
	// Browsers drop SameSite=None without Secure, so Lax is used instead.
	if ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Errorf("insecure SameSite=None cookie: SameSite %v, Secure %v", ck.SameSite, ck.Secure)
	}

	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(ck)
	w = httptest.NewRecorder()
	if got := c.Ensure(w, r); !bytes.Equal(got, tok) || len(w.Result().Cookies()) != 0 {
		t.Errorf("Ensure with a cookie made a new token")
	}
	if got := c.Token(r); !bytes.Equal(got, tok) {
		t.Errorf("Token = %x", got)
	}
	w = httptest.NewRecorder()
	if got := c.Rotate(w); bytes.Equal(got, tok) || len(w.Result().Cookies()) != 1 {
		t.Errorf("Rotate kept the token or set no cookie")
	}

	// A cookie of the wrong length is no cookie.
	r = httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: c.CookieName(), Value: base64.StdEncoding.EncodeToString([]byte("short"))})
	w = httptest.NewRecorder()
	if got := c.Ensure(w, r); len(got) != csrfTokenLen || len(w.Result().Cookies()) != 1 {
		t.Error("a malformed cookie was kept")
	}
}

func TestCSRFVerify(t *testing.T) {
	c := testCSRF()
	tok := token(1)
	cases := []struct {
		name      string
		setup     func(r *http.Request)
		submitted string
		reason    string // "" means accepted
	}{
		{"no cookie header", func(*http.Request) {}, Mask(tok), "The HTTP Cookie Header was not set."},
		{"other cookies only", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "theme", Value: "dark"}) }, Mask(tok),
			"The HTTP Cookie Header was set but did not include the anti-CSRF cookie."},
		{"token missing", func(r *http.Request) { withCSRFCookie(r, c, tok) }, "",
			"The anti-CSRF token was not sent in the request body or the X-CSRF-Token header."},
		{"mismatch", func(r *http.Request) { withCSRFCookie(r, c, tok) }, Mask(token(2)),
			"The HTTP Cookie Header was set and the anti-CSRF token was sent, but they do not match."},
		{"garbage token", func(r *http.Request) { withCSRFCookie(r, c, tok) }, "not base64!",
			"The HTTP Cookie Header was set and the anti-CSRF token was sent, but they do not match."},
		{"masked token", func(r *http.Request) { withCSRFCookie(r, c, tok) }, Mask(tok), ""},
		{"raw token", func(r *http.Request) { withCSRFCookie(r, c, tok) }, base64.StdEncoding.EncodeToString(tok), ""},
		{"header", func(r *http.Request) { withCSRFCookie(r, c, tok); r.Header.Set("X-CSRF-Token", Mask(tok)) }, "", ""},
		{"body wins over header", func(r *http.Request) { withCSRFCookie(r, c, tok); r.Header.Set("X-CSRF-Token", Mask(tok)) }, Mask(token(3)),
			"The HTTP Cookie Header was set and the anti-CSRF token was sent, but they do not match."},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		tc.setup(r)
		err := c.Verify(r, tc.submitted)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v; want accepted", tc.name, err)
			}
			continue
		}
		e, ok := err.(*wire.Error)
		if !ok {
			t.Errorf("%s: %v; want a *wire.Error", tc.name, err)
			continue
		}
		if e.Code != 403 || e.ID != "security_csrf_violation" || e.Details["reject_reason"] != tc.reason || e.Details["hint"] == nil {
			t.Errorf("%s: %+v; want 403 security_csrf_violation with reason %q", tc.name, e, tc.reason)
		}
	}

	r := httptest.NewRequest("POST", "/", nil)
	plain := ErrCSRF(r, "x").Details["hint"]
	r.Header.Set("Sec-Fetch-Mode", "cors")
	if ajax := ErrCSRF(r, "x").Details["hint"]; ajax == plain || !strings.Contains(ajax.(string), "credentials") {
		t.Errorf("AJAX hint = %v", ajax)
	}
}

func TestMatchesFlow(t *testing.T) {
	c := testCSRF()
	tok := token(9)
	r := httptest.NewRequest("GET", "/", nil)
	withCSRFCookie(r, c, tok)
	if !c.MatchesFlow(r, TokenHash(tok)) {
		t.Error("the flow's own cookie does not match")
	}
	if c.MatchesFlow(r, TokenHash(token(8))) || c.MatchesFlow(r, "") {
		t.Error("another browser's flow matches")
	}
	if c.MatchesFlow(httptest.NewRequest("GET", "/", nil), TokenHash(tok)) {
		t.Error("a request without the cookie matches")
	}
}
