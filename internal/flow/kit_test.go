package flow

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/wire"
)

func testKit(s *store.Store) *Kit {
	return &Kit{
		Config: Config{
			PublicURL:         publicURL,
			UIURL:             map[Kind]string{Login: "https://ui.example.com/login", Registration: "https://ui.example.com/reg?theme=dark"},
			ErrorUIURL:        "https://ui.example.com/error",
			DefaultReturnTo:   "https://app.example.com/home",
			AfterReturnTo:     map[Kind]string{Registration: "https://app.example.com/welcome"},
			AfterLogout:       "https://app.example.com/bye",
			AllowedReturnURLs: []string{"https://app.example.com/dashboard", "https://*.example.org/", "https://auth.example.com/welcome"},
		},
		Store: s,
		CSRF:  testCSRF(),
	}
}

func TestCheckReturnTo(t *testing.T) {
	k := testKit(nil)
	allowed := map[string]string{
		"":                                    "",
		"https://app.example.com/dashboard":   "https://app.example.com/dashboard",
		"https://app.example.com/dashboard/x": "https://app.example.com/dashboard/x",
		"https://app.example.com/dashboard?tab=2#top":  "https://app.example.com/dashboard?tab=2#top",
		"https://APP.example.com/dashboard":            "https://APP.example.com/dashboard",
		"https://app.example.com/home/sub":             "https://app.example.com/home/sub", // under the default return URL
		"https://a.example.org/anything":               "https://a.example.org/anything",
		"https://deep.sub.example.org/":                "https://deep.sub.example.org/",
		"/welcome?x=1":                                 "https://auth.example.com/welcome?x=1", // relative: on the public URL
		"welcome/../welcome/next":                      "https://auth.example.com/welcome/next",
		"/somewhere-else":                              "https://auth.example.com/somewhere-else", // the public URL is always allowed
		"https://app.example.com/dashboard/../secret/": "",                                        // filled in below: rejected
	}
	delete(allowed, "https://app.example.com/dashboard/../secret/")
	for in, want := range allowed {
		got, err := k.CheckReturnTo(in)
		if err != nil || got != want {
			t.Errorf("CheckReturnTo(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	rejected := []string{
		"https://evil.com/dashboard",
		"http://app.example.com/dashboard",       // other scheme
		"https://app.example.com/settings",       // other path
		"https://app.example.com",                // above the allowed path
		"https://app.example.com:8443/dashboard", // other port
		"https://example.org/",                   // the wildcard needs a subdomain
		"https://evilexample.org/",               // not a subdomain
		"https://example.org.evil.com/",
		"https://app.example.com@evil.com/dashboard",
		"//evil.com/dashboard",
		"javascript:alert(1)",
		"data:text/html,hi",
		"ht tp://bad url",
		"https://app.example.com/dashboard/../secret/",
	}
	for _, in := range rejected {
		got, err := k.CheckReturnTo(in)
		if err == nil {
			t.Errorf("CheckReturnTo(%q) = %q; want it rejected", in, got)
			continue
		}
		if e := wire.From(err); e.Code != 400 || e.ID != "self_service_flow_return_to_forbidden" {
			t.Errorf("CheckReturnTo(%q) error = %+v", in, e)
		}
	}
}

func TestReturnToChoices(t *testing.T) {
	k := testKit(nil)
	if got := k.ReturnTo(&Flow{Kind: Login, ReturnTo: "https://app.example.com/dashboard"}); got != "https://app.example.com/dashboard" {
		t.Errorf("flow's return_to: %q", got)
	}
	if got := k.ReturnTo(&Flow{Kind: Registration}); got != "https://app.example.com/welcome" {
		t.Errorf("per-kind after URL: %q", got)
	}
	if got := k.ReturnTo(&Flow{Kind: Login}); got != "https://app.example.com/home" {
		t.Errorf("default: %q", got)
	}
	if got := k.ReturnTo(nil); got != "https://app.example.com/home" {
		t.Errorf("nil flow: %q", got)
	}
	if got, err := k.LogoutReturnTo(nil, ""); err != nil || got != "https://app.example.com/bye" {
		t.Errorf("logout default: %q, %v", got, err)
	}
	if got, err := k.LogoutReturnTo(nil, "https://a.example.org/x"); err != nil || got != "https://a.example.org/x" {
		t.Errorf("logout return_to: %q, %v", got, err)
	}
	if _, err := k.LogoutReturnTo(nil, "https://evil.com/"); err == nil {
		t.Error("logout to a forbidden URL allowed")
	}
	// Without configuration, browsers come back to the built-in UI.
	bare := &Kit{Config: Config{PublicURL: publicURL}}
	if got := bare.ReturnTo(&Flow{Kind: Login}); got != publicURL+"ui/" {
		t.Errorf("without configuration: %q", got)
	}
	if got, _ := bare.LogoutReturnTo(nil, ""); got != publicURL+"ui/" {
		t.Errorf("logout without configuration: %q", got)
	}
}

func TestUIURLs(t *testing.T) {
	k := testKit(nil)
	id := uuid.New()
	if got := k.FlowUIURL(&Flow{ID: id, Kind: Login}); got != "https://ui.example.com/login?flow="+id.String() {
		t.Errorf("login UI = %q", got)
	}
	if got := k.FlowUIURL(&Flow{ID: id, Kind: Registration}); got != "https://ui.example.com/reg?theme=dark&flow="+id.String() {
		t.Errorf("UI URL with a query = %q", got)
	}
	if got := k.UIURLOf(Settings); got != publicURL+"ui/settings" {
		t.Errorf("default UI = %q", got)
	}
	if k.LifespanOf(Login) != 3600e9 {
		t.Errorf("default lifespan %v", k.LifespanOf(Login))
	}
}

func TestAPIRequestProblem(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		problem bool
	}{
		{"clean", nil, false},
		{"cookie", map[string]string{"Cookie": "ory_kratos_session=abc"}, true},
		{"csrf cookie", map[string]string{"Cookie": "csrf_token_x=abc"}, true},
		{"origin", map[string]string{"Origin": "https://app.example.com"}, true},
		{"cloudflare cookies", map[string]string{"Cookie": "__cf_bm=a; _cfuvid=b; cf_clearance=c"}, false},
		{"cloudflare and another", map[string]string{"Cookie": "__cf_bm=a; session=b"}, true},
		{"malformed cookie header", map[string]string{"Cookie": ";;;"}, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		got := apiRequestProblem(r)
		if (got != "") != c.problem {
			t.Errorf("%s: apiRequestProblem = %q", c.name, got)
		}
	}
}

func TestServeError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		get := func(id string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			k.ServeError(w, httptest.NewRequest("GET", "/self-service/errors?id="+id, nil))
			return w
		}
		w := get("stub:500")
		var out struct {
			ID    string         `json:"id"`
			Error map[string]any `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 || out.ID != "stub:500" || out.Error["code"] != float64(500) {
			t.Errorf("stub:500 = %d %s", w.Code, w.Body)
		}
		for _, id := range []string{"", "nope", uuid.NewString()} {
			if w := get(id); w.Code != 404 {
				t.Errorf("error %q: %d", id, w.Code)
			}
		}

		// A browser error is stored and the browser sent to the error UI.
		w = httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
		k.BrowserError(w, r, wire.Forbidden.WithID("security_csrf_violation").WithReason("no cookie").WithCause(errLeak))
		loc := w.Header().Get("Location")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "https://ui.example.com/error?id=") {
			t.Fatalf("BrowserError = %d → %q", w.Code, loc)
		}
		id := strings.TrimPrefix(loc, "https://ui.example.com/error?id=")
		w = get(id)
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != 200 || out.ID != id {
			t.Fatalf("stored error = %d %s", w.Code, w.Body)
		}
		if out.Error["id"] != "security_csrf_violation" || out.Error["reason"] != "no cookie" || out.Error["code"] != float64(403) {
			t.Errorf("stored error = %v", out.Error)
		}
		if strings.Contains(w.Body.String(), errLeak.Error()) {
			t.Error("the stored error shows its cause")
		}

		// Server errors are stored without their cause.
		w = httptest.NewRecorder()
		k.BrowserError(w, r, errLeak)
		w = get(strings.TrimPrefix(w.Header().Get("Location"), "https://ui.example.com/error?id="))
		if w.Code != 200 || strings.Contains(w.Body.String(), errLeak.Error()) || !strings.Contains(w.Body.String(), `"code":500`) {
			t.Errorf("stored internal error = %s", w.Body)
		}

		// Fail answers JSON to apps and redirects browsers.
		w = httptest.NewRecorder()
		k.Fail(w, httptest.NewRequest("POST", "/self-service/login/api", nil), ErrFlowNotFound)
		if w.Code != 404 {
			t.Errorf("Fail for an api path = %d", w.Code)
		}
		w = httptest.NewRecorder()
		k.Fail(w, httptest.NewRequest("POST", "/self-service/login", nil), ErrFlowNotFound)
		if w.Code != http.StatusSeeOther {
			t.Errorf("Fail for a browser = %d", w.Code)
		}
	})
}

type leakErr struct{}

func (leakErr) Error() string { return "internal detail: disk 3 failed" }

var errLeak error = leakErr{}

func TestConfigLinkURL(t *testing.T) {
	q := url.Values{"flow": {"f1"}, "token": {"t1"}}
	c := Config{PublicURL: "https://auth.example.com/"}
	if got := c.LinkURL("self-service/recovery", q); got != "https://auth.example.com/self-service/recovery?flow=f1&token=t1" {
		t.Errorf("without link.config.base_url: %s", got)
	}
	c.LinkBaseURL = "https://accounts.example.com/kratos"
	if got := c.LinkURL("self-service/verification", q); got != "https://accounts.example.com/kratos/self-service/verification?flow=f1&token=t1" {
		t.Errorf("with link.config.base_url: %s", got)
	}
}
