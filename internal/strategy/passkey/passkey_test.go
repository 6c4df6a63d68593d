package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	vw "github.com/descope/virtualwebauthn"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/flow/flowtest"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/securitykey/keytest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

var bg = context.Background()

// origin is where the fixture's pages are, the relying party's default
// origin for flowtest.PublicURL.
const (
	rpID   = "auth.example.com"
	origin = "https://" + rpID
)

type fixture struct {
	*flowtest.Fixture
	m  *Method
	rp vw.RelyingParty
}

func newFixture(t *testing.T, s *store.Store) *fixture {
	t.Helper()
	fx := &fixture{rp: vw.RelyingParty{ID: rpID, Name: "Lanyard", Origin: origin}}
	fx.Fixture = flowtest.NewFixture(t, s, func(_ flow.Config, ids *identity.Manager, _ *onetime.Codes, _ courier.Outbox) flow.Method {
		rp, err := securitykey.New(securitykey.Config{RPID: rpID, RPDisplayName: "Lanyard"}, flowtest.PublicURL, securitykey.Passkey)
		if err != nil {
			t.Fatal(err)
		}
		fx.m = New(ids, rp, securitykey.NewScript(origin))
		fx.m.Store = s
		return fx.m
	})
	return fx
}

// device is a software authenticator holding passkeys, each made for the
// user handle it was registered with.
type device struct {
	creds   []vw.Credential
	handles [][]byte
}

// create answers the creation options in node fieldCreateData of f, as a
// browser with the device would.
func (d *device) create(t *testing.T, fx *fixture, f *flow.Flow) string {
	t.Helper()
	n := f.UI.Find(fieldCreateData)
	if n == nil {
		t.Fatalf("no %s node: %s", fieldCreateData, nodeNames(f))
	}
	raw := []byte(n.Attributes.Value.(string))
	if f.Kind == flow.Registration {
		var data createData
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatal(err)
		}
		raw = data.CredentialOptions
	}
	opts, err := vw.ParseAttestationOptions(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	cred := keytest.NewCredential()
	auth := vw.NewAuthenticatorWithOptions(vw.AuthenticatorOptions{UserHandle: []byte(opts.UserID)})
	d.creds, d.handles = append(d.creds, cred), append(d.handles, []byte(opts.UserID))
	return vw.CreateAttestationResponse(fx.rp, auth, cred, *opts)
}

// assert answers the challenge in f with the device's k-th passkey.
func (d *device) assert(t *testing.T, fx *fixture, f *flow.Flow, k int) string {
	t.Helper()
	n := f.UI.Find(fieldChallenge)
	if n == nil {
		t.Fatalf("no %s node: %s", fieldChallenge, nodeNames(f))
	}
	opts, err := vw.ParseAssertionOptions(n.Attributes.Value.(string))
	if err != nil {
		t.Fatal(err)
	}
	auth := vw.NewAuthenticatorWithOptions(vw.AuthenticatorOptions{UserHandle: d.handles[k]})
	return vw.CreateAssertionResponse(fx.rp, auth, d.creds[k], *opts)
}

func nodeNames(f *flow.Flow) []string {
	var out []string
	for _, n := range f.UI.Nodes {
		name := n.Attributes.Name
		if name == "" {
			name = n.Attributes.ID
		}
		out = append(out, n.Group+"/"+name)
	}
	return out
}

// bareFlow is a new flow of kind with nothing but its CSRF token.
func bareFlow(kind flow.Kind, typ string) *flow.Flow {
	f := flow.New(kind, typ, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/"+typ, nil), flowtest.PublicURL, time.Hour)
	f.RequestedAAL = identity.AAL1
	f.AddCSRF(nil)
	return f
}

// newFlow lays out a flow of kind for c, as the flows do.
func (fx *fixture) newFlow(t *testing.T, kind flow.Kind, typ string, c flow.NodeContext) *flow.Flow {
	t.Helper()
	f := bareFlow(kind, typ)
	c.Schema = fx.IDs.Schemas().Default()
	if kind == flow.Registration && c.Step == "" {
		c.Step = flow.StepOneStep
	}
	if err := fx.m.AddNodes(bg, f, c); err != nil {
		t.Fatal(err)
	}
	return f
}

// commit runs out's Commit as the flows do.
func (fx *fixture) commit(t *testing.T, out *flow.Outcome) *identity.Identity {
	t.Helper()
	var i *identity.Identity
	if err := fx.S.Write(bg, func(q *store.Q) error {
		var err error
		i, err = out.Commit(bg, q)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return i
}

// signUp registers email with a new passkey on d.
func (fx *fixture) signUp(t *testing.T, d *device, email string) *identity.Identity {
	t.Helper()
	f := fx.newFlow(t, flow.Registration, flow.TypeBrowser, flow.NodeContext{})
	traits := map[string]any{"email": email}
	out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Schema: fx.IDs.Schemas().Default(), Traits: traits,
		Payload: flow.Payload{"method": ID, "traits": traits, fieldRegister: d.create(t, fx, f)}})
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	if out.AAL != identity.AAL1 || out.Commit == nil {
		t.Fatalf("registration outcome: %+v", out)
	}
	i := fx.commit(t, out)
	stored, err := fx.IDs.Get(bg, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

// signIn submits d's k-th passkey to a new login flow.
func (fx *fixture) signIn(t *testing.T, d *device, k int) (*flow.Flow, *flow.Outcome, error) {
	t.Helper()
	f := fx.newFlow(t, flow.Login, flow.TypeBrowser, flow.NodeContext{})
	out, err := fx.m.Submit(bg, &flow.Submission{Flow: f, Payload: flow.Payload{"method": ID, fieldLogin: d.assert(t, fx, f, k)}})
	return f, out, err
}

// formMessage is the one flow-level message of err, a FormError.
func formMessage(t *testing.T, err error) *text.Message {
	t.Helper()
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "" {
		t.Fatalf("got %v, want one form message", err)
	}
	return fe[0].Message
}
