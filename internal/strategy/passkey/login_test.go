package passkey

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	vw "github.com/descope/virtualwebauthn"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/securitykey/keytest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestLoginNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		f := fx.newFlow(t, flow.Login, flow.TypeBrowser, flow.NodeContext{})
		want := []string{"default/csrf_token", "default/identifier", "passkey/passkey_challenge", "webauthn/webauthn_script", "passkey/passkey_login", "passkey/passkey_login_trigger"}
		if got := nodeNames(f); !slices.Equal(got, want) {
			t.Fatalf("nodes %v, want %v", got, want)
		}
		if a := f.UI.Find(fieldIdentifier).Attributes; a.Autocomplete != "username webauthn" || !a.Required || a.Type != "text" {
			t.Errorf("identifier: %+v", a)
		}
		var challenge struct {
			PublicKey struct {
				Challenge        string            `json:"challenge"`
				AllowCredentials []json.RawMessage `json:"allowCredentials"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal([]byte(f.UI.Find(fieldChallenge).Attributes.Value.(string)), &challenge); err != nil ||
			challenge.PublicKey.Challenge == "" || len(challenge.PublicKey.AllowCredentials) != 0 {
			t.Errorf("challenge: %+v, %v", challenge, err)
		}
		if a := f.UI.Find(fieldLogin).Attributes; a.OnloadTrigger != triggerLoginAutocomplete || a.Onload != "window.oryPasskeyLoginAutocompleteInit()" {
			t.Errorf("passkey_login: %+v", a)
		}
		n := f.UI.Find(fieldLoginTrigger)
		if n.Attributes.OnclickTrigger != triggerLogin || n.Attributes.Onclick != "window.oryPasskeyLogin()" || n.Meta.Label.ID != 1010021 || n.Attributes.Value != "" {
			t.Errorf("trigger: %+v %+v", n.Attributes, n.Meta.Label)
		}
		if f.Internal[sessionKey] == nil {
			t.Error("the flow keeps no ceremony")
		}

		api := fx.newFlow(t, flow.Login, flow.TypeAPI, flow.NodeContext{})
		if got := nodeNames(api); !slices.Equal(got, []string{"default/csrf_token", "default/identifier", "passkey/passkey_challenge", "passkey/passkey_login", "passkey/passkey_login_trigger"}) {
			t.Errorf("API nodes: %v", got)
		}
		if a := api.UI.Find(fieldLoginTrigger).Attributes; a.Onclick != "" || a.OnclickTrigger != triggerLogin {
			t.Errorf("API trigger: %+v", a)
		}

		second := bareFlow(flow.Login, flow.TypeBrowser)
		second.RequestedAAL = identity.AAL2
		if err := fx.m.AddNodes(bg, second, flow.NodeContext{Schema: fx.IDs.Schemas().Default()}); err != nil || len(second.UI.Nodes) != 1 {
			t.Errorf("aal2 login: %v, %v", nodeNames(second), err)
		}
	})
}

func TestDiscoverableLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "ada@example.org")
		d.creds[0].Counter = 7

		f, out, err := fx.signIn(t, d, 0)
		if err != nil {
			t.Fatal(err)
		}
		if out.Identity == nil || out.Identity.ID != i.ID || out.AAL != identity.AAL1 {
			t.Fatalf("outcome: %+v", out)
		}
		if f.Internal[sessionKey] != nil {
			t.Error("the flow still keeps the answered ceremony")
		}
		fx.commit(t, out)
		stored, err := fx.IDs.Get(bg, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := securitykey.Read(stored.Credentials[ID].Config)
		if a := cfg.Keys[0].Authenticator; a == nil || a.SignCount != 7 {
			t.Errorf("sign count after login: %+v", a)
		}
		if stored.Credentials[ID].Identifiers[0] != string(d.handles[0]) {
			t.Errorf("identifiers after login: %v", stored.Credentials[ID].Identifiers)
		}

		// The same answer again: the flow forgot its challenge; another
		// flow has a challenge of its own.
		answer := d.assert(t, fx, f, 0) // the challenge node now shows nothing new: same flow, stale options
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, fieldLogin: answer}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("replay on the same flow: %+v", m)
		}
		g := fx.newFlow(t, flow.Login, flow.TypeBrowser, flow.NodeContext{})
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: g, Payload: flow.Payload{"method": ID, fieldLogin: answer}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("replay on another flow: %+v", m)
		}
		// A refusal comes with a new challenge, which the device can answer.
		d.creds[0].Counter = 8
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: g, Payload: flow.Payload{fieldLogin: d.assert(t, fx, g, 0)}})
		if err != nil {
			t.Errorf("after a refusal: %v", err)
		}
	})
}

func TestLoginRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "ada@example.org")

		// A passkey of nobody's.
		stranger := &device{creds: []vw.Credential{keytest.NewCredential()}, handles: [][]byte{newHandle()}}
		_, _, err := fx.signIn(t, stranger, 0)
		if m := formMessage(t, err); m.ID != 4000015 {
			t.Errorf("unknown handle: %+v", m)
		}
		// A handle no identifier can be: bytes that are not text.
		garbled := &device{creds: stranger.creds, handles: [][]byte{{0xff, 0x00, 'a'}}}
		_, _, err = fx.signIn(t, garbled, 0)
		if m := formMessage(t, err); m.ID != 4000015 {
			t.Errorf("garbled handle: %+v", m)
		}
		// Ada's handle on another device's key.
		forged := &device{creds: stranger.creds, handles: d.handles}
		_, _, err = fx.signIn(t, forged, 0)
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("foreign key with a known handle: %+v", m)
		}
		// An answer for another site.
		f := fx.newFlow(t, flow.Login, flow.TypeBrowser, flow.NodeContext{})
		evil := *fx
		evil.rp.Origin = "https://evil.example.com"
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, fieldLogin: d.assert(t, &evil, f, 0)}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("foreign origin: %+v", m)
		}

		// A sign count going back: refused and logged, without secrets.
		d.creds[0].Counter = 5
		_, out, err := fx.signIn(t, d, 0)
		if err != nil {
			t.Fatal(err)
		}
		fx.commit(t, out)
		d.creds[0].Counter = 3
		var logs bytes.Buffer
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
		f, _, err = fx.signIn(t, d, 0)
		slog.SetDefault(prev)
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("cloned: %+v", m)
		}
		line := logs.String()
		if !strings.Contains(line, i.ID.String()) || !strings.Contains(line, securitykey.Key{ID: d.creds[0].ID}.HexID()) ||
			strings.Contains(line, string(d.handles[0])) || strings.Contains(line, "challenge") {
			t.Errorf("clone warning: %q", line)
		}
		if f.Internal[sessionKey] == nil {
			t.Error("a refusal left no challenge to answer next")
		}

		// Without an answer the passkey form is shown again.
		f = fx.newFlow(t, flow.Login, flow.TypeBrowser, flow.NodeContext{})
		f.UI.Add(flow.Input(flow.GroupPassword, "password", "password", nil, nil))
		before := f.UI.Find(fieldChallenge).Attributes.Value
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: fx.IDs.Schemas().Default(), Payload: flow.Payload{"method": ID}})
		if err != nil || !out.Shown || !out.Relocate || f.UI.Find("password") != nil || f.UI.Find(fieldChallenge).Attributes.Value == before {
			t.Errorf("no answer: %+v, %v, %v", out, err, nodeNames(f))
		}

		// An identity whose credential lost its keys.
		c := i.Credentials[ID]
		empty := &identity.Credential{Type: ID, Identifiers: c.Identifiers, Config: json.RawMessage(`{"credentials":[],"user_handle":null}`), Version: 1}
		if err := s.Write(bg, func(q *store.Q) error { return fx.IDs.PutCredential(bg, q, i.ID, empty) }); err != nil {
			t.Fatal(err)
		}
		_, _, err = fx.signIn(t, d, 0)
		if m := formMessage(t, err); m.ID != 4000013 {
			t.Errorf("no keys: %+v", m)
		}
	})
}

// TestWebAuthnFallback signs in with a passkey that Kratos kept as a
// passwordless webauthn key.
func TestWebAuthnFallback(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "old@example.org")
		moved := i.Credentials[ID]
		cfg, _ := securitykey.Read(moved.Config)
		cfg.Keys[0].IsPasswordless = true
		// Kratos's webauthn handles are the identity id's 16 bytes (or
		// random ones), which are no text.
		cfg.UserHandle = i.ID[:]
		d.handles[0] = i.ID[:]
		fx.keepAsWebAuthn(t, i, cfg)
		d.creds[0].Counter = 2
		_, out, err := fx.signIn(t, d, 0)
		if err != nil || out.Identity.ID != i.ID {
			t.Fatalf("fallback login: %+v, %v", out, err)
		}
		fx.commit(t, out)
		stored, _ := fx.IDs.Get(bg, i.ID)
		after, _ := securitykey.Read(stored.Credentials[identity.CredentialsWebAuthn].Config)
		if after.Keys[0].Authenticator.SignCount != 2 || stored.Credentials[ID] != nil {
			t.Errorf("after a fallback login: %+v", stored.Credentials)
		}

		// A second-factor key does not sign in by itself.
		cfg.Keys[0].IsPasswordless = false
		fx.keepAsWebAuthn(t, i, cfg)
		_, _, err = fx.signIn(t, d, 0)
		if m := formMessage(t, err); m.ID != 4000013 {
			t.Errorf("second-factor key: %+v", m)
		}
	})
}

// keepAsWebAuthn stores keys as i's webauthn credential, filed under the
// webauthn identifiers of its traits, in place of its passkey credential:
// how Kratos kept passkeys before they had a method of their own.
func (fx *fixture) keepAsWebAuthn(t *testing.T, i *identity.Identity, keys securitykey.Credentials) {
	t.Helper()
	raw, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	c := &identity.Credential{Type: identity.CredentialsWebAuthn, Identifiers: fx.IDs.Identifiers(i, identity.CredentialsWebAuthn), Config: raw, Version: 1}
	if err := fx.S.Write(bg, func(q *store.Q) error {
		if err := fx.IDs.DeleteCredential(bg, q, i.ID, ID); err != nil {
			return err
		}
		return fx.IDs.PutCredential(bg, q, i.ID, c)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestIdentificationNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		f := bareFlow(flow.Login, flow.TypeBrowser)
		f.UI.Add(flow.Input("identifier_first", fieldIdentifier, "text", nil, nil).Required().Autocomplete("username webauthn"))
		if err := fx.m.AddIdentificationNodes(bg, f, flow.NodeContext{Schema: fx.IDs.Schemas().Default()}); err != nil {
			t.Fatal(err)
		}
		want := []string{"default/csrf_token", "identifier_first/identifier", "passkey/passkey_challenge", "webauthn/webauthn_script", "passkey/passkey_login", "passkey/passkey_login_trigger"}
		if got := nodeNames(f); !slices.Equal(got, want) {
			t.Errorf("first step: %v, want %v", got, want)
		}
	})
}

func TestRefreshAndIdentified(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "ada@example.org")
		other, err := fx.IDs.Create(bg, identity.Draft{Traits: json.RawMessage(`{"email":"pw@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}

		f := fx.newRefresh(t, i)
		if n := f.UI.Find(fieldIdentifier); n == nil || n.Attributes.Type != "hidden" || n.Attributes.Value != "ada@example.org" {
			t.Errorf("refresh identifier: %+v (%v)", n, nodeNames(f))
		}
		if f.UI.Find(fieldLoginTrigger) == nil || f.UI.Find(fieldLogin).Attributes.OnloadTrigger != "" {
			t.Errorf("refresh nodes: %v", nodeNames(f))
		}
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"method": ID, fieldLogin: d.assert(t, fx, f, 0)}})
		if err != nil || out.Identity.ID != i.ID {
			t.Errorf("refresh: %+v, %v", out, err)
		}
		if f := fx.newRefresh(t, other); len(f.UI.Nodes) != 1 {
			t.Errorf("refresh without a passkey: %v", nodeNames(f))
		}

		for _, tc := range []struct {
			who       *identity.Identity
			all, want bool
			nodes     int
		}{{i, false, true, 5}, {other, false, false, 1}, {other, true, false, 5}, {nil, true, false, 5}, {nil, false, false, 1}} {
			// (The identifier node of the second step is the flow's.)
			f := bareFlow(flow.Login, flow.TypeBrowser)
			got, err := fx.m.AddIdentifiedNodes(bg, f, flow.NodeContext{Identity: tc.who}, tc.all)
			if err != nil || got != tc.want || len(f.UI.Nodes) != tc.nodes {
				t.Errorf("identified %v (all %v): %v, %v, %v", tc.who != nil, tc.all, got, err, nodeNames(f))
			}
			if n := f.UI.Find(fieldLogin); n != nil && n.Attributes.OnloadTrigger != triggerLoginAutocomplete {
				t.Errorf("identified passkey_login: %+v", n.Attributes)
			}
		}
	})
}

// newRefresh lays out a refresh login for i.
func (fx *fixture) newRefresh(t *testing.T, i *identity.Identity) *flow.Flow {
	t.Helper()
	f := bareFlow(flow.Login, flow.TypeBrowser)
	f.Refresh = true
	if err := fx.m.AddNodes(bg, f, flow.NodeContext{Schema: fx.IDs.Schemas().Default(), Identity: i}); err != nil {
		t.Fatal(err)
	}
	return f
}
