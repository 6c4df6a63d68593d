package passkey

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// createData is the value of a registration's passkey_create_data node:
// the options for navigator.credentials.create, and the trait input whose
// value the browser names the passkey with.
type createData struct {
	CredentialOptions    json.RawMessage `json:"credentialOptions"`
	DisplayNameFieldName string          `json:"displayNameFieldName"`
}

// addRegistrationNodes lays out signing up with a passkey for a new user
// handle. The device shows the RP's name until the browser puts in the
// display-name trait typed into the form.
func (m *Method) addRegistrationNodes(f *flow.Flow, sch *schema.Schema) error {
	handle := newHandle()
	options, session, err := m.rp.BeginRegistration(securitykey.User{Handle: handle})
	if err != nil {
		return err
	}
	if err := begin(f, session, handle); err != nil {
		return err
	}
	data, err := json.Marshal(createData{CredentialOptions: options, DisplayNameFieldName: displayNameField(sch)})
	if err != nil {
		return err
	}
	trigger := m.button(f, fieldRegisterTrigger, text.RegisterWithPasskey(), triggerRegistration)
	f.UI.Add(flow.Input(ID, fieldCreateData, "hidden", string(data), nil), trigger)
	m.addScript(f)
	f.UI.Add(flow.Input(ID, fieldRegister, "hidden", nil, nil))
	return nil
}

// registerAnswer is the ceremony's answer in a registration payload;
// "" and "true" (older UIs' placeholder) are none.
func registerAnswer(p flow.Payload) string {
	if v := p.String(fieldRegister); v != "true" {
		return v
	}
	return ""
}

// register creates an account with the passkey the device made for the
// flow's challenge, the submitted traits and no password. Without an
// answer the form is shown again with the traits kept and a new challenge.
func (m *Method) register(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	if s.Traits == nil {
		return nil, flow.FormMessage(text.ValidationRequired("traits"))
	}
	if _, err := flow.ValidateTraits(s.Schema, s.Traits); err != nil {
		return nil, err
	}
	traits, err := json.Marshal(s.Traits)
	if err != nil {
		return nil, err
	}
	answer := registerAnswer(s.Payload)
	if answer == "" {
		if err := m.showRegistration(f, s.Schema, s.Traits); err != nil {
			return nil, err
		}
		return &flow.Outcome{Shown: true}, nil
	}
	session, handle := pending(f)
	if handle == nil {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	key, err := m.rp.FinishRegistration(securitykey.User{Handle: handle}, session, []byte(answer), true, "")
	if errors.Is(err, securitykey.ErrInvalid) {
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	if err != nil {
		return nil, err
	}
	prepared, err := m.ids.Prepare(ctx, identity.Draft{SchemaID: s.Schema.ID, Traits: traits})
	if err != nil {
		return nil, err
	}
	finish(f)
	return &flow.Outcome{AAL: identity.AAL1, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		i, err := prepared.Insert(ctx, q)
		if err != nil {
			return nil, err
		}
		keys := securitykey.NewKeyring(m.ids, i, ID)
		keys.Identifiers, keys.Keys, keys.UserHandle = []string{string(handle)}, []securitykey.Key{key}, handle
		return keys.Write(ctx, q)
	}}, nil
}

// showRegistration shows the form again for traits: their inputs filled
// in, and the passkey's nodes with a new challenge.
func (m *Method) showRegistration(f *flow.Flow, sch *schema.Schema, traits map[string]any) error {
	var kept []*flow.Node
	for _, n := range f.UI.Nodes {
		switch n.Attributes.Name {
		case fieldCreateData, fieldRegisterTrigger, fieldRegister:
			if n.Type == flow.NodeInput {
				continue
			}
		}
		kept = append(kept, n)
	}
	f.UI.Nodes = kept
	for _, n := range flow.TraitNodes(sch, flow.GroupDefault, traits, false) {
		if n.Attributes.Value != nil {
			f.UI.SetValue(n.Attributes.Name, n.Attributes.Value)
		}
	}
	return m.addRegistrationNodes(f, sch)
}
