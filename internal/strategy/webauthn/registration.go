package webauthn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Sign-up with a passwordless key: the traits, a name for the key, and the
// key's answer create the identity with the key as its credential.

// registrationNodes begins the ceremony that creates the key, for a user
// handle of its own (the identity does not exist yet), as Kratos does.
func (m *Method) registrationNodes(f *flow.Flow) error {
	id := uuid.New()
	handle := id[:]
	options, session, err := m.rp.BeginRegistration(securitykey.User{Handle: handle})
	if err != nil {
		return err
	}
	if err := keepRegistration(f, session, handle); err != nil {
		return err
	}
	upsert(f, m.script.Node())
	f.UI.Add(
		flow.Input(ID, fieldRegister, "hidden", "", nil),
		flow.Input(ID, fieldDisplayName, "text", "", text.LabelSecurityKeyName()),
		trigger(fieldRegisterTrigger, registrationFunction, options, text.RegisterWithSecurityKey()),
	)
	return nil
}

// register checks the traits and the key's answer; the outcome's Commit
// creates the identity with the key.
func (m *Method) register(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	response := rawField(s.Payload, fieldRegister)
	if f.Type != flow.TypeBrowser || !m.passwordless || len(response) == 0 {
		return nil, flow.FormMessage(text.NoRegistrationStrategy())
	}
	traits := s.Traits
	if traits == nil {
		traits = map[string]any{}
	}
	x, err := flow.ValidateTraits(s.Schema, traits)
	if err != nil {
		return nil, err
	}
	identifiers := x.Identifiers[ID]
	if len(identifiers) == 0 {
		return nil, flow.FormMessage(text.NoIdentifierInSchema())
	}
	session, handle := takeRegistration(f)
	if handle == nil {
		return nil, flow.FormMessage(text.SecurityKeyInvalid()) // no ceremony was begun
	}
	name := strings.TrimSpace(s.Payload.String(fieldDisplayName))
	key, err := m.rp.FinishRegistration(securitykey.User{Handle: handle}, session, response, true, name)
	if errors.Is(err, securitykey.ErrInvalid) {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	prepared, err := m.ids.Prepare(ctx, identity.Draft{SchemaID: s.Schema.ID, Traits: raw})
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{AAL: identity.AAL1, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		i, err := prepared.Insert(ctx, q)
		if err != nil {
			return nil, err
		}
		keys := securitykey.NewKeyring(m.ids, i, ID)
		keys.Identifiers, keys.Keys, keys.UserHandle = identifiers, []securitykey.Key{key}, handle
		return keys.Write(ctx, q)
	}}, nil
}
