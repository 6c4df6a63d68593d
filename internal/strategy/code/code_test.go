package code

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
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

func TestCode_SendAndRedeem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, kind := range []flow.Kind{flow.Recovery, flow.Verification} {
			fx := newFixture(t, s)
			email := string(kind) + "@example.org"
			fx.user(t, email)
			f := fx.newFlow(t, kind)
			fx.send(t, f, email)
			if f.State != flow.StateSentEmail || f.UI.Find("code") == nil || len(fx.mail.queued) != 1 || fx.mail.queued[0].Code == "" {
				t.Fatalf("%s: after sending: state %s, queued %+v", kind, f.State, fx.mail.queued)
			}
			plain := fx.mail.queued[0].Code

			out, err := fx.submit(t, f, flow.Payload{"method": ID, "code": "000000"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if plain != "000000" {
				_, refusal := fx.redeem(t, out)
				var r *flow.Refusal
				if !errors.As(refusal, &r) || !errors.Is(r, onetime.ErrInvalid) || r.Undo || r.Message == nil {
					t.Errorf("%s: a wrong code: %v, want an invalid refusal with a message", kind, refusal)
				}
			}
			out, err = fx.submit(t, f, flow.Payload{"method": ID, "code": " " + plain + " "}, false)
			if err != nil {
				t.Fatal(err)
			}
			code, refusal := fx.redeem(t, out)
			if refusal != nil || code == nil || code.IdentityID == nil || code.Value != email {
				t.Errorf("%s: the right code: %+v, %v", kind, code, refusal)
			}
		}
	})
}

// An address no account uses gets a code rehearsed, not sent, and the
// code, even if guessed, completes nothing.
func TestCode_UnknownAddress(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		f := fx.newFlow(t, flow.Recovery)
		fx.send(t, f, "nobody@example.org")
		if len(fx.mail.queued) != 0 || len(fx.mail.rehearsed) != 1 {
			t.Fatalf("queued %+v, rehearsed %+v", fx.mail.queued, fx.mail.rehearsed)
		}
		out, err := fx.submit(t, f, flow.Payload{"method": ID, "code": fx.mail.rehearsed[0].Code}, false)
		if err != nil {
			t.Fatal(err)
		}
		if code, refusal := fx.redeem(t, out); !errors.Is(refusal, onetime.ErrInvalid) {
			t.Errorf("the unknown address's code: %+v, %v; want refused", code, refusal)
		}
	})
}

func TestCode_SubmitDecides(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		rec := fx.newFlow(t, flow.Recovery)
		if _, err := fx.submit(t, rec, flow.Payload{"method": ID, "email": "not-an-address"}, false); !errors.As(err, new(flow.FormError)) || rec.State != flow.StateChooseMethod {
			t.Errorf("a bad address: %v, state %s; want a FormError", err, rec.State)
		}
		rec.State = flow.StateSentEmail
		if out, err := fx.submit(t, rec, flow.Payload{"method": ID, "code": "123456"}, false); err != nil || out.Redeem == nil {
			t.Errorf("recovery, code sent, no address: %+v, %v; want a Redeem", out, err)
		}
		if out, err := fx.submit(t, rec, flow.Payload{"method": ID, "code": "123456"}, true); err != nil || out.Redeem != nil || out.Shown {
			t.Errorf("a recovery link: %+v, %v; want nothing done", out, err)
		}

		ver := fx.newFlow(t, flow.Verification)
		fx.m.ShowSent(ver, "ada@example.org")
		out, err := fx.submit(t, ver, flow.Payload{"code": "123456"}, true)
		if err != nil || !out.Shown || out.Redeem != nil || ver.UI.Find("code").Attributes.Value != "123456" {
			t.Errorf("a verification code link: %+v, %v; want the code filled in, not used", out, err)
		}
		if !fx.m.Implies(flow.Payload{"code": "1"}) || !fx.m.Implies(flow.Payload{"email": "a@b"}) || fx.m.Implies(flow.Payload{"method": "link", "code": "1"}) {
			t.Error("Implies: want codes and bare addresses, nothing naming another method")
		}
	})
}
