package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Entry is how a kind of flow takes submissions that do not come through
// its own endpoint: a provider's callback names the flow in its state, and
// a social sign-in of an unknown account on login goes on as a sign-up.
type Entry struct {
	// Start makes and stores a new flow of the kind for the request's
	// client, as its init endpoint does.
	Start func(w http.ResponseWriter, r *http.Request, typ string) (*Flow, error)
	// Resume handles a submission that Kit.Resume checked.
	Resume func(w http.ResponseWriter, r *http.Request, sub *Submission)
}

// Enter registers how flows of kind are started and resumed. Flows call it
// while being wired, before serving.
func (k *Kit) Enter(kind Kind, e Entry) {
	if k.entries == nil {
		k.entries = map[Kind]Entry{}
	}
	k.entries[kind] = e
}

// ErrUnknownFlowKind means no flow of the kind is wired (registration is
// off, say): the submission cannot go on there.
var ErrUnknownFlowKind = wire.BadRequest.WithReason("This kind of self-service flow is not available.")

// Resume hands f a submission that came through a method's own endpoint (a
// provider's callback): p is its payload and carried what the method keeps
// for itself. The flow must be open and not expired, and a browser flow
// must be this browser's (its CSRF cookie): the callback carries no token,
// but the cookie binds the flow to the browser that started it.
func (k *Kit) Resume(w http.ResponseWriter, r *http.Request, f *Flow, p Payload, carried any) {
	e, ok := k.entries[f.Kind]
	if !ok {
		k.Fail(w, r, ErrUnknownFlowKind)
		return
	}
	if f.Type == TypeBrowser && !k.CSRF.MatchesFlow(r, f.CSRFHash) {
		k.Fail(w, r, ErrCSRF(r, "The flow was started by another browser, or its anti-CSRF cookie is missing."))
		return
	}
	if f.Expired() {
		k.Restart(w, r, f, f.ExpiresAt, func(old *Flow) (*Flow, error) { return e.Start(w, r, old.Type) })
		return
	}
	if f.State == StatePassedChallenge {
		k.AnswerCompleted(w, r, f)
		return
	}
	e.Resume(w, r, &Submission{Flow: f, Payload: p, Resumed: true, Carried: carried})
}

// Switch moves a submission made on flow from to a new flow of kind to,
// of the same type and return address, and resumes it there with p and
// carried: a sign-in of an account that does not exist yet becomes its
// sign-up, a sign-up of one that exists its sign-in.
func (k *Kit) Switch(w http.ResponseWriter, r *http.Request, from *Flow, to Kind, p Payload, carried any) {
	e, ok := k.entries[to]
	if !ok {
		k.Fail(w, r, ErrUnknownFlowKind)
		return
	}
	nf, err := e.Start(w, r, from.Type)
	if err == nil && (from.ReturnTo != "" || from.Internal[ExchangeKey] != nil) {
		nf.ReturnTo = from.ReturnTo
		if d := from.Internal[ExchangeKey]; d != nil {
			nf.Internal[ExchangeKey] = d
		}
		err = k.Update(r.Context(), nf)
	}
	if err != nil {
		k.Fail(w, r, err)
		return
	}
	e.Resume(w, r, &Submission{Flow: nf, Payload: p, Resumed: true, Carried: carried})
}

// Forward answers an outcome that takes submission p of f elsewhere: to
// out.Location (Relocate), or to a new flow of kind out.Switch. It
// reports whether it answered.
func (k *Kit) Forward(w http.ResponseWriter, r *http.Request, f *Flow, p Payload, out *Outcome) bool {
	switch {
	case out.Location != "":
		k.Relocate(w, r, f, out.Location)
	case out.Switch != "":
		k.Switch(w, r, f, out.Switch, p, out.Carry)
	default:
		return false
	}
	return true
}

// Relocate writes f back as the method left it and sends the caller to
// target to go on there (a provider's sign-in page, the flow's UI): 422
// browser_location_change_required for apps and AJAX, 303 for browsers.
func (k *Kit) Relocate(w http.ResponseWriter, r *http.Request, f *Flow, target string) {
	if !k.Keep(w, r, f, nil) {
		return
	}
	k.Answer(w, r, f, Answer{Error: ErrLocationChange(target), Redirect: target})
}

// Lookup loads a flow of any kind, for endpoints that learn the flow from
// something other than their path (a provider's state).
func Lookup(ctx context.Context, q *store.Q, id uuid.UUID) (*Flow, error) {
	return get(ctx, q, "", id)
}

// Take removes key from f's internal state in the database, in a
// transaction of its own, and succeeds only if f is as it was read: of
// two requests racing to use the same one-time value (a provider's state),
// exactly one takes it. The others get ErrCompleted.
func Take(ctx context.Context, db *store.Store, f *Flow, key string) error {
	internal := make(map[string]json.RawMessage, len(f.Internal))
	for k, v := range f.Internal {
		if k != key {
			internal[k] = v
		}
	}
	raw, err := json.Marshal(internal)
	if err != nil {
		return err
	}
	read, now := f.UpdatedAt, later(f.UpdatedAt)
	err = db.Write(ctx, func(q *store.Q) error {
		n, err := execCount(ctx, q, `UPDATE selfservice_flows SET internal = $2, updated_at = $3 WHERE id = $1 AND updated_at = $4 AND state <> $5`,
			f.ID, string(raw), now, read, StatePassedChallenge)
		if err == nil && n == 0 {
			return ErrCompleted
		}
		return err
	})
	if err != nil {
		return err
	}
	f.Internal, f.UpdatedAt = internal, now
	return nil
}

// ExchangeKey is where a native flow that asked for a session token
// exchange code keeps the code's digest.
const ExchangeKey = "session_token_exchange"

// offerExchange gives a native flow a session token exchange code when
// its creation asked for one (return_session_token_exchange_code): the
// app redeems it, with the code its return URL receives, for the session
// a browser sign-in at a provider made. Login reads the parameter as a
// boolean and registration only as "true", as Kratos does.
func offerExchange(f *Flow, r *http.Request) {
	v := r.URL.Query().Get("return_session_token_exchange_code")
	want := v == "true"
	if f.Kind == Login {
		want, _ = strconv.ParseBool(v)
	}
	if f.Type != TypeAPI || !want || (f.Kind != Login && f.Kind != Registration) {
		return
	}
	code := exchangeCode()
	sum := sha256.Sum256([]byte(code))
	f.ExchangeCode = code
	f.Internal[ExchangeKey], _ = json.Marshal(hex.EncodeToString(sum[:]))
}

// ExchangeDigest answers the digest of f's exchange code, or "".
func (f *Flow) ExchangeDigest() string {
	var d string
	_ = json.Unmarshal(f.Internal[ExchangeKey], &d)
	return d
}

const exchangeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// exchangeCode is 64 random alphanumerics, as Kratos's codes are.
func exchangeCode() string {
	b := make([]byte, 0, 64)
	var buf [1]byte
	for len(b) < 64 {
		_, _ = rand.Read(buf[:])
		if buf[0] >= 248 { // 248 = 4*62: keeps the draw uniform
			continue
		}
		b = append(b, exchangeAlphabet[int(buf[0])%62])
	}
	return string(b)
}

// Exchanger records the session a native flow's browser sign-in made, for
// the app to redeem with the flow's exchange code (tokenexchange).
type Exchanger interface {
	// Complete runs in the flow's completing transaction and answers the
	// code the app's return URL receives.
	Complete(ctx context.Context, q *store.Q, initDigest string, s *session.Session) (string, error)
}

// AnswerExchange sends the browser that completed native flow f back to
// the app's return address with the code that, with the flow's exchange
// code, redeems the session.
func (k *Kit) AnswerExchange(w http.ResponseWriter, r *http.Request, f *Flow, code string) {
	k.Completed(r, f)
	http.Redirect(w, r, appendQuery(k.ReturnTo(f), "code", code), http.StatusSeeOther)
}

// StartFlow makes and stores a new flow of kind for the request's client,
// as the kind's init endpoint does (FedCM begins a login so).
func (k *Kit) StartFlow(w http.ResponseWriter, r *http.Request, kind Kind, typ string) (*Flow, error) {
	e, ok := k.entries[kind]
	if !ok {
		return nil, ErrUnknownFlowKind
	}
	return e.Start(w, r, typ)
}
