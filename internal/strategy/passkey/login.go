package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// addLoginNodes lays out a first-factor login: the device is asked for
// any passkey of this site, on the button or, where the browser offers
// it, in the identifier's autofill. A refresh shows the signed-in
// identity's name instead of asking for it. Second factors have nothing
// of the passkey's.
func (m *Method) addLoginNodes(f *flow.Flow, c flow.NodeContext) error {
	if f.RequestedAAL == identity.AAL2 {
		return nil
	}
	if f.Refresh {
		if !m.canRefresh(c.Identity) {
			return nil
		}
		if f.UI.Find(fieldIdentifier) == nil {
			f.UI.Add(flow.Input(flow.GroupDefault, fieldIdentifier, "hidden", m.displayName(c.Identity), nil))
		}
		return m.addChallenge(f, false)
	}
	if n := f.UI.Find(fieldIdentifier); n != nil {
		// The identifier input another method laid out also offers
		// passkeys in its autofill.
		n.Required().Autocomplete("username webauthn")
	} else {
		f.UI.Add(flow.Input(flow.GroupDefault, fieldIdentifier, "text", nil, flow.IdentifierLabel(c.Schema)).
			Required().Autocomplete("username webauthn"))
	}
	return m.addChallenge(f, true)
}

// canRefresh reports whether i can refresh its session with a passkey.
func (m *Method) canRefresh(i *identity.Identity) bool {
	if i == nil {
		return false
	}
	_, ok := passkeys(i)
	return ok
}

// AddIdentifiedNodes implements flow.Identified: the second step offers
// the passkey button when the identity has a passkey.
func (m *Method) AddIdentifiedNodes(_ context.Context, f *flow.Flow, c flow.NodeContext, all bool) (bool, error) {
	has := false
	if c.Identity != nil {
		_, has = passkeys(c.Identity)
	}
	if !has && !all {
		return false, nil
	}
	return has, m.addChallenge(f, true)
}

// AddIdentificationNodes lays out the passkey's part of identifier-first
// login's first step, where nothing is typed yet: the device may be
// asked for a passkey at once, or offer one in the identifier's autofill.
func (m *Method) AddIdentificationNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	if f.Kind != flow.Login || f.Refresh || f.RequestedAAL == identity.AAL2 {
		return nil
	}
	return m.addLoginNodes(f, c)
}

// addChallenge adds a discoverable login's challenge and the nodes that
// answer it; autofill also lets the browser offer passkeys as the
// identifier is typed.
func (m *Method) addChallenge(f *flow.Flow, autofill bool) error {
	options, err := m.newChallenge(f)
	if err != nil {
		return err
	}
	f.UI.Add(flow.Input(ID, fieldChallenge, "hidden", string(options), nil))
	m.addScript(f)
	login := flow.Input(ID, fieldLogin, "hidden", nil, nil)
	if autofill {
		login.Attributes.OnloadTrigger = triggerLoginAutocomplete
		if f.Type == flow.TypeBrowser {
			login.Attributes.Onload = "window." + triggerLoginAutocomplete + "()"
		}
	}
	f.UI.Add(login, m.button(f, fieldLoginTrigger, text.LoginWithPasskey(), triggerLogin))
	return nil
}

// newChallenge begins a discoverable login for f, replacing the one it
// showed (also in its challenge node, when it has one), and answers the
// options the device is asked with.
func (m *Method) newChallenge(f *flow.Flow) (json.RawMessage, error) {
	options, session, err := m.rp.BeginDiscoverableLogin()
	if err != nil {
		return nil, err
	}
	if err := begin(f, session, nil); err != nil {
		return nil, err
	}
	f.UI.SetValue(fieldChallenge, string(options))
	return options, nil
}

// addScript adds webauthn.js for browsers, once per form (the webauthn
// method may have added it).
func (m *Method) addScript(f *flow.Flow) {
	if f.Type != flow.TypeBrowser || m.script == nil {
		return
	}
	for _, n := range f.UI.Nodes {
		if n.Type == flow.NodeScript && n.Attributes != nil && n.Attributes.ID == "webauthn_script" {
			return
		}
	}
	f.UI.Add(m.script.Node())
}

// button is a button that runs trigger of webauthn.js: by name for
// current UIs, and as inline JavaScript for older browser UIs.
func (m *Method) button(f *flow.Flow, name string, label *text.Message, trigger string) *flow.Node {
	n := flow.Input(ID, name, "button", "", label)
	n.Attributes.OnclickTrigger = trigger
	if f.Type == flow.TypeBrowser {
		n.Attributes.Onclick = "window." + trigger + "()"
	}
	return n
}

// Why a passkey sign-in found nobody to check the answer against.
var (
	errUnknownHandle = errors.New("passkey: no account has a passkey with this user handle")
	errNoKeys        = errors.New("passkey: the account has no passkey to sign in with")
)

// login checks the answer to the flow's challenge. The account is the one
// whose passkey carries the user handle the device sent. A submission
// without an answer shows the passkey form again; a refused answer gets a
// new challenge, so that every challenge is answered once.
func (m *Method) login(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	if f.RequestedAAL == identity.AAL2 {
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	answer := s.Payload.String(fieldLogin)
	if answer == "" {
		if f.Refresh && !m.canRefresh(s.Identity) {
			return nil, flow.FormMessage(text.NoSecurityKey())
		}
		// The form shows the passkey's nodes only, with a new challenge.
		f.UI.KeepOnlyCSRF()
		if err := m.addLoginNodes(f, flow.NodeContext{Schema: s.Schema, Identity: s.Identity}); err != nil {
			return nil, err
		}
		// Only a browser (or an app with its platform's passkey API) can
		// take the next step; Kratos sends JSON callers to the UI for it.
		return &flow.Outcome{Shown: true, Relocate: true}, nil
	}
	session, _ := pending(f)
	var (
		owner    *identity.Identity
		credType string
		findFail error
	)
	_, used, err := m.rp.FinishDiscoverableLogin(session, []byte(answer), func(handle []byte) (securitykey.User, error) {
		var u securitykey.User
		owner, credType, u, findFail = m.find(ctx, handle)
		return u, findFail
	})
	if findFail != nil && !errors.Is(findFail, errUnknownHandle) && !errors.Is(findFail, errNoKeys) {
		return nil, findFail // the database failed, not the answer
	}
	if err != nil {
		return nil, m.refuse(ctx, f, owner, used, err)
	}
	finish(f)
	return &flow.Outcome{Identity: owner, AAL: identity.AAL1, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		// The sign count moves on, so that an older copy of this
		// answer, or a cloned device, is refused next time.
		keys, err := securitykey.Lock(ctx, m.ids, q, owner, credType)
		if err != nil {
			return nil, err
		}
		if _, ok := keys.Find(used.ID); !ok {
			return nil, flow.FormMessage(text.SecurityKeyInvalid()) // removed meanwhile
		}
		keys.Keys = securitykey.UpdateKey(keys.Keys, used)
		return keys.Write(ctx, q)
	}}, nil
}

// refuse answers a refused passkey sign-in with the message for why, and
// a new challenge for the next try.
func (m *Method) refuse(ctx context.Context, f *flow.Flow, owner *identity.Identity, used securitykey.Key, cause error) error {
	if _, err := m.newChallenge(f); err != nil {
		return err
	}
	f.UI.SetValue(fieldLogin, nil)
	switch {
	case errors.Is(cause, errUnknownHandle):
		return flow.FormMessage(text.SecurityKeyAccountNotFound())
	case errors.Is(cause, errNoKeys):
		return flow.FormMessage(text.NoSecurityKey())
	case errors.Is(cause, securitykey.ErrCloned):
		var id uuid.UUID
		if owner != nil {
			id = owner.ID
		}
		slog.WarnContext(ctx, "passkey: refused a sign-in whose sign count did not increase; the passkey may have been cloned",
			"identity", id, "credential", used.HexID())
	case !errors.Is(cause, securitykey.ErrInvalid):
		return cause
	}
	return flow.FormMessage(text.SecurityKeyInvalid())
}

// find is the account a passkey's user handle names, the type of the
// credential its passkeys are kept in, and the user to check the answer
// against: the account's passkeys, or, for an account whose passkey was
// saved as a webauthn key, only its passwordless keys.
func (m *Method) find(ctx context.Context, handle []byte) (*identity.Identity, string, securitykey.User, error) {
	typ := ID
	// A passkey's handle is its identifier. Bytes that are no text are no
	// identifier (and the database would refuse to compare them), but may
	// be a webauthn key's handle: those are 16 random or identity id bytes.
	var i *identity.Identity
	var err error = identity.ErrNotFound
	if wire.ValidText(string(handle)) {
		i, err = m.ids.FindByIdentifier(ctx, ID, string(handle))
	}
	if errors.Is(err, identity.ErrNotFound) {
		typ = identity.CredentialsWebAuthn
		i, err = m.findByWebAuthnHandle(ctx, handle)
	}
	if errors.Is(err, identity.ErrNotFound) {
		return nil, "", securitykey.User{}, errUnknownHandle
	}
	if err != nil {
		return nil, "", securitykey.User{}, err
	}
	u := securitykey.User{Handle: handle, Name: m.displayName(i)}
	if c := i.Credentials[typ]; c != nil {
		// A config that cannot be read has no key to check against.
		stored, _ := securitykey.Read(c.Config)
		for _, k := range stored.Keys {
			if typ == ID || k.IsPasswordless {
				u.Keys = append(u.Keys, k)
			}
		}
	}
	if len(u.Keys) == 0 {
		return i, "", securitykey.User{}, errNoKeys
	}
	return i, typ, u, nil
}
