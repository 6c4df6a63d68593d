package link

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var ctx = context.Background()

type fakeMailer struct {
	mu                sync.Mutex
	queued, rehearsed []courier.Message
}

func (m *fakeMailer) Queue(_ context.Context, _ *store.Q, msg courier.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queued = append(m.queued, msg)
	return nil
}

func (m *fakeMailer) Rehearse(_ context.Context, _ *store.Q, msg courier.Message, _ *courier.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rehearsed = append(m.rehearsed, msg)
	return nil
}

type fixture struct {
	s    *store.Store
	ids  *identity.Manager
	mail *fakeMailer
	m    *Method
}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	reg, err := schema.Load(ctx, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := hasher.New(config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.NewManager(s, reg, h, "https://auth.example.com/")
	mail := &fakeMailer{}
	links := flow.Config{PublicURL: "https://auth.example.com/"}
	return &fixture{s: s, ids: ids, mail: mail, m: New(links, ids, onetime.New("secret-0123456789"), mail, Options{})}
}

func (fx *fixture) user(t *testing.T, email string) {
	t.Helper()
	if _, err := fx.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)}); err != nil {
		t.Fatal(err)
	}
}

// newFlow stores a flow of kind asking for an address.
func (fx *fixture) newFlow(t *testing.T, kind flow.Kind) *flow.Flow {
	t.Helper()
	f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/api", nil), "https://auth.example.com/", time.Hour)
	f.AddCSRF(nil)
	if err := fx.m.AddNodes(ctx, f, flow.NodeContext{}); err != nil {
		t.Fatal(err)
	}
	if err := fx.s.Write(ctx, func(q *store.Q) error { return flow.Save(ctx, q, f) }); err != nil {
		t.Fatal(err)
	}
	return f
}

func (fx *fixture) submit(t *testing.T, f *flow.Flow, p flow.Payload, link bool) (*flow.Outcome, error) {
	t.Helper()
	return fx.m.Submit(ctx, &flow.Submission{Flow: f, Payload: p, Link: link})
}

// send submits email and runs the outcome's Send.
func (fx *fixture) send(t *testing.T, f *flow.Flow, email string) {
	t.Helper()
	out, err := fx.submit(t, f, flow.Payload{"method": ID, "email": email}, false)
	if err != nil || out.Send == nil || out.Redeem != nil {
		t.Fatalf("submit %s: %+v, %v; want a Send", email, out, err)
	}
	if err := fx.s.Write(ctx, func(q *store.Q) error { return out.Send(ctx, q) }); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) redeem(t *testing.T, out *flow.Outcome) (*onetime.Code, error) {
	t.Helper()
	if out == nil || out.Redeem == nil {
		t.Fatalf("outcome %+v, want a Redeem", out)
	}
	// As the flows do: a refusal commits, unless it asks to be undone.
	var code *onetime.Code
	var refusal *flow.Refusal
	err := fx.s.Write(ctx, func(q *store.Q) error {
		var err error
		code, err = out.Redeem(ctx, q)
		if errors.As(err, &refusal) && !refusal.Undo {
			return nil
		}
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

func TestLink_SendAndRedeem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, kind := range []flow.Kind{flow.Recovery, flow.Verification} {
			fx := newFixture(t, s)
			email := string(kind) + "@example.org"
			fx.user(t, email)
			f, other := fx.newFlow(t, kind), fx.newFlow(t, kind)
			fx.send(t, f, email)
			if f.State != flow.StateSentEmail || f.UI.Find("email") == nil || len(fx.mail.queued) != 1 || fx.mail.queued[0].Code != "" {
				t.Fatalf("%s: after sending: state %s, queued %+v", kind, f.State, fx.mail.queued)
			}
			link, err := url.Parse(fx.mail.queued[0].URL)
			if err != nil || link.Path != "/self-service/"+string(kind) || link.Query().Get("flow") != f.ID.String() {
				t.Fatalf("%s: link %q", kind, fx.mail.queued[0].URL)
			}
			token := link.Query().Get("token")

			// Opened with another flow, the token is refused and rolled
			// back, so it still works in its own flow.
			out, err := fx.submit(t, other, flow.Payload{"token": token}, true)
			if err != nil {
				t.Fatal(err)
			}
			var r *flow.Refusal
			if _, refusal := fx.redeem(t, out); !errors.As(refusal, &r) || !r.Undo {
				t.Errorf("%s: another flow's token: %v, want a refusal to undo", kind, refusal)
			}
			out, err = fx.submit(t, f, flow.Payload{"token": token}, true)
			if err != nil {
				t.Fatal(err)
			}
			code, refusal := fx.redeem(t, out)
			if refusal != nil || code == nil || code.IdentityID == nil || code.FlowID != f.ID {
				t.Errorf("%s: the token: %+v, %v", kind, code, refusal)
			}
			out, _ = fx.submit(t, f, flow.Payload{"token": token}, true)
			if _, refusal := fx.redeem(t, out); !errors.Is(refusal, onetime.ErrInvalid) {
				t.Errorf("%s: the token again: %v, want refused", kind, refusal)
			}
		}
	})
}

func TestLink_SubmitDecides(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		f := fx.newFlow(t, flow.Verification)
		if out, err := fx.submit(t, f, flow.Payload{}, true); err != nil || out.Redeem != nil || out.Shown {
			t.Errorf("a link without a token: %+v, %v; want nothing done", out, err)
		}
		if _, err := fx.submit(t, f, flow.Payload{"method": ID, "email": "nope"}, false); !errors.As(err, new(flow.FormError)) {
			t.Errorf("a bad address: %v, want a FormError", err)
		}
		if !fx.m.Implies(flow.Payload{"email": "a@b"}) || fx.m.Implies(flow.Payload{"code": "1", "email": "a@b"}) {
			t.Error("Implies: want bare addresses, not codes")
		}
	})
}
