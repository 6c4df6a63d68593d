package webauthn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/flow/flowtest"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/securitykey/keytest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

var bg = context.Background()

// The relying party of the tests, as the browser's virtual authenticator
// sees it: flowtest's public URL is on this host.
const rpID = "auth.example.com"

var browserRP = virtualwebauthn.RelyingParty{ID: rpID, Name: "Example", Origin: "https://" + rpID}

type fixture struct {
	*flowtest.Fixture
	m *Method
}

func newFixture(t *testing.T, s *store.Store, passwordless bool) *fixture {
	t.Helper()
	rp, err := securitykey.New(securitykey.Config{RPID: rpID, RPDisplayName: "Example"}, flowtest.PublicURL, securitykey.WebAuthn)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{}
	fx.Fixture = flowtest.NewFixture(t, s, func(_ flow.Config, ids *identity.Manager, _ *onetime.Codes, _ courier.Outbox) flow.Method {
		fx.m = New(ids, rp, securitykey.NewScript(flowtest.PublicURL), passwordless)
		return fx.m
	})
	return fx
}

// withPassword creates an identity with email and a password.
func (fx *fixture) withPassword(t *testing.T, email string) *identity.Identity {
	t.Helper()
	pw := "a-long-enough-passphrase"
	i, err := fx.IDs.Create(bg, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`), Password: &pw})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func (fx *fixture) reload(t *testing.T, i *identity.Identity) *identity.Identity {
	t.Helper()
	got, err := fx.IDs.Get(bg, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// laidOut is a browser flow of kind whose form the method laid out for
// c, stored and read back, as another instance would read it.
func (fx *fixture) laidOut(t *testing.T, kind flow.Kind, aal string, c flow.NodeContext) *flow.Flow {
	t.Helper()
	f := flow.New(kind, flow.TypeBrowser, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/browser", nil), flowtest.PublicURL, time.Hour)
	f.RequestedAAL = aal
	f.AddCSRF([]byte("0123456789abcdef0123456789abcdef"))
	c.Schema = fx.IDs.Schemas().Default()
	if err := fx.m.AddNodes(bg, f, c); err != nil {
		t.Fatal(err)
	}
	return fx.roundTrip(t, f)
}

// roundTrip stores f and reads it back.
func (fx *fixture) roundTrip(t *testing.T, f *flow.Flow) *flow.Flow {
	t.Helper()
	err := fx.S.Write(bg, func(q *store.Q) error {
		if _, err := flow.Get(bg, q, f.Kind, f.ID); errors.Is(err, flow.ErrFlowNotFound) {
			return flow.Save(bg, q, f)
		}
		return flow.Update(bg, q, f)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := flow.Get(bg, fx.S.Read(), f.Kind, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// commit runs an outcome's Commit in a transaction of its own.
func (fx *fixture) commit(t *testing.T, out *flow.Outcome) (*identity.Identity, error) {
	t.Helper()
	var i *identity.Identity
	err := fx.S.Write(bg, func(q *store.Q) error {
		var err error
		i, err = out.Commit(bg, q)
		return err
	})
	return i, err
}

// option is the options JSON the trigger button named name hands to
// webauthn.js.
func option(t *testing.T, f *flow.Flow, name string) string {
	t.Helper()
	n := f.UI.Find(name)
	if n == nil {
		t.Fatalf("no %s node in %s", name, nodesJSON(t, f))
	}
	v, _ := n.Attributes.Value.(string)
	if v == "" || n.Attributes.Onclick != "window."+n.Attributes.OnclickTrigger+"("+v+")" {
		t.Fatalf("%s: value %q, onclick %q, onclickTrigger %q", name, v, n.Attributes.Onclick, n.Attributes.OnclickTrigger)
	}
	return v
}

func nodesJSON(t *testing.T, f *flow.Flow) string {
	t.Helper()
	raw, err := json.Marshal(f.UI)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// sdkNodes decodes the flow's form with the official SDK.
func sdkNodes(t *testing.T, f *flow.Flow) []ory.UiNode {
	t.Helper()
	var c ory.UiContainer
	if err := json.Unmarshal([]byte(nodesJSON(t, f)), &c); err != nil {
		t.Fatalf("the SDK cannot decode the form: %v", err)
	}
	return c.Nodes
}

// device is a virtual authenticator with one key.
type device struct {
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
	// countless devices keep no sign count (it stays 0), as many do.
	countless bool
}

func newDevice() *device {
	return &device{auth: virtualwebauthn.NewAuthenticator(), cred: keytest.NewCredential()}
}

// create answers a registration trigger's options, as the browser would.
func (d *device) create(t *testing.T, options string) string {
	t.Helper()
	o, err := virtualwebauthn.ParseAttestationOptions(options)
	if err != nil {
		t.Fatal(err)
	}
	d.auth.Options.UserHandle = []byte(o.UserID)
	return virtualwebauthn.CreateAttestationResponse(browserRP, d.auth, d.cred, *o)
}

// get answers a login trigger's options with the next sign count.
func (d *device) get(t *testing.T, options string) string {
	t.Helper()
	o, err := virtualwebauthn.ParseAssertionOptions(options)
	if err != nil {
		t.Fatal(err)
	}
	if !d.countless {
		d.cred.Counter++
	}
	return virtualwebauthn.CreateAssertionResponse(browserRP, d.auth, d.cred, *o)
}

// message is the single message of a FormError.
func message(t *testing.T, err error) *text.Message {
	t.Helper()
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 1 {
		t.Fatalf("error %v; want one form message", err)
	}
	return fe[0].Message
}

func keysOf(t *testing.T, i *identity.Identity) securitykey.Credentials {
	t.Helper()
	c := i.Credentials[ID]
	if c == nil {
		return securitykey.Credentials{}
	}
	cfg, err := securitykey.Read(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// addKey adds d's key to i in a settings flow named name.
func (fx *fixture) addKey(t *testing.T, i *identity.Identity, d *device, name string) *identity.Identity {
	t.Helper()
	f := fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
	out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{
		"method": ID, fieldRegister: d.create(t, option(t, f, fieldRegisterTrigger)), fieldDisplayName: name,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.AAL != fx.m.aal() {
		t.Errorf("adding a key: AAL %q, want %q", out.AAL, fx.m.aal())
	}
	if _, err := fx.commit(t, out); err != nil {
		t.Fatal(err)
	}
	return fx.reload(t, i)
}

// secondFactor answers a new aal2 login of i with d's key.
func (fx *fixture) secondFactor(t *testing.T, i *identity.Identity, d *device) (*flow.Outcome, error) {
	t.Helper()
	f := fx.laidOut(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: i})
	return fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{fieldLogin: d.get(t, option(t, f, fieldLoginTrigger))}})
}

func TestSecondFactor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, false)
		i := fx.withPassword(t, "ada@example.org")
		key := newDevice()

		// Adding a key needs a recent sign-in.
		f := fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
		payload := flow.Payload{"method": ID, fieldRegister: key.create(t, option(t, f, fieldRegisterTrigger)), fieldDisplayName: "YubiKey"}
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: payload}); !errors.Is(err, flow.ErrPrivilegedSessionRequired) {
			t.Fatalf("adding without a recent sign-in: %v", err)
		}
		i = fx.addKey(t, i, key, "YubiKey")
		cfg := keysOf(t, i)
		if len(cfg.Keys) != 1 || cfg.Keys[0].DisplayName != "YubiKey" || cfg.Keys[0].IsPasswordless || !bytes.Equal(cfg.UserHandle, i.ID[:]) {
			t.Fatalf("stored keys: %+v", cfg)
		}
		if got := i.Credentials[ID].Identifiers; len(got) != 1 || got[0] != "ada@example.org" {
			t.Errorf("identifiers %v", got)
		}
		if (identity.FactorRules{}).AvailableAAL(i) != identity.AAL2 {
			t.Error("a key should be a second factor")
		}

		// A first-factor login offers nothing; aal2 offers the key.
		if first := fx.laidOut(t, flow.Login, identity.AAL1, flow.NodeContext{}); len(first.UI.Nodes) != 1 {
			t.Errorf("aal1 login nodes: %s", nodesJSON(t, first))
		}
		f = fx.laidOut(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: i})
		if n := f.UI.Find("identifier"); n == nil || n.Attributes.Type != "hidden" || n.Attributes.Value != "ada@example.org" {
			t.Errorf("identifier node: %s", nodesJSON(t, f))
		}
		if n := f.UI.Find(fieldLoginTrigger); n == nil || n.Meta.Label.ID != 1010008 || n.Attributes.OnclickTrigger != loginFunction {
			t.Errorf("trigger: %s", nodesJSON(t, f))
		}
		sdk := sdkNodes(t, f)
		if len(sdk) != 5 || sdk[2].Attributes.UiNodeScriptAttributes == nil || sdk[2].Attributes.UiNodeScriptAttributes.Id != "webauthn_script" {
			t.Errorf("login nodes: %s", nodesJSON(t, f))
		}

		// Another key is refused, and spends the challenge.
		stranger := newDevice()
		stranger.auth.Options.UserHandle = i.ID[:]
		stranger.cred.ID = key.cred.ID // even one claiming the registered key's id
		answer := stranger.get(t, option(t, f, fieldLoginTrigger))
		_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"method": ID, fieldLogin: answer}})
		if m := message(t, err); m.ID != 4000008 {
			t.Fatalf("another key: %+v", m)
		}
		f = fx.roundTrip(t, f) // the refused submission's flow is stored, with a new challenge

		answer = key.get(t, option(t, f, fieldLoginTrigger))
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"method": ID, "identifier": "", fieldLogin: answer}})
		if err != nil || out.Identity == nil || out.Identity.ID != i.ID || out.AAL != identity.AAL2 {
			t.Fatalf("the key: %+v, %v", out, err)
		}
		if _, err := fx.commit(t, out); err != nil {
			t.Fatal(err)
		}
		if got := keysOf(t, fx.reload(t, i)).Keys[0].Authenticator.SignCount; got != key.cred.Counter {
			t.Errorf("stored sign count %d, want %d", got, key.cred.Counter)
		}

		// The same answer again: its challenge is spent.
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{fieldLogin: answer}}); message(t, err).ID != 4000008 {
			t.Fatalf("a replayed answer: %v", err)
		}
		// Nor does it answer another flow's challenge.
		other := fx.laidOut(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: fx.reload(t, i)})
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: other, Identity: i, Payload: flow.Payload{fieldLogin: answer}}); message(t, err).ID != 4000008 {
			t.Fatalf("an answer to another challenge: %v", err)
		}
		if !fx.m.Implies(flow.Payload{fieldLogin: answer}) || fx.m.Implies(flow.Payload{"method": "password", fieldLogin: answer}) {
			t.Error("Implies")
		}

		// Removing it, by its hex id.
		i = fx.reload(t, i)
		f = fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
		n := f.UI.Find(fieldRemove)
		hexID := cfg.Keys[0].HexID()
		if n == nil || n.Attributes.Value != hexID || n.Attributes.Disabled || n.Meta.Label.ID != 1050018 || n.Meta.Label.Context["display_name"] != "YubiKey" {
			t.Fatalf("remove button: %s", nodesJSON(t, f))
		}
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: "00ff"}}); message(t, err).ID != 4000001 {
			t.Fatalf("an unknown key: %v", err)
		}
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{"method": ID, fieldRemove: strings.ToUpper(hexID)}})
		if err != nil || out.AAL != "" {
			t.Fatalf("removing: %+v, %v", out, err)
		}
		written, err := fx.commit(t, out)
		if err != nil || written.Credentials[ID] != nil {
			t.Fatalf("removed: %+v, %v", written, err)
		}
		if i = fx.reload(t, i); i.Credentials[ID] != nil || (identity.FactorRules{}).AvailableAAL(i) != identity.AAL1 {
			t.Errorf("after removing: %+v", i.Credentials)
		}
		// With no key left, aal2 offers none.
		if f := fx.laidOut(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: i}); f.UI.Find(fieldLoginTrigger) != nil {
			t.Errorf("aal2 nodes without keys: %s", nodesJSON(t, f))
		}
	})
}

func TestClonedKeyRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, false)
		i := fx.withPassword(t, "ada@example.org")
		key := newDevice()
		i = fx.addKey(t, i, key, "")
		key.cred.Counter = 10
		out, err := fx.secondFactor(t, i, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.commit(t, out); err != nil {
			t.Fatal(err)
		}
		// A copy of the key, with a counter behind the original's.
		key.cred.Counter = 3
		i = fx.reload(t, i)
		if _, err := fx.secondFactor(t, i, key); message(t, err).ID != 4000008 {
			t.Fatalf("a cloned key: %v", err)
		}
		if got := keysOf(t, fx.reload(t, i)).Keys[0].Authenticator.SignCount; got != 11 {
			t.Errorf("sign count after the refusal: %d, want 11", got)
		}

		// Two sign-ins answered with one count: the second to commit is
		// refused.
		key.cred.Counter = 20
		var outs []*flow.Outcome
		for range 2 {
			key.cred.Counter--
			out, err := fx.secondFactor(t, i, key)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		if _, err := fx.commit(t, outs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.commit(t, outs[1]); message(t, err).ID != 4000008 {
			t.Fatalf("the second sign-in with one count: %v", err)
		}
	})
}

// TestReplayWithoutSignCount replays an answer of a key that keeps no
// sign count, so that only the spent challenge can refuse it.
func TestReplayWithoutSignCount(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, false)
		i := fx.withPassword(t, "ada@example.org")
		key := newDevice()
		key.countless = true
		i = fx.addKey(t, i, key, "")
		f := fx.laidOut(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: i})
		answer := key.get(t, option(t, f, fieldLoginTrigger))
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{fieldLogin: answer}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.commit(t, out); err != nil {
			t.Fatal(err)
		}
		// As another instance reads the flow the first one wrote.
		f = fx.roundTrip(t, f)
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{fieldLogin: answer}}); message(t, err).ID != 4000008 {
			t.Fatalf("a replayed answer: %v", err)
		}
	})
}

func TestPasswordless(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, true)
		key := newDevice()

		// Sign-up.
		sch := fx.IDs.Schemas().Default()
		f := fx.laidOut(t, flow.Registration, "", flow.NodeContext{Step: flow.StepOneStep})
		if n := f.UI.Find(fieldRegisterTrigger); n == nil || n.Meta.Label.ID != 1040004 || f.UI.Find(fieldDisplayName).Meta.Label.ID != 1050013 {
			t.Fatalf("registration nodes: %s", nodesJSON(t, f))
		}
		if p := fx.laidOut(t, flow.Registration, "", flow.NodeContext{Step: flow.StepProfile}); len(p.UI.Nodes) != 1 {
			t.Errorf("profile step nodes: %s", nodesJSON(t, p))
		}
		answer := key.create(t, option(t, f, fieldRegisterTrigger))
		traits := map[string]any{"email": "Ada@Example.org"}
		_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: map[string]any{"email": "not an email"}, Payload: flow.Payload{fieldRegister: answer}})
		var fe flow.FormError
		if !errors.As(err, &fe) || fe[0].Field != "traits.email" {
			t.Fatalf("invalid traits: %v", err)
		}
		f = fx.laidOut(t, flow.Registration, "", flow.NodeContext{Step: flow.StepOneStep})
		answer = key.create(t, option(t, f, fieldRegisterTrigger))
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits, Payload: flow.Payload{
			"method": ID, "traits": traits, fieldRegister: answer, fieldDisplayName: " My key ",
		}})
		if err != nil || out.AAL != identity.AAL1 {
			t.Fatalf("sign-up: %+v, %v", out, err)
		}
		i, err := fx.commit(t, out)
		if err != nil {
			t.Fatal(err)
		}
		i = fx.reload(t, i)
		cfg := keysOf(t, i)
		if len(cfg.Keys) != 1 || !cfg.Keys[0].IsPasswordless || cfg.Keys[0].DisplayName != "My key" || len(cfg.UserHandle) != 16 || bytes.Equal(cfg.UserHandle, i.ID[:]) {
			t.Fatalf("stored keys: %+v", cfg)
		}
		if got := i.Credentials[ID].Identifiers; len(got) != 1 || got[0] != "ada@example.org" {
			t.Errorf("identifiers %v", got)
		}
		if (identity.FactorRules{}).AvailableAAL(i) != identity.AAL1 {
			t.Error("a passwordless key should be a first factor")
		}
		// The challenge was spent with the sign-up.
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits, Payload: flow.Payload{fieldRegister: answer}}); message(t, err).ID != 4000008 {
			t.Fatalf("a replayed sign-up: %v", err)
		}

		// Sign-in: the identifier first.
		f = fx.laidOut(t, flow.Login, identity.AAL1, flow.NodeContext{})
		if n := f.UI.Find("method"); n == nil || n.Attributes.Value != ID || n.Meta.Label.ID != 1010008 || f.UI.Find("identifier").Attributes.Autocomplete != "username webauthn" {
			t.Fatalf("login nodes: %s", nodesJSON(t, f))
		}
		pw := fx.withPassword(t, "grace@example.org")
		for _, nobody := range []string{"nobody@example.org", "Grace@example.org"} {
			if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": nobody}}); message(t, err).ID != 4000015 {
				t.Errorf("identifier %q: %v", nobody, err)
			}
		}
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "ADA@example.org"}})
		if err != nil || !out.Shown || !out.Relocate {
			t.Fatalf("the identifier: %+v, %v", out, err)
		}
		if n := f.UI.Find(fieldLoginTrigger); n == nil || n.Meta.Label.ID != 1010013 || len(f.UI.Messages) != 1 || f.UI.Messages[0].ID != 1010012 {
			t.Fatalf("the key's step: %s", nodesJSON(t, f))
		}
		if n := f.UI.Find("identifier"); n.Attributes.Type != "hidden" || n.Attributes.Value != "ADA@example.org" {
			t.Errorf("identifier: %+v", n.Attributes)
		}
		f = fx.roundTrip(t, f)
		answer = key.get(t, option(t, f, fieldLoginTrigger))
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "ada@example.org", fieldLogin: answer}})
		if err != nil || out.Identity == nil || out.Identity.ID != i.ID || out.AAL != identity.AAL1 {
			t.Fatalf("the key: %+v, %v", out, err)
		}
		if _, err := fx.commit(t, out); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "ada@example.org", fieldLogin: answer}}); message(t, err).ID != 4000008 {
			t.Fatalf("a replayed answer: %v", err)
		}

		// Identifier-first login offers the key to its owner only.
		f = fx.laidOut(t, flow.Login, identity.AAL1, flow.NodeContext{})
		f.UI.KeepOnlyCSRF()
		if yes, err := fx.m.AddIdentifiedNodes(bg, f, flow.NodeContext{Identity: fx.reload(t, i)}, false); !yes || err != nil || f.UI.Find("method") == nil {
			t.Errorf("identified owner: %v, %v", yes, err)
		}
		f.UI.KeepOnlyCSRF()
		if yes, _ := fx.m.AddIdentifiedNodes(bg, f, flow.NodeContext{Identity: pw}, false); yes || f.UI.Find("method") != nil {
			t.Errorf("identified without a key: %v", yes)
		}
		if yes, _ := fx.m.AddIdentifiedNodes(bg, f, flow.NodeContext{}, true); yes || f.UI.Find("method") == nil {
			t.Errorf("identified with enumeration mitigated: %v", yes)
		}

		// The only way in cannot be removed.
		i = fx.reload(t, i)
		f = fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
		if n := f.UI.Find(fieldRemove); n == nil || !n.Attributes.Disabled {
			t.Fatalf("remove button: %s", nodesJSON(t, f))
		}
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: cfg.Keys[0].HexID()}}); message(t, err).ID != 4000001 {
			t.Fatalf("removing the only way in: %v", err)
		}
		// With a second key, either may go; the handle stays the sign-up's.
		second := newDevice()
		i = fx.addKey(t, i, second, "Spare")
		if got := keysOf(t, i); len(got.Keys) != 2 || !got.Keys[1].IsPasswordless || !bytes.Equal(got.UserHandle, cfg.UserHandle) {
			t.Fatalf("after adding a second key: %+v", got)
		}
		f = fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: cfg.Keys[0].HexID()}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.commit(t, out); err != nil {
			t.Fatal(err)
		}
		// The spare key signs in.
		f = fx.laidOut(t, flow.Login, identity.AAL1, flow.NodeContext{})
		if _, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "ada@example.org"}}); err != nil {
			t.Fatal(err)
		}
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"identifier": "ada@example.org", fieldLogin: second.get(t, option(t, f, fieldLoginTrigger))}})
		if err != nil || out.Identity == nil {
			t.Fatalf("the spare key: %+v, %v", out, err)
		}
	})
}

func TestRacingRemovalsKeepAWayIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, true)
		key, spare := newDevice(), newDevice()
		// An identity whose only ways in are two passwordless keys.
		i, err := fx.IDs.Create(bg, identity.Draft{Traits: json.RawMessage(`{"email":"ada@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}
		i = fx.addKey(t, i, key, "one")
		i = fx.addKey(t, i, spare, "two")
		cfg := keysOf(t, i)
		var outs []*flow.Outcome
		for _, k := range cfg.Keys {
			f := fx.laidOut(t, flow.Settings, "", flow.NodeContext{Identity: i})
			out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: k.HexID()}})
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		if _, err := fx.commit(t, outs[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.commit(t, outs[1]); message(t, err).ID != 4000001 {
			t.Fatalf("the second removal: %v", err)
		}
		if got := keysOf(t, fx.reload(t, i)); len(got.Keys) != 1 || got.Keys[0].DisplayName != "two" {
			t.Errorf("keys left: %+v", got.Keys)
		}
	})
}

func TestRefreshAcceptsAnyKey(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, false)
		i := fx.withPassword(t, "ada@example.org")
		key := newDevice()
		i = fx.addKey(t, i, key, "")
		f := flow.New(flow.Login, flow.TypeBrowser, httptest.NewRequest("GET", "/self-service/login/browser?refresh=true", nil), flowtest.PublicURL, time.Hour)
		f.Refresh, f.RequestedAAL = true, identity.AAL1
		f.AddCSRF([]byte("0123456789abcdef0123456789abcdef"))
		if err := fx.m.AddNodes(bg, f, flow.NodeContext{Schema: fx.IDs.Schemas().Default(), Identity: i}); err != nil {
			t.Fatal(err)
		}
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{fieldLogin: key.get(t, option(t, f, fieldLoginTrigger))}})
		if err != nil || out.Identity.ID != i.ID || out.AAL != identity.AAL2 {
			t.Fatalf("refresh: %+v, %v", out, err)
		}
	})
}

func TestBrowserFlowsOnly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s, true)
		i := fx.withPassword(t, "ada@example.org")
		for _, kind := range []flow.Kind{flow.Login, flow.Registration, flow.Settings} {
			f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/", nil), flowtest.PublicURL, time.Hour)
			f.AddCSRF(nil)
			if err := fx.m.AddNodes(bg, f, flow.NodeContext{Schema: fx.IDs.Schemas().Default(), Identity: i, Step: flow.StepOneStep}); err != nil || len(f.UI.Nodes) != 1 {
				t.Errorf("%s: API flow nodes %s, %v", kind, nodesJSON(t, f), err)
			}
			_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Schema: fx.IDs.Schemas().Default(),
				Payload: flow.Payload{"method": ID, "identifier": "ada@example.org", fieldLogin: "{}", fieldRegister: "{}"}})
			if id := message(t, err).ID; id != 4010002 && id != 4010003 && id != 4010004 {
				t.Errorf("%s: API submission answered %d", kind, id)
			}
		}
	})
}
