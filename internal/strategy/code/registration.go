package code

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// codeTraitsKey is where a registration keeps the traits its code was
// sent for: the identity is made from exactly those.
const codeTraitsKey = "code_traits"

// register sends a sign-up code to the code addresses of the traits
// (state choose_method, or a resend), or checks the one typed and creates
// the identity with that address verified (state sent_email).
func (m *SignIn) register(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f, p := s.Flow, s.Payload
	if p.String("screen") == "credential-selection" {
		return &flow.Outcome{Next: flow.StepCredentials}, nil
	}
	transient, _ := p["transient_payload"].(map[string]any)
	resend := p.String("resend") != ""
	if f.State == flow.StateSentEmail && !resend {
		return m.redeemRegistration(s)
	}
	traits := s.Traits
	if resend && f.Internal[codeTraitsKey] != nil {
		if err := json.Unmarshal(f.Internal[codeTraitsKey], &traits); err != nil {
			return nil, err
		}
	}
	if traits == nil {
		return nil, flow.FormMessage(text.ValidationRequired("traits"))
	}
	x, err := flow.ValidateTraits(s.Schema, traits)
	if err != nil {
		return nil, err
	}
	addresses := x.Identifiers[identity.CredentialsCode]
	if len(addresses) == 0 {
		return nil, flow.FormMessage(text.NoIdentifierInSchema())
	}
	sort.Strings(addresses)
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Send: func(ctx context.Context, q *store.Q) error {
		if err := m.codes.InvalidateFlow(ctx, q, f.ID); err != nil {
			return err
		}
		for _, address := range addresses {
			via := x.CodeVia[address]
			plain, err := issue(ctx, q, m.codes, onetime.Registration, f, nil, via, address, m.opts.Lifespan)
			if err != nil {
				return err
			}
			msg := courier.Message{
				Template: courier.RegistrationCodeValid, Via: via, To: address, Code: plain, Traits: traits,
				RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: m.opts.Lifespan,
			}
			if err := m.mail.Queue(ctx, q, msg); err != nil {
				return err
			}
		}
		f.Internal[codeTraitsKey] = raw
		f.Internal[flow.RegistrationTraitsKey] = raw
		m.showRegistrationSent(f, s.Schema, traits)
		return nil
	}}, nil
}

// showRegistrationSent lays out the form asking for a sign-up code: the
// traits kept (hidden), the code, and the buttons.
func (m *SignIn) showRegistrationSent(f *flow.Flow, sch *schema.Schema, traits map[string]any) {
	f.UI.KeepOnlyCSRF()
	f.UI.Add(flow.TraitNodes(sch, flow.GroupDefault, traits, true)...)
	m.askForCode(f, text.LabelRegistrationCode())
	if m.opts.TwoStep {
		f.UI.Add(flow.Submit(flow.GroupProfile, "screen", "credential-selection", text.RegistrationBack()))
	}
	f.State, f.Active = flow.StateSentEmail, ID
	f.UI.Messages = []*text.Message{text.RegistrationCodeSent()}
}

// redeemRegistration checks a typed sign-up code against the traits it
// was sent for; the identity is created in the transaction that spends it.
func (m *SignIn) redeemRegistration(s *flow.Submission) (*flow.Outcome, error) {
	f := s.Flow
	plain := strings.TrimSpace(s.Payload.String("code"))
	if plain == "" {
		return nil, flow.FormError{{Field: "code", Message: text.ValidationRequired("code")}}
	}
	kept := f.Internal[codeTraitsKey]
	if kept == nil {
		return nil, flow.FormMessage(text.TraitsChanged())
	}
	if s.Payload.Traits() != nil {
		submitted, err := json.Marshal(s.Payload.Traits())
		if err != nil {
			return nil, err
		}
		if !sameJSON(submitted, kept) {
			return nil, flow.FormMessage(text.TraitsChanged())
		}
	}
	var spent *onetime.Code
	return &flow.Outcome{
		AAL: identity.AAL1,
		Redeem: func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
			code, err := m.redeem(ctx, q, f, onetime.Registration, plain, s.ClientIP, nil, text.RegistrationCodeInvalid())
			spent = code
			return code, err
		},
		Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
			if spent == nil {
				return nil, errors.New("code: the registration was committed before its code was spent")
			}
			now := store.Now()
			p, err := m.ids.Prepare(ctx, identity.Draft{
				SchemaID: s.Schema.ID, Traits: kept,
				VerifiedAddresses: map[string]*time.Time{spent.Via + ":" + spent.Value: &now},
			})
			if err != nil {
				return nil, err
			}
			return p.Insert(ctx, q)
		},
	}, nil
}

// sameJSON compares two JSON documents by meaning, not by bytes.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ca, _ := json.Marshal(x)
	cb, _ := json.Marshal(y)
	return bytes.Equal(ca, cb)
}
