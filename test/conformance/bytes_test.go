package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bytes no text column can hold — NUL, invalid UTF-8, UTF-16 surrogates —
// sent in every field, path segment, query parameter and a few headers of
// every endpoint. Each must be refused with a 4xx on both stores (SQLite
// stores what PostgreSQL refuses, so the edge decides, not the database),
// and none may change anything.

// btRaw are the bad values as bytes, for URLs, forms and headers.
var btRaw = []struct{ name, value string }{
	{"NUL", "\x00"},
	{"NUL inside an address", "a\x00b@example.org"},
	{"invalid byte", "\xff"},
	{"UTF-8 encoded surrogate", "\xed\xa0\x80"},
	{"truncated sequence", "ab\xc3"},
}

// btJSON are the bad values as JSON string tokens: escaped or raw.
var btJSON = []struct{ name, token string }{
	{`\u0000`, `"\u0000"`},
	{`\u0000 inside an address`, `"a\u0000b@example.org"`},
	{`lone high surrogate \ud800`, `"\ud800"`},
	{`lone low surrogate \udc00`, `"x\udc00"`},
	{"raw invalid byte", "\"\xff\""},
	{"raw encoded surrogate", "\"\xed\xa0\x80\""},
}

// btHeaderBad are the bad values an HTTP client can put in a header
// (net/http refuses control characters there).
var btHeaderBad = []string{"\xff", "\xed\xa0\x80", "ab\xc3"}

// btQueryNames are every query parameter an endpoint of either listener
// reads, tried on every endpoint.
var btQueryNames = []string{
	"page", "page_size", "per_page", "page_token", "credentials_identifier",
	"preview_credentials_identifier_similar", "ids", "include_credential", "active", "expand",
	"status", "recipient", "id", "flow", "token", "code", "return_to", "refresh", "aal",
	"via", "login_challenge", "organization", "identity_schema", "return_session_token_exchange_code",
}

func TestBadBytes_EveryInputGetsAClientError(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := verificationServer(t, store, nil, map[string]any{
			"selfservice.flows.settings.ui_url":   stSettingsUI,
			"selfservice.flows.recovery.ui_url":   recUI,
			"selfservice.flows.recovery.enabled":  true,
			"selfservice.methods.code.enabled":    true,
			"selfservice.methods.link.enabled":    true,
			"selfservice.flows.recovery.use":      "code",
			"selfservice.flows.verification.use":  "code",
			"selfservice.methods.profile.enabled": true,
			// Thousands of requests from one address, by design.
			"protection.enabled": false,
		})
		fx := btSetup(t, s)
		before := btSnapshot(t, s, fx)
		p := &btProbe{t: t, s: s, fx: fx, started: time.Now(), plainByPath: map[string]int{}}

		p.paths()
		p.queries()
		p.adminBodies()
		p.submissions()
		if after := btSnapshot(t, s, fx); before != after {
			t.Errorf("bad input changed stored state:\nbefore %s\nafter  %s", before, after)
		}
		// Last: a bad User-Agent still signs in, which adds sessions.
		p.headers()
		p.rawHeaderNUL()
		t.Logf("%s: %d requests with bad bytes, %d answered 5xx, %d accepted a bad value; of the submissions to flows, %d answered with the flow and a field error, %d with an error (%s)",
			store, p.requests, p.serverErrors, p.accepted, p.fieldErrors, p.plainErrors, time.Since(p.started).Round(time.Millisecond))
		t.Logf("%s: submissions answered with an error rather than the flow, by endpoint: %v", store, p.plainByPath)
		if p.serverErrors > 0 {
			t.Errorf("%d of %d requests answered 5xx; want none", p.serverErrors, p.requests)
		}
		if p.accepted > 0 {
			t.Errorf("%d of %d requests accepted a bad value; want a 4xx for each", p.accepted, p.requests)
		}
	})
}

// btFixture is what the requests point at: real ids, so that a bad value
// in one place is the only thing wrong with a request.
type btFixture struct {
	email, identityID string
	token, sessionID  string
	spareToken        string // for the logout bodies, which could end a session
	messageID         string
	browser           *browser // signed in, for the settings flows
	// Another identity and its session, for the requests that would change
	// them if a bad value got through.
	otherEmail, otherID, otherToken, otherSessionID string
}

func btSetup(t *testing.T, s *Server) btFixture {
	t.Helper()
	var fx btFixture
	fx.email = uniqueEmail("bytes")
	fx.identityID = s.createIdentity(t, withPassword(identityBody(fx.email), testPassword)).Id
	u := stLogin(t, s, fx.email, testPassword, nil)
	fx.token, fx.sessionID = u.Token, u.SessionID
	fx.spareToken = stLogin(t, s, fx.email, testPassword, nil).Token
	// Signed in before any request could change the password.
	fx.browser = stBrowserLogin(t, s, fx.email, testPassword)
	fx.otherEmail = uniqueEmail("bytes-other")
	fx.otherID = s.createIdentity(t, withPassword(identityBody(fx.otherEmail), testPassword)).Id
	o := stLogin(t, s, fx.otherEmail, testPassword, nil)
	fx.otherToken, fx.otherSessionID = o.Token, o.SessionID
	f := recNative(t, s)
	recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "email": fx.email})
	// The code submissions send a verification code first; one sent now
	// keeps that out of the state compared before and after.
	v := s.nativeVerification(t)
	if res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", v.ID), map[string]any{"method": "code", "email": fx.email}, nil); res.status != http.StatusOK {
		t.Fatalf("sending a verification code: %d %s", res.status, res.body)
	}
	ms := s.courierMessages(t, fx.email)
	if len(ms) == 0 {
		t.Fatalf("no courier message to %s after a recovery request", fx.email)
	}
	fx.messageID = ms[0].Id
	return fx
}

// btSnapshot is what bad input must not change: the identities, the
// fixture's identity in full, and its sessions.
func btSnapshot(t *testing.T, s *Server, fx btFixture) string {
	t.Helper()
	ids := s.listAllIdentities(t)
	identity := btWithoutUpdatedAt(s.rawIdentity(t, fx.identityID, "include_credential=password"))
	sessions := s.do(t, http.MethodGet, s.AdminURL+"/admin/identities/"+fx.identityID+"/sessions", nil, nil)
	var list []map[string]any
	_ = json.Unmarshal(sessions.body, &list)
	active := 0
	for _, ss := range list {
		if ss["active"] == true {
			active++
		}
	}
	return fmt.Sprintf("%d identities; identity %s; %d active sessions", len(ids), asJSON(identity), active)
}

// btWithoutUpdatedAt drops the updated_at fields at any depth: sending a
// code again touches an address without changing it.
func btWithoutUpdatedAt(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "updated_at")
		for _, e := range x {
			btWithoutUpdatedAt(e)
		}
	case []any:
		for _, e := range x {
			btWithoutUpdatedAt(e)
		}
	}
	return v
}

type btProbe struct {
	t       *testing.T
	s       *Server
	fx      btFixture
	started time.Time

	requests, serverErrors, accepted, fieldErrors int
	plainErrors                                   int // submissions answered with an error, not the flow
	plainByPath                                   map[string]int
	reported                                      int
}

// btRequest is one request with a bad value somewhere.
type btRequest struct {
	what        string // what is bad, for the failure message
	method, url string
	contentType string
	body        []byte
	header      http.Header
	// browser: a plain form post from a browser, answered with a redirect.
	browser bool
	// goodValue: the bad value sits where it is harmless (a header), so a
	// 2xx is fine.
	goodValue bool
	// field: the form field the bad value is in, for the flow's message.
	field string
	// client: a browser's client (cookie jar); nil for the plain one.
	client *http.Client
	// submission: a flow's submit endpoint.
	submission bool
}

func (p *btProbe) send(rq btRequest) (int, []byte) {
	p.t.Helper()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, rq.url, body)
	if err != nil {
		p.t.Fatalf("%s: %v", rq.what, err)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if !rq.browser {
		req.Header.Set("Accept", "application/json")
	}
	for k, vs := range rq.header {
		req.Header[k] = vs
	}
	client := rq.client
	if client == nil {
		client = plain(p.s)
	}
	p.requests++
	res, err := client.Do(req)
	if err != nil {
		p.t.Errorf("%s: %v", rq.what, err)
		return 0, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	p.check(rq, res.StatusCode, data)
	return res.StatusCode, data
}

func (p *btProbe) check(rq btRequest, status int, body []byte) {
	p.t.Helper()
	fail := func(kind string) {
		if p.reported < 25 {
			p.t.Errorf("%s %s: %s: %s %d: %.300s", rq.method, btShow(rq.url), rq.what, kind, status, body)
		}
		p.reported++
	}
	switch {
	case status >= 500:
		p.serverErrors++
		fail("server error")
		return
	case rq.goodValue:
		return
	case rq.browser && status >= 300 && status < 400:
		return
	case status < 400:
		p.accepted++
		fail("accepted")
		return
	}
	var flow flowView
	if json.Unmarshal(body, &flow) == nil && flow.ID != "" && flow.UI.Action != "" {
		// The flow itself: the message belongs on the field's node, or on
		// the form when no node has the field's name.
		found, named := false, false
		for _, n := range flow.UI.Nodes {
			if rq.field != "" && n.name() == rq.field {
				named = true
				found = found || hasMessage(n.Messages, 4000001)
			}
		}
		if !named {
			found = hasMessage(flow.UI.Messages, 4000001)
		}
		if !found {
			fail("flow without message 4000001 on " + strconv.Quote(rq.field))
			return
		}
		p.fieldErrors++
		return
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != status || e.Error.Message == "" {
		fail("answer not in the error shape")
		return
	}
	if rq.submission {
		p.plainErrors++
		u, _ := url.Parse(rq.url)
		p.plainByPath[u.Path]++
	}
}

// btShow prints a URL with its bad bytes visible.
func btShow(u string) string { return strconv.QuoteToASCII(u) }

// paths puts each bad value in every path segment a route reads.
func (p *btProbe) paths() {
	fx := p.fx
	type route struct {
		admin   bool
		method  string
		pattern string // {} is where the bad segment goes
		header  http.Header
	}
	token := tokenHeader(fx.token)
	routes := []route{
		{true, "GET", "/admin/identities/{}", nil},
		{true, "PUT", "/admin/identities/{}", nil},
		{true, "PATCH", "/admin/identities/{}", nil},
		{true, "DELETE", "/admin/identities/{}", nil},
		{true, "GET", "/identities/{}", nil},
		{true, "GET", "/admin/identities/by/external/{}", nil},
		{true, "GET", "/identities/by/external/{}", nil},
		{true, "GET", "/admin/identities/{}/sessions", nil},
		{true, "DELETE", "/admin/identities/{}/sessions", nil},
		{true, "GET", "/admin/sessions/{}", nil},
		{true, "DELETE", "/admin/sessions/{}", nil},
		{true, "PATCH", "/admin/sessions/{}/extend", nil},
		{true, "GET", "/admin/courier/messages/{}", nil},
		{true, "GET", "/admin/{}", nil},
		{true, "GET", "/{}", nil},
		{true, "GET", "/self-service/{}", nil},
		{true, "GET", "/admin/recovery/{}", nil},
		{false, "GET", "/schemas/{}", nil},
		{false, "DELETE", "/sessions/{}", token},
		{false, "GET", "/sessions/{}", token},
		{false, "GET", "/self-service/{}", nil},
		{false, "GET", "/self-service/login/{}", nil},
		{false, "POST", "/self-service/{}", nil},
		{false, "GET", "/admin/identities/{}", nil},
		{false, "GET", "/{}", nil},
		{false, "GET", "/health/{}", nil},
	}
	for _, rt := range routes {
		base := p.s.PublicURL
		if rt.admin {
			base = p.s.AdminURL
		}
		for _, bad := range btRaw {
			for _, segment := range []string{bad.value, "x" + bad.value + "y"} {
				p.send(btRequest{
					what: "path segment " + bad.name, method: rt.method,
					url: base + strings.Replace(rt.pattern, "{}", url.PathEscape(segment), 1), header: rt.header,
				})
			}
		}
	}
}

// queries puts each bad value in every query parameter (and a bad name)
// of every GET endpoint and of the submit endpoints.
func (p *btProbe) queries() {
	fx := p.fx
	token := tokenHeader(fx.token)
	type endpoint struct {
		admin  bool
		method string
		path   string
		header http.Header
		body   []byte // valid JSON, for the endpoints that read one
	}
	other := tokenHeader(fx.otherToken)
	jsonBody := func(v any) []byte { return btMustJSON(p.t, v) }
	endpoints := []endpoint{
		{true, "GET", "/health/alive", nil, nil},
		{true, "GET", "/health/ready", nil, nil},
		{true, "GET", "/version", nil, nil},
		{true, "GET", "/admin/identities", nil, nil},
		{true, "GET", "/identities", nil, nil},
		{true, "GET", "/admin/identities/" + fx.identityID, nil, nil},
		{true, "DELETE", "/admin/identities/" + btMissingID, nil, nil},
		{true, "GET", "/admin/identities/by/external/nobody", nil, nil},
		{true, "GET", "/admin/identities/" + fx.identityID + "/sessions", nil, nil},
		{true, "GET", "/admin/sessions", nil, nil},
		{true, "GET", "/admin/sessions/" + fx.sessionID, nil, nil},
		{true, "GET", "/admin/courier/messages", nil, nil},
		{true, "GET", "/admin/courier/messages/" + fx.messageID, nil, nil},
		{true, "GET", "/self-service/login/browser", nil, nil}, // the redirect to public
		{false, "GET", "/health/ready", nil, nil},
		{false, "GET", "/schemas", nil, nil},
		{false, "GET", "/schemas/default", nil, nil},
		{false, "GET", "/sessions/whoami", token, nil},
		{false, "GET", "/sessions", token, nil},
		{false, "GET", "/self-service/errors", nil, nil},
		{false, "GET", "/self-service/logout/browser", nil, nil},
		{false, "GET", "/self-service/logout", nil, nil},
		{false, "GET", "/self-service/recovery", nil, nil},
		{false, "GET", "/self-service/verification", nil, nil},
		{false, "GET", "/admin/identities", nil, nil}, // the redirect to admin
		// Endpoints that change things change the other identity, if any.
		{true, "POST", "/admin/identities", nil, jsonBody(map[string]any{"traits": map[string]any{"email": uniqueEmail("bytes-q")}})},
		{true, "PATCH", "/admin/identities", nil, jsonBody(map[string]any{"identities": []any{
			map[string]any{"create": map[string]any{"traits": map[string]any{"email": uniqueEmail("bytes-q")}}}}})},
		{true, "PUT", "/admin/identities/" + fx.otherID, nil, jsonBody(map[string]any{"schema_id": "default", "state": "active", "traits": map[string]any{"email": fx.otherEmail}})},
		{true, "PATCH", "/admin/identities/" + fx.otherID, nil, jsonBody([]any{map[string]any{"op": "replace", "path": "/state", "value": "active"}})},
		{true, "DELETE", "/admin/identities/" + fx.otherID + "/sessions", nil, nil},
		{true, "DELETE", "/admin/sessions/" + fx.otherSessionID, nil, nil},
		{true, "PATCH", "/admin/sessions/" + fx.otherSessionID + "/extend", nil, nil},
		{true, "POST", "/admin/recovery/code", nil, jsonBody(map[string]any{"identity_id": fx.otherID})},
		{true, "POST", "/admin/recovery/link", nil, jsonBody(map[string]any{"identity_id": fx.otherID})},
		{false, "DELETE", "/sessions", other, nil},
		{false, "DELETE", "/sessions/" + btMissingID, other, nil},
		{false, "DELETE", "/self-service/logout/api", nil, jsonBody(map[string]any{"session_token": fx.otherToken})},
	}
	for _, kind := range []string{"login", "registration", "settings", "recovery", "verification"} {
		header := http.Header(nil)
		if kind == "settings" {
			header = token
		}
		for _, suffix := range []string{"/browser", "/api", "/flows"} {
			endpoints = append(endpoints, endpoint{false, "GET", "/self-service/" + kind + suffix, header, nil})
		}
	}
	// Four bad values here: the fifth adds nothing a URL carries
	// differently.
	for _, ep := range endpoints {
		base := p.s.PublicURL
		if ep.admin {
			base = p.s.AdminURL
		}
		for _, bad := range btRaw[:4] {
			for _, name := range btQueryNames {
				p.send(btRequest{
					what: "query parameter " + name + ": " + bad.name, method: ep.method,
					url: base + ep.path + "?" + name + "=" + url.QueryEscape(bad.value), header: ep.header,
					body: ep.body, contentType: btContentType(ep.body),
				})
			}
			p.send(btRequest{
				what: "query parameter name: " + bad.name, method: ep.method,
				url: base + ep.path + "?" + url.QueryEscape(bad.value) + "=1", header: ep.header,
				body: ep.body, contentType: btContentType(ep.body),
			})
		}
	}
	// The submit endpoints: the flow id, and another parameter next to a
	// real flow and a valid body.
	for _, kind := range []string{"login", "registration", "settings", "recovery", "verification"} {
		body := p.validSubmission(kind)
		header := http.Header(nil)
		if kind == "settings" {
			header = tokenHeader(fx.token)
		}
		// Refused at the edge, before any flow is read: sent as plain requests.
		for _, bad := range btRaw {
			p.send(btRequest{
				what: "query parameter flow: " + bad.name, method: "POST", header: header,
				url:  p.s.PublicURL + "/self-service/" + kind + "?flow=" + url.QueryEscape(bad.value),
				body: btMustJSON(p.t, body), contentType: "application/json",
			})
			f := p.nativeFlow(kind)
			p.send(btRequest{
				what: "query parameter return_to: " + bad.name, method: "POST", header: header,
				url:  p.s.submitURL(kind, f) + "&return_to=" + url.QueryEscape(bad.value),
				body: btMustJSON(p.t, body), contentType: "application/json",
			})
		}
	}
}

func btContentType(body []byte) string {
	if body == nil {
		return ""
	}
	return "application/json"
}

// btMissingID is an identity id nothing has.
const btMissingID = "7d2c6bd0-3f5b-4a1e-9d0c-1c8d59b4a111"

// adminBodies puts each bad value in every field and as a key of every
// object of the admin API's JSON bodies.
func (p *btProbe) adminBodies() {
	fx := p.fx
	admin := p.s.AdminURL
	createBody := func() any {
		email := uniqueEmail("bytes-new")
		return map[string]any{
			"schema_id":       "default",
			"traits":          map[string]any{"email": email},
			"metadata_public": map[string]any{"k": "v"},
			"metadata_admin":  map[string]any{"k": "v"},
			"external_id":     "ext-" + email,
			"state":           "active",
			"credentials":     map[string]any{"password": map[string]any{"config": map[string]any{"password": testPassword}}},
			"verifiable_addresses": []any{
				map[string]any{"value": email, "via": "email", "verified": true, "status": "completed"},
			},
			"recovery_addresses": []any{map[string]any{"value": email, "via": "email"}},
		}
	}
	hashedBody := func() any {
		return map[string]any{
			"traits":      map[string]any{"email": uniqueEmail("bytes-hash")},
			"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"hashed_password": importedHashes["bcrypt"]}}},
		}
	}
	type endpoint struct {
		method, path string
		body         func() any
	}
	endpoints := []endpoint{
		{"POST", "/admin/identities", createBody},
		{"POST", "/identities", hashedBody},
		{"PATCH", "/admin/identities", func() any {
			return map[string]any{"identities": []any{map[string]any{"create": createBody(), "patch_id": btMissingID}}}
		}},
		{"PUT", "/admin/identities/" + fx.identityID, func() any {
			return map[string]any{
				"schema_id": "default", "state": "active", "traits": map[string]any{"email": fx.email},
				"metadata_public": map[string]any{"k": "v"}, "metadata_admin": map[string]any{"k": "v"},
				"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"password": testPassword}}},
			}
		}},
		{"PATCH", "/admin/identities/" + fx.identityID, func() any {
			return []any{
				map[string]any{"op": "replace", "path": "/metadata_public", "value": map[string]any{"k": "v"}},
				map[string]any{"op": "add", "path": "/traits/email", "value": fx.email},
			}
		}},
		{"POST", "/admin/recovery/code", func() any {
			return map[string]any{"identity_id": fx.identityID, "expires_in": "1h", "flow_type": "api"}
		}},
		{"POST", "/admin/recovery/link", func() any {
			return map[string]any{"identity_id": fx.identityID, "expires_in": "1h"}
		}},
	}
	for _, ep := range endpoints {
		for _, v := range btJSONVariants(p.t, ep.body) {
			p.send(btRequest{what: v.what, method: ep.method, url: admin + ep.path, body: v.body, contentType: "application/json"})
		}
	}
	// Native logout could end the session it names: the spare one.
	for _, v := range btJSONVariants(p.t, func() any { return map[string]any{"session_token": fx.spareToken} }) {
		p.send(btRequest{what: v.what, method: "DELETE", url: p.s.PublicURL + "/self-service/logout/api", body: v.body, contentType: "application/json"})
	}
}

// validSubmission is a submission that would succeed (or fail only for
// reasons of the flow's state) but for the one bad value put into it.
func (p *btProbe) validSubmission(kind string) map[string]any {
	switch kind {
	case "login":
		return map[string]any{"method": "password", "identifier": p.fx.email, "password": testPassword,
			"csrf_token": "x", "password_identifier": p.fx.email, "transient_payload": map[string]any{"k": "v"}}
	case "registration":
		return map[string]any{"method": "password", "password": testPassword, "csrf_token": "x",
			"traits": map[string]any{"email": uniqueEmail("bytes-reg")}, "transient_payload": map[string]any{"k": "v"}}
	case "settings":
		return map[string]any{"method": "profile", "csrf_token": "x", "traits": map[string]any{"email": p.fx.email}}
	case "recovery", "verification":
		return map[string]any{"method": "code", "email": p.fx.email, "csrf_token": "x"}
	}
	p.t.Fatalf("unknown flow kind %q", kind)
	return nil
}

// submissions puts each bad value in every field of every flow, as JSON
// and as a form, to native flows and to browser flows.
func (p *btProbe) submissions() {
	kinds := []string{"login", "registration", "settings", "recovery", "verification"}
	extra := map[string][]map[string]any{
		"settings":     {{"method": "password", "password": testPassword, "csrf_token": "x"}},
		"recovery":     {{"method": "code", "code": "123456", "csrf_token": "x"}, {"method": "link", "email": p.fx.email}},
		"verification": {{"method": "code", "code": "123456", "csrf_token": "x"}, {"method": "link", "email": p.fx.email}},
	}
	settingsBrowser := p.fx.browser
	for _, kind := range kinds {
		bodies := []func() map[string]any{func() map[string]any { return p.validSubmission(kind) }}
		for _, b := range extra[kind] {
			bodies = append(bodies, func() map[string]any { return btCopy(p.t, b) })
		}
		for _, body := range bodies {
			sendsCode := body()["code"] != nil
			prepare := func() string {
				f := p.nativeFlow(kind)
				if sendsCode {
					// A code is read only once the flow has sent one.
					res := sendRequest(p.t, plain(p.s), "POST", p.s.submitURL(kind, f), map[string]any{"method": "code", "email": p.fx.email}, nil)
					if res.status != http.StatusOK {
						p.t.Fatalf("sending a %s code: %d %s", kind, res.status, res.body)
					}
				}
				return f
			}
			for _, v := range btJSONVariants(p.t, func() any { return body() }) {
				p.sendSubmission(kind, btRequest{what: v.what, method: "POST", url: p.s.submitURL(kind, prepare()),
					body: v.body, contentType: "application/json", field: v.field})
			}
			for _, v := range btFormVariants(body()) {
				p.sendSubmission(kind, btRequest{what: v.what, method: "POST", url: p.s.submitURL(kind, prepare()),
					body: v.body, contentType: "application/x-www-form-urlencoded", field: v.field})
			}
			if sendsCode {
				continue // browser code flows add nothing the native ones do not cover
			}
			// A browser posting the form (answered with redirects) and an
			// SPA posting JSON, both with their real CSRF token.
			for _, v := range btFormVariants(withCSRF(body())) {
				b := p.browserFor(kind, settingsBrowser)
				f, csrf := p.browserFlow(b, kind)
				p.sendSubmission(kind, btRequest{what: "browser form: " + v.what, method: "POST", url: p.s.submitURL(kind, f),
					body:        bytes.ReplaceAll(v.body, []byte(btCSRFMarker), []byte(url.QueryEscape(csrf))),
					contentType: "application/x-www-form-urlencoded", field: v.field, browser: true, client: b.http})
			}
			for _, v := range btJSONVariants(p.t, func() any { return withCSRF(body()) }) {
				b := p.browserFor(kind, settingsBrowser)
				f, csrf := p.browserFlow(b, kind)
				p.sendSubmission(kind, btRequest{what: "browser JSON: " + v.what, method: "POST", url: p.s.submitURL(kind, f),
					body:        bytes.ReplaceAll(v.body, []byte(btCSRFMarker), []byte(csrf)),
					contentType: "application/json", field: v.field, client: b.http})
			}
		}
	}
}

// btCSRFMarker stands for a browser flow's CSRF token until it is known.
const btCSRFMarker = "CSRFTOKENMARKER"

// withCSRF is body with the marker as its csrf_token.
func withCSRF(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		out[k] = v
	}
	out["csrf_token"] = btCSRFMarker
	return out
}

// sendSubmission sends to a flow; settings flows need the session.
func (p *btProbe) sendSubmission(kind string, rq btRequest) {
	rq.submission = true
	if kind == "settings" && rq.client == nil {
		rq.header = tokenHeader(p.fx.token)
	}
	p.send(rq)
}

func (p *btProbe) nativeFlow(kind string) string {
	p.t.Helper()
	var header http.Header
	if kind == "settings" {
		header = tokenHeader(p.fx.token)
	}
	res := sendRequest(p.t, plain(p.s), "GET", p.s.PublicURL+"/self-service/"+kind+"/api", nil, header)
	if res.status != http.StatusOK {
		p.t.Fatalf("creating a native %s flow: %d %s", kind, res.status, res.body)
	}
	var f flowView
	if err := json.Unmarshal(res.body, &f); err != nil || f.ID == "" {
		p.t.Fatalf("native %s flow: %v %s", kind, err, res.body)
	}
	return f.ID
}

// browserFor answers the signed-in browser for settings and a fresh one
// for the other flows, so that a submission that wrongly succeeds cannot
// leave a session behind for the next.
func (p *btProbe) browserFor(kind string, signedIn *browser) *browser {
	if kind == "settings" {
		return signedIn
	}
	return newBrowser(p.t, p.s)
}

func (p *btProbe) browserFlow(b *browser, kind string) (id, csrf string) {
	p.t.Helper()
	f, _ := b.browserFlow(p.t, kind, nil)
	return f.ID, f.csrf(p.t)
}

// headers sends the bad values in the headers that end up stored or
// compared: the device's User-Agent, tokens, cookies, the CSRF header.
func (p *btProbe) headers() {
	fx := p.fx
	for _, bad := range btHeaderBad {
		// The User-Agent is stored with the session: a good value is fine,
		// as long as storing it does not fail.
		f := p.nativeFlow("login")
		p.send(btRequest{what: "User-Agent on login", method: "POST", url: p.s.submitURL("login", f), contentType: "application/json",
			body:   btMustJSON(p.t, map[string]any{"method": "password", "identifier": fx.email, "password": testPassword}),
			header: http.Header{"User-Agent": {"agent/" + bad + strings.Repeat("é", 300)}}, goodValue: true})
		f = p.nativeFlow("registration")
		p.send(btRequest{what: "User-Agent on registration", method: "POST", url: p.s.submitURL("registration", f), contentType: "application/json",
			body:   btMustJSON(p.t, map[string]any{"method": "password", "password": testPassword, "traits": map[string]any{"email": uniqueEmail("bytes-ua")}}),
			header: http.Header{"User-Agent": {bad}}, goodValue: true})
		for _, h := range []http.Header{
			{"X-Session-Token": {bad}},
			{"Authorization": {"Bearer " + bad}},
			{"Cookie": {"ory_kratos_session=" + bad}},
		} {
			p.send(btRequest{what: "header " + asJSON(h), method: "GET", url: p.s.PublicURL + "/sessions/whoami", header: h})
			p.send(btRequest{what: "header " + asJSON(h), method: "GET", url: p.s.PublicURL + "/sessions", header: h})
			p.send(btRequest{what: "header " + asJSON(h), method: "GET", url: p.s.PublicURL + "/self-service/settings/api", header: h})
		}
		b := newBrowser(p.t, p.s)
		id, _ := p.browserFlow(b, "login")
		p.send(btRequest{what: "header X-CSRF-Token", method: "POST", url: p.s.submitURL("login", id), contentType: "application/json",
			body:   btMustJSON(p.t, map[string]any{"method": "password", "identifier": fx.email, "password": testPassword}),
			header: http.Header{"X-Csrf-Token": {bad}}, client: b.http})
		id = p.nativeFlow("login")
		p.send(btRequest{what: "header Origin", method: "POST", url: p.s.submitURL("login", id), contentType: "application/json",
			body:   btMustJSON(p.t, map[string]any{"method": "password", "identifier": fx.email, "password": testPassword}),
			header: http.Header{"Origin": {bad}}})
	}
}

// rawHeaderNUL sends NUL in a header, which only a raw connection can.
func (p *btProbe) rawHeaderNUL() {
	u, _ := url.Parse(p.s.PublicURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	_, _ = io.WriteString(conn, "GET /sessions/whoami HTTP/1.1\r\nHost: "+u.Host+"\r\nX-Session-Token: a\x00b\r\nConnection: close\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	p.requests++
	if err != nil {
		p.t.Errorf("NUL in a header: %v", err)
		return
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		p.serverErrors++
		p.t.Errorf("NUL in a header: %d %s", res.StatusCode, data)
	} else if res.StatusCode < 400 {
		p.accepted++
		p.t.Errorf("NUL in a header: %d %s", res.StatusCode, data)
	}
}

// btVariant is a body with one bad value in it.
type btVariant struct {
	what  string
	field string // the dotted form field, "" for the form itself
	body  []byte
}

// btMarker stands in for the bad JSON token until the body is encoded.
const btMarker = "\"BADBYTESMARKER\""

// btJSONVariants makes, from a fresh body per variant, one body per leaf
// and per bad token with that leaf replaced, and one per object and bad
// token with a bad key added.
func btJSONVariants(t *testing.T, fresh func() any) []btVariant {
	t.Helper()
	var out []btVariant
	for _, path := range btPaths(fresh()) {
		for _, bad := range btJSON {
			body := fresh()
			kind := "value"
			if path.key {
				kind = "key"
			}
			body = btReplace(body, path.parts, path.key)
			enc := btMustJSON(t, body)
			enc = bytes.Replace(enc, []byte(btMarker), []byte(bad.token), 1)
			out = append(out, btVariant{what: fmt.Sprintf("JSON %s %q: %s", kind, strings.Join(path.parts, "."), bad.name),
				field: path.field(), body: enc})
		}
	}
	return out
}

type btPath struct {
	parts []string
	key   bool // add a bad key to the object at parts
}

func (p btPath) field() string {
	if p.key {
		return ""
	}
	return strings.Join(p.parts, ".")
}

func btPaths(v any) []btPath {
	var out []btPath
	var walk func(v any, parts []string)
	walk = func(v any, parts []string) {
		switch x := v.(type) {
		case map[string]any:
			out = append(out, btPath{parts: append([]string(nil), parts...), key: true})
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], append(parts, k))
			}
		case []any:
			for i, e := range x {
				walk(e, append(parts, strconv.Itoa(i)))
			}
		default:
			out = append(out, btPath{parts: append([]string(nil), parts...)})
		}
	}
	walk(v, nil)
	return out
}

// btReplace puts the marker at parts: as the value there, or as a new key
// of the object there.
func btReplace(v any, parts []string, key bool) any {
	marker := json.RawMessage(btMarker)
	if len(parts) == 0 {
		if key {
			m := v.(map[string]any)
			// The marker key is replaced by the bad token after encoding.
			m["BADBYTESMARKER"] = "x"
			return m
		}
		return marker
	}
	switch x := v.(type) {
	case map[string]any:
		x[parts[0]] = btReplace(x[parts[0]], parts[1:], key)
		return x
	case []any:
		i, _ := strconv.Atoi(parts[0])
		x[i] = btReplace(x[i], parts[1:], key)
		return x
	}
	return v
}

// btFormVariants flattens body into form fields and makes one form per
// field and bad value, and one per bad value as a field name.
func btFormVariants(body map[string]any) []btVariant {
	fields := url.Values{}
	var flatten func(prefix string, v any)
	flatten = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				flatten(name, e)
			}
		default:
			fields.Set(prefix, fmt.Sprint(x))
		}
	}
	flatten("", body)
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []btVariant
	for _, bad := range btRaw {
		for _, name := range names {
			f := url.Values{}
			for k, v := range fields {
				f[k] = v
			}
			f.Set(name, bad.value)
			out = append(out, btVariant{what: "form field " + name + ": " + bad.name, field: name, body: []byte(f.Encode())})
		}
		f := url.Values{}
		for k, v := range fields {
			f[k] = v
		}
		f.Set(bad.value, "x")
		out = append(out, btVariant{what: "form field name: " + bad.name, body: []byte(f.Encode())})
	}
	return out
}

// btCopy deep-copies a body, which the variants change in place.
func btCopy(t *testing.T, body map[string]any) map[string]any {
	var out map[string]any
	if err := json.Unmarshal(btMustJSON(t, body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func btMustJSON(t *testing.T, v any) []byte {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}
