package oidc

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// ID is the method name in submissions, node groups and the session's
// authentication methods; it is also the credential type.
const ID = identity.CredentialsOIDC

// Names of the method's nodes and payload fields, as Kratos's.
const (
	fieldProvider = "provider"
	fieldLink     = "link"
	fieldUnlink   = "unlink"
	fieldIDToken  = "id_token"
	fieldNonce    = "id_token_nonce"
	fieldUpstream = "upstream_parameters"
)

// Method is social sign-in: the oidc method of login, registration and
// settings. Its flows go through the provider's sign-in page and come back
// through the callback (Router), which resumes the flow the state names;
// everything in between lives in that flow, so any instance can finish a
// sign-in another began.
type Method struct {
	kit       *flow.Kit
	ids       *identity.Manager
	cipher    cipher.Cipher
	mapper    *Mapper
	providers *Providers
	// Factors count an identity's first factors: the last one cannot be
	// unlinked. Set it from the configuration before serving.
	Factors identity.FactorRules
	// Mitigate is security.account_enumeration.mitigate: identifier-first
	// login offers every provider whether or not the account has it.
	Mitigate bool
}

// New wires the method with its providers, in the order they are shown.
// c seals what the method keeps of a provider's answer: the tokens stored
// with the credential and the sign-in waiting in a flow.
func New(kit *flow.Kit, ids *identity.Manager, c cipher.Cipher, mapper *Mapper, providers *Providers) *Method {
	return &Method{kit: kit, ids: ids, cipher: c, mapper: mapper, providers: providers}
}

// AuthOrigins are the origins of the providers' sign-in pages.
func (m *Method) AuthOrigins() []string { return m.providers.AuthOrigins() }

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Login || kind == flow.Registration || kind == flow.Settings
}

// provider answers the configured provider called id, or nil. Providers
// of an organization are B2B sign-ins that Lanyard does not route.
func (m *Method) provider(id string) *Provider {
	for _, p := range m.providers.Ready() {
		if p.cfg.ID == id && p.cfg.OrganizationID == "" {
			return p
		}
	}
	return nil
}

// label is how a provider is named on buttons.
func label(p *Provider) string {
	if p.cfg.Label != "" {
		return p.cfg.Label
	}
	return p.cfg.ID
}

// AddNodes implements flow.Method: a button per provider; in settings,
// link and unlink buttons.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch f.Kind {
	case flow.Login:
		if f.RequestedAAL == session.AAL2 {
			return nil // a provider proves the first factor only
		}
		var linked CredentialConfig
		if f.Refresh && c.Identity != nil {
			linked = linkedOf(c.Identity)
		}
		for _, p := range m.visible() {
			if f.Refresh && c.Identity != nil && !linked.Has(p.cfg.ID) {
				continue
			}
			f.UI.Add(flow.Submit(ID, fieldProvider, p.cfg.ID, text.LoginWithProvider(label(p), p.cfg.ID)))
		}
	case flow.Registration:
		for _, p := range m.visible() {
			f.UI.Add(flow.Submit(ID, fieldProvider, p.cfg.ID, text.RegisterWithProvider(label(p), p.cfg.ID)))
		}
	case flow.Settings:
		if c.Identity == nil {
			return nil
		}
		linked := linkedOf(c.Identity)
		canUnlink := m.Factors.FirstFactors(c.Identity) > 1
		for _, p := range m.visible() {
			switch {
			case !linked.Has(p.cfg.ID):
				f.UI.Add(flow.Submit(ID, fieldLink, p.cfg.ID, text.LinkProvider(label(p))))
			case canUnlink:
				f.UI.Add(flow.Submit(ID, fieldUnlink, p.cfg.ID, text.UnlinkProvider(label(p))))
			}
		}
	}
	return nil
}

// AddIdentificationNodes puts the provider buttons beside the identifier
// on identifier-first login's first step.
func (m *Method) AddIdentificationNodes(ctx context.Context, f *flow.Flow, c flow.NodeContext) error {
	return m.AddNodes(ctx, f, flow.NodeContext{Schema: c.Schema})
}

// AddIdentifiedNodes offers, on identifier-first login's second step, the
// providers the identity has linked (all of them with mitigation).
func (m *Method) AddIdentifiedNodes(_ context.Context, f *flow.Flow, c flow.NodeContext, all bool) (bool, error) {
	var linked CredentialConfig
	if c.Identity != nil {
		linked = linkedOf(c.Identity)
	}
	any := false
	for _, p := range m.visible() {
		if !all && !linked.Has(p.cfg.ID) {
			continue
		}
		f.UI.Add(flow.Submit(ID, fieldProvider, p.cfg.ID, text.LoginWithProvider(label(p), p.cfg.ID)))
		any = any || linked.Has(p.cfg.ID)
	}
	return any, nil
}

func (m *Method) visible() []*Provider {
	var out []*Provider
	for _, p := range m.providers.Ready() {
		if p.cfg.OrganizationID == "" {
			out = append(out, p)
		}
	}
	return out
}

// linkedOf reads the providers an identity has linked; a corrupt config
// links none.
func linkedOf(i *identity.Identity) CredentialConfig {
	c := i.Credentials[ID]
	if c == nil {
		return CredentialConfig{}
	}
	cfg, err := ParseCredentialConfig(c.Config)
	if err != nil {
		slog.Warn("an oidc credential's config could not be read", "identity", i.ID, "error", err)
		return CredentialConfig{}
	}
	return cfg
}

// Implies implements flow.Implied: a UI that puts every method in one
// form posts a provider button (or settings' link and unlink) without
// `method`, as Kratos accepts.
func (m *Method) Implies(p flow.Payload) bool {
	if p.String("method") != "" {
		return false
	}
	return p.String(fieldProvider) != "" || p.String(fieldLink) != "" || p.String(fieldUnlink) != ""
}

// Submit implements flow.Method.
func (m *Method) Submit(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	if s.Resumed {
		return m.resumed(ctx, s)
	}
	if s.Flow.Kind == flow.Settings {
		return m.settings(ctx, s)
	}
	p := m.provider(s.Payload.String(fieldProvider))
	if p == nil {
		return nil, flow.FormMessage(text.ValidationGeneric("There is no such provider to sign in with."))
	}
	if raw := s.Payload.String(fieldIDToken); raw != "" {
		return m.nativeIDToken(ctx, s, p, raw)
	}
	if s.Flow.Kind == flow.Registration {
		if pending, err := m.waitingSignUp(s.Flow); err != nil || pending != nil {
			if err != nil {
				return nil, err
			}
			if pending.Provider == p.cfg.ID {
				return m.signUp(ctx, s, pending)
			}
		}
	}
	return m.begin(s, p)
}

// resumed continues a flow the callback (or FedCM, or another flow that
// switched to this one) handed over.
func (m *Method) resumed(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	switch c := s.Carried.(type) {
	case *callback:
		res, err := m.finishAuth(ctx, s, c)
		if err != nil {
			return nil, err
		}
		return m.proceed(ctx, s, res)
	case *fedcmToken:
		res, err := m.finishFedCM(ctx, s, c)
		if err != nil {
			return nil, err
		}
		return m.proceed(ctx, s, res)
	case *Result:
		return m.proceed(ctx, s, c)
	case *pendingLink:
		return m.askToLink(ctx, s, c)
	}
	return nil, wire.BadRequest.WithReason("The social sign-in could not be continued.")
}

// seal encrypts v as JSON for the flow's internal state.
func (m *Method) seal(v any) (json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sealed, err := m.cipher.Encrypt(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealed)
}

// open decrypts what seal stored under key in f into v; false when f
// holds nothing there.
func (m *Method) open(f *flow.Flow, key string, v any) (bool, error) {
	stored := f.Internal[key]
	if stored == nil {
		return false, nil
	}
	var sealed string
	if err := json.Unmarshal(stored, &sealed); err != nil {
		return false, err
	}
	raw, err := m.cipher.Decrypt(sealed)
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(raw, v)
}

func mustQuote(s string) json.RawMessage {
	raw, _ := json.Marshal(s) // a string always encodes
	return raw
}

func unquote(raw json.RawMessage, s *string) error { return json.Unmarshal(raw, s) }
