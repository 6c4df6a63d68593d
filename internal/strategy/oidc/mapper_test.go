package oidc

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// kratosStyleMapper is written the way Kratos's documentation examples are.
const kratosStyleMapper = `
local claims = { email_verified: false } + std.extVar('claims');
{
  identity: {
    traits: {
      [if 'email' in claims && claims.email_verified then 'email' else null]: claims.email,
      name: { first: claims.given_name, last: claims.family_name },
    },
    verified_addresses: std.prune([
      if 'email' in claims && claims.email_verified then { via: 'email', value: claims.email },
    ]),
    metadata_public: { hd: claims.raw_claims.hd },
    metadata_admin: { subject: claims.sub, issuer: claims.iss },
  },
}
`

func b64(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

func TestMapperKratosStyle(t *testing.T) {
	claims := claimsFrom(map[string]any{
		"iss": "https://op.example", "sub": "alice-sub", "email": "Alice@Example.com", "email_verified": true,
		"given_name": "Alice", "family_name": "Liddell", "hd": "example.com",
	})
	got, err := NewMapper(nil).Map(context.Background(), b64(kratosStyleMapper), claims)
	if err != nil {
		t.Fatal(err)
	}
	want := &Mapped{
		Traits:            map[string]any{"email": "Alice@Example.com", "name": map[string]any{"first": "Alice", "last": "Liddell"}},
		MetadataPublic:    map[string]any{"hd": "example.com"},
		MetadataAdmin:     map[string]any{"subject": "alice-sub", "issuer": "https://op.example"},
		VerifiedAddresses: []VerifiedAddress{{Value: "alice@example.com", Via: "email"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mapped = %+v\nwant     %+v", got, want)
	}

	// An unverified address is neither a trait nor verified; empty claims are left out.
	claims = claimsFrom(map[string]any{"iss": "i", "sub": "s", "email": "bob@example.com", "email_verified": "false", "hd": "x",
		"given_name": "Bob", "family_name": "B"})
	got, err = NewMapper(nil).Map(context.Background(), b64(kratosStyleMapper), claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Traits["email"]; ok || len(got.VerifiedAddresses) != 0 {
		t.Fatalf("mapped = %+v", got)
	}
}

func TestMapperClaimsJSON(t *testing.T) {
	// Apple sends email_verified as a string; updated_at is a number.
	claims := claimsFrom(map[string]any{"iss": "i", "sub": "s", "email_verified": "true", "updated_at": float64(1700000000)})
	got, err := NewMapper(nil).Map(context.Background(),
		b64(`local c = std.extVar('claims'); { identity: { traits: { v: c.email_verified, u: c.updated_at, keys: std.objectFields(c) } } }`), claims)
	if err != nil {
		t.Fatal(err)
	}
	keys := got.Traits["keys"].([]any)
	if got.Traits["v"] != true || got.Traits["u"] != float64(1700000000) || len(keys) != 5 {
		t.Fatalf("traits = %v", got.Traits)
	}
}

func TestMapperRefusesBadResults(t *testing.T) {
	claims := &Claims{Issuer: "i", Subject: "s"}
	for name, src := range map[string]string{
		"no traits":           `{ identity: {} }`,
		"traits not object":   `{ identity: { traits: "x" } }`,
		"metadata not object": `{ identity: { traits: {}, metadata_public: [1] } }`,
		"bad addresses":       `{ identity: { traits: {}, verified_addresses: "a@b" } }`,
		"not an object":       `[]`,
		"runtime error":       `error 'boom'`,
		"syntax error":        `{ identity: `,
		"no file imports":     `import '/etc/passwd'`,
	} {
		if _, err := NewMapper(nil).Map(context.Background(), b64(src), claims); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewMapper(nil).Map(context.Background(), "ftp://x/m.jsonnet", claims); err == nil {
		t.Error("ftp:// accepted")
	}
}

func TestMapperCachesSources(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mapper.jsonnet")
	write := func(v string) {
		if err := os.WriteFile(path, []byte(`{ identity: { traits: { v: "`+v+`" } } }`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mapper.jsonnet" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		http.ServeFile(w, r, path)
	}))
	t.Cleanup(srv.Close)

	now := time.Now()
	m := NewMapper(srv.Client())
	m.now = func() time.Time { return now }
	claims := &Claims{Issuer: "i", Subject: "s"}
	for _, u := range []string{"file://" + filepath.ToSlash(path), srv.URL + "/mapper.jsonnet"} {
		mapped := func() string {
			t.Helper()
			got, err := m.Map(context.Background(), u, claims)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			return got.Traits["v"].(string)
		}
		write("one")
		now = now.Add(2 * mapperCacheTTL)
		if got := mapped(); got != "one" {
			t.Fatalf("%s: v = %q", u, got)
		}
		write("two")
		now = now.Add(mapperCacheTTL - time.Minute)
		if got := mapped(); got != "one" {
			t.Fatalf("%s: cached v = %q", u, got)
		}
		now = now.Add(2 * time.Minute)
		if got := mapped(); got != "two" {
			t.Fatalf("%s: after the cache time v = %q", u, got)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("http fetches = %d, want 2", n)
	}
	if _, err := m.Map(context.Background(), srv.URL+"/missing", claims); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing mapper: %v", err)
	}
}
