package flow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

var ctx = context.Background()

func defaultSchema(t *testing.T) *schema.Schema {
	t.Helper()
	reg, err := schema.Load(ctx, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	return reg.Default()
}

func TestFlowStoreRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		reg, err := schema.Load(ctx, nil, "default")
		if err != nil {
			t.Fatal(err)
		}
		i, err := identity.NewManager(s, reg, nil, publicURL).Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"flow@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}

		r := httptest.NewRequest("GET", "/self-service/login/browser?refresh=true&return_to=x", nil)
		f := New(Login, TypeBrowser, r, publicURL, time.Hour)
		f.UI.Add(Input(GroupDefault, "identifier", "text", nil, text.LabelID()).Required())
		f.AddCSRF(token(5))
		f.ReturnTo = "https://app.example.com/dashboard"
		f.Refresh = true
		f.RequestedAAL = "aal2"
		f.Active = "password"
		f.IdentityID = &i.ID
		f.Internal["traits"] = json.RawMessage(`{"email":"flow@example.org"}`)
		if f.RequestURL != publicURL+"self-service/login/browser?refresh=true&return_to=x" {
			t.Errorf("request_url = %q", f.RequestURL)
		}
		if err := s.Write(ctx, func(q *store.Q) error { return Save(ctx, q, f) }); err != nil {
			t.Fatal(err)
		}

		got, err := Get(ctx, s.Read(), Login, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != f.ID || got.Kind != Login || got.Type != TypeBrowser || got.State != StateChooseMethod ||
			got.Active != "password" || got.RequestURL != f.RequestURL || got.ReturnTo != f.ReturnTo ||
			!got.Refresh || got.RequestedAAL != "aal2" || got.CSRFHash != TokenHash(token(5)) ||
			got.IdentityID == nil || *got.IdentityID != i.ID {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
		for name, pair := range map[string][2]time.Time{"issued_at": {got.IssuedAt, f.IssuedAt}, "expires_at": {got.ExpiresAt, f.ExpiresAt},
			"created_at": {got.CreatedAt, f.CreatedAt}, "updated_at": {got.UpdatedAt, f.UpdatedAt}} {
			if !pair[0].Equal(pair[1]) {
				t.Errorf("%s = %v; want %v", name, pair[0], pair[1])
			}
		}
		a, _ := json.Marshal(got.UI)
		b, _ := json.Marshal(f.UI)
		if string(a) != string(b) {
			t.Errorf("ui changed in storage:\n got %s\nwant %s", a, b)
		}
		if !jsonSame(got.Internal["traits"], `{"email":"flow@example.org"}`) {
			t.Errorf("internal = %v", got.Internal)
		}

		if _, err := Get(ctx, s.Read(), Registration, f.ID); !errors.Is(err, ErrFlowNotFound) {
			t.Errorf("Get as another kind = %v; want ErrFlowNotFound", err)
		}
		if _, err := Get(ctx, s.Read(), Login, uuid.New()); !errors.Is(err, ErrFlowNotFound) {
			t.Errorf("Get(unknown) = %v; want ErrFlowNotFound", err)
		}

		got.State = StatePassedChallenge
		got.Active = "code"
		got.Internal = map[string]json.RawMessage{"step": json.RawMessage(`2`)}
		got.UI.AddMessage("identifier", text.InvalidCredentials())
		got.IdentityID = nil
		time.Sleep(time.Millisecond)
		k := testKit(s)
		if err := k.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := Get(ctx, s.Read(), Login, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if again.State != StatePassedChallenge || again.Active != "code" || again.IdentityID != nil || string(again.Internal["step"]) != "2" ||
			len(again.UI.Find("identifier").Messages) != 1 || !again.UpdatedAt.After(f.UpdatedAt) || !again.CreatedAt.Equal(f.CreatedAt) {
			t.Errorf("after Update: %+v", again)
		}

		// A flow without optional fields, saved through the kit.
		api := New(Registration, TypeAPI, httptest.NewRequest("GET", "/self-service/registration/api", nil), publicURL, time.Minute)
		api.AddCSRF(nil)
		if err := k.Save(ctx, api); err != nil {
			t.Fatal(err)
		}
		got, err = Get(ctx, s.Read(), Registration, api.ID)
		if err != nil || got.ReturnTo != "" || got.Active != "" || got.IdentityID != nil || got.Internal == nil || got.CSRFHash != "" {
			t.Errorf("api flow round trip: %+v, %v", got, err)
		}
	})
}

func jsonSame(raw json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestAddCSRF(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	b := New(Login, TypeBrowser, r, publicURL, time.Hour)
	b.UI.Add(Input(GroupDefault, "identifier", "text", nil, nil))
	b.AddCSRF(token(1))
	n := b.UI.Nodes[0]
	if n.Attributes.Name != "csrf_token" || n.Attributes.Type != "hidden" || !n.Attributes.Required {
		t.Fatalf("first node = %+v; want the hidden csrf_token", n.Attributes)
	}
	v1, _ := n.Attributes.Value.(string)
	if string(unmask(v1)) != string(token(1)) || b.CSRFHash != TokenHash(token(1)) {
		t.Error("the csrf_token node does not carry the masked token")
	}
	b.RefreshCSRF(token(1))
	if v2 := b.UI.Find("csrf_token").Attributes.Value; v2 == v1 || string(unmask(v2.(string))) != string(token(1)) {
		t.Error("RefreshCSRF did not re-mask the token")
	}

	a := New(Login, TypeAPI, r, publicURL, time.Hour)
	a.AddCSRF(token(1))
	raw, _ := json.Marshal(a.UI.Nodes[0].Attributes)
	if a.CSRFHash != "" || !strings.Contains(string(raw), `"value":""`) {
		t.Errorf("api flow csrf node = %s, hash %q; want an empty value and no binding", raw, a.CSRFHash)
	}
	a.RefreshCSRF(token(2))
	if a.CSRFHash != "" {
		t.Error("RefreshCSRF bound an api flow")
	}
}

func TestViewShapes(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	login := New(Login, TypeAPI, r, publicURL, time.Hour)
	raw, _ := json.Marshal(login.View())
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	if v["refresh"] != false || v["requested_aal"] != "aal1" || v["created_at"] == nil || v["organization_id"] != nil || v["state"] != StateChooseMethod {
		t.Errorf("login view = %s", raw)
	}
	if _, ok := v["organization_id"]; !ok {
		t.Error("organization_id is missing; the SDK wants it as null")
	}
	ui, _ := v["ui"].(map[string]any)
	if ui["action"] != publicURL+"self-service/login?flow="+login.ID.String() || ui["method"] != "POST" {
		t.Errorf("ui = %v", ui)
	}
	reg := New(Registration, TypeBrowser, r, publicURL, time.Hour)
	raw, _ = json.Marshal(reg.View())
	v = nil
	_ = json.Unmarshal(raw, &v)
	for _, k := range []string{"refresh", "requested_aal", "created_at", "return_to", "active"} {
		if _, ok := v[k]; ok {
			t.Errorf("registration view has %q: %s", k, raw)
		}
	}
	e := ErrExpired(&Flow{ExpiresAt: time.Now().Add(-time.Minute)}, login.ID)
	if e.Code != 410 || e.ID != "self_service_flow_expired" || e.Details["use_flow_id"] != login.ID.String() {
		t.Errorf("ErrExpired = %+v", e)
	}
}

// browserRequest is a JSON submission from a browser holding csrf.
func browserRequest(c *CSRF, csrf []byte, method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	if csrf != nil {
		withCSRFCookie(r, c, csrf)
	}
	return r
}

func TestStartAndFetch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/self-service/login/browser?return_to=https://app.example.com/dashboard/x", nil)
		f, err := k.Start(w, r, Login, TypeBrowser)
		if err != nil {
			t.Fatal(err)
		}
		cookies := w.Result().Cookies()
		if len(cookies) != 1 || cookies[0].Name != k.CSRF.CookieName() {
			t.Fatalf("Start set cookies %v; want the CSRF cookie", cookies)
		}
		if f.ReturnTo != "https://app.example.com/dashboard/x" || f.CSRFHash == "" || f.UI.Find("csrf_token") == nil {
			t.Errorf("started flow = %+v", f)
		}
		if !f.ExpiresAt.Equal(f.IssuedAt.Add(time.Hour)) {
			t.Errorf("lifespan: issued %v, expires %v", f.IssuedAt, f.ExpiresAt)
		}
		if err := k.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Start(httptest.NewRecorder(), httptest.NewRequest("GET", "/self-service/login/browser?return_to=https://evil.com/", nil), Login, TypeBrowser); err == nil {
			t.Error("Start accepted a forbidden return_to")
		}

		fetch := func(kind Kind, id string, cookie *http.Cookie) *httptest.ResponseRecorder {
			r := httptest.NewRequest("GET", "/self-service/login/flows?id="+id, nil)
			if cookie != nil {
				r.AddCookie(cookie)
			}
			w := httptest.NewRecorder()
			k.Fetch(w, r, kind)
			return w
		}
		if w := fetch(Login, f.ID.String(), cookies[0]); w.Code != 200 || !strings.Contains(w.Body.String(), f.ID.String()) {
			t.Errorf("fetch by the browser that started it: %d %s", w.Code, w.Body)
		}
		if w := fetch(Login, f.ID.String(), nil); w.Code != 403 || !strings.Contains(w.Body.String(), "security_csrf_violation") {
			t.Errorf("fetch without the cookie: %d %s", w.Code, w.Body)
		}
		if w := fetch(Registration, f.ID.String(), cookies[0]); w.Code != 404 {
			t.Errorf("fetch as another kind: %d", w.Code)
		}
		if w := fetch(Login, "nope", cookies[0]); w.Code != 404 {
			t.Errorf("fetch with a malformed id: %d", w.Code)
		}

		api, err := k.Start(httptest.NewRecorder(), httptest.NewRequest("GET", "/self-service/login/api", nil), Login, TypeAPI)
		if err != nil {
			t.Fatal(err)
		}
		api.ExpiresAt = time.Now().Add(-time.Minute)
		if err := k.Save(ctx, api); err != nil {
			t.Fatal(err)
		}
		w = fetch(Login, api.ID.String(), nil)
		if w.Code != 410 || !strings.Contains(w.Body.String(), "self_service_flow_expired") {
			t.Errorf("fetch of an expired flow: %d %s", w.Code, w.Body)
		}

		w = httptest.NewRecorder()
		k.RespondCreated(w, httptest.NewRequest("GET", "/self-service/login/browser", nil), f, nil)
		if w.Code != 303 || w.Header().Get("Location") != "https://ui.example.com/login?flow="+f.ID.String() {
			t.Errorf("browser RespondCreated: %d %q", w.Code, w.Header().Get("Location"))
		}
		w = httptest.NewRecorder()
		k.RespondCreated(w, httptest.NewRequest("GET", "/self-service/login/api", nil), api, nil)
		if w.Code != 200 || !json.Valid(w.Body.Bytes()) {
			t.Errorf("api RespondCreated: %d", w.Code)
		}
	})
}

func TestReceive(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		csrf := token(4)
		save := func(typ string, change func(f *Flow)) *Flow {
			f := New(Login, typ, httptest.NewRequest("GET", "/self-service/login/"+typ, nil), publicURL, time.Hour)
			if typ == TypeBrowser {
				f.AddCSRF(csrf)
			} else {
				f.AddCSRF(nil)
			}
			if change != nil {
				change(f)
			}
			if err := k.Save(ctx, f); err != nil {
				t.Fatal(err)
			}
			return f
		}
		var restarted *Flow
		receive := func(r *http.Request) (*httptest.ResponseRecorder, *Submission, error) {
			w := httptest.NewRecorder()
			sub, err := k.Receive(w, r, Login, func() (Payload, error) { return DecodePayload(w, r, nil) },
				func(old *Flow) (*Flow, error) {
					restarted = New(Login, old.Type, r, publicURL, time.Hour)
					restarted.AddCSRF(csrf)
					return restarted, k.Save(ctx, restarted)
				})
			if (sub == nil) != IsAnswered(err) {
				t.Fatalf("Receive = %v, %v", sub, err)
			}
			return w, sub, err
		}
		submit := func(f *Flow, body string, withCookie bool) *http.Request {
			var c []byte
			if withCookie {
				c = csrf
			}
			return browserRequest(k.CSRF, c, "POST", "/self-service/login?flow="+f.ID.String(), body)
		}

		browser := save(TypeBrowser, nil)
		w, sub, _ := receive(submit(browser, `{"csrf_token":"`+Mask(csrf)+`","identifier":"a"}`, true))
		if sub == nil || sub.Flow.ID != browser.ID || sub.Payload.String("identifier") != "a" {
			t.Fatalf("valid browser submission: %d %s", w.Code, w.Body)
		}
		w, sub, _ = receive(submit(browser, `{"csrf_token":"`+Mask(token(9))+`"}`, true))
		if sub != nil || w.Code != 403 {
			t.Errorf("CSRF mismatch: %d %s", w.Code, w.Body)
		}
		w, _, _ = receive(submit(browser, `{"csrf_token":`, true))
		if w.Code != 400 {
			t.Errorf("broken body: %d", w.Code)
		}

		api := save(TypeAPI, nil)
		apiReq := func(body string) *http.Request {
			r := httptest.NewRequest("POST", "/self-service/login?flow="+api.ID.String(), strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}
		if w, sub, _ = receive(apiReq(`{"identifier":"b"}`)); sub == nil {
			t.Fatalf("valid api submission: %d %s", w.Code, w.Body)
		}
		r := apiReq(`{"identifier":"b"}`)
		r.Header.Set("Cookie", "ory_kratos_session=x")
		w, sub, _ = receive(r)
		var view View
		_ = json.Unmarshal(w.Body.Bytes(), &view)
		if sub != nil || w.Code != 400 || view.ID != api.ID.String() || len(view.UI.Messages) != 1 || view.UI.Messages[0].ID != 4000001 {
			t.Errorf("api submission with a cookie: %d %s", w.Code, w.Body)
		}

		w, _, _ = receive(httptest.NewRequest("POST", "/self-service/login?flow=garbage", nil))
		if w.Code != 400 {
			t.Errorf("malformed flow id: %d", w.Code)
		}
		w, _, _ = receive(browserRequest(k.CSRF, csrf, "POST", "/self-service/login?flow="+uuid.NewString(), `{}`))
		if w.Code != 404 {
			t.Errorf("unknown flow: %d", w.Code)
		}

		done := save(TypeBrowser, func(f *Flow) { f.State = StatePassedChallenge })
		w, _, _ = receive(submit(done, `{"csrf_token":"`+Mask(csrf)+`"}`, true))
		if w.Code != 400 {
			t.Errorf("completed flow: %d %s", w.Code, w.Body)
		}

		expired := save(TypeBrowser, func(f *Flow) {
			f.ExpiresAt = time.Now().Add(-time.Minute)
			f.ReturnTo = "https://app.example.com/dashboard"
		})
		w, _, _ = receive(submit(expired, `{"csrf_token":"`+Mask(csrf)+`"}`, true))
		var errBody struct {
			Error struct {
				ID      string         `json:"id"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &errBody)
		if w.Code != 410 || errBody.Error.ID != "self_service_flow_expired" || errBody.Error.Details["use_flow_id"] != restarted.ID.String() {
			t.Fatalf("expired flow (JSON): %d %s", w.Code, w.Body)
		}
		nf, err := Get(ctx, s.Read(), Login, restarted.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(nf.UI.Messages) != 1 || nf.UI.Messages[0].ID != 4010001 {
			t.Errorf("restarted flow messages %+v; want the expiry message", nf.UI.Messages)
		}
		form := httptest.NewRequest("POST", "/self-service/login?flow="+expired.ID.String(), strings.NewReader(url.Values{"csrf_token": {Mask(csrf)}}.Encode()))
		form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		withCSRFCookie(form, k.CSRF, csrf)
		w, _, _ = receive(form)
		if w.Code != 303 || w.Header().Get("Location") != "https://ui.example.com/login?flow="+restarted.ID.String() {
			t.Errorf("expired flow (browser form): %d → %q", w.Code, w.Header().Get("Location"))
		}
	})
}

func TestRejectAndAlreadySignedIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		csrf := token(6)
		f := New(Login, TypeBrowser, httptest.NewRequest("GET", "/", nil), publicURL, time.Hour)
		f.UI.Add(Input(GroupDefault, "identifier", "text", "a@example.org", nil))
		f.AddCSRF(csrf)
		if err := k.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		before := f.UI.Find("csrf_token").Attributes.Value
		r := browserRequest(k.CSRF, csrf, "POST", "/self-service/login?flow="+f.ID.String(), `{}`)
		w := httptest.NewRecorder()
		k.Reject(w, r, f, FormError{{Field: "identifier", Message: text.InvalidCredentials()}, {Message: text.ValidationGeneric("x")}})
		var v View
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 400 {
			t.Fatalf("Reject (JSON): %d %s", w.Code, w.Body)
		}
		if len(v.UI.Find("identifier").Messages) != 1 || len(v.UI.Messages) != 1 || v.UI.Find("csrf_token").Attributes.Value == before {
			t.Errorf("rejected flow = %s; want the messages placed and a fresh csrf mask", w.Body)
		}
		stored, _ := Get(ctx, s.Read(), Login, f.ID)
		if len(stored.UI.Find("identifier").Messages) != 1 {
			t.Error("Reject did not store the messages")
		}
		r = httptest.NewRequest("POST", "/self-service/login?flow="+f.ID.String(), nil)
		w = httptest.NewRecorder()
		k.Reject(w, r, f, nil)
		if w.Code != 303 || !strings.HasPrefix(w.Header().Get("Location"), "https://ui.example.com/login?flow=") {
			t.Errorf("Reject (browser): %d %q", w.Code, w.Header().Get("Location"))
		}

		w = httptest.NewRecorder()
		k.AlreadySignedIn(w, httptest.NewRequest("GET", "/self-service/login/api", nil), TypeAPI, "")
		if e := wire.From(ErrSessionAlreadyAvailable); w.Code != e.Code || !strings.Contains(w.Body.String(), "session_already_available") {
			t.Errorf("AlreadySignedIn (api): %d %s", w.Code, w.Body)
		}
		w = httptest.NewRecorder()
		k.AlreadySignedIn(w, httptest.NewRequest("GET", "/self-service/login/browser", nil), TypeBrowser, "")
		if w.Code != 303 || w.Header().Get("Location") != "https://app.example.com/home" {
			t.Errorf("AlreadySignedIn (browser): %d %q", w.Code, w.Header().Get("Location"))
		}
		w = httptest.NewRecorder()
		k.AlreadySignedIn(w, httptest.NewRequest("GET", "/self-service/login/browser", nil), TypeBrowser, "https://app.example.com/dashboard")
		if w.Header().Get("Location") != "https://app.example.com/dashboard" {
			t.Errorf("AlreadySignedIn with return_to: %q", w.Header().Get("Location"))
		}
	})
}

func TestContainer(t *testing.T) {
	c := &Container{Nodes: []*Node{}}
	c.Add(Input(GroupDefault, "a", "text", "1", nil).Required().Autocomplete("email"), Submit(GroupPassword, "method", "password", text.LabelSubmit()))
	if n := c.Find("a"); n == nil || !n.Attributes.Required || n.Attributes.Autocomplete != "email" || n.Attributes.NodeType != "input" {
		t.Fatalf("Find(a) = %+v", n)
	}
	if c.Find("missing") != nil {
		t.Error("Find of a missing node")
	}
	c.SetValue("a", "2")
	c.SetValue("missing", "x")
	if c.Find("a").Attributes.Value != "2" {
		t.Error("SetValue")
	}
	c.AddMessage("a", text.InvalidCredentials())
	c.AddMessage("missing", text.ValidationGeneric("y"))
	c.AddMessage("", text.ValidationGeneric("z"))
	if len(c.Find("a").Messages) != 1 || len(c.Messages) != 2 {
		t.Errorf("messages: node %d, form %d", len(c.Find("a").Messages), len(c.Messages))
	}
	clone := c.Clone()
	clone.Find("a").Attributes.Value = "changed"
	if c.Find("a").Attributes.Value != "2" || len(clone.Messages) != 2 {
		t.Error("Clone is not deep")
	}
	c.ResetMessages()
	if c.Messages != nil || len(c.Find("a").Messages) != 0 || c.Find("a").Messages == nil {
		t.Error("ResetMessages")
	}
	raw, _ := json.Marshal(c.Find("method"))
	if !strings.Contains(string(raw), `"messages":[]`) || !strings.Contains(string(raw), `"disabled":false`) {
		t.Errorf("node JSON = %s", raw)
	}
}

func TestFormErrors(t *testing.T) {
	fe := FormError{{Field: "password", Message: text.PasswordTooShort(8, 3)}, {Message: text.InvalidCredentials()}}
	if !strings.Contains(fe.Error(), "password: ") {
		t.Errorf("Error() = %q", fe.Error())
	}
	var target FormError
	if !errors.As(error(fe), &target) {
		t.Error("FormError is not found by errors.As")
	}
	if got := FormMessage(text.InvalidCredentials()); len(got) != 1 || got[0].Field != "" {
		t.Errorf("FormMessage = %+v", got)
	}

	sch := defaultSchema(t)
	_, err := sch.Validate(map[string]any{"email": "not-an-email"})
	var verr *schema.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v", err)
	}
	fromSchema := FromSchema(verr)
	if len(fromSchema) == 0 || fromSchema[0].Field != "traits.email" || fromSchema[0].Message.Type != text.Error || fromSchema[0].Message.ID == 0 {
		t.Errorf("FromSchema = %+v", fromSchema)
	}
	f := New(Registration, TypeAPI, httptest.NewRequest("GET", "/", nil), publicURL, time.Hour)
	f.UI.Add(TraitNodes(sch, GroupProfile, nil, false)...)
	fromSchema.Apply(f)
	if len(f.UI.Find("traits.email").Messages) != 1 {
		t.Error("Apply did not put the message on the trait node")
	}
}

func TestTraitNodes(t *testing.T) {
	sch := defaultSchema(t)
	nodes := TraitNodes(sch, GroupProfile, map[string]any{"email": "a@example.org", "name": map[string]any{"first": "Ada"}}, false)
	byName := map[string]*Node{}
	var order []string
	for _, n := range nodes {
		byName[n.Attributes.Name] = n
		order = append(order, n.Attributes.Name)
	}
	if strings.Join(order, ",") != "traits.email,traits.name.first,traits.name.last" {
		t.Errorf("nodes %v; want schema order", order)
	}
	email := byName["traits.email"]
	if email.Attributes.Type != "email" || !email.Attributes.Required || email.Attributes.Value != "a@example.org" ||
		email.Attributes.Autocomplete != "email" || email.Group != GroupProfile || email.Meta.Label.ID != 1070002 || email.Meta.Label.Text != "E-Mail" {
		t.Errorf("email node = %+v, label %+v", email.Attributes, email.Meta.Label)
	}
	if first := byName["traits.name.first"]; first.Attributes.Value != "Ada" || first.Attributes.Type != "text" || first.Attributes.Required {
		t.Errorf("first name node = %+v", first.Attributes)
	}
	if last := byName["traits.name.last"]; last.Attributes.Value != nil {
		t.Errorf("last name prefilled with %v", last.Attributes.Value)
	}
	for _, n := range TraitNodes(sch, GroupDefault, nil, true) {
		if n.Attributes.Type != "hidden" {
			t.Errorf("hidden trait node %s has type %s", n.Attributes.Name, n.Attributes.Type)
		}
	}
}

func TestAnchorNodeSurvivesStorage(t *testing.T) {
	c := Container{Nodes: []*Node{
		Input("default", "csrf_token", "hidden", "tok", nil),
		Anchor("code", "continue", "https://app.example.com/", text.LabelContinue()),
	}}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"attributes":{"href":"https://app.example.com/","id":"continue","title":{"id":1070009`) {
		t.Errorf("anchor JSON = %s", raw)
	}
	var back Container
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	a := back.Nodes[1].Attributes
	if a.NodeType != "a" || a.Href != "https://app.example.com/" || a.ID != "continue" || a.Title == nil || a.Title.ID != 1070009 {
		t.Errorf("anchor after a round trip = %+v", a)
	}
	if in := back.Nodes[0].Attributes; in.Name != "csrf_token" || in.Value != "tok" {
		t.Errorf("input after a round trip = %+v", in)
	}
}
