package webauthn

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Sign-in with a key: at aal2 the signed-in identity's second-factor keys;
// with passwordless, at aal1 an identifier first, then its passwordless
// keys; a refresh accepts any key of the identity being re-authenticated.

// loginNodes lays out the login form.
func (m *Method) loginNodes(f *flow.Flow, c flow.NodeContext) error {
	switch {
	case f.Refresh && c.Identity != nil:
		return m.offerKeys(f, c.Identity, true, text.LoginWithSecurityKey())
	case f.RequestedAAL == identity.AAL2:
		if !m.passwordless && c.Identity != nil {
			return m.offerKeys(f, c.Identity, false, text.LoginWithSecurityKey())
		}
	case m.passwordless:
		if f.UI.Find("identifier") == nil {
			f.UI.Add(flow.Input(flow.GroupDefault, "identifier", "text", nil, flow.IdentifierLabel(c.Schema)).
				Required().Autocomplete("username webauthn"))
		}
		f.UI.Add(flow.Submit(ID, "method", ID, text.LoginWithSecurityKey()))
	}
	return nil
}

// AddIdentifiedNodes implements flow.Identified: with passwordless keys, the
// button that goes on to the key of the identity the identifier names.
func (m *Method) AddIdentifiedNodes(_ context.Context, f *flow.Flow, c flow.NodeContext, all bool) (bool, error) {
	if !m.passwordless || f.Type != flow.TypeBrowser {
		return false, nil
	}
	has := false
	if c.Identity != nil {
		cred, cfg, err := credentialOf(c.Identity)
		if err != nil {
			return false, err
		}
		has = cred != nil && len(cred.Identifiers) > 0 && len(keysFor(cfg.Keys, true, false)) > 0
	}
	if has || all {
		f.UI.Add(flow.Submit(ID, "method", ID, text.LoginWithSecurityKey()))
	}
	return has, nil
}

// offerKeys begins a sign-in with i's keys and lays out its nodes: the
// first-factor or second-factor ones (refresh: all), by the configuration.
// It answers nothing when i has no such key.
func (m *Method) offerKeys(f *flow.Flow, i *identity.Identity, all bool, label *text.Message) error {
	cred, cfg, err := credentialOf(i)
	if err != nil || cred == nil {
		return err
	}
	keys := keysFor(cfg.Keys, m.passwordless, all)
	if len(keys) == 0 {
		return nil
	}
	if f.UI.Find("identifier") == nil && len(cred.Identifiers) > 0 {
		f.UI.Add(flow.Input(flow.GroupDefault, "identifier", "hidden", cred.Identifiers[0], nil))
	}
	return m.challenge(f, securitykey.User{Handle: handleOf(cfg, i), Keys: keys}, label)
}

// challenge begins a sign-in ceremony for u, keeps it in the flow and puts
// its nodes in the form, replacing those of an earlier one.
func (m *Method) challenge(f *flow.Flow, u securitykey.User, label *text.Message) error {
	options, session, err := m.rp.BeginLogin(u)
	if err != nil {
		return err
	}
	f.Internal[sessionKey] = session
	upsert(f, m.script.Node())
	upsert(f, trigger(fieldLoginTrigger, loginFunction, options, label))
	upsert(f, flow.Input(ID, fieldLogin, "hidden", "", nil))
	return nil
}

// login handles a sign-in submission.
func (m *Method) login(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	if f.Type != flow.TypeBrowser {
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	switch {
	case f.Refresh && s.Identity != nil:
		return m.verify(ctx, s, s.Identity, true, func() error {
			return m.offerKeys(f, s.Identity, true, text.LoginWithSecurityKey())
		})
	case f.RequestedAAL == identity.AAL2:
		if m.passwordless || s.Identity == nil {
			return nil, flow.FormMessage(text.NoLoginStrategy())
		}
		return m.verify(ctx, s, s.Identity, false, func() error {
			return m.offerKeys(f, s.Identity, false, text.LoginWithSecurityKey())
		})
	case !m.passwordless:
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	return m.loginPasswordless(ctx, s)
}

// loginPasswordless is the first-factor sign-in: the identifier names the
// account (and the form goes on to its key), then the key's answer signs
// in. An identifier nobody uses and an account without a passwordless key
// are refused alike, after the same work.
func (m *Method) loginPasswordless(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	identifier := strings.TrimSpace(s.Payload.String("identifier"))
	if identifier == "" {
		return nil, flow.FormError{{Field: "identifier", Message: text.ValidationRequired("identifier")}}
	}
	owner, err := m.ids.FindByAnyIdentifierEvenly(ctx, identifier)
	if errors.Is(err, identity.ErrNotFound) {
		owner, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !m.signsInWith(owner, identifier) {
		return nil, flow.FormMessage(text.SecurityKeyAccountNotFound())
	}
	ask := func() error { return m.askForKey(f, owner, identifier) }
	if len(rawField(s.Payload, fieldLogin)) == 0 {
		if err := ask(); err != nil {
			return nil, err
		}
		// Only a browser can take the next step; Kratos sends JSON
		// callers to the UI to take it.
		return &flow.Outcome{Shown: true, Relocate: true}, nil
	}
	return m.verify(ctx, s, owner, false, ask)
}

// signsInWith reports whether i's webauthn credential has identifier and
// a passwordless key: the identifier lookup matched any credential type.
func (m *Method) signsInWith(i *identity.Identity, identifier string) bool {
	if i == nil {
		return false
	}
	cred, cfg, err := credentialOf(i)
	if err != nil || cred == nil {
		return false
	}
	return slices.Contains(cred.Identifiers, schema.NormalizeIdentifier(identifier)) && len(keysFor(cfg.Keys, true, false)) > 0
}

// askForKey is the second step of a passwordless sign-in: the form holds
// only the identifier, hidden, and the key's button.
func (m *Method) askForKey(f *flow.Flow, i *identity.Identity, identifier string) error {
	_, cfg, err := credentialOf(i)
	if err != nil {
		return err
	}
	f.UI.KeepOnlyCSRF()
	f.UI.Add(flow.Input(flow.GroupDefault, "identifier", "hidden", identifier, nil).Required())
	if err := m.challenge(f, securitykey.User{Handle: handleOf(cfg, i), Keys: keysFor(cfg.Keys, true, false)}, text.SecurityKeyContinue()); err != nil {
		return err
	}
	f.UI.Messages = append(f.UI.Messages, text.SecurityKeyPrepare())
	return nil
}

// verify checks the key's answer in the payload against the ceremony the
// flow began for i, with the keys the sign-in may use (all of them, for a
// refresh). A refused answer spends the ceremony: again begins another.
func (m *Method) verify(ctx context.Context, s *flow.Submission, i *identity.Identity, all bool, again func() error) (*flow.Outcome, error) {
	f := s.Flow
	cred, cfg, err := credentialOf(i)
	if err != nil {
		return nil, err
	}
	var keys []securitykey.Key
	if cred != nil {
		keys = keysFor(cfg.Keys, m.passwordless, all)
	}
	if len(keys) == 0 {
		return nil, flow.FormMessage(text.NoSecurityKey())
	}
	response := rawField(s.Payload, fieldLogin)
	if len(response) == 0 {
		return nil, flow.FormError{{Field: fieldLogin, Message: text.ValidationRequired(fieldLogin)}}
	}
	session := f.Internal[sessionKey]
	delete(f.Internal, sessionKey) // each challenge answers once
	used, err := m.rp.FinishLogin(securitykey.User{Handle: handleOf(cfg, i), Keys: keys}, session, response)
	if errors.Is(err, securitykey.ErrCloned) {
		logClone(ctx, i.ID, used.HexID())
	}
	if errors.Is(err, securitykey.ErrInvalid) || errors.Is(err, securitykey.ErrCloned) {
		if err := again(); err != nil {
			return nil, err
		}
		return nil, flow.FormMessage(text.SecurityKeyInvalid())
	}
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: i, AAL: m.aal(), Commit: m.recordUse(i, used)}, nil
}

// recordUse writes the sign count and flags of the key a sign-in used, in
// the transaction that completes it, from the credential as it is now. A
// key removed meanwhile, or whose count another sign-in moved past this
// one's, does not sign in.
func (m *Method) recordUse(i *identity.Identity, used securitykey.Key) func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
	return func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		now, err := securitykey.Lock(ctx, m.ids, q, i, ID)
		if err != nil {
			return nil, err
		}
		current, ok := now.Find(used.ID)
		if !ok {
			return nil, flow.FormMessage(text.NoSecurityKey())
		}
		if count := signCount(used); count != 0 && signCount(current) >= count {
			logClone(ctx, i.ID, used.HexID())
			return nil, flow.FormMessage(text.SecurityKeyInvalid())
		}
		now.Keys = securitykey.UpdateKey(now.Keys, used)
		return now.Write(ctx, q)
	}
}

func signCount(k securitykey.Key) uint32 {
	if k.Authenticator == nil {
		return 0
	}
	return k.Authenticator.SignCount
}
