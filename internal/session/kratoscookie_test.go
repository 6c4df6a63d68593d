package session

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// kratosCookie encodes a session cookie as Kratos does: securecookie with
// the secret as hash key and its SHA-256 as block key, over the values
// Kratos's session manager stores.
func kratosCookie(t *testing.T, secret, name, token string, expiresAt time.Time) string {
	t.Helper()
	block := sha256.Sum256([]byte(secret))
	v, err := securecookie.New([]byte(secret), block[:]).Encode(name, map[any]any{
		"session_token": token,
		"expires_at":    expiresAt.UTC().Format(time.RFC3339Nano),
		"nonce":         "AbCdEfGh",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCookieDecode_ReadsKratosCookies(t *testing.T) {
	const token = "ory_st_kratoskratoskratoskratoskratoskr"
	codec, err := newCookieCodec([]string{"new-cookie-secret-0123456789", "kratos-cookie-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, secret := range []string{"new-cookie-secret-0123456789", "kratos-cookie-secret-0123456789"} {
		if got, ok := codec.decode(kratosCookie(t, secret, "ory_kratos_session", token, later)); !ok || got != token {
			t.Errorf("a Kratos cookie signed with %q: %q, %t", secret, got, ok)
		}
	}
	good := kratosCookie(t, "kratos-cookie-secret-0123456789", "ory_kratos_session", token, later)
	raw, _ := base64.URLEncoding.DecodeString(good)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 1
	for what, value := range map[string]string{
		"another secret": kratosCookie(t, "someone-elses-secret-0123456789", "ory_kratos_session", token, later),
		"another name":   kratosCookie(t, "kratos-cookie-secret-0123456789", "other_cookie", token, later),
		"expired":        kratosCookie(t, "kratos-cookie-secret-0123456789", "ory_kratos_session", token, time.Now().Add(-time.Minute)),
		"a changed byte": base64.URLEncoding.EncodeToString(flipped),
		"no mac":         base64.URLEncoding.EncodeToString(raw[:strings.LastIndexByte(string(raw), '|')]),
		"too long":       good + strings.Repeat("A", kratosCookieMaxLength),
		"not base64":     "%%%",
		"empty":          "",
		"pipes only":     base64.URLEncoding.EncodeToString([]byte("||")),
	} {
		if got, ok := codec.decode(value); ok {
			t.Errorf("a Kratos cookie with %s opened to %q", what, got)
		}
	}
	// Lanyard's own cookies still open.
	own := codec.encode(token, later)
	if got, ok := codec.decode(own); !ok || got != token {
		t.Errorf("Lanyard's own cookie: %q, %t", got, ok)
	}
}

func TestCookieDecode_KratosCookieWithoutATokenOpensNothing(t *testing.T) {
	codec, err := newCookieCodec([]string{"kratos-cookie-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	block := sha256.Sum256([]byte("kratos-cookie-secret-0123456789"))
	v, err := securecookie.New([]byte("kratos-cookie-secret-0123456789"), block[:]).Encode("ory_kratos_session", map[any]any{"nonce": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := codec.decode(v); ok {
		t.Errorf("a Kratos cookie without session_token opened to %q", got)
	}
}
