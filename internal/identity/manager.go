package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Manager creates, changes and reads identities, keeping traits, addresses
// and credential identifiers consistent with the identity schema.
type Manager struct {
	cache     versionCache
	store     *store.Store
	schemas   *schema.Registry
	hasher    *hasher.Hasher
	publicURL string // public base URL, ending in "/"
	// declassifiers open credential configs sealed at rest for the admin
	// view (declassify.go).
	declassifiers map[string]Declassifier
}

// NewManager wires a Manager.
func NewManager(s *store.Store, schemas *schema.Registry, h *hasher.Hasher, publicBaseURL string) *Manager {
	if !strings.HasSuffix(publicBaseURL, "/") {
		publicBaseURL += "/"
	}
	return &Manager{store: s, schemas: schemas, hasher: h, publicURL: publicBaseURL}
}

// Schemas exposes the schema registry.
func (m *Manager) Schemas() *schema.Registry { return m.schemas }

// SchemaURL is where the public API serves the schema with this id.
func (m *Manager) SchemaURL(id string) string {
	return m.publicURL + "schemas/" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// Errors the API maps to statuses.
var (
	ErrNotFound = wire.NotFound.WithReason("Unable to locate the resource.")
	ErrConflict = wire.Conflict.WithReason("This identity conflicts with another identity that already exists.")
)

// Draft is what an admin sends to create or replace an identity.
type Draft struct {
	SchemaID       string
	State          string
	Traits         json.RawMessage
	MetadataPublic json.RawMessage
	MetadataAdmin  json.RawMessage
	ExternalID     *string
	// Password is a new plain-text password, hashed before storing.
	Password *string
	// HashedPassword is an imported hash, stored as it is.
	HashedPassword *string
	// VerifiedAddresses lists addresses the admin vouches for ("via:value").
	VerifiedAddresses map[string]*time.Time
}

// prepared is a Draft that passed every check that needs no database.
type prepared struct {
	draft     Draft
	schema    *schema.Schema
	extracted *schema.Extracted
	hash      string // password hash to store, if any
}

// prepare validates d and hashes its password. It runs outside any
// transaction: hashing is slow by design and must not hold the writer.
func (m *Manager) prepare(ctx context.Context, d Draft) (*prepared, error) {
	if d.SchemaID == "" {
		d.SchemaID = m.schemas.Default().ID
	}
	sch, ok := m.schemas.Get(d.SchemaID)
	if !ok {
		return nil, wire.BadRequest.WithReason("Identity schema %q does not exist.", d.SchemaID)
	}
	switch d.State {
	case "":
		d.State = StateActive
	case StateActive, StateInactive:
	default:
		return nil, wire.BadRequest.WithReason("Identity state must be %q or %q, not %q.", StateActive, StateInactive, d.State)
	}
	for name, raw := range map[string]json.RawMessage{"metadata_public": d.MetadataPublic, "metadata_admin": d.MetadataAdmin} {
		if len(raw) > 0 && string(raw) != "null" && raw[0] != '{' {
			return nil, wire.BadRequest.WithReason("%s must be a JSON object.", name)
		}
	}
	if len(d.Traits) == 0 || string(d.Traits) == "null" {
		return nil, wire.BadRequest.WithReason("traits are required.")
	}
	var traits any
	if err := json.Unmarshal(d.Traits, &traits); err != nil {
		return nil, wire.BadRequest.WithReason("traits are not valid JSON.")
	}
	extracted, err := sch.Validate(traits)
	if err != nil {
		var verr *schema.ValidationError
		if errors.As(err, &verr) {
			return nil, wire.BadRequest.WithReason("%s", verr.Error()).WithCause(err)
		}
		return nil, err
	}
	p := &prepared{draft: d, schema: sch, extracted: extracted}
	switch {
	case d.Password != nil && d.HashedPassword != nil:
		return nil, wire.BadRequest.WithReason("Set either credentials.password.config.password or hashed_password, not both.")
	case d.Password != nil:
		if *d.Password == "" {
			return nil, wire.BadRequest.WithReason("credentials.password.config.password must not be empty.")
		}
		if len(*d.Password) > m.hasher.MaxPasswordBytes() {
			return nil, wire.BadRequest.WithReason("The password must be at most %d bytes long.", m.hasher.MaxPasswordBytes())
		}
		h, err := m.hasher.Hash(ctx, []byte(*d.Password))
		if err != nil {
			return nil, err
		}
		p.hash = string(h)
	case d.HashedPassword != nil:
		if !hasher.Recognised([]byte(*d.HashedPassword)) {
			return nil, wire.BadRequest.WithReason("credentials.password.config.hashed_password has an unknown or malformed hash format.")
		}
		p.hash = *d.HashedPassword
	}
	return p, nil
}

// build turns p into an identity, reusing what before (nil on create) has
// where the schema still yields it, so that ids and verified states survive
// an update.
func (p *prepared) build(id uuid.UUID, before *Identity, now time.Time) *Identity {
	d := p.draft
	i := &Identity{
		ID: id, SchemaID: p.schema.ID, State: d.State, Traits: compactJSON(d.Traits),
		MetadataPublic: nullIfEmpty(d.MetadataPublic), MetadataAdmin: nullIfEmpty(d.MetadataAdmin),
		ExternalID: d.ExternalID, Credentials: map[string]*Credential{}, CreatedAt: now, UpdatedAt: now,
	}
	if before == nil || before.State != i.State {
		i.StateChangedAt = &now
	} else {
		i.StateChangedAt = before.StateChangedAt
	}
	if before != nil {
		i.CreatedAt = before.CreatedAt
	}

	for _, a := range p.extracted.Verifiable {
		va := VerifiableAddress{ID: uuid.New(), Via: a.Via, Value: a.Value, Status: AddressStatusPending, CreatedAt: now, UpdatedAt: now}
		if before != nil {
			for _, old := range before.VerifiableAddresses {
				if old.Via == a.Via && old.Value == a.Value {
					va = old
				}
			}
		}
		if at, ok := d.VerifiedAddresses[a.Via+":"+a.Value]; ok && !va.Verified {
			va.Verified, va.Status, va.UpdatedAt = true, AddressStatusCompleted, now
			va.VerifiedAt = at
			if va.VerifiedAt == nil {
				va.VerifiedAt = &now
			}
		}
		i.VerifiableAddresses = append(i.VerifiableAddresses, va)
	}
	for _, a := range p.extracted.Recovery {
		ra := RecoveryAddress{ID: uuid.New(), Via: a.Via, Value: a.Value, CreatedAt: now, UpdatedAt: now}
		if before != nil {
			for _, old := range before.RecoveryAddresses {
				if old.Via == a.Via && old.Value == a.Value {
					ra = old
				}
			}
		}
		i.RecoveryAddresses = append(i.RecoveryAddresses, ra)
	}

	// Existing credentials stay, with identifiers re-derived from the traits.
	if before != nil {
		for typ, old := range before.Credentials {
			c := *old
			c.Identifiers = identifiersFor(p.extracted, typ, old.Identifiers)
			i.Credentials[typ] = &c
		}
	}
	if p.hash != "" {
		c := i.Credentials[CredentialsPassword]
		if c == nil {
			c = &Credential{ID: uuid.New(), Type: CredentialsPassword, CreatedAt: now}
			i.Credentials[CredentialsPassword] = c
		}
		c.Config, _ = json.Marshal(PasswordConfig{HashedPassword: p.hash})
		c.Identifiers = identifiersFor(p.extracted, CredentialsPassword, nil)
		c.UpdatedAt = now
	}
	// The code credential follows the traits alone: it exists while they
	// name an address a sign-in code can go to.
	var oldCode *Credential
	if before != nil {
		oldCode = before.Credentials[CredentialsCode]
	}
	if c := codeCredential(p.extracted, oldCode, now); c != nil {
		i.Credentials[CredentialsCode] = c
	} else {
		delete(i.Credentials, CredentialsCode)
	}
	return i
}

// identifiersFor picks the identifiers of a credential type from the traits;
// types the schema does not describe keep theirs (e.g. social sign-in subjects).
func identifiersFor(x *schema.Extracted, typ string, keep []string) []string {
	if ids, ok := x.Identifiers[typ]; ok {
		return append([]string(nil), ids...)
	}
	switch typ {
	case CredentialsPassword:
		return []string{}
	}
	return keep
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return json.RawMessage(b.Bytes())
}

func nullIfEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return compactJSON(raw)
}

// Create stores a new identity.
func (m *Manager) Create(ctx context.Context, d Draft) (*Identity, error) {
	p, err := m.Prepare(ctx, d)
	if err != nil {
		return nil, err
	}
	var i *Identity
	err = m.store.Write(ctx, func(q *store.Q) (err error) {
		i, err = p.Insert(ctx, q)
		return err
	})
	return i, err
}

// Prepared is a validated draft with its password hashed, ready to insert
// inside a caller's transaction (registration adds a session to it).
type Prepared struct{ p *prepared }

// Prepare validates d and hashes its password, outside any transaction.
func (m *Manager) Prepare(ctx context.Context, d Draft) (*Prepared, error) {
	p, err := m.prepare(ctx, d)
	if err != nil {
		return nil, err
	}
	return &Prepared{p: p}, nil
}

// Extracted is what the schema picked out of the draft's traits.
func (p *Prepared) Extracted() *schema.Extracted { return p.p.extracted }

// Insert stores the identity in q's transaction. A taken identifier is
// ErrConflict.
func (p *Prepared) Insert(ctx context.Context, q *store.Q) (*Identity, error) {
	i := p.p.build(uuid.New(), nil, store.Now())
	if err := insertIdentity(ctx, q, i); err != nil {
		return nil, mapWriteError(err)
	}
	return i, nil
}

// CreateMany stores several identities in one transaction; each one succeeds
// or fails on its own (a savepoint apiece), as the batch API promises.
func (m *Manager) CreateMany(ctx context.Context, drafts []Draft) ([]*Identity, []error) {
	out := make([]*Identity, len(drafts))
	errs := make([]error, len(drafts))
	prepared := make([]*prepared, len(drafts))
	parallel(len(drafts), func(k int) {
		prepared[k], errs[k] = m.prepare(ctx, drafts[k])
	})
	now := store.Now()
	err := m.store.Write(ctx, func(q *store.Q) error {
		for k, p := range prepared {
			if errs[k] != nil {
				continue
			}
			i := p.build(uuid.New(), nil, now)
			err := q.Savepoint(ctx, "batch_entry", func() error { return insertIdentity(ctx, q, i) })
			if err != nil && !store.IsUniqueViolation(err) {
				return err
			}
			if err != nil {
				errs[k] = ErrConflict
				continue
			}
			out[k] = i
		}
		return nil
	})
	if err != nil {
		for k := range errs {
			out[k] = nil
			if errs[k] == nil {
				errs[k] = err
			}
		}
	}
	return out, errs
}

// Get loads one identity.
func (m *Manager) Get(ctx context.Context, id uuid.UUID) (*Identity, error) {
	i, err := getIdentity(ctx, m.store.Read(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return i, err
}

// GetByExternalID loads the identity with this external id.
func (m *Manager) GetByExternalID(ctx context.Context, externalID string) (*Identity, error) {
	var id uuid.UUID
	err := m.store.Read().QueryRow(ctx, `SELECT id FROM identities WHERE external_id = $1`, externalID).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m.Get(ctx, id)
}

// Replace overwrites an identity with d (the PUT semantics of the admin API).
func (m *Manager) Replace(ctx context.Context, id uuid.UUID, d Draft) (*Identity, error) {
	return m.change(ctx, id, func(*Identity) (Draft, error) { return d, nil })
}

// change loads an identity, derives a draft from it, and writes the result,
// all in one transaction (the password, if any, is hashed before it).
func (m *Manager) change(ctx context.Context, id uuid.UUID, derive func(*Identity) (Draft, error)) (*Identity, error) {
	plan, err := m.PlanChange(ctx, id, derive)
	if err != nil {
		return nil, err
	}
	var result *Identity
	err = m.store.Write(ctx, func(q *store.Q) error {
		var err error
		result, err = plan.Apply(ctx, q)
		return err
	})
	return result, mapWriteError(err)
}

// ChangePlan is a change of one identity prepared outside any
// transaction (its password hashed: hashing is slow by design and must not
// hold the writer), to be applied inside one.
type ChangePlan struct {
	m        *Manager
	id       uuid.UUID
	derive   func(*Identity) (Draft, error)
	snapshot *Identity
	p        *prepared
}

// PlanChange derives the draft of identity id from its current state and
// prepares it.
func (m *Manager) PlanChange(ctx context.Context, id uuid.UUID, derive func(*Identity) (Draft, error)) (*ChangePlan, error) {
	snapshot, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := derive(snapshot)
	if err != nil {
		return nil, err
	}
	p, err := m.prepare(ctx, d)
	if err != nil {
		return nil, err
	}
	return &ChangePlan{m: m, id: id, derive: derive, snapshot: snapshot, p: p}, nil
}

// Apply writes the change in q's transaction. The row is read again; if it
// changed since the plan was made, the draft is derived again from what is
// there now (the hash is kept).
func (c *ChangePlan) Apply(ctx context.Context, q *store.Q) (*Identity, error) {
	// Lock the row before reading it: the write below rewrites every
	// credential, and a credential changed meanwhile by another
	// transaction (a backup code spent) must not be undone.
	if err := lockIdentity(ctx, q, c.id); err != nil {
		return nil, err
	}
	before, err := getIdentity(ctx, q, c.id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	p := c.p
	if !before.UpdatedAt.Equal(c.snapshot.UpdatedAt) {
		d, err := c.derive(before)
		if err != nil {
			return nil, err
		}
		if p, err = c.m.prepareNoHash(ctx, d, c.p.hash); err != nil {
			return nil, err
		}
	}
	result := p.build(c.id, before, store.Now())
	if err := updateIdentity(ctx, q, result, before); err != nil {
		return nil, mapWriteError(err)
	}
	return result, nil
}

// prepareNoHash validates d like prepare but reuses an existing hash.
func (m *Manager) prepareNoHash(ctx context.Context, d Draft, hash string) (*prepared, error) {
	d.Password, d.HashedPassword = nil, nil
	p, err := m.prepare(ctx, d)
	if err != nil {
		return nil, err
	}
	p.hash = hash
	return p, nil
}

// Delete removes an identity and everything that belongs to it.
func (m *Manager) Delete(ctx context.Context, id uuid.UUID) error {
	err := m.store.Write(ctx, func(q *store.Q) error { return deleteIdentity(ctx, q, id) })
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ListOptions select identities to list.
type ListOptions struct {
	PageSize   int
	After      *uuid.UUID
	IDs        []uuid.UUID
	Identifier string
	// Trait, when set, keeps identities whose trait at a dotted path
	// equals a value, ignoring case (search.go).
	Trait *TraitSearch
	// IdentifierPrefix, when set, keeps identities with an identifier
	// (password, code, WebAuthn, passkey) starting with it, ignoring case.
	IdentifierPrefix string
}

// List answers a page of identities ordered by id and whether more follow.
func (m *Manager) List(ctx context.Context, o ListOptions) ([]*Identity, bool, error) {
	if o.Trait != nil {
		if err := o.Trait.Validate(); err != nil {
			return nil, false, err
		}
	}
	if o.IdentifierPrefix != "" {
		if err := validateIdentifierPrefix(o.IdentifierPrefix); err != nil {
			return nil, false, err
		}
	}
	p := listParams{After: o.After, Limit: o.PageSize + 1, IDs: o.IDs, Trait: o.Trait, IdentifierPrefix: o.IdentifierPrefix}
	if o.Identifier != "" {
		p.Identifier = schema.NormalizeIdentifier(o.Identifier)
	}
	ids, err := listIdentities(ctx, m.store.Read(), p)
	if err != nil {
		return nil, false, err
	}
	more := len(ids) > o.PageSize
	if more {
		ids = ids[:o.PageSize]
	}
	return ids, more, nil
}

// Count answers how many identities exist.
func (m *Manager) Count(ctx context.Context) (int, error) {
	return countIdentities(ctx, m.store.Read())
}

// IsConflict reports whether err says an identifier or address is taken.
func IsConflict(err error) bool { return store.IsUniqueViolation(err) }

func mapWriteError(err error) error {
	if err == nil {
		return nil
	}
	if store.IsUniqueViolation(err) {
		return ErrConflict.WithCause(err)
	}
	return err
}

// parallel runs fn(0..n-1) on a few goroutines: batch imports hash many
// passwords, and hashing is CPU-bound.
func parallel(n int, fn func(k int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < workers {
		workers = n
	}
	next := make(chan int)
	done := make(chan struct{})
	for w := 0; w < workers; w++ {
		go func() {
			for k := range next {
				fn(k)
			}
			done <- struct{}{}
		}()
	}
	for k := 0; k < n; k++ {
		next <- k
	}
	close(next)
	for w := 0; w < workers; w++ {
		<-done
	}
}

// FindByIdentifier finds the identity whose credential of type typ has the
// (normalised) identifier; ErrNotFound when none does.
func (m *Manager) FindByIdentifier(ctx context.Context, typ, identifier string) (*Identity, error) {
	return m.findByIdentifier(ctx, typ, schema.NormalizeIdentifier(identifier))
}

// findByIdentifier reads the identity row in the statement that finds it.
func (m *Manager) findByIdentifier(ctx context.Context, typ, identifier string) (*Identity, error) {
	q := m.store.Read()
	if q.Dialect() == store.Postgres {
		return findByIdentifierAtOnce(ctx, q, typ, identifier)
	}
	rows, err := q.Query(ctx, `SELECT `+identitySelectColumns+` FROM identities WHERE id = (
		SELECT identity_id FROM identity_credential_identifiers WHERE type = $1 AND identifier = $2)`, typ, identifier)
	if err != nil {
		return nil, err
	}
	ids, err := scanIdentities(rows)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, ErrNotFound
	}
	if err := loadRelations(ctx, q, ids); err != nil {
		return nil, err
	}
	return ids[0], nil
}

// FindByExactIdentifier is FindByIdentifier for identifiers that are not
// typed by people and so are not normalised: a social account's
// "provider:subject", whose subject the provider compares case by case.
func (m *Manager) FindByExactIdentifier(ctx context.Context, typ, identifier string) (*Identity, error) {
	var id uuid.UUID
	err := m.store.Read().QueryRow(ctx, `SELECT identity_id FROM identity_credential_identifiers WHERE type = $1 AND identifier = $2`,
		typ, identifier).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m.Get(ctx, id)
}

// SetCredentialConfig replaces the config of one credential, as when a
// password hash is upgraded after a login.
func (m *Manager) SetCredentialConfig(ctx context.Context, credentialID uuid.UUID, config json.RawMessage) error {
	return m.store.Write(ctx, func(q *store.Q) error {
		_, err := q.Exec(ctx, `UPDATE identity_credentials SET config = $2, updated_at = $3 WHERE id = $1`, credentialID, string(config), store.Now())
		return err
	})
}

// GetVersion answers the identity at revision rev or later, from a cache
// when it holds revision rev. The identity returned may be shared: callers
// must not change it. The database increments an identity's revision in
// every statement that changes it, which is what keeps the cache honest.
func (m *Manager) GetVersion(ctx context.Context, id uuid.UUID, rev int64) (*Identity, error) {
	if i := m.cache.get(id); i != nil && i.Revision == rev {
		return i, nil
	}
	i, err := m.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if i.Revision == rev {
		// A copy changed since rev was read answers this once and is
		// not kept: the next read of the newer revision caches it.
		m.cache.put(i)
	}
	return i, nil
}

// Extracted is what i's schema picks out of its traits; nil when the
// schema is unknown or the traits no longer pass it.
func (m *Manager) Extracted(i *Identity) *schema.Extracted {
	sch, ok := m.schemas.Get(i.SchemaID)
	if !ok {
		return nil
	}
	var traits any
	if json.Unmarshal(i.Traits, &traits) != nil {
		return nil
	}
	x, err := sch.Validate(traits)
	if err != nil {
		return nil
	}
	return x
}

// Identifiers answers the identifiers of credential type typ (password,
// webauthn, code) that i's traits yield.
func (m *Manager) Identifiers(i *Identity, typ string) []string {
	x := m.Extracted(i)
	if x == nil {
		return nil
	}
	return x.Identifiers[typ]
}

// Change rewrites identity id with the draft derive makes from its current
// state, in one transaction (see change). Settings use it for traits and
// passwords.
func (m *Manager) Change(ctx context.Context, id uuid.UUID, derive func(*Identity) (Draft, error)) (*Identity, error) {
	return m.change(ctx, id, derive)
}

// DraftOf is the draft that rewrites i unchanged.
func DraftOf(i *Identity) Draft {
	return Draft{
		SchemaID: i.SchemaID, State: i.State, Traits: i.Traits,
		MetadataPublic: i.MetadataPublic, MetadataAdmin: i.MetadataAdmin, ExternalID: i.ExternalID,
	}
}

// FindByAddress finds the identity owning a recovery address (recovery
// true) or a verifiable address; ErrNotFound when none does.
func (m *Manager) FindByAddress(ctx context.Context, recovery bool, via, value string) (*Identity, error) {
	table := "identity_verifiable_addresses"
	if recovery {
		table = "identity_recovery_addresses"
	}
	var id uuid.UUID
	err := m.store.Read().QueryRow(ctx, `SELECT identity_id FROM `+table+` WHERE via = $1 AND value = $2`,
		via, schema.NormalizeAddress(via, value)).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return m.Get(ctx, id)
}

// MarkAddressSent records that a verification message went to an
// address of owner. For an address no account uses (owner nil) it runs the
// same statements for the nil id, which no identity has, so that both
// cases do the same work.
func (m *Manager) MarkAddressSent(ctx context.Context, q *store.Q, owner *Identity, via, value string) error {
	id := uuid.Nil
	if owner != nil {
		id = owner.ID
	}
	return m.SetAddressStatus(ctx, q, id, via, value, AddressStatusSent)
}

// SetAddressStatus records progress on a verifiable address: "sent" when a
// code went out (only from pending), "completed" when it was verified. It
// moves the identity's updated_at so cached copies are refreshed.
func (m *Manager) SetAddressStatus(ctx context.Context, q *store.Q, identityID uuid.UUID, via, value, status string) error {
	return m.SetAddressStatusAt(ctx, q, identityID, via, value, status, store.Now())
}

// SetAddressStatusAt is SetAddressStatus at the time now, for callers that
// show the change before reading it back.
func (m *Manager) SetAddressStatusAt(ctx context.Context, q *store.Q, identityID uuid.UUID, via, value, status string, now time.Time) error {
	var err error
	switch status {
	case AddressStatusCompleted:
		err = q.Defer(ctx, `UPDATE identity_verifiable_addresses SET verified = $4, verified_at = $5, status = $6, updated_at = $5
WHERE identity_id = $1 AND via = $2 AND value = $3`, identityID, via, value, true, now, status)
	default:
		err = q.Defer(ctx, `UPDATE identity_verifiable_addresses SET status = $4, updated_at = $5
WHERE identity_id = $1 AND via = $2 AND value = $3 AND status = $6`, identityID, via, value, status, now, AddressStatusPending)
	}
	if err != nil {
		return err
	}
	return q.Defer(ctx, `UPDATE identities SET updated_at = $2, revision = revision + 1 WHERE id = $1`, identityID, now)
}
