package verification

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

const verificationUI = "https://ui.example.com/verification"

// sent is a message the fake mailer was asked to queue.
type sent struct {
	kind, to, secret string
	msg              courier.Message
}

type fakeMailer struct {
	mu  sync.Mutex
	all []sent
	// rehearsed are the messages rehearsed for unknown addresses.
	rehearsed []courier.Message
}

// kinds names the template types as the tests do.
var kinds = map[string]string{
	courier.VerificationCodeValid: "code", courier.VerificationValid: "link",
	courier.VerificationCodeInvalid: "unknown-code", courier.VerificationInvalid: "unknown-link",
}

func (m *fakeMailer) Queue(_ context.Context, _ *store.Q, msg courier.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	secret := msg.Code
	if msg.Template == courier.VerificationValid {
		secret = msg.URL
	}
	m.all = append(m.all, sent{kinds[msg.Template], msg.To, secret, msg})
	return nil
}

func (m *fakeMailer) Rehearse(ctx context.Context, q *store.Q, msg courier.Message, notice *courier.Message) error {
	m.mu.Lock()
	m.rehearsed = append(m.rehearsed, msg)
	m.mu.Unlock()
	if notice != nil {
		return m.Queue(ctx, q, *notice)
	}
	return nil
}

func (m *fakeMailer) to(addr string) []sent {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sent
	for _, x := range m.all {
		if x.to == addr {
			out = append(out, x)
		}
	}
	return out
}

type env struct {
	srv  *httptest.Server
	h    *Handler
	ids  *identity.Manager
	kit  *flow.Kit
	mail *fakeMailer
}

func newEnv(t *testing.T, s *store.Store, opts Options) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public := srv.URL + "/"
	ids, _ := identitytest.NewManager(t, s, public)
	kit := &flow.Kit{
		Config: flow.Config{PublicURL: public, UIURL: map[flow.Kind]string{flow.Verification: verificationUI}},
		Store:  s,
		CSRF:   flow.NewCSRF(public, false, "", "/", http.SameSiteLaxMode),
	}
	opts.Enabled = true
	m := &fakeMailer{}
	codes := onetime.New("cookie-secret-0123456789")
	h := NewHandler(kit, ids, methods(kit, ids, codes, m, opts), opts)
	h.Register(mux)
	return &env{srv: srv, h: h, ids: ids, kit: kit, mail: m}
}

func (e *env) user(t *testing.T, email string) *identity.Identity {
	t.Helper()
	i, err := e.ids.Create(context.Background(), identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

type flowJSON struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	State string `json:"state"`
	UI    struct {
		Method   string `json:"method"`
		Action   string `json:"action"`
		Messages []struct {
			ID int `json:"id"`
		} `json:"messages"`
	} `json:"ui"`
}

func (f flowJSON) has(id int) bool {
	for _, m := range f.UI.Messages {
		if m.ID == id {
			return true
		}
	}
	return false
}

// post submits body as JSON without cookies (a native app).
func (e *env) post(t *testing.T, flowID string, body any) (int, []byte) {
	t.Helper()
	status, b, err := e.postRaw(flowID, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// postRaw is post for goroutines other than the test's.
func (e *env) postRaw(flowID string, body any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/self-service/verification?flow="+flowID, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func decode(t *testing.T, b []byte) flowJSON {
	t.Helper()
	var f flowJSON
	if err := json.Unmarshal(b, &f); err != nil || f.ID == "" {
		t.Fatalf("not a flow (%v): %s", err, b)
	}
	return f
}

// inTx runs fn in a write transaction with a request and a recorder.
func (e *env) inTx(t *testing.T, fn func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error)) (*flow.Flow, *httptest.ResponseRecorder) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, e.srv.URL+"/self-service/registration?flow=x", nil)
	w := httptest.NewRecorder()
	var f *flow.Flow
	err := e.kit.Store.Write(context.Background(), func(q *store.Q) error {
		var err error
		f, err = fn(q, w, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

func TestVerification_StartAfterRegistration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		ctx := context.Background()

		t.Run("browser flow is bound to the rotated CSRF token", func(t *testing.T) {
			i := e.user(t, "new-browser@example.org")
			f, w := e.inTx(t, func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error) {
				return e.h.StartAfterRegistration(ctx, q, r, w, flow.TypeBrowser, i)
			})
			if f == nil || f.State != flow.StateSentEmail || f.Type != flow.TypeBrowser {
				t.Fatalf("flow = %+v, want a browser flow in sent_email", f)
			}
			if got := e.mail.to("new-browser@example.org"); len(got) != 1 || got[0].kind != "code" {
				t.Errorf("messages = %+v, want one code", got)
			}
			var token []byte
			for _, c := range w.Result().Cookies() {
				if c.Name == e.kit.CSRF.CookieName() {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.AddCookie(c)
					token = e.kit.CSRF.Token(req)
				}
			}
			if token == nil {
				t.Fatalf("no CSRF cookie set: %v", w.Result().Header.Values("Set-Cookie"))
			}
			stored, err := flow.Get(ctx, s.Read(), flow.Verification, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.CSRFHash != flow.TokenHash(token) {
				t.Errorf("the stored flow is not bound to the new CSRF cookie")
			}
			if got := e.h.UIURL(f); got != verificationUI+"?flow="+f.ID.String() {
				t.Errorf("UIURL = %q", got)
			}
		})

		t.Run("api flow has no UI URL", func(t *testing.T) {
			i := e.user(t, "new-api@example.org")
			f, _ := e.inTx(t, func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error) {
				return e.h.StartAfterRegistration(ctx, q, r, w, flow.TypeAPI, i)
			})
			if f == nil || f.Type != flow.TypeAPI {
				t.Fatalf("flow = %+v, want an API flow", f)
			}
			if got := e.h.UIURL(f); got != "" {
				t.Errorf("UIURL of an API flow = %q, want none", got)
			}
		})

		t.Run("nothing to verify", func(t *testing.T) {
			verified := true
			i, err := e.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"done@example.org"}`)})
			if err != nil {
				t.Fatal(err)
			}
			for k := range i.VerifiableAddresses {
				i.VerifiableAddresses[k].Verified = verified
			}
			f, _ := e.inTx(t, func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error) {
				return e.h.StartAfterRegistration(ctx, q, r, w, flow.TypeAPI, i)
			})
			if f != nil || len(e.mail.to("done@example.org")) != 0 {
				t.Errorf("flow %+v and messages %+v for verified addresses, want none", f, e.mail.to("done@example.org"))
			}
		})
	})
}

func TestVerification_StartForLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		ctx := context.Background()
		i := e.user(t, "gate@example.org")
		f, _ := e.inTx(t, func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error) {
			return e.h.StartForLogin(ctx, q, r, w, flow.TypeAPI, i)
		})
		if f == nil || f.State != flow.StateSentEmail || f.Type != flow.TypeAPI {
			t.Fatalf("flow = %+v, want an API flow in sent_email", f)
		}
		msgs := e.mail.to("gate@example.org")
		if len(msgs) != 1 {
			t.Fatalf("messages = %+v, want one", msgs)
		}
		status, body := e.post(t, f.ID.String(), map[string]any{"method": "code", "code": msgs[0].secret})
		if got := decode(t, body); status != http.StatusOK || got.State != flow.StatePassedChallenge {
			t.Errorf("redeeming the login's code: %d %s", status, body)
		}
		got, err := e.ids.Get(ctx, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.VerifiableAddresses[0].Verified {
			t.Errorf("address not verified: %+v", got.VerifiableAddresses[0])
		}

		none, _ := e.inTx(t, func(q *store.Q, w http.ResponseWriter, r *http.Request) (*flow.Flow, error) {
			return e.h.StartForLogin(ctx, q, r, w, flow.TypeAPI, &identity.Identity{})
		})
		if none != nil {
			t.Errorf("a flow for an identity without addresses: %+v", none)
		}
	})
}

// TestVerification_RaceForOneCode submits the same code twice at once: the address is
// verified once, and only one request completes the flow.
func TestVerification_RaceForOneCode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		e.user(t, "race@example.org")
		f := e.newNative(t)
		if status, body := e.post(t, f, map[string]any{"method": "code", "email": "race@example.org"}); status != http.StatusOK {
			t.Fatalf("sending: %d %s", status, body)
		}
		code := e.mail.to("race@example.org")[0].secret
		var wg sync.WaitGroup
		results := make([]flowJSON, 2)
		statuses := make([]int, 2)
		for k := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, b, err := e.postRaw(f, map[string]any{"method": "code", "code": code})
				if err != nil {
					t.Error(err)
					return
				}
				statuses[k] = st
				_ = json.Unmarshal(b, &results[k]) // not a flow: not passed
			}()
		}
		wg.Wait()
		passed := 0
		for k := range results {
			if results[k].State == flow.StatePassedChallenge {
				passed++
			}
		}
		if passed != 1 {
			t.Errorf("%d requests completed the flow (statuses %v, flows %+v), want exactly 1", passed, statuses, results)
		}
	})
}

func (e *env) newNative(t *testing.T) string {
	t.Helper()
	res, err := http.Get(e.srv.URL + "/self-service/verification/api")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return decode(t, b).ID
}

// TestVerification_CompletedFlowPointsOnward checks the completed form: a GET to where
// the user continues.
func TestVerification_CompletedFlowPointsOnward(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		e.kit.AfterReturnTo = map[flow.Kind]string{flow.Verification: "https://app.example.com/verified"}
		e.user(t, "onward@example.org")
		f := e.newNative(t)
		e.post(t, f, map[string]any{"method": "code", "email": "onward@example.org"})
		_, body := e.post(t, f, map[string]any{"method": "code", "code": e.mail.to("onward@example.org")[0].secret})
		got := decode(t, body)
		if got.State != flow.StatePassedChallenge || !got.has(1080002) || got.UI.Method != http.MethodGet || got.UI.Action != "https://app.example.com/verified" {
			t.Errorf("completed flow = %+v, want passed_challenge, 1080002 and a GET to the after URL", got)
		}
	})
}

// TestVerification_LinkTokenOfAnotherFlowStaysUsable: a token tried on the wrong flow
// is not spent.
func TestVerification_LinkTokenOfAnotherFlowStaysUsable(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{Method: onetime.MethodLink})
		i := e.user(t, "token@example.org")
		f := e.newNative(t)
		e.post(t, f, map[string]any{"method": "link", "email": "token@example.org"})
		link, err := url.Parse(e.mail.to("token@example.org")[0].secret)
		if err != nil {
			t.Fatal(err)
		}
		q := link.Query()
		q.Set("flow", e.newNative(t))
		wrong := *link
		wrong.RawQuery = q.Encode()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(wrong.String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("wrong flow: status %d, want 303", res.StatusCode)
		}
		res, err = c.Get(link.String())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("right flow: status %d, want 200 (API flow)", res.StatusCode)
		}
		got, err := e.ids.Get(context.Background(), i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.VerifiableAddresses[0].Verified {
			t.Errorf("address not verified by its own flow's token")
		}
	})
}

func TestVerification_BrowserState(t *testing.T) {
	for _, tc := range []struct {
		header http.Header
		refuse bool
	}{
		{http.Header{}, false},
		{http.Header{"Cookie": {"__cf_bm=1; cf_clearance=2"}}, false},
		{http.Header{"Cookie": {"session=1"}}, true},
		{http.Header{"Origin": {"https://evil.example"}}, true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header = tc.header
		if got := browserState(r) != ""; got != tc.refuse {
			t.Errorf("browserState(%v) refuses = %v, want %v", tc.header, got, tc.refuse)
		}
	}
}

func TestVerification_Defaults(t *testing.T) {
	h := NewHandler(&flow.Kit{}, nil, nil, Options{})
	if h.opts.Method != onetime.MethodCode || h.opts.MaxAttempts != 5 || h.opts.CodeLifespan != time.Hour || h.opts.LinkLifespan != time.Hour {
		t.Errorf("defaults = %+v", h.opts)
	}
}

// TestVerification_UnknownAddressGetsTheSameWork: an address no account
// uses gets the answer a known one gets, and the message a known one
// would get is rehearsed for it (with the notice queued in its place when
// unknown recipients are notified); the known one's message carries
// Kratos's template fields.
func TestVerification_UnknownAddressGetsTheSameWork(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, method := range []string{onetime.MethodCode, onetime.MethodLink} {
			for _, notify := range []bool{false, true} {
				e := newEnv(t, s, Options{Method: method, NotifyUnknownRecipients: notify})
				suffix := method + map[bool]string{false: "-q", true: "-n"}[notify] + "@example.org"
				known, unknown := "known-"+suffix, "nobody-"+suffix
				e.user(t, known)
				transient := map[string]any{"campaign": "spring"}
				sa, a := e.post(t, e.newNative(t), map[string]any{"method": method, "email": known, "transient_payload": transient})
				sb, b := e.post(t, e.newNative(t), map[string]any{"method": method, "email": unknown, "transient_payload": transient})
				fa, fb := decode(t, a), decode(t, b)
				if sa != http.StatusOK || sb != http.StatusOK || fa.State != fb.State || len(fa.UI.Messages) != len(fb.UI.Messages) {
					t.Errorf("%s notify=%v: answers differ: %d %s vs %d %s", method, notify, sa, a, sb, b)
				}
				sent := e.mail.to(known)
				want := map[string]string{onetime.MethodCode: courier.VerificationCodeValid, onetime.MethodLink: courier.VerificationValid}[method]
				if len(sent) != 1 || sent[0].msg.Template != want || sent[0].msg.Identity == nil || sent[0].msg.ExpiresIn != time.Hour ||
					!strings.Contains(sent[0].msg.RequestURL, "/self-service/verification/api") || sent[0].msg.TransientPayload["campaign"] != "spring" {
					t.Errorf("%s notify=%v: known address got %+v", method, notify, sent)
				}
				e.mail.mu.Lock()
				rehearsed := append([]courier.Message(nil), e.mail.rehearsed...)
				e.mail.mu.Unlock()
				if len(rehearsed) != 1 || rehearsed[0].Template != want || rehearsed[0].To != unknown || rehearsed[0].Identity != nil {
					t.Errorf("%s notify=%v: rehearsals %+v, want one %s to %s", method, notify, rehearsed, want, unknown)
				}
				notices := e.mail.to(unknown)
				switch {
				case notify && (len(notices) != 1 || notices[0].kind != "unknown-"+method):
					t.Errorf("%s: notify_unknown_recipients: %+v, want one notice", method, notices)
				case !notify && len(notices) != 0:
					t.Errorf("%s: the unknown address got %+v", method, notices)
				}
			}
		}
	})
}
