package link

import (
	"errors"
	"net/url"
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

func TestLink_SendAndRedeem(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, kind := range []flow.Kind{flow.Recovery, flow.Verification} {
			fx := newFixture(t, s)
			email := string(kind) + "@example.org"
			fx.User(t, email)
			f, other := fx.NewFlow(t, kind), fx.NewFlow(t, kind)
			fx.Send(t, f, email)
			if f.State != flow.StateSentEmail || f.UI.Find("email") == nil || len(fx.Mail.Queued) != 1 || fx.Mail.Queued[0].Code != "" {
				t.Fatalf("%s: after sending: state %s, queued %+v", kind, f.State, fx.Mail.Queued)
			}
			link, err := url.Parse(fx.Mail.Queued[0].URL)
			if err != nil || link.Path != "/self-service/"+string(kind) || link.Query().Get("flow") != f.ID.String() {
				t.Fatalf("%s: link %q", kind, fx.Mail.Queued[0].URL)
			}
			token := link.Query().Get("token")

			// Opened with another flow, the token is refused and rolled
			// back, so it still works in its own flow.
			out, err := fx.Submit(t, other, flow.Payload{"token": token}, true)
			if err != nil {
				t.Fatal(err)
			}
			var r *flow.Refusal
			if _, refusal := fx.Redeem(t, out); !errors.As(refusal, &r) || !r.Undo {
				t.Errorf("%s: another flow's token: %v, want a refusal to undo", kind, refusal)
			}
			out, err = fx.Submit(t, f, flow.Payload{"token": token}, true)
			if err != nil {
				t.Fatal(err)
			}
			code, refusal := fx.Redeem(t, out)
			if refusal != nil || code == nil || code.IdentityID == nil || code.FlowID != f.ID {
				t.Errorf("%s: the token: %+v, %v", kind, code, refusal)
			}
			out, _ = fx.Submit(t, f, flow.Payload{"token": token}, true)
			if _, refusal := fx.Redeem(t, out); !errors.Is(refusal, onetime.ErrInvalid) {
				t.Errorf("%s: the token again: %v, want refused", kind, refusal)
			}
		}
	})
}

func TestLink_SubmitDecides(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newFixture(t, s)
		f := fx.NewFlow(t, flow.Verification)
		if out, err := fx.Submit(t, f, flow.Payload{}, true); err != nil || out.Redeem != nil || out.Shown {
			t.Errorf("a link without a token: %+v, %v; want nothing done", out, err)
		}
		if _, err := fx.Submit(t, f, flow.Payload{"method": ID, "email": "nope"}, false); !errors.As(err, new(flow.FormError)) {
			t.Errorf("a bad address: %v, want a FormError", err)
		}
		if !fx.m.Implies(flow.Payload{"email": "a@b"}) || fx.m.Implies(flow.Payload{"code": "1", "email": "a@b"}) {
			t.Error("Implies: want bare addresses, not codes")
		}
	})
}
