package webauthn

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Settings: a remove button per key, then a name and a button that adds
// a key. Either change needs a recent sign-in.

// settingsNodes lays out the settings form for i and begins the ceremony
// that adds a key.
func (m *Method) settingsNodes(f *flow.Flow, i *identity.Identity) error {
	_, cfg, err := credentialOf(i)
	if err != nil {
		return err
	}
	firstFactors := m.Factors.FirstFactors(i)
	for _, k := range cfg.Keys {
		n := flow.Submit(ID, fieldRemove, k.HexID(), text.RemoveSecurityKey(k.Name(), k.AddedAt))
		// The account's only way in stays: UIs show the key without the
		// means to remove it.
		n.Attributes.Disabled = k.IsPasswordless && firstFactors < 2
		f.UI.Add(n)
	}
	handle := handleOf(cfg, i)
	options, session, err := m.rp.BeginRegistration(securitykey.User{Handle: handle, Keys: cfg.Keys})
	if err != nil {
		return err
	}
	if err := keepRegistration(f, session, handle); err != nil {
		return err
	}
	f.UI.Add(
		flow.Input(ID, fieldDisplayName, "text", "", text.LabelSecurityKeyName()),
		trigger(fieldRegisterTrigger, registrationFunction, options, text.AddSecurityKey()),
		flow.Input(ID, fieldRegister, "hidden", "", nil),
	)
	upsert(f, m.script.Node())
	return nil
}

// keepRegistration keeps a registration ceremony and the user handle it
// was begun for in the flow.
func keepRegistration(f *flow.Flow, session json.RawMessage, handle []byte) error {
	raw, err := json.Marshal(handle)
	if err != nil {
		return err
	}
	f.Internal[sessionKey], f.Internal[handleKey] = session, raw
	return nil
}

// takeRegistration answers the registration ceremony f keeps, and spends
// it: a key's answer is checked against a challenge once.
func takeRegistration(f *flow.Flow) (session json.RawMessage, handle []byte) {
	session = f.Internal[sessionKey]
	if raw := f.Internal[handleKey]; raw != nil && json.Unmarshal(raw, &handle) != nil {
		handle = nil
	}
	delete(f.Internal, sessionKey)
	delete(f.Internal, handleKey)
	return session, handle
}

// settings adds or removes a key.
func (m *Method) settings(s *flow.Submission) (*flow.Outcome, error) {
	if s.Flow.Type != flow.TypeBrowser {
		return nil, flow.FormMessage(text.NoSettingsStrategy())
	}
	register := rawField(s.Payload, fieldRegister)
	remove := strings.ToLower(strings.TrimSpace(s.Payload.String(fieldRemove)))
	if len(register) == 0 && remove == "" {
		return nil, flow.FormMessage(text.NoSettingsStrategy())
	}
	if !s.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	if len(register) > 0 {
		return m.addKey(s, register)
	}
	return m.removeKey(s, remove)
}

// addKey checks the new key's answer to the flow's ceremony and adds it
// to the signed-in identity; the session counts it as used.
func (m *Method) addKey(s *flow.Submission, response json.RawMessage) (*flow.Outcome, error) {
	i := s.Identity
	_, cfg, err := credentialOf(i)
	if err != nil {
		return nil, err
	}
	// A key is filed under the webauthn identifiers of the traits, even
	// as a second factor, as in Kratos.
	identifiers := m.ids.Identifiers(i, ID)
	if len(identifiers) == 0 {
		return nil, flow.FormMessage(text.NoIdentifierInSchema())
	}
	session, handle := takeRegistration(s.Flow)
	if handle == nil {
		handle = handleOf(cfg, i)
	}
	name := strings.TrimSpace(s.Payload.String(fieldDisplayName))
	key, err := m.rp.FinishRegistration(securitykey.User{Handle: handle, Keys: cfg.Keys}, session, response, m.passwordless, name)
	if errors.Is(err, securitykey.ErrInvalid) {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: i, AAL: m.aal(), Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		now, err := securitykey.Lock(ctx, m.ids, q, i, ID)
		if err != nil {
			return nil, err
		}
		if len(now.UserHandle) == 0 {
			now.UserHandle = handle
		}
		if _, racing := now.Find(key.ID); racing {
			return nil, flow.FormMessage(text.SecurityKeyInvalid()) // added by a racing submission
		}
		now.Identifiers, now.Keys = identifiers, append(now.Keys, key)
		return now.Write(ctx, q)
	}}, nil
}

// removeKey removes the key with the hex id from the signed-in identity,
// unless it is a passwordless key the identity cannot sign in without.
func (m *Method) removeKey(s *flow.Submission, hexID string) (*flow.Outcome, error) {
	i := s.Identity
	_, cfg, err := credentialOf(i)
	if err != nil {
		return nil, err
	}
	if err := m.removable(i, cfg.Keys, hexID); err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: i, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		now, err := securitykey.Lock(ctx, m.ids, q, i, ID)
		if err != nil {
			return nil, err
		}
		// Checked again as it is now: two racing removals of an
		// account's last two passwordless keys must not both succeed.
		current, err := now.Current()
		if err != nil {
			return nil, err
		}
		if err := m.removable(current, now.Keys, hexID); err != nil {
			return nil, err
		}
		now.Keys = slices.DeleteFunc(now.Keys, func(k securitykey.Key) bool { return k.HexID() == hexID })
		return now.Write(ctx, q)
	}}, nil
}

// removable answers why the key with hexID cannot be removed from i, whose
// keys are keys, or nil.
func (m *Method) removable(i *identity.Identity, keys []securitykey.Key, hexID string) error {
	for _, k := range keys {
		if k.HexID() != hexID {
			continue
		}
		if k.IsPasswordless && m.Factors.FirstFactors(i) < 2 {
			return flow.FormMessage(text.ValidationGeneric("This security key is the only way to sign in to this account. Add another way to sign in before removing it."))
		}
		return nil
	}
	return errUnknownKey()
}

func errUnknownKey() error {
	return flow.FormMessage(text.ValidationGeneric("The security key to remove does not exist."))
}
