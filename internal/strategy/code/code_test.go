package code

import (
	"errors"
	"testing"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/flow/flowtest"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// fixture is the method under test, as flowtest drives it.
type fixture struct {
	*flowtest.Fixture
	m *Method
}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	fx := &fixture{}
	fx.Fixture = flowtest.NewFixture(t, s, func(links flow.Config, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox) flow.Method {
		fx.m = New(links, ids, codes, mail, Options{})
		return fx.m
	})
	return fx
}

func TestCode_SendAndRedeem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, kind := range []flow.Kind{flow.Recovery, flow.Verification} {
			fx := newFixture(t, s)
			email := string(kind) + "@example.org"
			fx.User(t, email)
			f := fx.NewFlow(t, kind)
			fx.Send(t, f, email)
			if f.State != flow.StateSentEmail || f.UI.Find("code") == nil || len(fx.Mail.Queued) != 1 || fx.Mail.Queued[0].Code == "" {
				t.Fatalf("%s: after sending: state %s, queued %+v", kind, f.State, fx.Mail.Queued)
			}
			plain := fx.Mail.Queued[0].Code

			out, err := fx.Submit(t, f, flow.Payload{"method": ID, "code": "000000"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if plain != "000000" {
				_, refusal := fx.Redeem(t, out)
				var r *flow.Refusal
				if !errors.As(refusal, &r) || !errors.Is(r, onetime.ErrInvalid) || r.Undo || r.Message == nil {
					t.Errorf("%s: a wrong code: %v, want an invalid refusal with a message", kind, refusal)
				}
			}
			out, err = fx.Submit(t, f, flow.Payload{"method": ID, "code": " " + plain + " "}, false)
			if err != nil {
				t.Fatal(err)
			}
			code, refusal := fx.Redeem(t, out)
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
		f := fx.NewFlow(t, flow.Recovery)
		fx.Send(t, f, "nobody@example.org")
		if len(fx.Mail.Queued) != 0 || len(fx.Mail.Rehearsed) != 1 {
			t.Fatalf("queued %+v, rehearsed %+v", fx.Mail.Queued, fx.Mail.Rehearsed)
		}
		out, err := fx.Submit(t, f, flow.Payload{"method": ID, "code": fx.Mail.Rehearsed[0].Code}, false)
		if err != nil {
			t.Fatal(err)
		}
		if code, refusal := fx.Redeem(t, out); !errors.Is(refusal, onetime.ErrInvalid) {
			t.Errorf("the unknown address's code: %+v, %v; want refused", code, refusal)
		}
	})
}

func TestCode_SubmitDecides(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		rec := fx.NewFlow(t, flow.Recovery)
		if _, err := fx.Submit(t, rec, flow.Payload{"method": ID, "email": "not-an-address"}, false); !errors.As(err, new(flow.FormError)) || rec.State != flow.StateChooseMethod {
			t.Errorf("a bad address: %v, state %s; want a FormError", err, rec.State)
		}
		rec.State = flow.StateSentEmail
		if out, err := fx.Submit(t, rec, flow.Payload{"method": ID, "code": "123456"}, false); err != nil || out.Redeem == nil {
			t.Errorf("recovery, code sent, no address: %+v, %v; want a Redeem", out, err)
		}
		if out, err := fx.Submit(t, rec, flow.Payload{"method": ID, "code": "123456"}, true); err != nil || out.Redeem != nil || out.Shown {
			t.Errorf("a recovery link: %+v, %v; want nothing done", out, err)
		}

		ver := fx.NewFlow(t, flow.Verification)
		fx.m.ShowSent(ver, "ada@example.org")
		out, err := fx.Submit(t, ver, flow.Payload{"code": "123456"}, true)
		if err != nil || !out.Shown || out.Redeem != nil || ver.UI.Find("code").Attributes.Value != "123456" {
			t.Errorf("a verification code link: %+v, %v; want the code filled in, not used", out, err)
		}
		if !fx.m.Implies(flow.Payload{"code": "1"}) || !fx.m.Implies(flow.Payload{"email": "a@b"}) || fx.m.Implies(flow.Payload{"method": "link", "code": "1"}) {
			t.Error("Implies: want codes and bare addresses, nothing naming another method")
		}
	})
}
