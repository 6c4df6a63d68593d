package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// Kratos's default ciphers.algorithm, noop, stores secrets hex-encoded.
// Lanyard accepts such a config but never stores secrets in the clear: it
// starts, and says that it encrypts anyway.
func TestCiphers_NoopStartsWithAWarning(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverSpec{set: map[string]any{"ciphers.algorithm": "noop"}})
	if !strings.Contains(s.Stderr(), "ciphers.algorithm") || !strings.Contains(s.Stderr(), "noop is not honoured") {
		t.Errorf("no warning that noop is not honoured; stderr:\n%s", s.Stderr())
	}
	if res := s.do(t, "GET", s.PublicURL+"/health/ready", nil, nil); res.status != 200 {
		t.Errorf("ready = %d", res.status)
	}
}

func TestCiphers_SupportedAlgorithmsStartSilently(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"aes", "xchacha20-poly1305"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, serverSpec{set: map[string]any{
				"ciphers.algorithm": alg,
				"secrets.cipher":    []any{"conformance-cipher-secret-32byte", "older-cipher-secret-still-opens!"},
			}})
			if strings.Contains(s.Stderr(), "ciphers") {
				t.Errorf("a warning about ciphers.*; stderr:\n%s", s.Stderr())
			}
		})
	}
}

func TestCiphers_InvalidConfigFailsNamingTheKey(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		set  map[string]any
		want []string
	}{
		"unknown algorithm":          {map[string]any{"ciphers.algorithm": "rot13"}, []string{`"ciphers.algorithm"`, "rot13"}},
		"short secret":               {map[string]any{"secrets.cipher": []any{"only-twenty-characters"}}, []string{`"secrets.cipher"`, "exactly 32"}},
		"32 bytes but 16 characters": {map[string]any{"secrets.cipher": []any{strings.Repeat("é", 16)}}, []string{`"secrets.cipher"`, "32 ASCII characters"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stderr := startFailing(t, tc.set)
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("the error does not contain %s:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "only-twenty-characters") || strings.Contains(stderr, "éé") {
				t.Errorf("the error shows the secret:\n%s", stderr)
			}
		})
	}
}

func TestCiphers_EnvironmentOverridesTheAlgorithm(t *testing.T) {
	t.Parallel()
	// A valid file value, replaced by an invalid CIPHERS_ALGORITHM: the
	// variable wins, so start-up fails naming it.
	dir := t.TempDir()
	cfg := testserver.BaseConfig("sqlite://"+filepath.Join(dir, "db.sqlite")+"?_fk=true", testserver.FreePort(t), testserver.FreePort(t))
	testserver.SetPath(cfg, "ciphers.algorithm", "aes")
	path := filepath.Join(dir, "lanyard.yml")
	if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runLanyard(t, dir, map[string]string{
		"CIPHERS_ALGORITHM": "des",
		"LANYARD_DATA_DIR":  filepath.Join(dir, "data"),
	}, "serve", "-c", path)
	if res.Code == 0 || !strings.Contains(res.Stderr, "CIPHERS_ALGORITHM") || !strings.Contains(res.Stderr, `"ciphers.algorithm"`) {
		t.Errorf("exit %d; stderr:\n%s", res.Code, res.Stderr)
	}

	// And a valid variable replaces noop in the file: no warning.
	s := startServer(t, serverSpec{
		set: map[string]any{"ciphers.algorithm": "noop"},
		env: map[string]string{"CIPHERS_ALGORITHM": "xchacha20-poly1305"},
	})
	if strings.Contains(s.Stderr(), "noop") {
		t.Errorf("noop warned about though CIPHERS_ALGORITHM replaced it; stderr:\n%s", s.Stderr())
	}
}
