package passkey

import (
	"context"
	"errors"
	"slices"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// addSettingsNodes lists i's passkeys with a remove button each (disabled
// when it is i's only way to sign in), then offers to add one named after
// i's display-name trait. Each passkey added gets a user handle of its own.
func (m *Method) addSettingsNodes(f *flow.Flow, i *identity.Identity) error {
	stored, _ := passkeys(i)
	last := m.Factors.FirstFactors(i) < 2
	for _, k := range stored.Keys {
		n := flow.Submit(ID, fieldRemove, k.HexID(), text.RemovePasskey(k.Name(), k.AddedAt))
		n.Attributes.Disabled = last
		f.UI.Add(n)
	}
	display := m.displayName(i)
	if display == "" {
		f.UI.Messages = append(f.UI.Messages, text.NoIdentifierInSchema())
		return nil
	}
	handle := newHandle()
	options, session, err := m.rp.BeginRegistration(securitykey.User{Handle: handle, Name: display, DisplayName: display, Keys: stored.Keys})
	if err != nil {
		return err
	}
	if err := begin(f, session, handle); err != nil {
		return err
	}
	m.addScript(f)
	f.UI.Add(
		m.button(f, fieldRegisterTrigger, text.AddPasskey(), triggerSettingsRegistration),
		flow.Input(ID, fieldSettingsRegister, "hidden", nil, nil),
		flow.Input(ID, fieldCreateData, "hidden", string(options), nil),
	)
	return nil
}

// settings removes a passkey or adds the one the device made for the
// flow's challenge. Both need a recent sign-in.
func (m *Method) settings(s *flow.Submission) (*flow.Outcome, error) {
	remove, answer := s.Payload.String(fieldRemove), s.Payload.String(fieldSettingsRegister)
	if remove == "" && answer == "" {
		return nil, flow.FormMessage(text.NoSettingsStrategy())
	}
	if !s.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	i := s.Identity
	stored, _ := passkeys(i)
	if remove != "" {
		return m.remove(i, stored, remove)
	}
	session, handle := pending(s.Flow)
	if handle == nil {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	key, err := m.rp.FinishRegistration(securitykey.User{Handle: handle, Keys: stored.Keys}, session, []byte(answer), true, "")
	if errors.Is(err, securitykey.ErrInvalid) {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	if err != nil {
		return nil, err
	}
	finish(s.Flow)
	return &flow.Outcome{Identity: i, AAL: identity.AAL1, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		keys, err := securitykey.Lock(ctx, m.ids, q, i, ID)
		if err != nil {
			return nil, err
		}
		if _, ok := keys.Find(key.ID); ok {
			return nil, flow.FormMessage(text.SecurityKeyInvalid()) // added meanwhile
		}
		// The credential answers to the newest handle in its config and
		// to every handle as an identifier, so that each passkey signs in.
		keys.Keys = append(keys.Keys, key)
		keys.UserHandle = handle
		keys.Identifiers = append(keys.Identifiers, string(handle))
		return keys.Write(ctx, q)
	}}, nil
}

// remove takes the passkey with hex id away from i, unless it is i's
// only way to sign in.
func (m *Method) remove(i *identity.Identity, stored securitykey.Credentials, id string) (*flow.Outcome, error) {
	if !slices.ContainsFunc(stored.Keys, func(k securitykey.Key) bool { return k.HexID() == id }) {
		return nil, noSuchPasskey()
	}
	if m.Factors.FirstFactors(i) < 2 {
		return nil, onlyWayIn()
	}
	return &flow.Outcome{Identity: i, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		keys, err := securitykey.Lock(ctx, m.ids, q, i, ID)
		if err != nil {
			return nil, err
		}
		// Checked again as it is now: two racing removals of an account's
		// last two passkeys must not both succeed.
		current, err := keys.Current()
		if err != nil {
			return nil, err
		}
		if m.Factors.FirstFactors(current) < 2 {
			return nil, onlyWayIn()
		}
		kept := slices.DeleteFunc(slices.Clone(keys.Keys), func(k securitykey.Key) bool { return k.HexID() == id })
		if len(kept) == len(keys.Keys) {
			return nil, noSuchPasskey() // removed meanwhile
		}
		keys.Keys = kept // none left: the credential goes
		return keys.Write(ctx, q)
	}}, nil
}

// onlyWayIn refuses removing the passkey an account signs in with alone.
func onlyWayIn() error {
	return flow.FormMessage(text.ValidationGeneric("This passkey cannot be removed: it is the only way to sign in to this account."))
}

// noSuchPasskey refuses removing a passkey the identity does not have.
func noSuchPasskey() error {
	return flow.FormMessage(text.ValidationGeneric("There is no such passkey to remove."))
}
