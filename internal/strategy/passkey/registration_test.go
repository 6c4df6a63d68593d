package passkey

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestRegistrationNodes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		if f := fx.newFlow(t, flow.Registration, flow.TypeBrowser, flow.NodeContext{Step: flow.StepProfile}); len(f.UI.Nodes) != 1 {
			t.Errorf("the profile step got passkey nodes: %v", nodeNames(f))
		}
		f := fx.newFlow(t, flow.Registration, flow.TypeBrowser, flow.NodeContext{})
		want := []string{"default/csrf_token", "passkey/passkey_create_data", "passkey/passkey_register_trigger", "webauthn/webauthn_script", "passkey/passkey_register"}
		if got := nodeNames(f); !slices.Equal(got, want) {
			t.Fatalf("nodes %v, want %v", got, want)
		}
		var data struct {
			CredentialOptions struct {
				PublicKey struct {
					User struct {
						ID string `json:"id"`
					} `json:"user"`
					AuthenticatorSelection struct {
						ResidentKey string `json:"residentKey"`
					} `json:"authenticatorSelection"`
				} `json:"publicKey"`
			} `json:"credentialOptions"`
			DisplayNameFieldName string `json:"displayNameFieldName"`
		}
		if err := json.Unmarshal([]byte(f.UI.Find(fieldCreateData).Attributes.Value.(string)), &data); err != nil {
			t.Fatal(err)
		}
		if data.DisplayNameFieldName != "traits.email" || data.CredentialOptions.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
			t.Errorf("create data: %+v", data)
		}
		handle, _ := base64.RawURLEncoding.DecodeString(data.CredentialOptions.PublicKey.User.ID)
		if !regexp.MustCompile(`^[a-z0-9]{64}$`).Match(handle) {
			t.Errorf("user handle %q, want 64 alphanumerics", handle)
		}
		trigger := f.UI.Find(fieldRegisterTrigger).Attributes
		if trigger.Type != "button" || trigger.OnclickTrigger != triggerRegistration || trigger.Onclick != "window.oryPasskeyRegistration()" ||
			f.UI.Find(fieldRegisterTrigger).Meta.Label.ID != 1040007 {
			t.Errorf("trigger: %+v", trigger)
		}

		api := fx.newFlow(t, flow.Registration, flow.TypeAPI, flow.NodeContext{})
		if got := nodeNames(api); !slices.Equal(got, []string{"default/csrf_token", "passkey/passkey_create_data", "passkey/passkey_register_trigger", "passkey/passkey_register"}) {
			t.Errorf("API nodes: %v", got)
		}
		if a := api.UI.Find(fieldRegisterTrigger).Attributes; a.Onclick != "" || a.OnclickTrigger != triggerRegistration {
			t.Errorf("API trigger: %+v", a)
		}
	})
}

func TestRegister(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "Ada@Example.org")
		c := i.Credentials[ID]
		if c == nil || len(c.Identifiers) != 1 || c.Identifiers[0] != string(d.handles[0]) || c.Version != 1 {
			t.Fatalf("passkey credential: %+v", c)
		}
		if i.Credentials["password"] != nil {
			t.Errorf("a passkey sign-up made a password credential: %+v", i.Credentials["password"])
		}
		cfg, err := securitykey.Read(c.Config)
		if err != nil || len(cfg.Keys) != 1 || string(cfg.UserHandle) != string(d.handles[0]) {
			t.Fatalf("config %s: %+v, %v", c.Config, cfg, err)
		}
		k := cfg.Keys[0]
		if !k.IsPasswordless || k.AddedAt.IsZero() || string(k.ID) != string(d.creds[0].ID) {
			t.Errorf("stored key: %+v", k)
		}
		// Kratos's shape: byte fields as standard base64.
		var shape map[string]any
		_ = json.Unmarshal(c.Config, &shape)
		if shape["user_handle"] != base64.StdEncoding.EncodeToString(d.handles[0]) {
			t.Errorf("user_handle in %s", c.Config)
		}
	})
}

func TestRegisterRefusals(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		sch := fx.IDs.Schemas().Default()
		traits := map[string]any{"email": "lin@example.org"}
		d := &device{}

		// Without an answer the form comes back, traits filled in and a
		// new challenge.
		// (One-step registration puts the traits in the group of the first
		// credential method, which may be this one.)
		f := bareFlow(flow.Registration, flow.TypeBrowser)
		f.UI.Add(flow.Input(ID, "traits.email", "email", nil, nil))
		if err := fx.m.AddNodes(bg, f, flow.NodeContext{Schema: sch, Step: flow.StepOneStep}); err != nil {
			t.Fatal(err)
		}
		before := f.UI.Find(fieldCreateData).Attributes.Value
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: "true"}})
		if err != nil || !out.Shown {
			t.Fatalf("no answer: %+v, %v", out, err)
		}
		if after := f.UI.Find(fieldCreateData).Attributes.Value; after == before || len(f.UI.Nodes) != 6 || f.UI.Find("traits.email").Attributes.Value != "lin@example.org" {
			t.Errorf("after no answer: %v", nodeNames(f))
		}

		// Invalid traits are shown on their fields.
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: map[string]any{"email": "not an address"}, Payload: flow.Payload{"method": ID}})
		var fe flow.FormError
		if !errors.As(err, &fe) || fe[0].Field != "traits.email" {
			t.Errorf("bad traits: %v", err)
		}

		// An answer to another flow's challenge is refused.
		other := fx.newFlow(t, flow.Registration, flow.TypeBrowser, flow.NodeContext{})
		answer := d.create(t, fx, other)
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: answer}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("foreign answer: %+v", m)
		}
		// Garbage is refused the same way.
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: other, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: `{"id":"x"}`}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("garbage: %+v", m)
		}

		// The answer is accepted once: the flow forgets its challenge.
		out, err = fx.m.Submit(bg, &flow.Submission{Flow: other, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: answer}})
		if err != nil {
			t.Fatal(err)
		}
		fx.commit(t, out)
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: other, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: answer}})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("replayed answer: %+v", m)
		}
	})
}

func TestImplies(t *testing.T) {
	m := &Method{}
	for _, tc := range []struct {
		p    flow.Payload
		want bool
	}{
		{flow.Payload{fieldLogin: "{}"}, true},
		{flow.Payload{fieldRegister: "{}"}, true},
		{flow.Payload{fieldRegister: "true"}, false},
		{flow.Payload{fieldSettingsRegister: "{}"}, true},
		{flow.Payload{fieldRemove: "ab"}, true},
		{flow.Payload{"method": "password", fieldLogin: "{}"}, false},
		{flow.Payload{fieldLogin: ""}, false},
	} {
		if got := m.Implies(tc.p); got != tc.want {
			t.Errorf("Implies(%v) = %v", tc.p, got)
		}
	}
}
