// Package flowtest is what tests of the address methods (code, link)
// share: identities on a real store, an outbox that keeps what it is
// given, and the steps a recovery or verification flow takes with a method.
// Only tests import it.
package flowtest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
)

var ctx = context.Background()

// Outbox keeps the messages queued and rehearsed.
type Outbox struct {
	mu                sync.Mutex
	Queued, Rehearsed []courier.Message
}

// Queue implements courier.Outbox.
func (o *Outbox) Queue(_ context.Context, _ *store.Q, msg courier.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Queued = append(o.Queued, msg)
	return nil
}

// Rehearse implements courier.Outbox.
func (o *Outbox) Rehearse(_ context.Context, _ *store.Q, msg courier.Message, _ *courier.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Rehearsed = append(o.Rehearsed, msg)
	return nil
}

// PublicURL is the public base URL of the fixture's flows.
const PublicURL = "https://auth.example.com/"

// Fixture is a method under test on a store.
type Fixture struct {
	S    *store.Store
	IDs  *identity.Manager
	Mail *Outbox
	M    flow.Method
}

// NewFixture builds the method under test with newMethod from what the
// fixture made.
func NewFixture(t *testing.T, s *store.Store, newMethod func(links flow.Config, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox) flow.Method) *Fixture {
	t.Helper()
	ids, _ := identitytest.NewManager(t, s, PublicURL)
	mail := &Outbox{}
	m := newMethod(flow.Config{PublicURL: PublicURL}, ids, onetime.New("secret-0123456789"), mail)
	return &Fixture{S: s, IDs: ids, Mail: mail, M: m}
}

// User creates an identity with email.
func (fx *Fixture) User(t *testing.T, email string) {
	t.Helper()
	if _, err := fx.IDs.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)}); err != nil {
		t.Fatal(err)
	}
}

// NewFlow stores a flow of kind asking for an address.
func (fx *Fixture) NewFlow(t *testing.T, kind flow.Kind) *flow.Flow {
	t.Helper()
	f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/api", nil), PublicURL, time.Hour)
	f.AddCSRF(nil)
	if err := fx.M.AddNodes(ctx, f, flow.NodeContext{}); err != nil {
		t.Fatal(err)
	}
	if err := fx.S.Write(ctx, func(q *store.Q) error { return flow.Save(ctx, q, f) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// Submit hands p to the method, as a link opened when link is set.
func (fx *Fixture) Submit(t *testing.T, f *flow.Flow, p flow.Payload, link bool) (*flow.Outcome, error) {
	t.Helper()
	return fx.M.Submit(ctx, &flow.Submission{Flow: f, Payload: p, Link: link})
}

// Send submits email and runs the outcome's Send.
func (fx *Fixture) Send(t *testing.T, f *flow.Flow, email string) {
	t.Helper()
	out, err := fx.Submit(t, f, flow.Payload{"method": fx.M.ID(), "email": email}, false)
	if err != nil || out.Send == nil || out.Redeem != nil {
		t.Fatalf("submit %s: %+v, %v; want a Send", email, out, err)
	}
	if err := fx.S.Write(ctx, func(q *store.Q) error { return out.Send(ctx, q) }); err != nil {
		t.Fatal(err)
	}
}

// Redeem runs the outcome's Redeem as the flows do: a refusal commits,
// unless it asks to be undone.
func (fx *Fixture) Redeem(t *testing.T, out *flow.Outcome) (*onetime.Code, error) {
	t.Helper()
	if out == nil || out.Redeem == nil {
		t.Fatalf("outcome %+v, want a Redeem", out)
	}
	var code *onetime.Code
	var refusal *flow.Refusal
	err := fx.S.Write(ctx, func(q *store.Q) error {
		var err error
		code, _, err = flow.Spend(ctx, q, out.Redeem, &refusal)
		return err
	})
	if refusal != nil {
		return code, refusal
	}
	if err != nil {
		t.Fatal(err)
	}
	return code, nil
}
