package passkey

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// settingsFlow lays out a settings flow for i.
func (fx *fixture) settingsFlow(t *testing.T, i *identity.Identity) *flow.Flow {
	t.Helper()
	return fx.newFlow(t, flow.Settings, flow.TypeBrowser, flow.NodeContext{Identity: i})
}

// change submits p to settings flow f of i, privileged, and commits it.
func (fx *fixture) change(t *testing.T, f *flow.Flow, i *identity.Identity, p flow.Payload) (*identity.Identity, *flow.Outcome, error) {
	t.Helper()
	out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: p})
	if err != nil {
		return nil, nil, err
	}
	fx.commit(t, out)
	stored, err := fx.IDs.Get(bg, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	return stored, out, nil
}

// withPassword gives i a password too: a passkey is then not its only way
// in.
func (fx *fixture) withPassword(t *testing.T, i *identity.Identity) *identity.Identity {
	t.Helper()
	pw := "a long and unusual passphrase"
	i, err := fx.IDs.Change(bg, i.ID, func(cur *identity.Identity) (identity.Draft, error) {
		d := identity.DraftOf(cur)
		d.Password = &pw
		return d, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestSettingsAddAndRemove(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "ada@example.org")

		f := fx.settingsFlow(t, i)
		want := []string{"default/csrf_token", "passkey/passkey_remove", "webauthn/webauthn_script", "passkey/passkey_register_trigger", "passkey/passkey_settings_register", "passkey/passkey_create_data"}
		if got := nodeNames(f); !slices.Equal(got, want) {
			t.Fatalf("nodes %v, want %v", got, want)
		}
		cfg, _ := securitykey.Read(i.Credentials[ID].Config)
		rm := f.UI.Find(fieldRemove)
		if rm.Attributes.Value != cfg.Keys[0].HexID() || !rm.Attributes.Disabled || rm.Meta.Label.ID != 1050020 ||
			rm.Meta.Label.Context["display_name"] != "unnamed" || rm.Meta.Label.Context["added_at_unix"] != cfg.Keys[0].AddedAt.Unix() {
			t.Errorf("remove button: %+v %+v", rm.Attributes, rm.Meta.Label)
		}
		trigger := f.UI.Find(fieldRegisterTrigger)
		if trigger.Attributes.OnclickTrigger != triggerSettingsRegistration || trigger.Meta.Label.ID != 1050019 {
			t.Errorf("add button: %+v", trigger.Attributes)
		}
		var options struct {
			PublicKey struct {
				User struct {
					Name string `json:"name"`
				} `json:"user"`
				ExcludeCredentials []json.RawMessage `json:"excludeCredentials"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal([]byte(f.UI.Find(fieldCreateData).Attributes.Value.(string)), &options); err != nil ||
			options.PublicKey.User.Name != "ada@example.org" || len(options.PublicKey.ExcludeCredentials) != 1 {
			t.Errorf("creation options: %+v, %v", options, err)
		}

		// The only way in cannot be removed.
		_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{"method": ID, fieldRemove: cfg.Keys[0].HexID()}})
		if m := formMessage(t, err); m.ID != 4000001 {
			t.Errorf("removing the last passkey: %+v", m)
		}
		// Changes need a recent sign-in.
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"method": ID, fieldSettingsRegister: d.create(t, fx, f)}})
		if !errors.Is(err, flow.ErrPrivilegedSessionRequired) {
			t.Errorf("unprivileged: %v", err)
		}

		// A second passkey, with a handle of its own.
		f = fx.settingsFlow(t, i)
		i, out, err := fx.change(t, f, i, flow.Payload{"method": ID, fieldSettingsRegister: d.create(t, fx, f)})
		if err != nil {
			t.Fatal(err)
		}
		if out.AAL != identity.AAL1 || f.Internal[sessionKey] != nil {
			t.Errorf("add: AAL %q, ceremony kept %v", out.AAL, f.Internal[sessionKey] != nil)
		}
		c := i.Credentials[ID]
		cfg, _ = securitykey.Read(c.Config)
		ids := slices.Sorted(slices.Values(c.Identifiers))
		if len(cfg.Keys) != 2 || string(cfg.UserHandle) != string(d.handles[2]) ||
			!slices.Equal(ids, slices.Sorted(slices.Values([]string{string(d.handles[0]), string(d.handles[2])}))) {
			t.Fatalf("after adding: identifiers %v, %d keys, handle %q", c.Identifiers, len(cfg.Keys), cfg.UserHandle)
		}
		// Both sign in.
		for _, k := range []int{0, 2} {
			if _, out, err := fx.signIn(t, d, k); err != nil || out.Identity.ID != i.ID {
				t.Errorf("passkey %d: %+v, %v", k, out, err)
			}
		}

		// Now either can go, but not an unknown one.
		f = fx.settingsFlow(t, i)
		if n := f.UI.Find(fieldRemove); n.Attributes.Disabled {
			t.Error("with two passkeys the remove button is disabled")
		}
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: "00ff"}})
		if m := formMessage(t, err); m.ID != 4000001 {
			t.Errorf("unknown id: %+v", m)
		}
		i, _, err = fx.change(t, f, i, flow.Payload{fieldRemove: cfg.Keys[0].HexID()})
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ = securitykey.Read(i.Credentials[ID].Config)
		if len(cfg.Keys) != 1 || string(cfg.Keys[0].ID) != string(d.creds[2].ID) {
			t.Fatalf("after removing: %+v", cfg.Keys)
		}
		if _, _, err := fx.signIn(t, d, 0); formMessage(t, err).ID != 4000008 {
			t.Errorf("the removed passkey still signs in: %v", err)
		}
		if _, _, err := fx.signIn(t, d, 2); err != nil {
			t.Errorf("the kept passkey: %v", err)
		}
	})
}

func TestSettingsRemoveLastWithPassword(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.withPassword(t, fx.signUp(t, d, "ada@example.org"))
		f := fx.settingsFlow(t, i)
		if f.UI.Find(fieldRemove).Attributes.Disabled {
			t.Error("a password and a passkey: the remove button is disabled")
		}
		cfg, _ := securitykey.Read(i.Credentials[ID].Config)
		i, _, err := fx.change(t, f, i, flow.Payload{"method": ID, fieldRemove: cfg.Keys[0].HexID()})
		if err != nil {
			t.Fatal(err)
		}
		if i.Credentials[ID] != nil || i.Credentials[identity.CredentialsPassword] == nil {
			t.Errorf("after removing the only passkey: %v", i.Credentials)
		}
		if _, _, err := fx.signIn(t, d, 0); formMessage(t, err).ID != 4000015 {
			t.Errorf("a removed credential's handle: %v", err)
		}
	})
}

func TestSettingsWithoutDisplayName(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		i := &identity.Identity{SchemaID: "nope", Traits: json.RawMessage(`{}`)}
		f := fx.settingsFlow(t, i)
		if len(f.UI.Nodes) != 1 || len(f.UI.Messages) != 1 || f.UI.Messages[0].ID != 4000009 {
			t.Errorf("no display name: %v, %+v", nodeNames(f), f.UI.Messages)
		}
	})
}

// TestCommitsSeeConcurrentChanges commits outcomes made from an identity
// that changed meanwhile: each commit works on the credential as it is.
func TestCommitsSeeConcurrentChanges(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.withPassword(t, fx.signUp(t, d, "ada@example.org"))

		// Two passkeys added from two settings flows of the same moment.
		f1, f2 := fx.settingsFlow(t, i), fx.settingsFlow(t, i)
		var outs []*flow.Outcome
		for _, f := range []*flow.Flow{f1, f2} {
			out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Privileged: true, Payload: flow.Payload{fieldSettingsRegister: d.create(t, fx, f)}})
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		for _, out := range outs {
			fx.commit(t, out)
		}
		stored, _ := fx.IDs.Get(bg, i.ID)
		cfg, _ := securitykey.Read(stored.Credentials[ID].Config)
		if len(cfg.Keys) != 3 || len(stored.Credentials[ID].Identifiers) != 3 {
			t.Fatalf("after two racing adds: %d keys, identifiers %v", len(cfg.Keys), stored.Credentials[ID].Identifiers)
		}

		// A sign-in with a passkey removed before it commits is refused.
		_, login, err := fx.signIn(t, d, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := fx.settingsFlow(t, stored)
		if _, _, err := fx.change(t, f, stored, flow.Payload{fieldRemove: cfg.Keys[0].HexID()}); err != nil {
			t.Fatal(err)
		}
		err = s.Write(bg, func(q *store.Q) error {
			_, err := login.Commit(bg, q)
			return err
		})
		if m := formMessage(t, err); m.ID != 4000008 {
			t.Errorf("a sign-in with a passkey removed meanwhile: %+v", m)
		}
		after, _ := fx.IDs.Get(bg, i.ID)
		cfg, _ = securitykey.Read(after.Credentials[ID].Config)
		if len(cfg.Keys) != 2 {
			t.Errorf("the refused sign-in wrote %d keys", len(cfg.Keys))
		}
	})
}

// TestRacingRemovalsKeepAWayIn: of two removals that both saw two
// passkeys, the one committed second finds the account's last way in and
// is refused.
func TestRacingRemovalsKeepAWayIn(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		d := &device{}
		i := fx.signUp(t, d, "ada@example.org")
		f := fx.settingsFlow(t, i)
		i, _, err := fx.change(t, f, i, flow.Payload{"method": ID, fieldSettingsRegister: d.create(t, fx, f)})
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := securitykey.Read(i.Credentials[ID].Config)
		var outs []*flow.Outcome
		for _, k := range cfg.Keys {
			out, err := fx.m.Submit(bg, &flow.Submission{Flow: fx.settingsFlow(t, i), Identity: i, Privileged: true, Payload: flow.Payload{fieldRemove: k.HexID()}})
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, out)
		}
		fx.commit(t, outs[0])
		err = fx.S.Write(bg, func(q *store.Q) error { _, err := outs[1].Commit(bg, q); return err })
		if m := formMessage(t, err); m.ID != 4000001 {
			t.Fatalf("the second removal: %+v", m)
		}
		stored, err := fx.IDs.Get(bg, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if left, _ := securitykey.Read(stored.Credentials[ID].Config); len(left.Keys) != 1 {
			t.Errorf("passkeys left: %d, want 1", len(left.Keys))
		}
	})
}
