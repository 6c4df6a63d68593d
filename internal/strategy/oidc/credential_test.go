package oidc

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/cipher"
)

func testCipher(t *testing.T, secret string) cipher.Cipher {
	t.Helper()
	c, err := cipher.New(cipher.XChaCha20Poly1305, []string{secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func linkedConfig() CredentialConfig {
	return CredentialConfig{Providers: []CredentialProvider{
		{Subject: "alice-sub", Provider: "google", InitialIDToken: "id-token-secret", InitialAccessToken: "access-token-secret",
			InitialRefreshToken: "refresh-token-secret"},
		{Subject: "12345", Provider: "github", InitialAccessToken: "gh-access-secret", Organization: "org-1", UseAutoLink: true},
	}}
}

var tokenValues = []string{"id-token-secret", "access-token-secret", "refresh-token-secret", "gh-access-secret"}

func TestCredentialConfigSealAndDeclassify(t *testing.T) {
	c := testCipher(t, strings.Repeat("k", cipher.KeySize))
	cfg := linkedConfig()
	sealed, err := cfg.Sealed(c)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(sealed)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range tokenValues {
		if strings.Contains(string(stored), v) {
			t.Fatalf("sealed config shows %s: %s", v, stored)
		}
	}
	if gh := sealed.Providers[1]; gh.InitialIDToken != "" || gh.InitialRefreshToken != "" || gh.InitialAccessToken == "" {
		t.Fatalf("empty tokens were sealed or a token was dropped: %+v", gh)
	}
	if !reflect.DeepEqual(cfg, linkedConfig()) {
		t.Fatal("Sealed changed its receiver")
	}

	shown, err := Declassify(c)(stored)
	if err != nil {
		t.Fatalf("Declassify: %v", err)
	}
	var got CredentialConfig
	if err := json.Unmarshal(shown, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("declassified = %+v, want %+v", got, cfg)
	}
	// Kratos's shape: every token field present, organization and
	// use_auto_link only when set.
	var shape struct {
		Providers []map[string]any `json:"providers"`
	}
	if err := json.Unmarshal(shown, &shape); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	base := []string{"initial_access_token", "initial_id_token", "initial_refresh_token", "provider", "subject"}
	if k := keys(shape.Providers[0]); !slices.Equal(k, base) {
		t.Errorf("keys = %v", k)
	}
	if k := keys(shape.Providers[1]); !slices.Equal(k, slices.Sorted(slices.Values(append(slices.Clone(base), "organization", "use_auto_link")))) {
		t.Errorf("keys = %v", k)
	}
}

func TestDeclassifyRefusesWhatItCannotOpen(t *testing.T) {
	c := testCipher(t, strings.Repeat("k", cipher.KeySize))
	sealed, err := linkedConfig().Sealed(c)
	if err != nil {
		t.Fatal(err)
	}
	tampered := sealed
	tampered.Providers = slices.Clone(sealed.Providers)
	tok := []byte(tampered.Providers[0].InitialAccessToken)
	if tok[len(tok)-1] == '0' {
		tok[len(tok)-1] = '1'
	} else {
		tok[len(tok)-1] = '0'
	}
	tampered.Providers[0].InitialAccessToken = string(tok)
	stored, _ := json.Marshal(tampered)
	other, _ := json.Marshal(sealed)

	for name, tc := range map[string]struct {
		c      cipher.Cipher
		stored []byte
	}{
		"tampered":     {c, stored},
		"another key":  {testCipher(t, strings.Repeat("o", cipher.KeySize)), other},
		"not json":     {c, []byte(`"providers"`)},
		"not a cipher": {c, []byte(`{"providers":[{"subject":"s","provider":"p","initial_access_token":"in the clear"}]}`)},
	} {
		t.Run(name, func(t *testing.T) {
			shown, err := Declassify(tc.c)(tc.stored)
			if err == nil {
				t.Fatalf("declassified: %s", shown)
			}
			for _, v := range append(slices.Clone(tokenValues), "in the clear") {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("error shows a token: %v", err)
				}
			}
		})
	}
}

func TestCredentialConfigAddRemove(t *testing.T) {
	var cfg CredentialConfig
	cfg.Add(CredentialProvider{Provider: "google", Subject: "a", InitialAccessToken: "old"})
	cfg.Add(CredentialProvider{Provider: "github", Subject: "1"})
	cfg.Add(CredentialProvider{Provider: "google", Subject: "a", InitialAccessToken: "new"})
	if len(cfg.Providers) != 2 || cfg.Providers[0].InitialAccessToken != "new" {
		t.Fatalf("providers = %+v", cfg.Providers)
	}
	if got := cfg.Identifiers(); !slices.Equal(got, []string{"google:a", "github:1"}) {
		t.Fatalf("identifiers = %v", got)
	}
	if !cfg.Has("github") || cfg.Has("apple") {
		t.Fatal("Has")
	}
	if cfg.Remove("apple") {
		t.Fatal("removed an unlinked provider")
	}
	if !cfg.Remove("google") || cfg.Has("google") || !slices.Equal(cfg.Identifiers(), []string{"github:1"}) {
		t.Fatalf("after Remove: %+v", cfg.Providers)
	}
	if Identifier("google", "a:b") != "google:a:b" {
		t.Fatal("Identifier")
	}
}

func TestCredentialProviderFormattingHidesTokens(t *testing.T) {
	cfg := linkedConfig()
	out := fmt.Sprintf("%v %+v %#v %s %v", cfg, cfg, cfg.Providers[0], cfg.Providers[0], cfg.Providers)
	for _, v := range tokenValues {
		if strings.Contains(out, v) {
			t.Fatalf("%q shows %s", out, v)
		}
	}
}
