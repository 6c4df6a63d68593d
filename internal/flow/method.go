package flow

import (
	"context"
	"errors"
	"net/http"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Method is one way to prove who someone is, or to change how they can:
// password, profile, one-time codes, TOTP, ... Each method is a package of
// its own under internal/strategy. Flows know methods only through this
// interface and never import a method package (a test checks it), so a
// new method plugs in without touching a flow.
type Method interface {
	// ID names the method: the `method` value of its submissions, the
	// group of its nodes, and the entry a sign-in adds to the session's
	// authentication methods.
	ID() string
	// Serves reports whether the method takes part in flows of kind.
	Serves(kind Kind) bool
	// AddNodes adds the method's nodes to f.
	AddNodes(ctx context.Context, f *Flow, c NodeContext) error
	// Submit handles a submission that names the method. It runs before
	// the flow's completing transaction, so it may hash a password; what it
	// writes goes in the outcome's Commit, which the flow runs inside that
	// transaction. A FormError is shown on the method's nodes;
	// ErrPrivilegedSessionRequired asks for a recent sign-in first.
	Submit(ctx context.Context, s *Submission) (*Outcome, error)
}

// NodeContext is what a method may need to lay out its nodes.
type NodeContext struct {
	// Schema is the identity schema of the flow (the default one for
	// login and registration, the identity's for settings).
	Schema *schema.Schema
	// Identity is the identity the flow is for: the signed-in one in
	// settings, the one re-authenticating in a refresh login; else nil.
	Identity *identity.Identity
	// Traits are the traits entered so far (registration, settings).
	Traits map[string]any
	// Step is registration's step: StepProfile, StepCredentials, or
	// StepOneStep for the one-step (unified) form.
	Step string
	// Identifier is what identifier-first login was given; Identity is
	// then the identity it names (nil when none does).
	Identifier string
}

// Registration steps (NodeContext.Step).
const (
	StepProfile     = "profile"
	StepCredentials = "credentials"
	StepOneStep     = "one_step"
)

// ProfileMethod is the method two-step registration begins with, whose
// mistakes are shown on the profile step.
const ProfileMethod = "profile"

// RegistrationTraitsKey is where registration keeps the traits of its
// profile step in the flow's internal state.
const RegistrationTraitsKey = "traits"

// Outcome is what a method's submission achieved.
type Outcome struct {
	// Identity is who signed in (login), or the identity as the method
	// found it; Commit answers the identity as written.
	Identity *identity.Identity
	// AAL is the assurance level the sign-in proved (aal1, aal2). In
	// settings, a credential the change added that counts as a factor of
	// this session (setting up TOTP or backup codes): the session gains
	// the method at that level.
	AAL string
	// Commit writes the method's effect inside the flow's completing
	// transaction, after the flow was claimed: a new identity, a changed
	// credential. It answers the identity as written (nil: unchanged).
	Commit func(ctx context.Context, q *store.Q) (*identity.Identity, error)
	// Next, when set, keeps the flow open: the submission moved the form
	// to registration's step Next (StepProfile or StepCredentials).
	Next string
	// Shown, in settings, means the submission changed only the form (it
	// revealed or prepared something): the flow is shown again, kept as the
	// method left it, without a success. In verification, a code link
	// opened from a message filled the code into the form.
	Shown bool
	// Relocate, with Shown in login, answers apps and AJAX callers with
	// browser_location_change_required to the flow's UI instead of the
	// flow: the next step is one only a browser can take (a security
	// key's challenge), as Kratos answers it.
	Relocate bool
	// Location, when set, is where the browser goes to go on (a provider's
	// sign-in page): the flow is written back as the method left it, and
	// the caller is sent there (Kit.Relocate).
	Location string
	// Switch, when set, hands the submission to a new flow of that kind
	// (Kit.Switch), carrying Carry to the method there: a social sign-in
	// of an unknown account on login is its sign-up, a sign-up of a known
	// one its sign-in, and a sign-up that would take an existing account's
	// address asks to sign in to that account first.
	Switch Kind
	Carry  any
	// Provider names the social sign-in provider, recorded with the
	// session's authentication method.
	Provider string
	// Send issues the code or link the submission asked for and queues its
	// message, inside the transaction that writes the flow back; the
	// method has moved the form to what it shows once sent (state
	// sent_email). The flow stays open.
	Send func(ctx context.Context, q *store.Q) error
	// Redeem spends the code or link token the submission carries, inside
	// the flow's completing transaction and before the flow is claimed; a
	// *Refusal says why it cannot be used. In recovery and verification
	// the flow completes with the spent code's owner; in login and
	// registration with the outcome's Identity or Commit, which run after.
	Redeem func(ctx context.Context, q *store.Q) (*onetime.Code, error)
}

// Refusal is Redeem's answer to a code or link that cannot be used. The
// flow commits the transaction (the attempt counts) unless Undo is set.
type Refusal struct {
	// Cause is onetime.ErrInvalid, ErrExpired, ErrUsed or
	// ErrTooManyAttempts.
	Cause error
	// Code is the code that matched, when it expired.
	Code *onetime.Code
	// Message, when set, is what the flow shows instead of its own
	// message for Cause (the brute-force guard's verdict).
	Message *text.Message
	// Undo rolls the redemption back: a link of another flow stays
	// usable there.
	Undo bool
}

// Spend runs redeem (nil: nothing to spend) in the caller's transaction.
// A refusal is kept in *refused and stops the transaction (stop true)
// committed, so that the guess counts, unless it asks to be undone (then
// err is the refusal, which rolls it back).
func Spend(ctx context.Context, q *store.Q, redeem func(ctx context.Context, q *store.Q) (*onetime.Code, error), refused **Refusal) (code *onetime.Code, stop bool, err error) {
	if redeem == nil {
		return nil, false, nil
	}
	code, err = redeem(ctx, q)
	if errors.As(err, refused) {
		if (*refused).Undo {
			return nil, true, err
		}
		return nil, true, nil
	}
	return code, err != nil, err
}

func (r *Refusal) Error() string { return "flow: refused: " + r.Cause.Error() }
func (r *Refusal) Unwrap() error { return r.Cause }

// Sender is implemented by the methods that send a code or link to an
// address outside a submission: verification after sign-up and for a
// login that require_verified_address refused.
type Sender interface {
	// SendTo issues a code or link of f for address and queues its
	// message to owner, in q's transaction.
	SendTo(ctx context.Context, q *store.Q, f *Flow, owner *identity.Identity, via, address string) error
	// ShowSent moves f's form to what it shows once sent to address.
	ShowSent(f *Flow, address string)
}

// Router is implemented by methods with endpoints of their own (a
// WebAuthn script, an OIDC callback): the server mounts them on the public
// listener beside the flows' endpoints.
type Router interface {
	Register(mux *http.ServeMux)
}

// Routers answers the methods of every list in lists that have endpoints
// of their own, each once.
func Routers(lists ...Methods) []Router {
	var out []Router
	seen := map[Method]bool{}
	for _, ms := range lists {
		for _, m := range ms {
			if r, ok := m.(Router); ok && !seen[m] {
				seen[m] = true
				out = append(out, r)
			}
		}
	}
	return out
}

// Linker is implemented by methods that add to a sign-in made with another
// method: a social account waiting to be linked once its owner proves the
// existing account it would have duplicated.
type Linker interface {
	// LinkOnSignIn runs inside the completing transaction of login flow f,
	// which signed in i. It answers the identity as written (nil:
	// unchanged), or a FormError when i is not the account f waits for.
	LinkOnSignIn(ctx context.Context, q *store.Q, f *Flow, i *identity.Identity) (*identity.Identity, error)
}

// Identified is implemented by the login methods that take part in
// identifier-first login's second step.
type Identified interface {
	// AddIdentifiedNodes adds the method's nodes for c.Identity, the
	// identity c.Identifier names (nil when none does), and reports
	// whether that identity can sign in with the method. all (account
	// enumeration mitigation) adds them whatever the identity has, so that
	// the form does not tell whether the account exists.
	AddIdentifiedNodes(ctx context.Context, f *Flow, c NodeContext, all bool) (bool, error)
}

// Identifying is implemented by the login methods whose nodes belong on
// identifier-first login's first step too (a passkey's autofill, social
// sign-in buttons), beside the identifier.
type Identifying interface {
	AddIdentificationNodes(ctx context.Context, f *Flow, c NodeContext) error
}

// Opener is implemented by methods that may move a new form on at once
// when there is nothing to choose: the code method sends the one code a
// second factor or an identifier-first login can use.
type Opener interface {
	// Open answers an outcome whose Send does it, or nil to leave the
	// form as it is.
	Open(ctx context.Context, f *Flow, c NodeContext) (*Outcome, error)
}

// CodeRequester is implemented by methods whose submissions may only ask
// for a code to be sent: such a submission proves nothing, so it is not
// counted as a guess.
type CodeRequester interface {
	RequestsCode(p Payload) bool
}

// Implied is implemented by methods whose submissions may carry no
// `method` (backup codes' action buttons): Implies reports whether p is one.
type Implied interface {
	Implies(p Payload) bool
}

// ErrPrivilegedSessionRequired is a method's answer to a change that needs
// a recent sign-in; the flow turns it into session_refresh_required.
var ErrPrivilegedSessionRequired = errors.New("flow: the change needs a recent sign-in")

// Methods are the methods a flow offers, in the order their nodes appear.
type Methods []Method

// For answers the methods serving kind.
func (ms Methods) For(kind Kind) Methods {
	var out Methods
	for _, m := range ms {
		if m.Serves(kind) {
			out = append(out, m)
		}
	}
	return out
}

// Named answers the method called id, or nil.
func (ms Methods) Named(id string) Method {
	for _, m := range ms {
		if m.ID() == id {
			return m
		}
	}
	return nil
}

// Pick answers the method a submission is for: the one its `method`
// names, else one that the payload implies; nil when none.
func (ms Methods) Pick(p Payload) Method {
	if m := ms.Named(p.String("method")); m != nil {
		return m
	}
	for _, m := range ms {
		if im, ok := m.(Implied); ok && im.Implies(p) {
			return m
		}
	}
	return nil
}

// AddNodes lets every method add its nodes to f, in order.
func (ms Methods) AddNodes(ctx context.Context, f *Flow, c NodeContext) error {
	for _, m := range ms {
		if err := m.AddNodes(ctx, f, c); err != nil {
			return err
		}
	}
	return nil
}
