package code

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// SignInOptions configure one-time codes as a way to sign in and up.
type SignInOptions struct {
	// Passwordless (passwordless_enabled): a code to the identity's address
	// is a first factor, for login and registration.
	Passwordless bool
	// MFA (mfa_enabled): a code is a second factor, to one of the addresses
	// of the identity's code credential.
	MFA bool
	// Fallback (missing_credential_fallback_enabled): identities without a
	// code credential get the code at the email they sign in with
	// (passwordless) or at their verifiable addresses (second factor).
	Fallback bool
	// Mitigate (security.account_enumeration.mitigate): an identifier no
	// account uses is answered as a known one.
	Mitigate bool
	// TwoStep is profile-first registration: the form of a sent code has a
	// button back to choosing a credential.
	TwoStep bool
	// Lifespan is how long a code is valid (default one hour).
	Lifespan time.Duration
	// MaxAttempts is how many codes may be submitted to one flow (default 5).
	MaxAttempts int
	// Guard counts code guesses per address across flows; nil counts none.
	Guard *guard.Guard
}

// SignIn is the code method of login and registration.
type SignIn struct {
	db    *store.Store
	ids   *identity.Manager
	codes *onetime.Codes
	mail  courier.Outbox
	opts  SignInOptions
}

// NewSignIn makes the code method of login and registration.
func NewSignIn(db *store.Store, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox, opts SignInOptions) *SignIn {
	withDefaults(&opts.Lifespan, &opts.MaxAttempts)
	return &SignIn{db: db, ids: ids, codes: codes, mail: mail, opts: opts}
}

// ID implements flow.Method.
func (m *SignIn) ID() string { return ID }

// Serves implements flow.Method.
func (m *SignIn) Serves(kind flow.Kind) bool {
	switch kind {
	case flow.Login:
		return m.opts.Passwordless || m.opts.MFA
	case flow.Registration:
		return m.opts.Passwordless
	}
	return false
}

// Implies implements flow.Implied: a second factor's address buttons
// carry only the address.
func (m *SignIn) Implies(p flow.Payload) bool {
	return m.opts.MFA && p.String("method") == "" && strings.TrimSpace(p.String("address")) != ""
}

// RequestsCode implements flow.CodeRequester.
func (m *SignIn) RequestsCode(p flow.Payload) bool {
	return strings.TrimSpace(p.String("code")) == "" || p.String("resend") != ""
}

// AddNodes implements flow.Method.
func (m *SignIn) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch f.Kind {
	case flow.Login:
		if f.RequestedAAL == identity.AAL2 {
			if m.opts.MFA && c.Identity != nil {
				for _, a := range m.secondFactorAddresses(c.Identity, viaOf(f)) {
					f.UI.Add(flow.Submit(ID, "address", a.Address, text.LoginSendCodeTo(a.Address, a.Channel)))
				}
			}
			return nil
		}
		if !m.opts.Passwordless {
			return nil
		}
		if f.UI.Find("identifier") == nil {
			n := flow.Input(flow.GroupDefault, "identifier", "text", nil, flow.IdentifierLabel(c.Schema)).Required().Autocomplete("username")
			if f.Refresh && c.Identity != nil {
				if as := identity.CodeAddresses(c.Identity); len(as) > 0 {
					n.Attributes.Type, n.Attributes.Value = "hidden", as[0].Address
				}
			}
			f.UI.Add(n)
		}
		f.UI.Add(flow.Submit(ID, "method", ID, text.LoginSendCode()))
	case flow.Registration:
		if c.Step != flow.StepProfile {
			f.UI.Add(flow.Submit(ID, "method", ID, text.RegistrationSendCode()))
		}
	}
	return nil
}

// AddIdentifiedNodes implements flow.Identified: with passwordless codes
// every account can sign in by code.
func (m *SignIn) AddIdentifiedNodes(_ context.Context, f *flow.Flow, c flow.NodeContext, all bool) (bool, error) {
	if !m.opts.Passwordless || (c.Identity == nil && !all) {
		return false, nil
	}
	f.UI.Add(flow.Submit(ID, "method", ID, text.LoginSendCode()))
	return c.Identity != nil, nil
}

// Open implements flow.Opener: the code is sent at once when there is no
// address to choose (a second factor with one address and no other second
// factor), or when identifier-first login found an identity whose only
// way in is the code.
func (m *SignIn) Open(_ context.Context, f *flow.Flow, c flow.NodeContext) (*flow.Outcome, error) {
	i := c.Identity
	if f.Kind != flow.Login || i == nil {
		return nil, nil
	}
	if f.RequestedAAL == identity.AAL2 {
		if !m.opts.MFA || (identity.FactorRules{}).HasSecondFactor(i) {
			return nil, nil // another second factor to choose from
		}
		as := m.secondFactorAddresses(i, viaOf(f))
		if len(as) != 1 {
			return nil, nil
		}
		return m.sendLogin(f, i, as[0].Address, as, nil), nil
	}
	if !m.opts.Passwordless {
		return nil, nil
	}
	as := m.loginAddresses(i, c.Identifier)
	if len(as) == 0 {
		return nil, nil
	}
	return m.sendLogin(f, i, c.Identifier, as, nil), nil
}

// Submit implements flow.Method.
func (m *SignIn) Submit(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	switch s.Flow.Kind {
	case flow.Login:
		return m.login(ctx, s)
	case flow.Registration:
		return m.register(ctx, s)
	}
	return nil, errors.New("code: flows of kind " + string(s.Flow.Kind) + " are not served")
}

// login sends a code (state choose_method, or a resend) or checks the one
// typed (state sent_email).
func (m *SignIn) login(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f, p := s.Flow, s.Payload
	secondFactor := f.RequestedAAL == identity.AAL2
	if secondFactor && !m.opts.MFA || !secondFactor && !m.opts.Passwordless {
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	transient, _ := p["transient_payload"].(map[string]any)
	if f.State == flow.StateSentEmail && p.String("resend") == "" {
		return m.redeemLogin(ctx, s)
	}
	if secondFactor {
		address := strings.TrimSpace(p.String("address"))
		if address == "" {
			address = strings.TrimSpace(p.String("identifier"))
		}
		if address == "" {
			return nil, flow.FormError{{Field: "address", Message: text.ValidationRequired("address")}}
		}
		as := m.secondFactorAddresses(s.Identity, "")
		for _, a := range as {
			if a.Address == normalizeTyped(address) {
				return m.sendLogin(f, s.Identity, a.Address, []identity.CodeAddress{a}, transient), nil
			}
		}
		return nil, flow.FormMessage(text.UnknownAddress())
	}
	identifier := normalizeTyped(p.String("identifier"))
	if identifier == "" {
		return nil, flow.FormError{{Field: "identifier", Message: text.ValidationRequired("identifier")}}
	}
	owner, err := m.ids.FindByCodeIdentifierEvenly(ctx, identifier)
	if errors.Is(err, identity.ErrNotFound) && m.opts.Fallback {
		owner, err = m.ids.FindByAnyIdentifierEvenly(ctx, identifier)
	}
	if errors.Is(err, identity.ErrNotFound) {
		owner, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var as []identity.CodeAddress
	if owner != nil {
		as = m.loginAddresses(owner, identifier)
	}
	if len(as) == 0 {
		if !m.opts.Mitigate {
			return nil, flow.FormMessage(text.NoCodeAccount())
		}
		// The same answer and the same work as for an account, for nobody.
		owner, as = nil, []identity.CodeAddress{{Channel: viaOfIdentifier(identifier), Address: identifier}}
	}
	return m.sendLogin(f, owner, identifier, as, transient), nil
}

// loginAddresses are where a first-factor code for i goes: the code
// address the identifier names, else all of them; with the fallback, the
// identifier itself as an email address.
func (m *SignIn) loginAddresses(i *identity.Identity, identifier string) []identity.CodeAddress {
	as := identity.CodeAddresses(i)
	for _, a := range as {
		if a.Address == normalizeTyped(identifier) {
			return []identity.CodeAddress{a}
		}
	}
	if len(as) == 0 && m.opts.Fallback && strings.Contains(identifier, "@") {
		return []identity.CodeAddress{{Channel: courier.ViaEmail, Address: normalizeTyped(identifier)}}
	}
	return as
}

// secondFactorAddresses are the addresses a second-factor code may go to,
// only the one the deprecated ?via= names when set.
func (m *SignIn) secondFactorAddresses(i *identity.Identity, via string) []identity.CodeAddress {
	as := identity.CodeAddresses(i)
	if len(as) == 0 && m.opts.Fallback {
		for _, va := range i.VerifiableAddresses {
			as = append(as, identity.CodeAddress{Channel: va.Via, Address: va.Value})
		}
	}
	if via == "" {
		return as
	}
	want := traitString(i, via)
	var out []identity.CodeAddress
	for _, a := range as {
		if want != "" && a.Address == schema.NormalizeAddress(a.Channel, want) {
			out = append(out, a)
		}
	}
	return out
}

// sendLogin issues a login code to each of addresses and moves the form to
// asking for it; owner nil sends to nobody with the same work.
func (m *SignIn) sendLogin(f *flow.Flow, owner *identity.Identity, shown string, addresses []identity.CodeAddress, transient map[string]any) *flow.Outcome {
	return &flow.Outcome{Send: func(ctx context.Context, q *store.Q) error {
		if err := m.codes.InvalidateFlow(ctx, q, f.ID); err != nil {
			return err
		}
		for _, a := range addresses {
			plain, err := issue(ctx, q, m.codes, onetime.Login, f, owner, a.Channel, a.Address, m.opts.Lifespan)
			if err != nil {
				return err
			}
			msg := courier.Message{
				Template: courier.LoginCodeValid, Via: a.Channel, To: a.Address, Code: plain, Identity: owner,
				RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: m.opts.Lifespan,
			}
			if err := courier.Deliver(ctx, q, m.mail, msg, owner != nil, ""); err != nil {
				return err
			}
		}
		m.showLoginSent(f, shown)
		return nil
	}}
}

// showLoginSent lays out the form asking for a login code sent to shown.
func (m *SignIn) showLoginSent(f *flow.Flow, shown string) {
	label := f.UI.Find("identifier")
	var idLabel *text.Message
	if label != nil {
		idLabel = label.Meta.Label
	}
	group := flow.GroupDefault
	if f.RequestedAAL == identity.AAL2 {
		group, idLabel = ID, text.LoginSendCodeTo(shown, viaOfIdentifier(shown))
	}
	f.UI.KeepOnlyCSRF()
	f.UI.Add(flow.Input(group, "identifier", "hidden", shown, idLabel))
	m.askForCode(f, text.LabelLoginCode())
	f.State, f.Active = flow.StateSentEmail, ID
	f.UI.Messages = []*text.Message{text.LoginCodeSent()}
}

// askForCode adds the code input and its buttons.
func (m *SignIn) askForCode(f *flow.Flow, label *text.Message) {
	code := flow.Input(ID, "code", "text", nil, label).Required().Autocomplete("one-time-code")
	code.Attributes.Pattern, code.Attributes.Maxlength = "[0-9]+", 6
	f.UI.Add(
		flow.Input(ID, "method", "hidden", ID, nil),
		code,
		flow.Submit(ID, "method", ID, text.LabelContinue()),
		flow.Submit(ID, "resend", ID, text.LabelResendCode()),
	)
}

// redeemLogin checks a typed login code. The identity is the one the
// flow's code went to (or the signed-in one, for a second factor); the
// code is spent inside the transaction that completes the login, which
// also marks the address verified.
func (m *SignIn) redeemLogin(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	plain := strings.TrimSpace(s.Payload.String("code"))
	if plain == "" {
		return nil, flow.FormError{{Field: "code", Message: text.ValidationRequired("code")}}
	}
	live, err := m.codes.LiveAddresses(ctx, m.db.Read(), f.ID, onetime.Login)
	if err != nil {
		return nil, err
	}
	var owner *identity.Identity
	if f.RequestedAAL == identity.AAL2 {
		owner = s.Identity
	} else if len(live) > 0 && live[0].IdentityID != nil {
		if owner, err = m.ids.Get(ctx, *live[0].IdentityID); errors.Is(err, identity.ErrNotFound) {
			owner, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	aal := identity.AAL1
	if m.opts.MFA {
		aal = identity.AAL2 // as Kratos: decided by the config, not the flow
	}
	var spent *onetime.Code
	out := &flow.Outcome{AAL: aal}
	out.Redeem = func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
		code, err := m.redeem(ctx, q, f, onetime.Login, plain, s.ClientIP, owner, text.LoginCodeInvalid())
		spent = code
		return code, err
	}
	if owner == nil {
		return out, nil // refused in the transaction, with the guess counted
	}
	// The address the code went to counts as verified for the checks
	// made before the transaction (require_verified_address).
	shown := *owner
	shown.VerifiableAddresses = append([]identity.VerifiableAddress(nil), owner.VerifiableAddresses...)
	for k, va := range shown.VerifiableAddresses {
		for _, c := range live {
			if va.Via == c.Via && va.Value == c.Value {
				shown.VerifiableAddresses[k].Verified = true
			}
		}
	}
	out.Identity = &shown
	out.Commit = func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		if spent == nil {
			return nil, errors.New("code: the login was committed before its code was spent")
		}
		return &shown, m.verifyAddress(ctx, q, &shown, owner, spent)
	}
	return out, nil
}

// verifyAddress marks the address a spent code went to verified, if it
// is one of owner's verifiable addresses and is not verified yet, and
// shows the change in shown, the copy the session is issued with.
func (m *SignIn) verifyAddress(ctx context.Context, q *store.Q, shown, owner *identity.Identity, spent *onetime.Code) error {
	for k, va := range owner.VerifiableAddresses {
		shown.VerifiableAddresses[k] = va // only the spent one changes
		if va.Via != spent.Via || va.Value != spent.Value || va.Verified {
			continue
		}
		now := store.Now()
		if err := m.ids.SetAddressStatusAt(ctx, q, owner.ID, va.Via, va.Value, identity.AddressStatusCompleted, now); err != nil {
			return err
		}
		a := &shown.VerifiableAddresses[k]
		a.Verified, a.Status, a.VerifiedAt, a.UpdatedAt = true, identity.AddressStatusCompleted, &now, now
		shown.UpdatedAt = now
	}
	return nil
}

// redeem spends a typed code of f for owner (nil for a registration's).
// Wrong codes, codes of another identity or of nobody, and guesses past
// the guard's limits are refused with invalid; a code submitted once too
// often, or used already, with Kratos's generic message.
func (m *SignIn) redeem(ctx context.Context, q *store.Q, f *flow.Flow, purpose, plain, ip string, owner *identity.Identity, invalid *text.Message) (*onetime.Code, error) {
	var refused *guard.Refused
	code, err := m.codes.RedeemCode(ctx, q, purpose, f.ID, plain, m.opts.MaxAttempts, m.opts.Guard.CodeGate(ctx, q, ip))
	switch {
	case errors.As(err, &refused):
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: refused.Verdict.Message()}
	case errors.Is(err, onetime.ErrTooManyAttempts):
		return nil, &flow.Refusal{Cause: err, Message: text.ValidationGeneric("The code was submitted too often. Please start again.")}
	case errors.Is(err, onetime.ErrExpired):
		return nil, &flow.Refusal{Cause: err, Code: code, Message: invalid}
	case errors.Is(err, onetime.ErrUsed):
		return nil, &flow.Refusal{Cause: err, Message: text.ValidationGeneric("The code was used already. Please request another one.")}
	case errors.Is(err, onetime.ErrInvalid):
		return nil, &flow.Refusal{Cause: err, Message: invalid}
	case err != nil:
		return nil, err
	}
	if owner != nil && (code.IdentityID == nil || *code.IdentityID != owner.ID) {
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: invalid}
	}
	if owner == nil && purpose == onetime.Login {
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: invalid}
	}
	if err := m.opts.Guard.Succeeded(ctx, q, guard.ScopeCode, code.Value, ip); err != nil {
		return nil, err
	}
	return code, nil
}

// normalizeTyped normalises what someone typed as an address: email
// addresses lowercased (phones capitalise the first letter), phone numbers
// in E.164.
func normalizeTyped(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		return schema.NormalizeAddress(courier.ViaEmail, s)
	}
	return schema.NormalizeAddress(courier.ViaSMS, s)
}

func viaOfIdentifier(address string) string {
	if strings.Contains(address, "@") {
		return courier.ViaEmail
	}
	return courier.ViaSMS
}

// viaOf is the deprecated ?via= of the request that started f.
func viaOf(f *flow.Flow) string {
	u, err := url.Parse(f.RequestURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("via")
}

// traitString reads the string trait at a dotted path of i's traits.
func traitString(i *identity.Identity, path string) string {
	var cur any
	if json.Unmarshal(i.Traits, &cur) != nil {
		return ""
	}
	for _, part := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[part]
	}
	s, _ := cur.(string)
	return s
}
