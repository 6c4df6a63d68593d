// Package profile is the profile method: the traits an identity is
// described by. It is the first step of two-step registration (the traits
// are checked and kept, then a credential is chosen) and the profile form
// of the settings flow.
package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// ID is the method name in submissions and node groups.
const ID = flow.ProfileMethod

// Method is the profile method.
type Method struct {
	ids          *identity.Manager
	registration bool
	settings     bool
}

// New wires the method; two-step registration and settings each use it
// when on.
func New(ids *identity.Manager, registration, settings bool) *Method {
	return &Method{ids: ids, registration: registration, settings: settings}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Registration && m.registration || kind == flow.Settings && m.settings
}

// AddNodes implements flow.Method: the button that ends registration's
// profile step, the one that goes back to it, or the settings form.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch {
	case f.Kind == flow.Registration && c.Step == flow.StepProfile:
		f.UI.Add(flow.Submit(flow.GroupProfile, "method", ID, text.RegistrationSignUp()))
	case f.Kind == flow.Registration && c.Step == flow.StepCredentials:
		f.UI.Add(flow.Submit(flow.GroupProfile, "screen", "previous", text.RegistrationBack()))
	case f.Kind == flow.Settings && c.Schema != nil:
		f.UI.Add(flow.TraitNodes(c.Schema, flow.GroupProfile, c.Traits, false)...)
		f.UI.Add(flow.Submit(flow.GroupProfile, "method", ID, text.LabelSave()))
	}
	return nil
}

// Submit implements flow.Method.
func (m *Method) Submit(ctx context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	switch sub.Flow.Kind {
	case flow.Registration:
		return m.profileStep(sub)
	case flow.Settings:
		return m.change(ctx, sub)
	}
	return nil, fmt.Errorf("profile: flows of kind %s are not served", sub.Flow.Kind)
}

// profileStep checks and keeps registration's traits and moves the flow on
// to choosing a credential; screen=previous goes back.
func (m *Method) profileStep(sub *flow.Submission) (*flow.Outcome, error) {
	if sub.Payload.String("screen") == "previous" {
		return &flow.Outcome{Next: flow.StepProfile}, nil
	}
	if _, err := flow.ValidateTraits(sub.Schema, sub.Traits); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(sub.Traits)
	if err != nil {
		return nil, err
	}
	sub.Flow.Internal[flow.RegistrationTraitsKey] = raw
	return &flow.Outcome{Next: flow.StepCredentials}, nil
}

// change sets new traits. Changing an identifier or an address needs a
// recent sign-in; a changed verifiable address starts unverified again.
func (m *Method) change(ctx context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	traits := sub.Payload.Traits()
	if traits == nil {
		return nil, flow.FormMessage(text.ValidationRequired("traits"))
	}
	next, err := flow.ValidateTraits(sub.Schema, traits)
	if err != nil {
		return nil, err
	}
	if !sub.Privileged && sensitiveChange(extracted(sub.Schema, sub.Identity), next) {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	plan, err := m.ids.PlanChange(ctx, sub.Identity.ID, func(current *identity.Identity) (identity.Draft, error) {
		d := identity.DraftOf(current)
		d.Traits = raw
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: sub.Identity, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		return plan.Apply(ctx, q)
	}}, nil
}

// extracted is what the identity's current traits declare; traits its
// schema no longer accepts declare nothing, which makes every change look
// sensitive (the safe side).
func extracted(sch *schema.Schema, i *identity.Identity) *schema.Extracted {
	var traits any
	if err := json.Unmarshal(i.Traits, &traits); err != nil {
		return &schema.Extracted{}
	}
	x, err := sch.Validate(traits)
	if err != nil {
		return &schema.Extracted{}
	}
	return x
}

// sensitiveChange reports whether identifiers or addresses differ.
func sensitiveChange(a, b *schema.Extracted) bool {
	for typ, ids := range b.Identifiers {
		if !slices.Equal(a.Identifiers[typ], ids) {
			return true
		}
	}
	for typ := range a.Identifiers {
		if _, ok := b.Identifiers[typ]; !ok {
			return true
		}
	}
	return !slices.Equal(a.Verifiable, b.Verifiable) || !slices.Equal(a.Recovery, b.Recovery)
}
