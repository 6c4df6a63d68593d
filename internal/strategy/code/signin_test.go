package code

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/flow/flowtest"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

var bg = context.Background()

type signInFixture struct {
	*flowtest.Fixture
	m *SignIn
}

func newSignIn(t *testing.T, s *store.Store, opts SignInOptions) *signInFixture {
	t.Helper()
	fx := &signInFixture{}
	fx.Fixture = flowtest.NewFixture(t, s, func(_ flow.Config, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox) flow.Method {
		fx.m = NewSignIn(s, ids, codes, mail, opts)
		return fx.m
	})
	return fx
}

// newFlow stores a flow of kind whose form the method laid out.
func (fx *signInFixture) newFlow(t *testing.T, kind flow.Kind, aal string, c flow.NodeContext) *flow.Flow {
	t.Helper()
	f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/api", nil), flowtest.PublicURL, time.Hour)
	f.RequestedAAL = aal
	f.AddCSRF(nil)
	c.Schema = fx.IDs.Schemas().Default()
	if c.Step == "" {
		c.Step = flow.StepOneStep
	}
	if err := fx.m.AddNodes(bg, f, c); err != nil {
		t.Fatal(err)
	}
	if err := fx.S.Write(bg, func(q *store.Q) error { return flow.Save(bg, q, f) }); err != nil {
		t.Fatal(err)
	}
	return f
}

// send submits p and runs the Send it must answer.
func (fx *signInFixture) send(t *testing.T, sub *flow.Submission) {
	t.Helper()
	out, err := fx.m.Submit(bg, sub)
	if err != nil || out == nil || out.Send == nil {
		t.Fatalf("submit %v: %+v, %v; want a Send", sub.Payload, out, err)
	}
	if err := fx.S.Write(bg, func(q *store.Q) error {
		if err := out.Send(bg, q); err != nil {
			return err
		}
		return flow.Update(bg, q, sub.Flow)
	}); err != nil {
		t.Fatal(err)
	}
}

// complete redeems out and, when it is accepted, commits it.
func (fx *signInFixture) complete(t *testing.T, out *flow.Outcome) (*identity.Identity, error) {
	t.Helper()
	if _, refusal := fx.Redeem(t, out); refusal != nil {
		return nil, refusal
	}
	var i *identity.Identity
	err := fx.S.Write(bg, func(q *store.Q) error {
		if out.Commit == nil {
			return nil
		}
		var err error
		i, err = out.Commit(bg, q)
		return err
	})
	return i, err
}

func TestSignIn_PasswordlessLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newSignIn(t, s, SignInOptions{Passwordless: true})
		fx.User(t, "ada@example.org")
		f := fx.newFlow(t, flow.Login, identity.AAL1, flow.NodeContext{})
		if n := f.UI.Find("method"); n == nil || n.Meta.Label.ID != 1010015 || f.UI.Find("identifier") == nil {
			t.Fatalf("login form: %+v", f.UI.Nodes)
		}
		fx.send(t, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": " Ada@Example.org "}})
		if f.State != flow.StateSentEmail || len(fx.Mail.Queued) != 1 || fx.Mail.Queued[0].Template != courier.LoginCodeValid {
			t.Fatalf("after sending: state %s, queued %+v", f.State, fx.Mail.Queued)
		}
		if n := f.UI.Find("identifier"); n == nil || n.Attributes.Type != "hidden" || n.Attributes.Value != "ada@example.org" {
			t.Errorf("identifier after sending: %+v", n)
		}
		plain := fx.Mail.Queued[0].Code

		wrong := "000000"
		if plain == wrong {
			wrong = "111111"
		}
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "code": wrong}})
		if err != nil {
			t.Fatal(err)
		}
		var r *flow.Refusal
		if _, err := fx.complete(t, out); !errors.As(err, &r) || r.Message.ID != text.LoginCodeInvalid().ID {
			t.Fatalf("a wrong code: %v", err)
		}

		out, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "code": plain}})
		if err != nil || out.Identity == nil || out.AAL != identity.AAL1 {
			t.Fatalf("the right code: %+v, %v", out, err)
		}
		if !out.Identity.VerifiableAddresses[0].Verified {
			t.Error("the identity shown before the transaction should have the address verified")
		}
		if _, err := fx.complete(t, out); err != nil {
			t.Fatal(err)
		}
		i, err := fx.IDs.Get(bg, out.Identity.ID)
		if err != nil || !i.VerifiableAddresses[0].Verified {
			t.Errorf("stored address after a code login: %+v, %v", i, err)
		}
		// The code works once.
		out, _ = fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "code": plain}})
		if _, err := fx.complete(t, out); !errors.As(err, &r) {
			t.Errorf("a spent code: %v, want a refusal", err)
		}
	})
}

func TestSignIn_UnknownIdentifier(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newSignIn(t, s, SignInOptions{Passwordless: true})
		f := fx.newFlow(t, flow.Login, identity.AAL1, flow.NodeContext{})
		_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "nobody@example.org"}})
		var fe flow.FormError
		if !errors.As(err, &fe) || fe[0].Message.ID != 4000035 {
			t.Fatalf("unknown identifier: %v, want 4000035", err)
		}

		fx = newSignIn(t, s, SignInOptions{Passwordless: true, Mitigate: true})
		f = fx.newFlow(t, flow.Login, identity.AAL1, flow.NodeContext{})
		fx.send(t, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "identifier": "nobody@example.org"}})
		if f.State != flow.StateSentEmail || len(fx.Mail.Queued) != 0 || len(fx.Mail.Rehearsed) != 1 {
			t.Fatalf("mitigated: state %s, queued %d, rehearsed %d", f.State, len(fx.Mail.Queued), len(fx.Mail.Rehearsed))
		}
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, "code": fx.Mail.Rehearsed[0].Code}})
		if err != nil {
			t.Fatal(err)
		}
		var r *flow.Refusal
		if _, err := fx.complete(t, out); !errors.As(err, &r) || r.Message.ID != text.LoginCodeInvalid().ID {
			t.Errorf("the code nobody got: %v, want 4010008", err)
		}
	})
}

func TestSignIn_SecondFactor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newSignIn(t, s, SignInOptions{MFA: true})
		fx.User(t, "mfa@example.org")
		i, err := fx.IDs.FindByCodeIdentifierEvenly(bg, "mfa@example.org")
		if err != nil {
			t.Fatal(err)
		}
		f := fx.newFlow(t, flow.Login, identity.AAL2, flow.NodeContext{Identity: i})
		if n := f.UI.Find("address"); n == nil || n.Attributes.Value != "mfa@example.org" || n.Meta.Label.ID != 1010023 {
			t.Fatalf("second-factor form: %+v", f.UI.Nodes)
		}
		open, err := fx.m.Open(bg, f, flow.NodeContext{Identity: i})
		if err != nil || open == nil || open.Send == nil {
			t.Fatalf("one address and nothing else: Open = %+v, %v; want a Send", open, err)
		}
		_, err = fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"address": "other@example.org"}})
		var fe flow.FormError
		if !errors.As(err, &fe) || fe[0].Message.ID != 4010010 {
			t.Fatalf("unknown address: %v, want 4010010", err)
		}
		fx.send(t, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"address": "mfa@example.org"}})
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Identity: i, Payload: flow.Payload{"method": ID, "code": fx.Mail.Queued[0].Code}})
		if err != nil || out.AAL != identity.AAL2 || out.Identity.ID != i.ID {
			t.Fatalf("second factor: %+v, %v", out, err)
		}
		if _, err := fx.complete(t, out); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSignIn_Registration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fx := newSignIn(t, s, SignInOptions{Passwordless: true, TwoStep: true})
		f := fx.newFlow(t, flow.Registration, "", flow.NodeContext{Step: flow.StepCredentials})
		if n := f.UI.Find("method"); n == nil || n.Meta.Label.ID != 1040006 {
			t.Fatalf("registration form: %+v", f.UI.Nodes)
		}
		traits := map[string]any{"email": "new@example.org"}
		sch := fx.IDs.Schemas().Default()
		fx.send(t, &flow.Submission{Flow: f, Schema: sch, Traits: traits, Payload: flow.Payload{"method": ID}})
		if f.State != flow.StateSentEmail || len(fx.Mail.Queued) != 1 || fx.Mail.Queued[0].Template != courier.RegistrationCodeValid {
			t.Fatalf("after sending: state %s, queued %+v", f.State, fx.Mail.Queued)
		}
		if f.UI.Find("screen") == nil || f.UI.Messages[0].ID != 1040005 {
			t.Errorf("sent form: %+v", f.UI)
		}
		_, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits,
			Payload: flow.Payload{"method": ID, "code": "123456", "traits": map[string]any{"email": "other@example.org"}}})
		var fe flow.FormError
		if !errors.As(err, &fe) || fe[0].Message.ID != 4000036 {
			t.Fatalf("changed traits: %v, want 4000036", err)
		}
		out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: sch, Traits: traits,
			Payload: flow.Payload{"method": ID, "code": fx.Mail.Queued[0].Code, "traits": traits}})
		if err != nil {
			t.Fatal(err)
		}
		i, err := fx.complete(t, out)
		if err != nil || i == nil || !i.VerifiableAddresses[0].Verified || i.Credentials[identity.CredentialsCode] == nil {
			t.Fatalf("registered: %+v, %v", i, err)
		}
	})
}
