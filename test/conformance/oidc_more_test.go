package conformance

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

// More end-to-end tests of social sign-in: upstream parameters, refresh,
// the nodes of aal2 and identifier-first flows, Apple's form_post, oidc
// switched off, bad input, hooks and mapped metadata, registration
// switched off, and racing callbacks.

// oidcMoreMapper also marks the email verified and tags the account with
// its provider, which Kratos's mapper output allows.
const oidcMoreMapper = `local claims = std.extVar('claims');
{ identity: {
  traits: { email: claims.email },
  verified_addresses: [{ value: claims.email, via: 'email' }],
  metadata_public: { provider: 'op' },
} }`

// oidcMoreLastAuthorize answers the provider's latest authorize request.
func oidcMoreLastAuthorize(t *testing.T, op *oidcop.Server) oidcop.Request {
	t.Helper()
	reqs := requestsAt(op, "authorize")
	if len(reqs) == 0 {
		t.Fatal("the provider received no authorize request")
	}
	return reqs[len(reqs)-1]
}

// requireNoProviderButtons asserts a flow offers no provider at all.
func requireNoProviderButtons(t *testing.T, f flowView, what string) {
	t.Helper()
	for _, n := range f.UI.Nodes {
		if n.name() == "provider" || n.Group == "oidc" {
			t.Errorf("%s: unexpected oidc node %s", what, asJSON(n))
		}
	}
}

// requireNo5xx asserts that no hop of a chain answered a server error.
func requireNo5xx(t *testing.T, hops []oidcHop, what string) {
	t.Helper()
	for _, h := range hops {
		if h.res.status >= 500 {
			t.Errorf("%s: a server error:%s", what, describeHops(hops))
			return
		}
	}
}

// oidcMoreSessionsOf answers the sessions the admin API lists for an
// identity, active or not.
func (e *oidcEnv) oidcMoreSessionsOf(t *testing.T, identityID string) []oidcSession {
	t.Helper()
	res := e.do(t, http.MethodGet, e.AdminURL+"/admin/identities/"+identityID+"/sessions", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET sessions of %s: %d %s", identityID, res.status, res.body)
	}
	var out []oidcSession
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatalf("sessions body: %v: %s", err, res.body)
	}
	return out
}

// oidcMoreIdentityByEmail answers the ids of the stored identities whose
// email trait is email.
func (e *oidcEnv) oidcMoreIdentityByEmail(t *testing.T, email string) []string {
	t.Helper()
	var ids []string
	for _, i := range e.listAllIdentities(t) {
		if traits, _ := i.Traits.(map[string]any); traits["email"] == email {
			ids = append(ids, i.Id)
		}
	}
	return ids
}

// oidcMoreRace begins a login through op for the provider's current user
// (email), then sends its callback from five goroutines sharing the
// browser's cookies at once: at most one may sign in, and the account is
// made at most once. known is how many sessions the account has already
// (0: it does not exist yet).
func (e *oidcEnv) oidcMoreRace(t *testing.T, email string, known int) {
	t.Helper()
	count := e.countIdentities(t)
	b := newBrowser(t, e.Server)
	_, authURL := e.startAt(t, b, "login", "op")
	cb := e.toCallback(t, b, authURL)

	const racers = 5
	type answer struct {
		status   int
		location string
		err      error
	}
	answers := make([]answer, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := b.http.Get(cb.String())
			if err != nil {
				answers[i] = answer{err: err}
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			answers[i] = answer{status: res.StatusCode, location: res.Header.Get("Location")}
		}()
	}
	close(start)
	wg.Wait()
	signedIn := 0
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("racer %d: %v", i, a.err)
		case a.status >= 500:
			t.Errorf("racer %d: %d", i, a.status)
		case a.location == defaultReturn:
			signedIn++
		}
	}
	if signedIn != 1 {
		t.Errorf("%d racing callbacks signed in, want exactly one: %v", signedIn, answers)
	}
	want := count
	if known == 0 {
		want++
	}
	ids := e.oidcMoreIdentityByEmail(t, email)
	if got := e.countIdentities(t); len(ids) != 1 || got != want {
		t.Fatalf("racing callbacks: identities of %s %v, %d stored, want one and %d", email, ids, got, want)
	}
	if ss := e.oidcMoreSessionsOf(t, ids[0]); len(ss) != known+1 {
		t.Errorf("racing callbacks: %d sessions, want %d: %s", len(ss), known+1, asJSON(ss))
	}
}

// oidcMoreState builds a state as the server does, for flow id, with a
// secret it never issued.
func oidcMoreState(id string) string {
	u := uuid.MustParse(id)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return base64.RawURLEncoding.EncodeToString(append(u[:], secret...))
}

func TestOIDCMore(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		users := map[string]oidcop.User{}
		var list []oidcop.User
		for _, name := range []string{"up", "refresh", "aal", "hook", "mapped", "race", "bad", "settings", "stranger"} {
			u := oidcUser("more-" + name)
			users[name] = u
			list = append(list, u)
		}
		e := oidcServer(t, store, oidcOptions{
			users:  list,
			mapper: oidcMoreMapper,
			fedcm:  true,
			set: map[string]any{
				"selfservice.flows.login.after.oidc.hooks": []any{map[string]any{"hook": "revoke_active_sessions"}},
			},
		})

		t.Run("upstream parameters", func(t *testing.T) {
			e.op.SetUser(users["up"].Subject)
			check := func(t *testing.T, r oidcop.Request) {
				t.Helper()
				if r.LoginHint != "hint@example.org" || r.Prompt != "select_account" || r.Params.Get("hd") != "example.org" {
					t.Errorf("authorize login_hint %q prompt %q hd %q, want hint@example.org, select_account, example.org: %v",
						r.LoginHint, r.Prompt, r.Params.Get("hd"), r.Params)
				}
				for _, k := range []string{"foo", "response_mode"} {
					if r.Params.Has(k) {
						t.Errorf("authorize request carries the unknown upstream parameter %s: %v", k, r.Params)
					}
				}
				if r.ClientID != "c1" || r.RedirectURI != e.PublicURL+oidcCallbackPath+"op" || strings.Join(r.Scopes, " ") != "openid email profile" {
					t.Errorf("upstream parameters changed client_id %q redirect_uri %q scope %v", r.ClientID, r.RedirectURI, r.Scopes)
				}
			}

			t.Run("JSON object", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				f, _ := b.browserFlow(t, "login", nil)
				res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
					"method": "oidc", "provider": "op", "csrf_token": f.csrf(t),
					"upstream_parameters": map[string]any{
						"login_hint": "hint@example.org", "hd": "example.org", "prompt": "select_account",
						"foo": "bar", "response_mode": "fragment", "client_id": "evil", "redirect_uri": "http://evil.example/", "scope": "admin",
					},
				}, nil)
				authURL := requireLocationChange(t, res, "login submit with upstream_parameters")
				b.do(t, http.MethodGet, authURL, nil, nil)
				check(t, oidcMoreLastAuthorize(t, e.op))
			})

			t.Run("registration", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				f, _ := b.browserFlow(t, "registration", nil)
				res := b.do(t, http.MethodPost, e.submitURL("registration", f.ID), map[string]any{
					"method": "oidc", "provider": "op", "csrf_token": f.csrf(t),
					"upstream_parameters": map[string]any{"login_hint": "hint@example.org", "hd": "example.org", "prompt": "select_account", "foo": "bar"},
				}, nil)
				b.do(t, http.MethodGet, requireLocationChange(t, res, "registration submit with upstream_parameters"), nil, nil)
				check(t, oidcMoreLastAuthorize(t, e.op))
			})

			t.Run("settings link", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				e.signInBrowser(t, b, "registration", "op")
				f := stBrowserSettings(t, b, nil)
				res := b.do(t, http.MethodPost, e.submitURL("settings", f.ID), map[string]any{
					"method": "oidc", "link": "op2", "csrf_token": f.csrf(t),
					"upstream_parameters": map[string]any{"login_hint": "hint@example.org", "prompt": "select_account", "foo": "bar"},
				}, nil)
				b.do(t, http.MethodGet, requireLocationChange(t, res, "settings link with upstream_parameters"), nil, nil)
				r := oidcMoreLastAuthorize(t, e.op2)
				if r.LoginHint != "hint@example.org" || r.Prompt != "select_account" || r.Params.Has("foo") {
					t.Errorf("op2 authorize login_hint %q prompt %q params %v, want hint@example.org, select_account and no foo", r.LoginHint, r.Prompt, r.Params)
				}
			})

			t.Run("form fields", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				f, _ := b.browserFlow(t, "login", nil)
				res := b.submitForm(t, "login", f, url.Values{
					"method": {"oidc"}, "provider": {"op"},
					"upstream_parameters.login_hint": {"hint@example.org"},
					"upstream_parameters.hd":         {"example.org"},
					"upstream_parameters.prompt":     {"select_account"},
					"upstream_parameters.foo":        {"bar"},
					"upstream_parameters.client_id":  {"evil"},
				})
				loc := redirectTarget(t, res)
				if !strings.HasPrefix(loc.String(), e.op.Endpoints().Authorization) {
					t.Fatalf("form submit: Location %s, want the authorize endpoint", loc)
				}
				b.do(t, http.MethodGet, loc.String(), nil, nil)
				check(t, oidcMoreLastAuthorize(t, e.op))
			})
		})

		t.Run("refresh", func(t *testing.T) {
			e.op.SetUser(users["refresh"].Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "registration", "op")
			before := e.sessionOf(t, b)

			f, _ := b.browserFlow(t, "login", url.Values{"refresh": {"true"}})
			if !f.Refresh {
				t.Fatalf("login/browser?refresh=true with a session answered refresh false")
			}
			requireProviderButton(t, f, "op", "Test OP", 1010002)
			for _, other := range []string{"op2", "plain"} {
				if _, ok := findNode(f, "provider", other, ""); ok {
					t.Errorf("the refresh flow offers %s, which the identity has not linked: %s", other, asJSON(f.UI.Nodes))
				}
			}
			res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
				"method": "oidc", "provider": "op", "csrf_token": f.csrf(t),
			}, nil)
			authURL := requireLocationChange(t, res, "refresh submit")
			hops := e.follow(t, b, authURL)
			if r := oidcMoreLastAuthorize(t, e.op); r.Prompt != "login" {
				t.Errorf("refresh authorize prompt = %q, want login", r.Prompt)
			}
			if _, loc := lastHop(t, hops); loc == nil || loc.String() != defaultReturn {
				t.Fatalf("refresh did not end at %s:%s", defaultReturn, describeHops(hops))
			}
			after := e.sessionOf(t, b)
			if after.ID != before.ID || after.Identity.ID != before.Identity.ID {
				t.Errorf("refresh: session %s of %s, want the same session %s of %s", after.ID, after.Identity.ID, before.ID, before.Identity.ID)
			}
			if len(after.AMR) != len(before.AMR)+1 {
				t.Fatalf("authentication_methods after refresh = %s, want one more than %s", asJSON(after.AMR), asJSON(before.AMR))
			}
			if last := after.AMR[len(after.AMR)-1]; last.Method != "oidc" || last.Provider != "op" || last.AAL != "aal1" {
				t.Errorf("the refresh's authentication method = %s, want {oidc, aal1, op}", asJSON(last))
			}
		})

		t.Run("aal2 flows show no providers", func(t *testing.T) {
			e.op.SetUser(users["aal"].Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "registration", "op")
			before := e.sessionOf(t, b)
			f, _ := b.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
			if f.RequestedAAL != "aal2" {
				t.Fatalf("requested_aal = %q, want aal2", f.RequestedAAL)
			}
			requireNoProviderButtons(t, f, "aal2 login flow")
			// Kratos's oidc login answers only aal1 flows (login.CheckAAL), so
			// a provider submitted to an aal2 flow finds no method: a 400,
			// not a trip to the provider.
			res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
				"method": "oidc", "provider": "op", "csrf_token": f.csrf(t),
			}, nil)
			if res.status < 400 || res.status > 499 {
				t.Errorf("provider submitted to an aal2 flow: %d, want a 4xx: %s", res.status, res.body)
			}
			if after := e.sessionOf(t, b); after.ID != before.ID || len(after.AMR) != len(before.AMR) {
				t.Errorf("the refused submit changed the session: %s, was %s", asJSON(after), asJSON(before))
			}
		})

		t.Run("form_post callback", func(t *testing.T) {
			res := sendRequest(t, plain(e.Server), http.MethodPost, e.PublicURL+oidcCallbackPath+"op",
				url.Values{"code": {"the-code"}, "state": {"the-state"}}, nil)
			if res.status != http.StatusFound {
				t.Fatalf("POST callback: %d, want 302: %s", res.status, res.body)
			}
			loc, err := url.Parse(res.header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			base, _ := url.Parse(e.PublicURL + "/")
			loc = base.ResolveReference(loc)
			if withoutQuery(loc) != e.PublicURL+oidcCallbackPath+"op" || loc.Query().Get("code") != "the-code" || loc.Query().Get("state") != "the-state" {
				t.Errorf("Location = %s, want the GET callback with code and state", loc)
			}
		})

		t.Run("bad input", func(t *testing.T) {
			e.op.SetUser(users["bad"].Subject)
			count := e.countIdentities(t)
			unchanged := func(t *testing.T, what string) {
				t.Helper()
				if got := e.countIdentities(t); got != count {
					t.Errorf("%s: %d identities, want %d", what, got, count)
				}
			}

			t.Run("unknown provider", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				for _, kind := range []string{"login", "registration"} {
					f, _ := b.browserFlow(t, kind, nil)
					res := b.do(t, http.MethodPost, e.submitURL(kind, f.ID), map[string]any{
						"method": "oidc", "provider": "nope", "csrf_token": f.csrf(t),
					}, nil)
					if res.status != http.StatusBadRequest {
						t.Fatalf("%s with provider nope: %d, want 400: %s", kind, res.status, res.body)
					}
					got := decodeFlow(t, kind, res.body)
					if len(got.UI.Messages) == 0 {
						has := false
						for _, n := range got.UI.Nodes {
							has = has || len(n.Messages) > 0
						}
						if !has {
							t.Errorf("%s with provider nope: no message on the flow: %s", kind, res.body)
						}
					}
				}
				e.requireNoSession(t, b, "unknown provider")
				unchanged(t, "unknown provider")
			})

			t.Run("callback states", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				loginFlow, authURL := e.startAt(t, b, "login", "op")
				cb := e.toCallback(t, b, authURL)

				owner := newBrowser(t, e.Server)
				e.op.SetUser(users["settings"].Subject)
				e.signInBrowser(t, owner, "registration", "op")
				ownerID := e.sessionOf(t, owner).Identity.ID
				count = e.countIdentities(t)
				sf := stBrowserSettings(t, owner, nil)
				linkURL := requireLocationChange(t, e.settingsSubmit(t, owner, sf, ory.UpdateSettingsFlowWithOidcMethod{Method: "oidc", Link: ory.PtrString("op2")}), "link op2")
				lu, _ := url.Parse(linkURL)
				settingsState := lu.Query().Get("state")
				e.op.SetUser(users["bad"].Subject)

				long := strings.Repeat("A", 10<<10)
				cases := []struct{ what, state, provider string }{
					{"not base64", "%%%not*base64!!", "op"},
					{"too long", long, "op"},
					{"the right length but random", oidcMoreState(uuid.NewString()), "op"},
					{"the login flow's id with a secret it never issued", oidcMoreState(loginFlow.ID), "op"},
					{"the settings flow's id with a random secret", oidcMoreState(sf.ID), "op"},
					{"the settings flow's real state, sent by another browser", settingsState, "op2"},
					{"the login flow's state on another provider's path", cb.Query().Get("state"), "op2"},
					{"empty", "", "op"},
				}
				for _, c := range cases {
					t.Run(c.what, func(t *testing.T) {
						attacker := newBrowser(t, e.Server)
						target := e.PublicURL + oidcCallbackPath + c.provider + "?" + url.Values{"state": {c.state}, "code": {cb.Query().Get("code")}}.Encode()
						hops := e.follow(t, attacker, target)
						requireNo5xx(t, hops, c.what)
						if res, _ := lastHop(t, hops); res.status < 300 || res.status > 399 {
							requireError(t, res.status, res.body, 0)
						} else {
							e.requireErrorUI(t, hops, c.what)
						}
						e.requireNoSession(t, attacker, c.what)
						unchanged(t, c.what)
					})
				}
				cred, _ := e.oidcCredentialOf(t, ownerID)
				if len(cred.Identifiers) != 1 {
					t.Errorf("the settings flow's owner has identifiers %v after the bad callbacks, want only op's", cred.Identifiers)
				}
				// The browser that began the login still completes it: the
				// bad callbacks spent nothing of its sign-in.
				hops := e.follow(t, b, cb.String())
				if _, loc := lastHop(t, hops); loc == nil || loc.String() != defaultReturn {
					t.Errorf("the real callback after the bad ones did not sign in:%s", describeHops(hops))
				}
				count = e.countIdentities(t)
			})

			t.Run("FedCM token", func(t *testing.T) {
				b := newBrowser(t, e.Server)
				p := e.fedcmStart(t, b)
				nonce := p.Providers[0].Nonce
				sub := users["stranger"].Subject
				for _, c := range []struct {
					what string
					body any
				}{
					{"no fields", map[string]any{}},
					{"no token", map[string]any{"csrf_token": p.CSRFToken, "nonce": nonce}},
					{"no nonce", map[string]any{"csrf_token": p.CSRFToken, "token": e.op.IDToken(t, "c1", sub, nonce)}},
					{"no csrf_token", map[string]any{"token": e.op.IDToken(t, "c1", sub, nonce), "nonce": nonce}},
					{"a garbage nonce", map[string]any{"csrf_token": p.CSRFToken, "token": e.op.IDToken(t, "c1", sub, "garbage"), "nonce": "garbage"}},
					{"a nonce of a flow that does not exist", map[string]any{"csrf_token": p.CSRFToken, "token": e.op.IDToken(t, "c1", sub, nonce), "nonce": oidcMoreState(uuid.NewString())}},
					{"not JSON fields", `{"token": 1, "nonce": ["x"], "csrf_token": {}}`},
					{"a JWT for another audience", map[string]any{"csrf_token": p.CSRFToken, "token": e.op.IDToken(t, "c1", sub, nonce, "someone-else"), "nonce": nonce}},
				} {
					t.Run(c.what, func(t *testing.T) {
						res := b.do(t, http.MethodPost, e.PublicURL+"/self-service/fed-cm/token", c.body, nil)
						requireError(t, res.status, res.body, 0)
						if setCookie(res, "ory_kratos_session") != nil {
							t.Error("a refused FedCM token set a session cookie")
						}
						unchanged(t, c.what)
					})
				}
				e.requireNoSession(t, b, "refused FedCM tokens")
			})

			t.Run("token exchange", func(t *testing.T) {
				for _, q := range []string{
					"",
					"init_code=garbage",
					"return_to_code=garbage",
					"init_code=garbage&return_to_code=garbage",
					"init_code=" + strings.Repeat("x", 10<<10) + "&return_to_code=y",
					"init_code=%00%ff&return_to_code=%c3%28",
					"init_code[]=a&return_to_code[x]=b",
				} {
					res := sendRequest(t, plain(e.Server), http.MethodGet, e.PublicURL+"/sessions/token-exchange?"+q, nil, nil)
					if res.status < 400 || res.status > 499 {
						t.Errorf("token exchange ?%.60s: %d, want a 4xx: %s", q, res.status, res.body)
					}
				}
				unchanged(t, "token exchange")
			})
		})

		t.Run("revoke_active_sessions after an oidc login", func(t *testing.T) {
			e.op.SetUser(users["hook"].Subject)
			first := newBrowser(t, e.Server)
			e.signInBrowser(t, first, "registration", "op")
			old := e.sessionOf(t, first)
			second := newBrowser(t, e.Server)
			e.signInBrowser(t, second, "login", "op")
			fresh := e.sessionOf(t, second)
			if fresh.Identity.ID != old.Identity.ID {
				t.Fatalf("signed in as %s, want %s", fresh.Identity.ID, old.Identity.ID)
			}
			e.requireNoSession(t, first, "the older session after an oidc login with revoke_active_sessions")
			for _, s := range e.oidcMoreSessionsOf(t, old.Identity.ID) {
				if s.Active && s.ID != fresh.ID {
					t.Errorf("session %s is still active beside the new %s", s.ID, fresh.ID)
				}
			}
		})

		t.Run("mapped verified address and metadata", func(t *testing.T) {
			u := users["mapped"]
			e.op.SetUser(u.Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "registration", "op")
			raw := e.rawIdentity(t, e.sessionOf(t, b).Identity.ID, "")
			var got struct {
				MetadataPublic      map[string]any `json:"metadata_public"`
				VerifiableAddresses []struct {
					Value    string `json:"value"`
					Via      string `json:"via"`
					Verified bool   `json:"verified"`
					Status   string `json:"status"`
				} `json:"verifiable_addresses"`
			}
			enc, _ := json.Marshal(raw)
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatalf("identity body: %v: %s", err, enc)
			}
			if got.MetadataPublic["provider"] != "op" {
				t.Errorf("metadata_public = %v, want {provider: op}", got.MetadataPublic)
			}
			if len(got.VerifiableAddresses) != 1 || got.VerifiableAddresses[0].Value != u.Email ||
				!got.VerifiableAddresses[0].Verified || got.VerifiableAddresses[0].Status != "completed" {
				t.Errorf("verifiable_addresses = %s, want %s verified (status completed)", asJSON(got.VerifiableAddresses), u.Email)
			}
		})

		t.Run("racing callbacks", func(t *testing.T) {
			u := users["race"]
			e.op.SetUser(u.Subject)
			t.Run("unknown subject", func(t *testing.T) { e.oidcMoreRace(t, u.Email, 0) })
			t.Run("known subject", func(t *testing.T) { e.oidcMoreRace(t, u.Email, 1) })
		})
	})
}

func TestOIDCMoreIdentifierFirst(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		linked := oidcUser("more-idfirst")
		e := oidcServer(t, store, oidcOptions{
			users: []oidcop.User{linked},
			set:   map[string]any{"selfservice.flows.login.style": "identifier_first"},
		})
		e.signInBrowser(t, newBrowser(t, e.Server), "registration", "op")
		passwordOnly := uniqueEmail("more-idfirst-password")
		e.createIdentity(t, withPassword(identityBody(passwordOnly), testPassword))

		b := newBrowser(t, e.Server)
		f, _ := b.browserFlow(t, "login", nil)
		requireNode(t, f, "identifier", "", "text", "identifier_first", 0)
		for _, p := range []string{"op", "op2", "plain"} {
			if _, ok := findNode(f, "provider", p, "submit"); !ok {
				t.Errorf("step one has no button for %s: %s", p, asJSON(f.UI.Nodes))
			}
		}

		t.Run("an identity linked to op", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			step2 := b.formBackToUI(t, "login", loginUI, f, url.Values{"method": {"identifier_first"}, "identifier": {linked.Email}})
			requireProviderButton(t, step2, "op", "Test OP", 1010002)
			for _, p := range []string{"op2", "plain"} {
				if _, ok := findNode(step2, "provider", p, ""); ok {
					t.Errorf("step two offers %s, which the identity has not linked: %s", p, asJSON(step2.UI.Nodes))
				}
			}
			res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
				"method": "oidc", "provider": "op", "csrf_token": step2.csrf(t),
			}, nil)
			hops := e.follow(t, b, requireLocationChange(t, res, "step two's provider"))
			if _, loc := lastHop(t, hops); loc == nil || loc.String() != defaultReturn {
				t.Fatalf("step two through op did not sign in:%s", describeHops(hops))
			}
		})

		t.Run("an identity with a password only", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			step2 := b.formBackToUI(t, "login", loginUI, f, url.Values{"method": {"identifier_first"}, "identifier": {passwordOnly}})
			requireNoProviderButtons(t, step2, "step two of a password-only identity")
			requireNode(t, step2, "method", "password", "submit", "password", 1010022)
		})
	})
}

func TestOIDCMoreRegistrationDisabled(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		nobody := oidcUser("more-noreg")
		e := oidcServer(t, store, oidcOptions{
			users: []oidcop.User{nobody},
			set:   map[string]any{"selfservice.flows.registration.enabled": false},
		})
		b := newBrowser(t, e.Server)
		_, authURL := e.startAt(t, b, "login", "op")
		hops := e.follow(t, b, authURL)
		requireNo5xx(t, hops, "an unknown subject with registration disabled")
		res, loc := lastHop(t, hops)
		switch {
		case loc == nil:
			requireError(t, res.status, res.body, 0)
		case withoutQuery(loc) == errorUI:
			e.requireErrorUI(t, hops, "an unknown subject with registration disabled")
		case withoutQuery(loc) == loginUI && loc.Query().Get("flow") != "":
			got := b.flowByID(t, "login", loc.Query().Get("flow"))
			if len(got.UI.Messages) == 0 {
				t.Errorf("back on the login flow without a message: %s", asJSON(got.UI))
			}
		default:
			t.Errorf("an unknown subject with registration disabled: want an error:%s", describeHops(hops))
		}
		e.requireNoSession(t, b, "registration disabled")
		e.requireCount(t, 0, "registration disabled")
	})
}

func TestOIDCMoreDisabled(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"selfservice.methods.oidc.enabled": false})
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{http.MethodGet, oidcCallbackPath + "op?code=c&state=s", nil},
			{http.MethodGet, "/self-service/methods/oidc/callback?code=c&state=s", nil},
			{http.MethodPost, oidcCallbackPath + "op", url.Values{"code": {"c"}, "state": {"s"}}},
			{http.MethodGet, "/self-service/fed-cm/parameters", nil},
			{http.MethodPost, "/self-service/fed-cm/token", map[string]any{"token": "t", "nonce": "n", "csrf_token": "c"}},
		} {
			res := sendRequest(t, plain(s), r.method, s.PublicURL+r.path, r.body, nil)
			if res.status != http.StatusNotFound {
				t.Errorf("%s %s with oidc disabled: %d, want 404: %s", r.method, r.path, res.status, res.body)
			}
		}
		s.requireCount(t, 0, "oidc disabled")
	})
}
