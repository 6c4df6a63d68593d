package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Where flows keep what waits for the user: a sign-up missing traits, and
// a provider to link once the existing account it collided with signs in.
const (
	signUpKey = "oidc_sign_up"
	linkKey   = "oidc_link"
)

// pendingLink is a provider's account whose sign-up found an account with
// one of its identifiers: it is linked once that account signs in.
type pendingLink struct {
	Result     *Result   `json:"result"`
	IdentityID uuid.UUID `json:"identity_id"`
	Duplicate  string    `json:"duplicate"`
}

// proceed goes on with a checked provider answer: sign in the account it
// names, sign it up, or link it in settings. Login and registration hand
// the answer to each other when it belongs to the other, as Kratos does.
func (m *Method) proceed(ctx context.Context, s *flow.Submission, res *Result) (*flow.Outcome, error) {
	if s.Flow.Kind == flow.Settings {
		return m.link(ctx, s, res)
	}
	i, err := m.ids.FindByExactIdentifier(ctx, ID, Identifier(res.Provider, res.Claims.Subject))
	switch {
	case errors.Is(err, identity.ErrNotFound):
		if s.Flow.Kind == flow.Login {
			return &flow.Outcome{Switch: flow.Registration, Carry: res}, nil
		}
		return m.signUp(ctx, s, res)
	case err != nil:
		return nil, err
	case s.Flow.Kind == flow.Registration:
		return &flow.Outcome{Switch: flow.Login, Carry: res}, nil
	}
	return &flow.Outcome{Identity: i, AAL: identity.AAL1, Provider: res.Provider}, nil
}

// signUp makes an account of a provider's answer: the mapper's traits,
// overridden by those the form holds. Traits the schema refuses are asked
// for on the registration form; an identifier another account has already
// sends the user to sign in to that account and link the provider there.
func (m *Method) signUp(ctx context.Context, s *flow.Submission, res *Result) (*flow.Outcome, error) {
	p := m.provider(res.Provider)
	if p == nil {
		return nil, errState
	}
	mapped, err := m.mapper.Map(ctx, p.cfg.MapperURL, res.Claims)
	if err != nil {
		return nil, fmt.Errorf("oidc provider %s: mapping the claims: %w", p.cfg.ID, err)
	}
	traits := map[string]any{}
	for _, over := range []map[string]any{mapped.Traits, res.Traits, s.Traits} {
		overlay(traits, over)
	}
	x, err := flow.ValidateTraits(s.Schema, traits)
	var fe flow.FormError
	if errors.As(err, &fe) {
		return m.askForTraits(s, p, res, traits, fe)
	}
	if err != nil {
		return nil, err
	}
	if dup, owner, err := m.taken(ctx, x.Identifiers); err != nil || owner != nil {
		if err != nil {
			return nil, err
		}
		return &flow.Outcome{Switch: flow.Login, Carry: &pendingLink{Result: res, IdentityID: owner.ID, Duplicate: dup}}, nil
	}
	draft := identity.Draft{SchemaID: s.Schema.ID}
	if draft.Traits, err = json.Marshal(traits); err != nil {
		return nil, err
	}
	if mapped.MetadataPublic != nil {
		if draft.MetadataPublic, err = json.Marshal(mapped.MetadataPublic); err != nil {
			return nil, err
		}
	}
	if mapped.MetadataAdmin != nil {
		if draft.MetadataAdmin, err = json.Marshal(mapped.MetadataAdmin); err != nil {
			return nil, err
		}
	}
	if len(mapped.VerifiedAddresses) > 0 {
		now := time.Now().UTC()
		draft.VerifiedAddresses = map[string]*time.Time{}
		for _, a := range mapped.VerifiedAddresses {
			draft.VerifiedAddresses[a.Via+":"+a.Value] = &now
		}
	}
	prepared, err := m.ids.Prepare(ctx, draft)
	if err != nil {
		return nil, err
	}
	entry, err := m.entry(res)
	if err != nil {
		return nil, err
	}
	delete(s.Flow.Internal, signUpKey)
	return &flow.Outcome{AAL: identity.AAL1, Provider: res.Provider, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		i, err := prepared.Insert(ctx, q)
		if err != nil {
			return nil, err
		}
		return m.putLinks(ctx, q, i, nil, entry)
	}}, nil
}

// overlay writes over's values into into, object by object: what a form
// leaves blank (an empty input it posts with every button) keeps what the
// provider gave.
func overlay(into, over map[string]any) {
	for k, v := range over {
		switch v := v.(type) {
		case nil:
			continue
		case string:
			if v == "" {
				continue
			}
		case map[string]any:
			if sub, ok := into[k].(map[string]any); ok {
				overlay(sub, v)
				continue
			}
			fresh := map[string]any{}
			overlay(fresh, v)
			into[k] = fresh
			continue
		}
		into[k] = v
	}
}

// taken answers the first identifier of a would-be account that another
// account has, and that account.
func (m *Method) taken(ctx context.Context, identifiers map[string][]string) (string, *identity.Identity, error) {
	types := make([]string, 0, len(identifiers))
	for typ := range identifiers {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		for _, v := range identifiers[typ] {
			i, err := m.ids.FindByIdentifier(ctx, typ, v)
			if errors.Is(err, identity.ErrNotFound) {
				continue
			}
			if err != nil {
				return "", nil, err
			}
			return v, i, nil
		}
	}
	return "", nil, nil
}

// askForTraits shows the registration form with the traits the provider
// gave and the mistakes the schema found, and a button that completes the
// sign-up with what the user adds. The provider's answer waits in the
// flow, sealed, so that no second trip to the provider is needed.
func (m *Method) askForTraits(s *flow.Submission, p *Provider, res *Result, traits map[string]any, fe flow.FormError) (*flow.Outcome, error) {
	f := s.Flow
	kept := *res
	kept.Traits = nil
	sealed, err := m.seal(kept)
	if err != nil {
		return nil, err
	}
	f.Internal[signUpKey] = sealed
	f.UI.KeepOnlyCSRF()
	f.UI.Add(flow.TraitNodes(s.Schema, flow.GroupDefault, traits, false)...)
	f.UI.Add(flow.Submit(ID, fieldProvider, p.cfg.ID, text.RegistrationContinue()))
	fe.Apply(f)
	return &flow.Outcome{Shown: true}, nil
}

// waitingSignUp is the provider answer a registration flow keeps while it
// asks for missing traits, or nil.
func (m *Method) waitingSignUp(f *flow.Flow) (*Result, error) {
	var res Result
	ok, err := m.open(f, signUpKey, &res)
	if err != nil || !ok {
		return nil, err
	}
	return &res, nil
}

// askToLink turns a new login flow into the sign-in that links a provider
// to the existing account its sign-up collided with (Kratos's message
// 1010016): the identifier is filled in and fixed, the buttons say they
// link, and the provider being linked is not offered.
func (m *Method) askToLink(ctx context.Context, s *flow.Submission, pl *pendingLink) (*flow.Outcome, error) {
	f := s.Flow
	owner, err := m.ids.Get(ctx, pl.IdentityID)
	if err != nil {
		return nil, err
	}
	sealed, err := m.seal(pl)
	if err != nil {
		return nil, err
	}
	f.Internal[linkKey] = sealed
	p := m.provider(pl.Result.Provider)
	if p == nil {
		return nil, errState
	}
	var nodes []*flow.Node
	for _, n := range f.UI.Nodes {
		if n.Attributes != nil && n.Group == ID && n.Attributes.Name == fieldProvider {
			if n.Attributes.Value == p.cfg.ID {
				continue
			}
			if other := m.provider(fmt.Sprint(n.Attributes.Value)); other != nil {
				n.Meta.Label = text.ConfirmWithProvider(label(other))
			}
		}
		if n.Meta.Label != nil && n.Meta.Label.ID == text.LoginTitle().ID {
			n.Meta.Label = text.SignInAndLink()
		}
		if n.Attributes != nil && n.Attributes.Name == "identifier" && n.Group != ID {
			n.Attributes.Type = "hidden"
			n.Attributes.Value = pl.Duplicate
		}
		nodes = append(nodes, n)
	}
	f.UI.Nodes = nodes
	var types []string
	for typ := range owner.Credentials {
		if slices.Contains([]string{identity.CredentialsPassword, ID, identity.CredentialsCode, identity.CredentialsPasskey, identity.CredentialsWebAuthn}, typ) {
			types = append(types, typ)
		}
	}
	sort.Strings(types)
	providers := []string{}
	for _, lp := range linkedOf(owner).Providers {
		providers = append(providers, lp.Provider)
	}
	f.UI.Messages = append(f.UI.Messages, text.LinkAccountFirst(label(p), pl.Duplicate, m.kit.PublicURL+"self-service/login/"+f.Type, types, providers))
	return &flow.Outcome{Shown: true}, nil
}

// LinkOnSignIn implements flow.Linker: a login that asked to link a
// provider links it when the account it waited for signs in.
func (m *Method) LinkOnSignIn(ctx context.Context, q *store.Q, f *flow.Flow, i *identity.Identity) (*identity.Identity, error) {
	var pl pendingLink
	ok, err := m.open(f, linkKey, &pl)
	if err != nil || !ok {
		return nil, err
	}
	if pl.IdentityID != i.ID {
		return nil, flow.FormMessage(text.LinkedAccountMismatch())
	}
	entry, err := m.entry(pl.Result)
	if err != nil {
		return nil, err
	}
	return m.addLink(ctx, q, i, entry)
}

// entry is the credential entry of a provider answer, tokens sealed.
func (m *Method) entry(res *Result) (CredentialProvider, error) {
	one := CredentialConfig{Providers: []CredentialProvider{{
		Subject: res.Claims.Subject, Provider: res.Provider,
		InitialIDToken: res.Tokens.IDToken, InitialAccessToken: res.Tokens.AccessToken, InitialRefreshToken: res.Tokens.RefreshToken,
	}}}
	sealed, err := one.Sealed(m.cipher)
	if err != nil {
		return CredentialProvider{}, err
	}
	return sealed.Providers[0], nil
}

// errLinkedElsewhere refuses linking a provider's account that another
// account has linked.
func errLinkedElsewhere() error {
	return flow.FormMessage(text.ValidationGeneric("This account at the provider is linked to another account already."))
}

// addLink adds a provider's account to i's oidc credential, under the
// identity's lock, in the caller's transaction.
func (m *Method) addLink(ctx context.Context, q *store.Q, i *identity.Identity, entry CredentialProvider) (*identity.Identity, error) {
	c, err := m.ids.LockCredential(ctx, q, i.ID, ID)
	if err != nil {
		return nil, err
	}
	return m.putLinks(ctx, q, i, c, entry)
}

// putLinks writes c (nil: none yet) with entry added.
func (m *Method) putLinks(ctx context.Context, q *store.Q, i *identity.Identity, c *identity.Credential, entry CredentialProvider) (*identity.Identity, error) {
	var cfg CredentialConfig
	if c == nil {
		c = &identity.Credential{Type: ID}
	} else if cfg, _ = ParseCredentialConfig(c.Config); cfg.Has(entry.Provider) {
		return nil, flow.FormMessage(text.ValidationGeneric("A " + entry.Provider + " account is linked to this account already."))
	}
	cfg.Add(entry)
	return m.writeLinks(ctx, q, i, c, cfg)
}

// writeLinks stores cfg as i's oidc credential c; none left removes it.
func (m *Method) writeLinks(ctx context.Context, q *store.Q, i *identity.Identity, c *identity.Credential, cfg CredentialConfig) (*identity.Identity, error) {
	if len(cfg.Providers) == 0 {
		if err := m.ids.DeleteCredential(ctx, q, i.ID, ID); err != nil {
			return nil, err
		}
		return i.WithCredential(ID, nil, store.Now()), nil
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c.Identifiers, c.Config = cfg.Identifiers(), config
	err = m.ids.PutCredential(ctx, q, i.ID, c)
	if identity.IsConflict(err) || errors.Is(err, identity.ErrConflict) {
		return nil, errLinkedElsewhere()
	}
	if err != nil {
		return nil, err
	}
	return i.WithCredential(ID, c, c.UpdatedAt), nil
}

// nativeIDToken signs in (or up) with an id_token an app got from the
// provider's own SDK, checked against the provider's keys.
func (m *Method) nativeIDToken(ctx context.Context, s *flow.Submission, p *Provider, raw string) (*flow.Outcome, error) {
	if !p.SupportsIDToken() {
		return nil, wire.BadRequest.WithReason("The provider %s does not support signing in with an id_token.", p.cfg.ID)
	}
	claims, err := p.VerifyIDToken(ctx, raw, s.Payload.String(fieldNonce))
	if errors.Is(err, ErrIDTokenInvalid) {
		return nil, wire.Forbidden.WithReason("The id_token is not valid for this provider.")
	}
	if err != nil {
		return nil, err
	}
	return m.proceed(ctx, s, &Result{Provider: p.cfg.ID, Claims: claims, Tokens: Tokens{IDToken: raw}})
}
