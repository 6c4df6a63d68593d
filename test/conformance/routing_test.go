package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestRouting_PublicRedirectsAdminPathsToAdmin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		admin, _ := url.Parse(s.AdminURL)

		cases := []struct{ method, path string }{
			{http.MethodGet, "/admin/identities?page_size=5&credentials_identifier=a%40example.org"},
			{http.MethodGet, "/identities?page_size=5"},
			{http.MethodPost, "/admin/identities"},
			{http.MethodGet, "/admin/identities/6b8f4a43-4a4c-4b1e-9a43-0d6f8e0c1b2a"},
			{http.MethodDelete, "/identities/6b8f4a43-4a4c-4b1e-9a43-0d6f8e0c1b2a"},
		}
		for _, c := range cases {
			var body any
			if c.method == http.MethodPost {
				body = `{"traits":{"email":"redirect@example.org"}}`
			}
			res := s.do(t, c.method, s.PublicURL+c.path, body, nil)
			if res.status != http.StatusTemporaryRedirect {
				t.Errorf("%s public%s: status %d, want 307: %s", c.method, c.path, res.status, res.body)
				continue
			}
			loc, err := url.Parse(res.header.Get("Location"))
			if err != nil {
				t.Errorf("%s public%s: bad Location %q", c.method, c.path, res.header.Get("Location"))
				continue
			}
			sent, _ := url.Parse(c.path)
			// Kratos sends /identities to /admin/identities; both paths are
			// served by the admin listener, so either form is fine.
			bare := strings.TrimPrefix(sent.Path, "/admin")
			if loc.Scheme != admin.Scheme || loc.Host != admin.Host ||
				(loc.Path != bare && loc.Path != "/admin"+bare) || loc.RawQuery != sent.RawQuery {
				t.Errorf("%s public%s: Location %s, want %s%s (or with /admin) and the same query", c.method, c.path, loc, s.AdminURL, sent.Path)
			}
		}
		// The redirect created nothing.
		s.requireCount(t, 0, "after redirects")
	})
}

func TestRouting_AdminRedirectsPublicPathsToPublic(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverSpec{})
	for _, path := range []string{
		"/self-service/login/browser?return_to=http%3A%2F%2F127.0.0.1%2Fx",
		"/schemas",
		"/schemas/default",
		"/sessions/whoami",
	} {
		res := s.do(t, http.MethodGet, s.AdminURL+path, nil, nil)
		if res.status != http.StatusTemporaryRedirect {
			t.Errorf("GET admin%s: status %d, want 307: %s", path, res.status, res.body)
			continue
		}
		if loc := res.header.Get("Location"); loc != s.PublicURL+path {
			t.Errorf("GET admin%s: Location %q, want %q", path, loc, s.PublicURL+path)
		}
	}
}

func TestRouting_AdminServesIdentitiesWithAndWithoutPrefix(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		res := s.do(t, http.MethodPost, s.AdminURL+"/identities", `{"schema_id":"default","traits":{"email":"bare@example.org"}}`, nil)
		if res.status != http.StatusCreated {
			t.Fatalf("POST admin/identities: %d %s", res.status, res.body)
		}
		var created struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(res.body, &created); err != nil || created.ID == "" {
			t.Fatalf("POST admin/identities: no id in %s", res.body)
		}
		for _, path := range []string{"/identities", "/admin/identities", "/identities/" + created.ID, "/admin/identities/" + created.ID} {
			res := s.do(t, http.MethodGet, s.AdminURL+path, nil, nil)
			if res.status != http.StatusOK || !strings.Contains(string(res.body), created.ID) {
				t.Errorf("GET admin%s: %d %s", path, res.status, res.body)
			}
		}
	})
}

func TestHealthAndVersion_AreServed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		for _, u := range []string{
			s.PublicURL + "/health/alive", s.PublicURL + "/health/ready",
			s.AdminURL + "/health/alive", s.AdminURL + "/health/ready",
			s.AdminURL + "/admin/health/alive", s.AdminURL + "/admin/health/ready",
		} {
			res := s.do(t, http.MethodGet, u, nil, nil)
			if res.status != http.StatusOK {
				t.Errorf("GET %s: %d %s", u, res.status, res.body)
			}
		}
		for _, u := range []string{s.AdminURL + "/version", s.AdminURL + "/admin/version"} {
			res := s.do(t, http.MethodGet, u, nil, nil)
			var v struct {
				Version string `json:"version"`
			}
			if res.status != http.StatusOK || json.Unmarshal(res.body, &v) != nil || v.Version == "" {
				t.Errorf("GET %s: %d %s, want 200 {\"version\": ...}", u, res.status, res.body)
			}
		}
	})
}

func TestErrors_UnknownRoutesAreJSONNotFound(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverSpec{})
	for _, u := range []string{s.AdminURL + "/admin/no-such-route", s.PublicURL + "/no-such-route"} {
		res := s.do(t, http.MethodGet, u, nil, nil)
		requireError(t, res.status, res.body, http.StatusNotFound)
	}
}
