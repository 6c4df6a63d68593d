package conformance

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Breached-password checks against a Pwned Passwords range API that runs
// in the test process.

const (
	breachedPassword = "breached-Passphrase-3" // listed 3 times
	twiceBreached    = "breached-Passphrase-2" // listed 2 times: max_breaches 2 lets it pass
)

// pwnedRange answers GET /range/<prefix> from a table of passwords and
// counts and records every request URI.
type pwnedRange struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	lines    map[string][]string
}

func newPwnedRange(t *testing.T, counts map[string]int) *pwnedRange {
	t.Helper()
	pr := &pwnedRange{lines: map[string][]string{}}
	for password, n := range counts {
		sum := sha1.Sum([]byte(password))
		h := strings.ToUpper(hex.EncodeToString(sum[:]))
		// Thousands separators, as the API may send large counts.
		pr.lines[h[:5]] = append(pr.lines[h[:5]], fmt.Sprintf("%s:%s", h[5:], thousands(n)))
	}
	pr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr.mu.Lock()
		pr.requests = append(pr.requests, r.Method+" "+r.URL.RequestURI())
		lines := pr.lines[strings.TrimPrefix(r.URL.Path, "/range/")]
		pr.mu.Unlock()
		fmt.Fprint(w, "00000000000000000000000000000000001:41\r\n")
		for _, l := range lines {
			fmt.Fprint(w, l+"\r\n")
		}
		fmt.Fprint(w, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0\r\n") // padding
	}))
	t.Cleanup(pr.Close)
	return pr
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func (pr *pwnedRange) seen() []string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return append([]string(nil), pr.requests...)
}

var rangeRequest = regexp.MustCompile(`^GET /range/[0-9A-F]{5}$`)

// requireOnlyPrefixes asserts the range API saw nothing but 5-character
// hash prefixes, and at least one.
func (pr *pwnedRange) requireOnlyPrefixes(t *testing.T) {
	t.Helper()
	seen := pr.seen()
	if len(seen) == 0 {
		t.Errorf("the range API was never asked")
	}
	for _, r := range seen {
		if !rangeRequest.MatchString(r) {
			t.Errorf("the range API saw %q; want only GET /range/<5 hex>", r)
		}
	}
}

// breachServer is a selfservice server whose breach check asks host.
func breachServer(t *testing.T, store, host string, set map[string]any) *Server {
	t.Helper()
	cfg := map[string]any{
		"selfservice.methods.password.config.haveibeenpwned_enabled": true,
		"selfservice.methods.password.config.haveibeenpwned_host":    host,
	}
	for k, v := range set {
		cfg[k] = v
	}
	return stServer(t, store, cfg)
}

// registerWith submits a one-step native registration with password.
func registerWith(t *testing.T, s *Server, email, password string) response {
	t.Helper()
	f := s.nativeFlow(t, "registration")
	return sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
		"method": "password", "password": password, "traits": map[string]any{"email": email},
	}, nil)
}

// changePassword submits a new password to a fresh native settings flow.
func changePassword(t *testing.T, s *Server, token, password string) response {
	t.Helper()
	f := stNativeSettings(t, s, token)
	return stSubmitNative(t, s, f.ID, token, map[string]any{"method": "password", "password": password})
}

// requireBreached asserts a 400 flow with 4000034 on the password node,
// counting breaches.
func requireBreached(t *testing.T, res response, kind string, breaches int) {
	t.Helper()
	if res.status != http.StatusBadRequest {
		t.Fatalf("%s with a breached password: status %d, want 400: %s", kind, res.status, res.body)
	}
	m := requireNodeMessage(t, decodeFlow(t, kind, res.body), "password", 4000034)
	if m.Type != "error" || m.Context["breaches"] != float64(breaches) {
		t.Errorf("%s: message %s, want an error with context.breaches %d", kind, asJSON(m), breaches)
	}
}

// requireGatewayError asserts Kratos's 502 error shape for a check that
// could not be made.
func requireGatewayError(t *testing.T, res response, what string) {
	t.Helper()
	if res.status != http.StatusBadGateway {
		t.Fatalf("%s: status %d, want 502: %s", what, res.status, res.body)
	}
	var e apiError
	if err := json.Unmarshal(res.body, &e); err != nil {
		t.Fatalf("%s: body is not the error shape (%v): %s", what, err, res.body)
	}
	if e.Error.Code != http.StatusBadGateway || e.Error.Status != "Bad Gateway" || e.Error.Message == "" || e.Error.Reason == "" {
		t.Errorf("%s: error %s", what, res.body)
	}
}

func requireNoSecretsLogged(t *testing.T, s *Server, passwords ...string) {
	t.Helper()
	logs := s.Stderr()
	for _, p := range passwords {
		sum := sha1.Sum([]byte(p))
		h := strings.ToUpper(hex.EncodeToString(sum[:]))
		for _, secret := range []string{p, h, h[5:], strings.ToLower(h[5:])} {
			if strings.Contains(logs, secret) {
				t.Errorf("the server logged a password or its hash:\n%s", logs)
			}
		}
	}
}

func TestBreach_RegistrationAndSettings(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		pr := newPwnedRange(t, map[string]int{breachedPassword: 3, twiceBreached: 2, "unrelated-leak": 1234567})
		s := breachServer(t, store, pr.URL, map[string]any{"selfservice.methods.password.config.max_breaches": 2})

		email := uniqueEmail("breach")
		requireBreached(t, registerWith(t, s, email, breachedPassword), "registration", 3)
		s.requireCount(t, 0, "a refused breached password")

		res := registerWith(t, s, email, testPassword)
		if res.status != http.StatusOK {
			t.Fatalf("registration with a clean password: status %d: %s", res.status, res.body)
		}
		token := decodeSuccess(t, res.body).SessionToken

		res = changePassword(t, s, token, breachedPassword)
		if res.status != http.StatusBadRequest {
			t.Fatalf("settings with a breached password: status %d, want 400: %s", res.status, res.body)
		}
		f := stDecodeFlow(t, res.body)
		m := requireNodeMessage(t, f.flowView, "password", 4000034)
		if m.Context["breaches"] != float64(3) {
			t.Errorf("settings: message %s, want context.breaches 3", asJSON(m))
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Errorf("the refused change changed the password: login with the old one: %d %s", res.status, res.body)
		}

		// max_breaches 2: two appearances are still fine.
		res = changePassword(t, s, token, twiceBreached)
		if res.status != http.StatusOK {
			t.Fatalf("settings with a password listed max_breaches times: status %d: %s", res.status, res.body)
		}
		stRequireSuccess(t, stDecodeFlow(t, res.body))
		if res := s.loginNative(t, email, twiceBreached); res.status != http.StatusOK {
			t.Errorf("login with the new password: %d %s", res.status, res.body)
		}

		pr.requireOnlyPrefixes(t)
		requireNoSecretsLogged(t, s, breachedPassword, twiceBreached, testPassword)
	})
}

func TestBreach_RangeAPIDown(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		// Nobody listens here any more: every request is refused.
		gone := httptest.NewServer(http.NotFoundHandler())
		down := gone.URL
		gone.Close()

		t.Run("ignored", func(t *testing.T) {
			s := breachServer(t, store, down, nil) // ignore_network_errors defaults to true
			res := registerWith(t, s, uniqueEmail("breach-down"), testPassword)
			if res.status != http.StatusOK {
				t.Fatalf("registration with the range API down, errors ignored: status %d: %s", res.status, res.body)
			}
			token := decodeSuccess(t, res.body).SessionToken
			res = changePassword(t, s, token, "another-Passphrase-9")
			if res.status != http.StatusOK {
				t.Fatalf("settings with the range API down, errors ignored: status %d: %s", res.status, res.body)
			}
			requireNoSecretsLogged(t, s, testPassword, "another-Passphrase-9")
		})

		t.Run("not ignored", func(t *testing.T) {
			s := breachServer(t, store, down, map[string]any{"selfservice.methods.password.config.ignore_network_errors": false})
			requireGatewayError(t, registerWith(t, s, uniqueEmail("breach-strict"), testPassword), "registration")
			s.requireCount(t, 0, "a registration whose password could not be checked")

			// An account from before (the admin API does not check breaches, as in Kratos).
			email := uniqueEmail("breach-strict")
			s.createIdentity(t, withPassword(identityBody(email), testPassword))
			token := stLogin(t, s, email, testPassword, nil).Token
			requireGatewayError(t, changePassword(t, s, token, "another-Passphrase-9"), "settings")
			if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
				t.Errorf("the failed change changed the password: %d %s", res.status, res.body)
			}
			requireNoSecretsLogged(t, s, testPassword, "another-Passphrase-9")
		})

		t.Run("answers 503", func(t *testing.T) {
			unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "try later", http.StatusServiceUnavailable)
			}))
			t.Cleanup(unavailable.Close)
			s := breachServer(t, store, unavailable.URL, map[string]any{"selfservice.methods.password.config.ignore_network_errors": false})
			requireGatewayError(t, registerWith(t, s, uniqueEmail("breach-503"), testPassword), "registration")
			s.requireCount(t, 0, "a registration whose password could not be checked")
		})
	})
}

func TestBreach_InvalidConfigFailsNamingTheKey(t *testing.T) {
	t.Parallel()
	for key, value := range map[string]any{
		"selfservice.methods.password.config.haveibeenpwned_host": "ftp://mirror.example",
		"selfservice.methods.password.config.max_breaches":        101,
	} {
		t.Run(key[strings.LastIndex(key, ".")+1:], func(t *testing.T) {
			t.Parallel()
			stderr := startFailing(t, map[string]any{key: value, "selfservice.methods.password.config.haveibeenpwned_enabled": true})
			if !strings.Contains(stderr, key) {
				t.Errorf("the error does not name %s:\n%s", key, stderr)
			}
		})
	}
}
