package totp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

var ctx = context.Background()

const testCipherSecret = "totp-test-cipher-secret-32bytes!"

// clock is a fixed moment in the middle of a time step, so that the
// steps around it are well defined.
var clock = time.Unix(1_800_000_015, 0)

type fixture struct {
	s   *store.Store
	ids *identity.Manager
	m   *Method
	sch *schema.Schema
}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	c, err := cipher.New(cipher.XChaCha20Poly1305, []string{testCipherSecret})
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := identitytest.NewManager(t, s, "https://auth.example.com/")
	m := New(ids, c, "Example Inc")
	m.now = func() time.Time { return clock }
	ids.SetDeclassifier(ID, m.Declassify)
	return &fixture{s: s, ids: ids, m: m, sch: ids.Schemas().Default()}
}

func (f *fixture) identity(t *testing.T, email string) *identity.Identity {
	t.Helper()
	pw := "a-long-enough-passphrase"
	i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`), Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func (f *fixture) reload(t *testing.T, i *identity.Identity) *identity.Identity {
	t.Helper()
	got, err := f.ids.Get(ctx, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func newFlow(kind flow.Kind, aal string) *flow.Flow {
	f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/", nil), "https://auth.example.com/", time.Hour)
	f.RequestedAAL = aal
	return f
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// commit runs an outcome's Commit in a transaction of its own.
func (f *fixture) commit(out *flow.Outcome) (*identity.Identity, error) {
	var written *identity.Identity
	err := f.s.Write(ctx, func(q *store.Q) error {
		var err error
		written, err = out.Commit(ctx, q)
		return err
	})
	return written, err
}

// only is the single message of a FormError on field.
func only(t *testing.T, err error, field string) *text.Message {
	t.Helper()
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != field {
		t.Fatalf("error %v; want one message on %q", err, field)
	}
	return fe[0].Message
}

// sdkNodes decodes the flow's nodes with the official SDK.
func sdkNodes(t *testing.T, f *flow.Flow) []ory.UiNode {
	t.Helper()
	raw, err := json.Marshal(f.UI)
	if err != nil {
		t.Fatal(err)
	}
	var c ory.UiContainer
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("the SDK cannot decode %s: %v", raw, err)
	}
	return c.Nodes
}

// settingsNodes renders the settings nodes of i on f and answers the key
// shown, read from the secret text node.
func (f *fixture) settingsNodes(t *testing.T, fl *flow.Flow, i *identity.Identity) string {
	t.Helper()
	fl.UI.Nodes = nil
	if err := f.m.AddNodes(ctx, fl, flow.NodeContext{Schema: f.sch, Identity: i}); err != nil {
		t.Fatal(err)
	}
	for _, n := range sdkNodes(t, fl) {
		if n.Attributes.UiNodeTextAttributes != nil && n.Attributes.UiNodeTextAttributes.Id == nodeSecret {
			return n.Attributes.UiNodeTextAttributes.Text.Text
		}
	}
	return ""
}

// setUp gives i an app through a settings flow and answers its key.
func (f *fixture) setUp(t *testing.T, i *identity.Identity) string {
	t.Helper()
	fl := newFlow(flow.Settings, "")
	secret := f.settingsNodes(t, fl, i)
	out, err := f.m.Submit(ctx, &flow.Submission{Flow: fl, Identity: i, Privileged: true, Payload: flow.Payload{"method": ID, fieldCode: codeAt(t, secret, clock)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.commit(out); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestKeyAndURL(t *testing.T) {
	f := newFixture(t, nil)
	k, err := f.m.newKey("ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(k.URL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || k.Issuer() != "Example Inc" || k.AccountName() != "ada@example.org" {
		t.Errorf("url %s: issuer %q account %q", k.URL(), k.Issuer(), k.AccountName())
	}
	if q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("issuer") != "Example Inc" {
		t.Errorf("url %s: parameters %v", k.URL(), q)
	}
	// 20 random bytes are 32 base32 characters without padding.
	if s := k.Secret(); len(s) != 32 || strings.Contains(s, "=") {
		t.Errorf("secret %q", s)
	}
	if other, _ := f.m.newKey("ada@example.org"); other.Secret() == k.Secret() {
		t.Error("two keys share a secret")
	}

	img, err := qrDataURI(k)
	if err != nil {
		t.Fatal(err)
	}
	b64, ok := strings.CutPrefix(img, "data:image/png;base64,")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		t.Fatalf("QR code %.40q: %v", img, err)
	}
	pic, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if b := pic.Bounds(); b.Dx() != 256 || b.Dy() != 256 {
		t.Errorf("QR code is %v", b)
	}
}

func TestMatch(t *testing.T) {
	k, err := otp.NewKeyFromURL("otpauth://totp/X:a?secret=JBSWY3DPEHPK3PXP&issuer=X")
	if err != nil {
		t.Fatal(err)
	}
	step := clock.Unix() / 30
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
		step   int64
	}{
		{"current", 0, true, step},
		{"one step early", -30 * time.Second, true, step - 1},
		{"one step late", 30 * time.Second, true, step + 1},
		{"two steps early", -60 * time.Second, false, 0},
		{"two steps late", 60 * time.Second, false, 0},
	} {
		code := codeAt(t, k.Secret(), clock.Add(tc.offset))
		got, ok := match(k, code, clock)
		if ok != tc.ok || got != tc.step {
			t.Errorf("%s: match = %d, %v; want %d, %v", tc.name, got, ok, tc.step, tc.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "00000000000"} {
		if _, ok := match(k, bad, clock); ok {
			t.Errorf("%q matched", bad)
		}
	}
}

func TestSettingsNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		fl := newFlow(flow.Settings, "")
		secret := f.settingsNodes(t, fl, i)
		nodes := sdkNodes(t, fl)
		if len(nodes) != 4 {
			t.Fatalf("%d nodes; want the QR code, the key, the code and the button", len(nodes))
		}
		qr, key, code, submit := nodes[0], nodes[1], nodes[2], nodes[3]
		for _, n := range nodes {
			if n.Group != "totp" {
				t.Errorf("node group %q", n.Group)
			}
		}
		if a := qr.Attributes.UiNodeImageAttributes; a == nil || a.Id != "totp_qr" || a.Width != 256 || a.Height != 256 ||
			!strings.HasPrefix(a.Src, "data:image/png;base64,") || qr.Meta.Label.Id != 1050005 {
			t.Errorf("QR node %+v", qr)
		}
		if a := key.Attributes.UiNodeTextAttributes; a == nil || a.Id != "totp_secret_key" || a.Text.Id != 1050006 ||
			a.Text.Text != secret || a.Text.Context["secret"] != secret || key.Meta.Label.Id != 1050017 {
			t.Errorf("key node %+v", key)
		}
		if a := code.Attributes.UiNodeInputAttributes; a == nil || a.Name != "totp_code" || a.Type != "text" || !a.GetRequired() || code.Meta.Label.Id != 1070006 {
			t.Errorf("code node %+v", code)
		}
		if a := submit.Attributes.UiNodeInputAttributes; a == nil || a.Name != "method" || a.Type != "submit" || a.Value != "totp" || submit.Meta.Label.Id != 1070003 {
			t.Errorf("submit node %+v", submit)
		}
		// The key URL carries the account name the schema marks.
		k, ok := f.m.pending(fl)
		if !ok || k.AccountName() != "ada@example.org" || k.Secret() != secret {
			t.Errorf("pending key %v, %v", k, ok)
		}

		// Every render shows the same key until it is confirmed.
		if again := f.settingsNodes(t, fl, i); again != secret {
			t.Errorf("a second render shows key %q; the first showed %q", again, secret)
		}
		// Kept encrypted: the flow's state holds no part of the key.
		for name, v := range fl.Internal {
			if strings.Contains(string(v), secret) || strings.Contains(string(v), "otpauth") {
				t.Errorf("flow state %s holds the key in the clear: %s", name, v)
			}
		}

		// With an app: only the button that removes it.
		f.setUp(t, i)
		i = f.reload(t, i)
		fl = newFlow(flow.Settings, "")
		f.settingsNodes(t, fl, i)
		nodes = sdkNodes(t, fl)
		if len(nodes) != 1 {
			t.Fatalf("%d nodes with an app set up", len(nodes))
		}
		if a := nodes[0].Attributes.UiNodeInputAttributes; a == nil || a.Name != "totp_unlink" || a.Type != "submit" || a.Value != "true" ||
			!a.GetRequired() || nodes[0].Meta.Label.Id != 1050004 || nodes[0].Group != "totp" {
			t.Errorf("unlink node %+v", nodes[0])
		}
		if _, ok := fl.Internal[pendingKeyName]; ok {
			t.Error("a flow with the app set up keeps a new key")
		}
	})
}

func TestAccountNameFallsBackToID(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "bob@example.org")
		fl := newFlow(flow.Settings, "")
		if err := f.m.AddNodes(ctx, fl, flow.NodeContext{Identity: i}); err != nil {
			t.Fatal(err)
		}
		if k, ok := f.m.pending(fl); !ok || k.AccountName() != i.ID.String() {
			t.Errorf("account name without a schema: %v", k)
		}
	})
}

func TestLoginNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		render := func(aal string, who *identity.Identity) []ory.UiNode {
			fl := newFlow(flow.Login, aal)
			if err := f.m.AddNodes(ctx, fl, flow.NodeContext{Schema: f.sch, Identity: who}); err != nil {
				t.Fatal(err)
			}
			return sdkNodes(t, fl)
		}
		if n := render("aal2", i); len(n) != 0 {
			t.Errorf("aal2 login of an identity without an app: %d nodes", len(n))
		}
		f.setUp(t, i)
		i = f.reload(t, i)
		for _, aal := range []string{"", "aal1"} {
			if n := render(aal, i); len(n) != 0 {
				t.Errorf("%q login: %d nodes; TOTP is a second factor only", aal, len(n))
			}
		}
		nodes := render("aal2", i)
		if len(nodes) != 2 {
			t.Fatalf("aal2 login: %d nodes", len(nodes))
		}
		if a := nodes[0].Attributes.UiNodeInputAttributes; a == nil || a.Name != "totp_code" || a.Type != "text" || !a.GetRequired() ||
			a.Value != "" || nodes[0].Meta.Label.Id != 1010006 || nodes[0].Group != "totp" {
			t.Errorf("code node %+v", nodes[0])
		}
		if a := nodes[1].Attributes.UiNodeInputAttributes; a == nil || a.Name != "method" || a.Value != "totp" || nodes[1].Meta.Label.Id != 1010009 {
			t.Errorf("submit node %+v", nodes[1])
		}
	})
}

func TestConfirm(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		fl := newFlow(flow.Settings, "")
		secret := f.settingsNodes(t, fl, i)
		submit := func(p flow.Payload, privileged bool) (*flow.Outcome, error) {
			p["method"] = ID
			return f.m.Submit(ctx, &flow.Submission{Flow: fl, Identity: i, Privileged: privileged, Payload: p})
		}

		if _, err := submit(flow.Payload{fieldCode: codeAt(t, secret, clock)}, false); !errors.Is(err, flow.ErrPrivilegedSessionRequired) {
			t.Errorf("without a recent sign-in: %v", err)
		}
		_, err := submit(flow.Payload{}, true)
		if m := only(t, err, "totp_code"); m.ID != 4000002 || m.Context["property"] != "totp_code" {
			t.Errorf("missing code: %+v", m)
		}
		_, err = submit(flow.Payload{fieldCode: codeAt(t, secret, clock.Add(-2*time.Minute))}, true)
		if m := only(t, err, "totp_code"); m.ID != 4000008 || m.Type != text.Error {
			t.Errorf("wrong code: %+v", m)
		}
		if got := f.reload(t, i); hasTOTP(got) {
			t.Fatal("a wrong code set the app up")
		}

		out, err := submit(flow.Payload{fieldCode: codeAt(t, secret, clock)}, true)
		if err != nil {
			t.Fatal(err)
		}
		if out.AAL != "aal2" || out.Shown {
			t.Errorf("outcome %+v; the session gains totp at aal2", out)
		}
		written, err := f.commit(out)
		if err != nil {
			t.Fatal(err)
		}
		if !hasTOTP(written) {
			t.Error("Commit answers the identity without the app")
		}
		if _, ok := fl.Internal[pendingKeyName]; ok {
			t.Error("the confirmed key is still pending in the flow")
		}
		got := f.reload(t, i)
		c := got.Credentials[ID]
		if c == nil || len(c.Identifiers) != 1 || c.Identifiers[0] != i.ID.String() {
			t.Fatalf("credential %+v", c)
		}
		if (identity.FactorRules{}).AvailableAAL(got) != identity.AAL2 {
			t.Error("the app does not count as a second factor")
		}
		k, err := f.m.credentialKey(got)
		if err != nil || k.Secret() != secret {
			t.Errorf("stored key %v: %v", k, err)
		}
	})
}

func TestEncryptedAtRest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		secret := f.setUp(t, i)
		var config string
		if err := s.Read().QueryRow(ctx, `SELECT config FROM identity_credentials WHERE identity_id = $1 AND type = 'totp'`, i.ID).Scan(&config); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(config, "otpauth") || strings.Contains(config, secret) || strings.Contains(config, `"totp_url"`) {
			t.Errorf("stored config holds the key in the clear: %s", config)
		}
		var cfg storedConfig
		if err := json.Unmarshal([]byte(config), &cfg); err != nil || cfg.URLEncrypted == "" {
			t.Errorf("stored config %s: %v", config, err)
		}
		// Another cipher secret cannot open it.
		other, _ := cipher.New(cipher.XChaCha20Poly1305, []string{"another-cipher-secret-32-bytes!!"})
		if _, err := other.Decrypt(cfg.URLEncrypted); err == nil {
			t.Error("the key opens without the cipher secret")
		}
	})
}

func TestAdminViewDeclassified(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		secret := f.setUp(t, i)
		i = f.reload(t, i)

		srv := httptest.NewServer(adminMux(f.ids))
		defer srv.Close()
		get := func(query string) map[string]any {
			res, err := srv.Client().Get(srv.URL + "/admin/identities/" + i.ID.String() + query)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Credentials map[string]map[string]any `json:"credentials"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			return body.Credentials["totp"]
		}
		c := get("?include_credential=totp")
		cfg, _ := c["config"].(map[string]any)
		u, _ := cfg["totp_url"].(string)
		if len(cfg) != 1 || !strings.HasPrefix(u, "otpauth://totp/") || !strings.Contains(u, "secret="+secret) {
			t.Errorf("include_credential=totp shows %v", c)
		}
		if ids, _ := c["identifiers"].([]any); len(ids) != 1 || ids[0] != i.ID.String() {
			t.Errorf("identifiers %v", c["identifiers"])
		}
		if c := get(""); c == nil || c["config"] != nil {
			t.Errorf("without include_credential: %v", c)
		}
	})
}

func TestDeclassifyKratosShape(t *testing.T) {
	f := newFixture(t, nil)
	// A key stored in the clear, as Kratos stores it, reads the same.
	clear := json.RawMessage(`{"totp_url":"otpauth://totp/X:a?secret=JBSWY3DPEHPK3PXP&issuer=X"}`)
	got, err := f.m.Declassify(clear)
	var shown shownConfig
	if err != nil || json.Unmarshal(got, &shown) != nil || shown.URL != "otpauth://totp/X:a?secret=JBSWY3DPEHPK3PXP&issuer=X" {
		t.Errorf("Declassify(%s) = %s, %v", clear, got, err)
	}
	if _, err := f.m.Declassify(json.RawMessage(`{"totp_url_encrypted":"00ff"}`)); err == nil {
		t.Error("a config that does not open declassifies")
	}
}

func TestLoginAndReplay(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		fl := newFlow(flow.Login, "aal2")
		login := func(who *identity.Identity, code string) (*flow.Outcome, error) {
			p := flow.Payload{"method": ID}
			if code != "" {
				p[fieldCode] = code
			}
			return f.m.Submit(ctx, &flow.Submission{Flow: fl, Identity: who, Payload: p})
		}
		_, err := login(i, "123456")
		if m := only(t, err, ""); m.ID != 4000011 {
			t.Errorf("no app: %+v", m)
		}

		secret := f.setUp(t, i) // accepts the code of clock's step
		i = f.reload(t, i)
		_, err = login(i, "")
		if m := only(t, err, "totp_code"); m.ID != 4000002 {
			t.Errorf("missing code: %+v", m)
		}
		_, err = login(i, codeAt(t, secret, clock.Add(time.Hour)))
		if m := only(t, err, ""); m.ID != 4000008 {
			t.Errorf("wrong code: %+v (flow-level)", m)
		}

		// The code that confirmed the app is spent.
		out, err := login(i, codeAt(t, secret, clock))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.commit(out); only(t, err, "").ID != 4000008 {
			t.Errorf("the setup code signed in: %v", err)
		}

		next := codeAt(t, secret, clock.Add(30*time.Second))
		out, err = login(i, next)
		if err != nil {
			t.Fatal(err)
		}
		if out.AAL != "aal2" || out.Identity == nil || out.Identity.ID != i.ID {
			t.Errorf("outcome %+v", out)
		}
		if _, err := f.commit(out); err != nil {
			t.Fatalf("a fresh code: %v", err)
		}
		// Replayed within its period, or an earlier step still in skew:
		// refused as a wrong code, inside the transaction.
		for _, code := range []string{next, codeAt(t, secret, clock)} {
			out, err := login(i, code)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.commit(out); only(t, err, "").ID != 4000008 {
				t.Errorf("replayed code %s: %v", code, err)
			}
		}
		// A later step is accepted.
		f.m.now = func() time.Time { return clock.Add(time.Minute) }
		out, err = login(i, codeAt(t, secret, clock.Add(time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.commit(out); err != nil {
			t.Errorf("the next period's code: %v", err)
		}

		// Not an aal2 flow: TOTP signs nobody in.
		fl = newFlow(flow.Login, "aal1")
		_, err = login(i, codeAt(t, secret, clock.Add(2*time.Minute)))
		if m := only(t, err, ""); m.ID != text.NoLoginStrategy().ID {
			t.Errorf("aal1 flow: %+v", m)
		}
	})
}

func TestReplayRace(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		secret := f.setUp(t, i)
		i = f.reload(t, i)
		code := codeAt(t, secret, clock.Add(30*time.Second))
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				out, err := f.m.Submit(ctx, &flow.Submission{Flow: newFlow(flow.Login, "aal2"), Identity: i, Payload: flow.Payload{"method": ID, fieldCode: code}})
				if err == nil {
					_, err = f.commit(out)
				}
				errs <- err
			}()
		}
		ok := 0
		for range n {
			err := <-errs
			var fe flow.FormError
			switch {
			case err == nil:
				ok++
			case !errors.As(err, &fe):
				t.Errorf("racing submission: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d racing submissions of one code signed in; want 1", ok, n)
		}
	})
}

func TestUnlink(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "ada@example.org")
		f.setUp(t, i)
		i = f.reload(t, i)
		fl := newFlow(flow.Settings, "")
		unlink := func(p flow.Payload, privileged bool) (*flow.Outcome, error) {
			return f.m.Submit(ctx, &flow.Submission{Flow: fl, Identity: i, Privileged: privileged, Payload: p})
		}
		if _, err := unlink(flow.Payload{"method": ID, fieldUnlink: true}, false); !errors.Is(err, flow.ErrPrivilegedSessionRequired) {
			t.Errorf("without a recent sign-in: %v", err)
		}
		// Without totp_unlink nothing changes.
		out, err := unlink(flow.Payload{"method": ID}, true)
		if err != nil || out.Commit != nil {
			t.Errorf("no unlink: %+v, %v", out, err)
		}
		for _, p := range []flow.Payload{{"method": ID, fieldUnlink: true}, {"method": ID, fieldUnlink: "true"}} {
			i = f.reload(t, i)
			if !hasTOTP(i) {
				f.setUp(t, i)
				i = f.reload(t, i)
			}
			out, err := unlink(p, true)
			if err != nil {
				t.Fatal(err)
			}
			written, err := f.commit(out)
			if err != nil {
				t.Fatal(err)
			}
			if hasTOTP(written) || hasTOTP(f.reload(t, i)) {
				t.Errorf("%v: the app is still there", p)
			}
			if (identity.FactorRules{}).AvailableAAL(f.reload(t, i)) != identity.AAL1 {
				t.Errorf("%v: still aal2 after unlinking", p)
			}
		}
	})
}

func adminMux(ids *identity.Manager) *http.ServeMux {
	mux := http.NewServeMux()
	identity.NewAdminHandler(ids, "http://admin.test/").Register(mux, "/admin")
	return mux
}
