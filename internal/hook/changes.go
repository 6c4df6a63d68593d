package hook

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Changes are the fields of the identity an interrupting hook replaced:
// as in Kratos, only those its answer sets to something non-empty.
type Changes struct {
	Traits         json.RawMessage `json:"traits"`
	SchemaID       string          `json:"schema_id"`
	State          string          `json:"state"`
	ExternalID     string          `json:"external_id"`
	MetadataPublic json.RawMessage `json:"metadata_public"`
	MetadataAdmin  json.RawMessage `json:"metadata_admin"`
	// The addresses stay those the traits yield (Kratos drops any other);
	// for those, what the hook says about verification is kept.
	VerifiableAddresses []AddressChange `json:"verifiable_addresses"`
	RecoveryAddresses   []AddressChange `json:"recovery_addresses"`
}

// AddressChange is an address as a hook answers it.
type AddressChange struct {
	Via        string     `json:"via"`
	Value      string     `json:"value"`
	Verified   bool       `json:"verified"`
	VerifiedAt *time.Time `json:"verified_at"`
}

func given(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// HasTraits reports whether the hook replaced the traits.
func (c *Changes) HasTraits() bool { return c != nil && given(c.Traits) }

// Reshapes reports whether the traits must be checked again: the hook
// replaced them or moved the identity to another schema.
func (c *Changes) Reshapes() bool { return c != nil && (c.HasTraits() || c.SchemaID != "") }

// Schema is the schema the changed identity must validate against: the
// hook's schema_id, else current. An unknown schema is a 400, as Kratos
// refuses to store such an identity.
func (c *Changes) Schema(reg *schema.Registry, current string) (*schema.Schema, error) {
	id := current
	if c != nil && c.SchemaID != "" {
		id = c.SchemaID
	}
	if id == "" {
		return reg.Default(), nil
	}
	sch, ok := reg.Get(id)
	if !ok {
		return nil, wire.BadRequest.WithReason("A web_hook answered the identity schema %q, which does not exist.", id)
	}
	return sch, nil
}

// check refuses what no identity may hold, before anything is written.
func (c *Changes) check() error {
	switch c.State {
	case "", identity.StateActive, identity.StateInactive:
	default:
		return wire.BadRequest.WithReason("A web_hook answered the identity state %q; it must be %q or %q.", c.State, identity.StateActive, identity.StateInactive)
	}
	for name, raw := range map[string]json.RawMessage{"traits": c.Traits, "metadata_public": c.MetadataPublic, "metadata_admin": c.MetadataAdmin} {
		if given(raw) && strings.TrimSpace(string(raw))[0] != '{' {
			return wire.BadRequest.WithReason("A web_hook answered %s that are not a JSON object.", name)
		}
	}
	return nil
}

// merge lays later on top of c: a later hook's answer wins field by field.
func (c *Changes) merge(later *Changes) *Changes {
	if c == nil {
		return later
	}
	m := *c
	if later.HasTraits() {
		m.Traits = later.Traits
	}
	if later.SchemaID != "" {
		m.SchemaID = later.SchemaID
	}
	if later.State != "" {
		m.State = later.State
	}
	if later.ExternalID != "" {
		m.ExternalID = later.ExternalID
	}
	if given(later.MetadataPublic) {
		m.MetadataPublic = later.MetadataPublic
	}
	if given(later.MetadataAdmin) {
		m.MetadataAdmin = later.MetadataAdmin
	}
	if len(later.VerifiableAddresses) > 0 {
		m.VerifiableAddresses = later.VerifiableAddresses
	}
	if len(later.RecoveryAddresses) > 0 {
		m.RecoveryAddresses = later.RecoveryAddresses
	}
	return &m
}

// apply answers a copy of i as the changes leave it, for the next hook to
// see (Kratos hands each hook the identity the previous ones changed).
func (c *Changes) apply(i *identity.Identity) *identity.Identity {
	if c == nil || i == nil {
		return i
	}
	n := *i
	if c.HasTraits() {
		n.Traits = c.Traits
	}
	if c.SchemaID != "" {
		n.SchemaID = c.SchemaID
	}
	if c.State != "" {
		n.State = c.State
	}
	if c.ExternalID != "" {
		ext := c.ExternalID
		n.ExternalID = &ext
	}
	if given(c.MetadataPublic) {
		n.MetadataPublic = c.MetadataPublic
	}
	if given(c.MetadataAdmin) {
		n.MetadataAdmin = c.MetadataAdmin // never shown to a hook, but written
	}
	return &n
}

// draft is i with the changes on top, as identity.Manager.Amend takes it.
func (c *Changes) draft(i *identity.Identity) identity.Draft {
	n := c.apply(i)
	d := identity.Draft{SchemaID: n.SchemaID, State: n.State, Traits: n.Traits,
		MetadataPublic: n.MetadataPublic, MetadataAdmin: n.MetadataAdmin, ExternalID: n.ExternalID}
	for _, a := range c.VerifiableAddresses {
		if !a.Verified || a.Via == "" || a.Value == "" {
			continue
		}
		if d.VerifiedAddresses == nil {
			d.VerifiedAddresses = map[string]*time.Time{}
		}
		value := strings.TrimSpace(a.Value)
		if a.Via == schema.ViaEmail {
			value = strings.ToLower(value) // as the traits yield it
		}
		d.VerifiedAddresses[a.Via+":"+value] = a.VerifiedAt
	}
	return d
}

// Amend writes what PrePersist's hooks changed into identity i, as q's
// transaction has it (created or changed moments ago), so that the
// changes commit with the flow or not at all. The identity must still
// validate against its (new) schema; an external_id another identity has
// is a conflict (identity.IsConflict).
func (r *Runner) Amend(ctx context.Context, q *store.Q, i *identity.Identity, c *Changes) (*identity.Identity, error) {
	if c == nil || r.web == nil || r.web.Identities == nil {
		return i, nil
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return r.web.Identities.Amend(ctx, q, i, c.draft(i))
}
