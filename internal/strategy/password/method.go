package password

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// The password method in the flows it serves (flow.Method).

// Serves implements flow.Method: sign-in, sign-up and changing the password.
func (s *Strategy) Serves(kind flow.Kind) bool {
	return kind == flow.Login || kind == flow.Registration || kind == flow.Settings
}

// AddNodes implements flow.Method.
func (s *Strategy) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch f.Kind {
	case flow.Login:
		if f.RequestedAAL != "aal2" { // a first factor
			s.LoginNodes(f, c.Schema, c.Identity)
		}
	case flow.Registration:
		if c.Step != flow.StepProfile {
			s.RegistrationNodes(f)
		}
	case flow.Settings:
		s.SettingsNodes(f)
	}
	return nil
}

// Submit implements flow.Method.
func (s *Strategy) Submit(ctx context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	p := sub.Payload
	switch sub.Flow.Kind {
	case flow.Login:
		if sub.Flow.RequestedAAL == "aal2" {
			return nil, flow.FormMessage(text.NoLoginStrategy())
		}
		i, err := s.Login(ctx, p)
		if err != nil {
			return nil, err
		}
		return &flow.Outcome{Identity: i, AAL: "aal1"}, nil
	case flow.Registration:
		prepared, err := s.Register(ctx, sub.Schema, sub.Traits, p.String("password"))
		if err != nil {
			return nil, err
		}
		return &flow.Outcome{Commit: prepared.Insert}, nil
	case flow.Settings:
		return s.change(ctx, sub)
	}
	return nil, fmt.Errorf("password: flows of kind %s are not served", sub.Flow.Kind)
}

// change sets a new password; it always needs a recent sign-in.
func (s *Strategy) change(ctx context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	if !sub.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	pw := sub.Payload.String("password")
	if err := s.CheckNew(ctx, sub.Identity, pw); err != nil {
		return nil, err
	}
	plan, err := s.ids.PlanChange(ctx, sub.Identity.ID, func(current *identity.Identity) (identity.Draft, error) {
		d := identity.DraftOf(current)
		d.Password = &pw
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: sub.Identity, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		return plan.Apply(ctx, q)
	}}, nil
}

// AddIdentifiedNodes implements flow.Identified: the password input, for
// an identity that has a password.
func (s *Strategy) AddIdentifiedNodes(_ context.Context, f *flow.Flow, c flow.NodeContext, all bool) (bool, error) {
	has := false
	if c.Identity != nil {
		if cred := c.Identity.Credentials[identity.CredentialsPassword]; cred != nil && len(cred.Identifiers) > 0 {
			var cfg identity.PasswordConfig
			has = json.Unmarshal(cred.Config, &cfg) == nil && cfg.HashedPassword != ""
		}
	}
	if has || all {
		s.LoginNodes(f, c.Schema, nil)
	}
	return has, nil
}
