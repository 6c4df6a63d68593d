package conformance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lanyard-id/lanyard/test/oidcop"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// Helpers of the social sign-in tests; the oidc prefix keeps them apart from
// the other test files of this package.

const oidcCallbackPath = "/self-service/methods/oidc/callback/"

// Claim mappers: the email only, or the email and the name.
const (
	oidcMapperEmail     = `local claims = std.extVar('claims'); { identity: { traits: { email: claims.email } } }`
	oidcMapperEmailName = `local claims = std.extVar('claims'); { identity: { traits: { email: claims.email, name: claims.name } } }`
)

// oidcOptions picks what a test's server and providers differ in.
type oidcOptions struct {
	users []oidcop.User
	// mapper is the Jsonnet of every provider (default oidcMapperEmail).
	mapper string
	// schema, when set, is a file in testdata that becomes the default
	// identity schema.
	schema string
	// fedcm gives provider op a FedCM config URL.
	fedcm bool
	// set adds or overrides config keys, as selfserviceServer's set.
	set map[string]any
}

// oidcEnv is a server with three providers: op and plain (an OAuth2-only
// client reading userinfo) at one OpenID Provider, op2 at another.
type oidcEnv struct {
	*Server
	op, op2 *oidcop.Server
}

const oidcFedCMConfigURL = "https://idp.example/fedcm.json"

// oidcServer starts both OpenID Providers and a selfservice server with a
// settings UI that signs in through them. The providers must know the
// server's callback URLs before it starts, so the public port is chosen
// here rather than by startServer.
func oidcServer(t *testing.T, store string, o oidcOptions) *oidcEnv {
	t.Helper()
	port := testserver.FreePort(t)
	public := fmt.Sprintf("http://127.0.0.1:%d", port)
	callback := func(id string) []string { return []string{public + oidcCallbackPath + id} }

	op := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "c1", Secret: "s1", RedirectURIs: callback("op")},
			{ID: "c3", Secret: "s3", RedirectURIs: callback("plain"), OAuth2Only: true},
		},
		Users: o.users,
	})
	op2 := oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{{ID: "c2", Secret: "s2", RedirectURIs: callback("op2")}},
		Users:   o.users,
	})

	mapper := o.mapper
	if mapper == "" {
		mapper = oidcMapperEmail
	}
	mapperURL := "base64://" + base64.StdEncoding.EncodeToString([]byte(mapper))
	first := map[string]any{
		"id": "op", "provider": "generic", "label": "Test OP", "issuer_url": op.Issuer,
		"client_id": "c1", "client_secret": "s1", "mapper_url": mapperURL,
		"scope": []any{"openid", "email", "profile"},
	}
	if o.fedcm {
		first["fedcm_config_url"] = oidcFedCMConfigURL
	}
	providers := []any{
		first,
		map[string]any{
			"id": "op2", "provider": "generic", "issuer_url": op2.Issuer,
			"client_id": "c2", "client_secret": "s2", "mapper_url": mapperURL,
			"scope": []any{"openid", "email"},
		},
		map[string]any{
			"id": "plain", "provider": "generic", "claims_source": "userinfo", "issuer_url": op.Issuer,
			"client_id": "c3", "client_secret": "s3", "mapper_url": mapperURL,
			"scope": []any{"openid", "email", "profile"},
		},
	}

	set := map[string]any{
		"serve.public.port":                               port,
		"serve.public.base_url":                           public + "/",
		"selfservice.flows.settings.ui_url":               stSettingsUI,
		"selfservice.methods.oidc.enabled":                true,
		"selfservice.methods.oidc.config.providers":       providers,
		"selfservice.flows.registration.after.oidc.hooks": []any{map[string]any{"hook": "session"}},
	}
	if o.schema != "" {
		set["identity.default_schema_id"] = "oidc-test"
		set["identity.schemas"] = []any{map[string]any{
			"id": "oidc-test", "url": "file://" + filepath.Join(repoRoot, "test", "conformance", "testdata", o.schema),
		}}
	}
	for k, v := range o.set {
		set[k] = v
	}
	s := selfserviceServer(t, store, set)
	// startServer chose a public port of its own; the config's wins.
	s.PublicURL = public
	s.Public = newSDK(public, s.HTTP)
	return &oidcEnv{Server: s, op: op, op2: op2}
}

var oidcUserSeq atomic.Int64

// oidcUser is a provider account with a subject and a verified email of its
// own.
func oidcUser(prefix string) oidcop.User {
	n := oidcUserSeq.Add(1)
	return oidcop.User{
		Subject:       fmt.Sprintf("%s-sub-%d", prefix, n),
		Email:         fmt.Sprintf("%s-%d@example.org", prefix, n),
		EmailVerified: true,
		Name:          fmt.Sprintf("%s %d", prefix, n),
		GivenName:     prefix,
	}
}

// oidcHop is one request of a redirect chain and its answer.
type oidcHop struct {
	url string
	res response
}

// owns reports whether u is served by the Lanyard public listener or one of
// the providers, the hosts a browser following redirects talks to.
func (e *oidcEnv) owns(u *url.URL) bool {
	for _, base := range []string{e.PublicURL, e.op.Issuer, e.op2.Issuer} {
		b, _ := url.Parse(base)
		if b.Host == u.Host {
			return true
		}
	}
	return false
}

// follow GETs start and follows redirects (resolving relative Locations)
// while they stay on the server and the providers; it answers every hop,
// the last being the one that leaves (or does not redirect).
func (e *oidcEnv) follow(t *testing.T, b *browser, start string) []oidcHop {
	t.Helper()
	return e.followUntil(t, b, start, func(*url.URL) bool { return false })
}

// followUntil is follow that also stops before requesting a Location that
// stop accepts.
func (e *oidcEnv) followUntil(t *testing.T, b *browser, start string, stop func(*url.URL) bool) []oidcHop {
	t.Helper()
	var hops []oidcHop
	next := start
	for range 20 {
		res := b.do(t, http.MethodGet, next, nil, nil)
		hops = append(hops, oidcHop{url: next, res: res})
		if res.status < 300 || res.status > 399 {
			return hops
		}
		base, _ := url.Parse(next)
		loc, err := base.Parse(res.header.Get("Location"))
		if err != nil || res.header.Get("Location") == "" {
			t.Fatalf("GET %s: %d with Location %q", next, res.status, res.header.Get("Location"))
		}
		if !e.owns(loc) || stop(loc) {
			return hops
		}
		next = loc.String()
	}
	t.Fatalf("more than 20 redirects from %s", start)
	return nil
}

// lastHop is the final hop's answer and the Location it points at (nil when
// it does not redirect).
func lastHop(t *testing.T, hops []oidcHop) (response, *url.URL) {
	t.Helper()
	h := hops[len(hops)-1]
	if h.res.status < 300 || h.res.status > 399 {
		return h.res, nil
	}
	base, _ := url.Parse(h.url)
	loc, err := base.Parse(h.res.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return h.res, loc
}

// describeHops lists a chain for failure messages.
func describeHops(hops []oidcHop) string {
	var b strings.Builder
	for _, h := range hops {
		fmt.Fprintf(&b, "\n  GET %s -> %d %s", h.url, h.res.status, h.res.header.Get("Location"))
		if h.res.status >= 400 {
			fmt.Fprintf(&b, " %s", h.res.body)
		}
	}
	return b.String()
}

// isCallback reports whether u is a provider callback of the server.
func (e *oidcEnv) isCallback(u *url.URL) bool {
	return strings.HasPrefix(u.String(), e.PublicURL+oidcCallbackPath)
}

// toCallback follows the provider's redirects from authURL and answers the
// callback URL the browser is sent to, without requesting it.
func (e *oidcEnv) toCallback(t *testing.T, b *browser, authURL string) *url.URL {
	t.Helper()
	hops := e.followUntil(t, b, authURL, e.isCallback)
	_, loc := lastHop(t, hops)
	if loc == nil || !e.isCallback(loc) {
		t.Fatalf("the provider did not send the browser to the callback:%s", describeHops(hops))
	}
	return loc
}

// requireLocationChange asserts Kratos's 422 browser_location_change_required
// and answers redirect_browser_to.
func requireLocationChange(t *testing.T, res response, what string) string {
	t.Helper()
	e := requireError(t, res.status, res.body, http.StatusUnprocessableEntity)
	to, _ := e.Error.Details["redirect_browser_to"].(string)
	if e.Error.ID != "browser_location_change_required" || to == "" {
		t.Fatalf("%s: %s, want browser_location_change_required with redirect_browser_to", what, res.body)
	}
	var top struct {
		RedirectBrowserTo string `json:"redirect_browser_to"`
	}
	if err := json.Unmarshal(res.body, &top); err == nil && top.RedirectBrowserTo != "" && top.RedirectBrowserTo != to {
		t.Errorf("%s: redirect_browser_to %q differs from error.details %q", what, top.RedirectBrowserTo, to)
	}
	return to
}

// startAt submits provider to a browser flow of kind as JSON and answers the
// provider's authorize URL.
func (e *oidcEnv) startAt(t *testing.T, b *browser, kind, provider string) (flowView, string) {
	t.Helper()
	f, _ := b.browserFlow(t, kind, nil)
	res := b.do(t, http.MethodPost, e.submitURL(kind, f.ID), map[string]any{
		"method": "oidc", "provider": provider, "csrf_token": f.csrf(t),
	}, nil)
	return f, requireLocationChange(t, res, kind+" submit of "+provider)
}

// signInBrowser runs a browser kind flow through provider for the user the
// provider signs in now, and answers the chain; it must end with the 303
// to the default return URL.
func (e *oidcEnv) signInBrowser(t *testing.T, b *browser, kind, provider string) []oidcHop {
	t.Helper()
	_, authURL := e.startAt(t, b, kind, provider)
	hops := e.follow(t, b, authURL)
	if _, loc := lastHop(t, hops); loc == nil || loc.String() != defaultReturn {
		t.Fatalf("%s through %s did not end at %s:%s", kind, provider, defaultReturn, describeHops(hops))
	}
	return hops
}

// sessionOf answers the browser's session, failing without one.
func (e *oidcEnv) sessionOf(t *testing.T, b *browser) oidcSession {
	t.Helper()
	res := sendRequest(t, b.http, http.MethodGet, e.PublicURL+"/sessions/whoami", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("whoami by cookie: %d %s", res.status, res.body)
	}
	var s oidcSession
	if err := json.Unmarshal(res.body, &s); err != nil {
		t.Fatalf("whoami body: %v: %s", err, res.body)
	}
	return s
}

// requireNoSession asserts the browser holds no session.
func (e *oidcEnv) requireNoSession(t *testing.T, b *browser, what string) {
	t.Helper()
	if status, _, res := e.whoami(t, b.http, nil); status != http.StatusUnauthorized {
		t.Errorf("%s: whoami %d, want 401: %s", what, status, res.body)
	}
}

// oidcSession is a session as the wire shows it.
type oidcSession struct {
	ID       string `json:"id"`
	Active   bool   `json:"active"`
	Identity struct {
		ID     string         `json:"id"`
		Traits map[string]any `json:"traits"`
	} `json:"identity"`
	AMR []struct {
		Method   string `json:"method"`
		AAL      string `json:"aal"`
		Provider string `json:"provider"`
	} `json:"authentication_methods"`
}

// oidcCredential is an identity's oidc credential as the admin API shows it
// with include_credential=oidc.
type oidcCredential struct {
	Type        string   `json:"type"`
	Identifiers []string `json:"identifiers"`
	Config      struct {
		Providers []struct {
			Subject            string `json:"subject"`
			Provider           string `json:"provider"`
			InitialIDToken     string `json:"initial_id_token"`
			InitialAccessToken string `json:"initial_access_token"`
		} `json:"providers"`
	} `json:"config"`
}

// oidcCredentialOf answers the identity's oidc credential (zero when it has
// none) and the credential types it has.
func (e *oidcEnv) oidcCredentialOf(t *testing.T, identityID string) (oidcCredential, []string) {
	t.Helper()
	res := e.do(t, http.MethodGet, e.AdminURL+"/admin/identities/"+identityID+"?include_credential=oidc", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET identity %s: %d %s", identityID, res.status, res.body)
	}
	var id struct {
		Credentials map[string]oidcCredential `json:"credentials"`
	}
	if err := json.Unmarshal(res.body, &id); err != nil {
		t.Fatalf("identity body: %v: %s", err, res.body)
	}
	var types []string
	for k := range id.Credentials {
		types = append(types, k)
	}
	return id.Credentials["oidc"], types
}

// requireErrorUI asserts a 303 to the error UI and that the stored error is
// a client error; it answers the stored error's body.
func (e *oidcEnv) requireErrorUI(t *testing.T, hops []oidcHop, what string) []byte {
	t.Helper()
	res, loc := lastHop(t, hops)
	if res.status != http.StatusSeeOther || loc == nil || withoutQuery(loc) != errorUI || loc.Query().Get("id") == "" {
		t.Fatalf("%s: want a 303 to %s?id=<error>:%s", what, errorUI, describeHops(hops))
	}
	stored := e.do(t, http.MethodGet, e.PublicURL+"/self-service/errors?id="+url.QueryEscape(loc.Query().Get("id")), nil, nil)
	if stored.status != http.StatusOK {
		t.Fatalf("%s: GET the error: %d %s", what, stored.status, stored.body)
	}
	var body struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(stored.body, &body); err != nil {
		t.Fatalf("%s: stored error: %v: %s", what, err, stored.body)
	}
	if body.Error.Code < 400 || body.Error.Code > 499 {
		t.Errorf("%s: stored error code %d, want a 4xx: %s", what, body.Error.Code, stored.body)
	}
	return stored.body
}

// requestsAt answers the provider's requests at endpoint ("authorize" or
// "token").
func requestsAt(op *oidcop.Server, endpoint string) []oidcop.Request {
	var out []oidcop.Request
	for _, r := range op.Requests() {
		if r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}
