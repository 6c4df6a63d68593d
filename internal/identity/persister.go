package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// The SQL below runs unchanged on SQLite and PostgreSQL.

const identityColumns = `id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, external_id, created_at, updated_at`

// identitySelectColumns adds what the database keeps to itself: the
// revision every change of the identity increments.
const identitySelectColumns = identityColumns + `, revision`

func insertIdentity(ctx context.Context, q *store.Q, i *Identity) error {
	// The public view of what is inserted, so that the first whoami of
	// a new (or imported) identity finds it ready (publicview.go).
	view, err := PublicViewOf(i)
	if err != nil {
		return err
	}
	err = q.Defer(ctx, `INSERT INTO identities (`+identityColumns+`, public_view, public_view_factors, public_view_revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0)`,
		i.ID, i.SchemaID, i.State, i.StateChangedAt, string(i.Traits), nullJSON(i.MetadataPublic), nullJSON(i.MetadataAdmin),
		i.ExternalID, i.CreatedAt, i.UpdatedAt, string(view.JSON), view.Factors)
	if err != nil {
		return err
	}
	if err := insertTraitRows(ctx, q, i.ID, traitRows(i.Traits)); err != nil {
		return err
	}
	for _, typ := range credentialTypes(i.Credentials) {
		if err := insertCredential(ctx, q, i.ID, i.Credentials[typ]); err != nil {
			return err
		}
	}
	for idx := range i.VerifiableAddresses {
		if err := insertVerifiable(ctx, q, i.ID, &i.VerifiableAddresses[idx]); err != nil {
			return err
		}
	}
	for idx := range i.RecoveryAddresses {
		if err := insertRecovery(ctx, q, i.ID, &i.RecoveryAddresses[idx]); err != nil {
			return err
		}
	}
	return nil
}

func insertCredential(ctx context.Context, q *store.Q, identityID uuid.UUID, c *Credential) error {
	if err := q.Defer(ctx, `INSERT INTO identity_credentials (id, identity_id, type, config, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, identityID, c.Type, string(c.Config), c.Version, c.CreatedAt, c.UpdatedAt); err != nil {
		return err
	}
	return insertIdentifiers(ctx, q, identityID, c)
}

func insertIdentifiers(ctx context.Context, q *store.Q, identityID uuid.UUID, c *Credential) error {
	for _, ident := range c.Identifiers {
		if err := q.Defer(ctx, `INSERT INTO identity_credential_identifiers (id, identity_id, credential_id, type, identifier, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			uuid.New(), identityID, c.ID, c.Type, ident, c.UpdatedAt, c.UpdatedAt); err != nil {
			return err
		}
	}
	return nil
}

func insertVerifiable(ctx context.Context, q *store.Q, identityID uuid.UUID, a *VerifiableAddress) error {
	return q.Defer(ctx, `INSERT INTO identity_verifiable_addresses (id, identity_id, via, value, verified, verified_at, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, identityID, a.Via, a.Value, a.Verified, a.VerifiedAt, a.Status, a.CreatedAt, a.UpdatedAt)
}

func insertRecovery(ctx context.Context, q *store.Q, identityID uuid.UUID, a *RecoveryAddress) error {
	return q.Defer(ctx, `INSERT INTO identity_recovery_addresses (id, identity_id, via, value, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, identityID, a.Via, a.Value, a.CreatedAt, a.UpdatedAt)
}

// updateIdentity writes i over its stored row. Credentials, verifiable and
// recovery addresses are synchronised with i's: rows that stay keep their
// ids, rows that went are deleted, new ones inserted.
func updateIdentity(ctx context.Context, q *store.Q, i *Identity, before *Identity) error {
	res, err := q.Exec(ctx, `UPDATE identities SET schema_id = $2, state = $3, state_changed_at = $4, traits = $5, metadata_public = $6, metadata_admin = $7, external_id = $8, updated_at = $9, revision = revision + 1 WHERE id = $1`,
		i.ID, i.SchemaID, i.State, i.StateChangedAt, string(i.Traits), nullJSON(i.MetadataPublic), nullJSON(i.MetadataAdmin), i.ExternalID, i.UpdatedAt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	if err := updateTraitRows(ctx, q, i.ID, before.Traits, i.Traits); err != nil {
		return err
	}

	for typ, old := range before.Credentials {
		if _, keep := i.Credentials[typ]; !keep {
			if _, err := q.Exec(ctx, `DELETE FROM identity_credentials WHERE id = $1`, old.ID); err != nil {
				return err
			}
		}
	}
	for _, typ := range credentialTypes(i.Credentials) {
		c := i.Credentials[typ]
		old, existed := before.Credentials[typ]
		if !existed {
			if err := insertCredential(ctx, q, i.ID, c); err != nil {
				return err
			}
			continue
		}
		c.ID = old.ID
		if _, err := q.Exec(ctx, `UPDATE identity_credentials SET config = $2, version = $3, updated_at = $4 WHERE id = $1`,
			c.ID, string(c.Config), c.Version, c.UpdatedAt); err != nil {
			return err
		}
		if sameStrings(old.Identifiers, c.Identifiers) {
			continue
		}
		if _, err := q.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE credential_id = $1`, c.ID); err != nil {
			return err
		}
		if err := insertIdentifiers(ctx, q, i.ID, c); err != nil {
			return err
		}
	}

	keptV := map[uuid.UUID]bool{}
	for idx := range i.VerifiableAddresses {
		keptV[i.VerifiableAddresses[idx].ID] = true
	}
	for _, a := range before.VerifiableAddresses {
		if !keptV[a.ID] {
			if _, err := q.Exec(ctx, `DELETE FROM identity_verifiable_addresses WHERE id = $1`, a.ID); err != nil {
				return err
			}
		}
	}
	existingV := map[uuid.UUID]bool{}
	for _, a := range before.VerifiableAddresses {
		existingV[a.ID] = true
	}
	for idx := range i.VerifiableAddresses {
		a := &i.VerifiableAddresses[idx]
		if !existingV[a.ID] {
			if err := insertVerifiable(ctx, q, i.ID, a); err != nil {
				return err
			}
			continue
		}
		if _, err := q.Exec(ctx, `UPDATE identity_verifiable_addresses SET verified = $2, verified_at = $3, status = $4, updated_at = $5 WHERE id = $1`,
			a.ID, a.Verified, a.VerifiedAt, a.Status, a.UpdatedAt); err != nil {
			return err
		}
	}

	keptR := map[uuid.UUID]bool{}
	for _, a := range i.RecoveryAddresses {
		keptR[a.ID] = true
	}
	existingR := map[uuid.UUID]bool{}
	for _, a := range before.RecoveryAddresses {
		existingR[a.ID] = true
		if !keptR[a.ID] {
			if _, err := q.Exec(ctx, `DELETE FROM identity_recovery_addresses WHERE id = $1`, a.ID); err != nil {
				return err
			}
		}
	}
	for idx := range i.RecoveryAddresses {
		a := &i.RecoveryAddresses[idx]
		if !existingR[a.ID] {
			if err := insertRecovery(ctx, q, i.ID, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func deleteIdentity(ctx context.Context, q *store.Q, id uuid.UUID) error {
	res, err := q.Exec(ctx, `DELETE FROM identities WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// getIdentity loads one identity with its addresses and credentials.
func getIdentity(ctx context.Context, q *store.Q, id uuid.UUID) (*Identity, error) {
	rows, err := q.Query(ctx, `SELECT `+identitySelectColumns+` FROM identities WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	ids, err := scanIdentities(rows)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, store.ErrNotFound
	}
	if err := loadRelations(ctx, q, ids); err != nil {
		return nil, err
	}
	return ids[0], nil
}

// listParams select a page of identities.
type listParams struct {
	After      *uuid.UUID // keyset: ids greater than this
	Limit      int
	IDs        []uuid.UUID
	Identifier string // exact, normalised credentials identifier
	IdentType  string // credential type of Identifier; "" for any
	// Trait and IdentifierPrefix search (search.go).
	Trait            *TraitSearch
	IdentifierPrefix string
	// DensePrefix picks the plan for a prefix most identities match
	// (densePrefix).
	DensePrefix bool
}

func listIdentities(ctx context.Context, q *store.Q, p listParams) ([]*Identity, error) {
	dense, err := densePrefix(ctx, q, p)
	if err != nil {
		return nil, err
	}
	p.DensePrefix = dense
	query, args := listQuery(q, p)
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := scanIdentities(rows)
	if err != nil {
		return nil, err
	}
	return ids, loadRelations(ctx, q, ids)
}

// listQuery is the statement listIdentities runs, apart so that tests can
// show its plan.
func listQuery(q *store.Q, p listParams) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if p.After != nil {
		where = append(where, "i.id > "+arg(*p.After))
	}
	if len(p.IDs) > 0 {
		ph := make([]string, len(p.IDs))
		for k, id := range p.IDs {
			ph[k] = arg(id)
		}
		where = append(where, "i.id IN ("+strings.Join(ph, ", ")+")")
	}
	if p.Identifier != "" {
		sub := "SELECT identity_id FROM identity_credential_identifiers WHERE identifier = " + arg(p.Identifier)
		if p.IdentType != "" {
			sub += " AND type = " + arg(p.IdentType)
		}
		where = append(where, "i.id IN ("+sub+")")
	}
	where = append(where, searchConditions(q, p, arg)...)
	query := `SELECT ` + prefixed("i.", identitySelectColumns) + ` FROM identities i`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY i.id LIMIT " + arg(p.Limit)
	return query, args
}

func countIdentities(ctx context.Context, q *store.Q) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM identities`).Scan(&n)
	return n, err
}

func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for k := range parts {
		parts[k] = prefix + parts[k]
	}
	return strings.Join(parts, ", ")
}

func scanIdentities(rows *sql.Rows) ([]*Identity, error) {
	defer rows.Close()
	var out []*Identity
	for rows.Next() {
		var row identityRow
		if err := rows.Scan(row.dest()...); err != nil {
			return nil, err
		}
		out = append(out, row.identity())
	}
	return out, rows.Err()
}

// identityRow scans the columns of identitySelectColumns.
type identityRow struct {
	i                      Identity
	stateChanged           store.NullTime
	traits, mdPub, mdAdmin sql.NullString
	created, updated       store.Time
}

func (r *identityRow) dest() []any {
	i := &r.i
	return []any{&i.ID, &i.SchemaID, &i.State, &r.stateChanged, &r.traits, &r.mdPub, &r.mdAdmin, &i.ExternalID, &r.created, &r.updated, &i.Revision}
}

func (r *identityRow) identity() *Identity {
	i := r.i
	i.StateChangedAt = r.stateChanged.Ptr()
	i.Traits = json.RawMessage(r.traits.String)
	if r.mdPub.Valid {
		i.MetadataPublic = json.RawMessage(r.mdPub.String)
	}
	if r.mdAdmin.Valid {
		i.MetadataAdmin = json.RawMessage(r.mdAdmin.String)
	}
	i.CreatedAt, i.UpdatedAt = r.created.Time, r.updated.Time
	i.Credentials = map[string]*Credential{}
	return &i
}

// loadRelations fills addresses and credentials of ids with one query per
// table, whatever the number of identities.
func loadRelations(ctx context.Context, q *store.Q, ids []*Identity) error {
	if len(ids) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]*Identity, len(ids))
	args := make([]any, len(ids))
	ph := make([]string, len(ids))
	for k, i := range ids {
		byID[i.ID] = i
		args[k] = i.ID
		ph[k] = "$" + strconv.Itoa(k+1)
	}
	if q.Dialect() == store.Postgres {
		return loadRelationsAtOnce(ctx, q, byID, args)
	}
	in := "(" + strings.Join(ph, ", ") + ")"

	rows, err := q.Query(ctx, `SELECT id, identity_id, via, value, verified, verified_at, status, created_at, updated_at FROM identity_verifiable_addresses WHERE identity_id IN `+in+` ORDER BY created_at, value`, args...)
	if err != nil {
		return err
	}
	if err := eachRow(rows, func() error {
		var a VerifiableAddress
		var owner uuid.UUID
		var verifiedAt store.NullTime
		var created, updated store.Time
		if err := rows.Scan(&a.ID, &owner, &a.Via, &a.Value, &a.Verified, &verifiedAt, &a.Status, &created, &updated); err != nil {
			return err
		}
		a.VerifiedAt, a.CreatedAt, a.UpdatedAt = verifiedAt.Ptr(), created.Time, updated.Time
		byID[owner].VerifiableAddresses = append(byID[owner].VerifiableAddresses, a)
		return nil
	}); err != nil {
		return err
	}

	rows, err = q.Query(ctx, `SELECT id, identity_id, via, value, created_at, updated_at FROM identity_recovery_addresses WHERE identity_id IN `+in+` ORDER BY created_at, value`, args...)
	if err != nil {
		return err
	}
	if err := eachRow(rows, func() error {
		var a RecoveryAddress
		var owner uuid.UUID
		var created, updated store.Time
		if err := rows.Scan(&a.ID, &owner, &a.Via, &a.Value, &created, &updated); err != nil {
			return err
		}
		a.CreatedAt, a.UpdatedAt = created.Time, updated.Time
		byID[owner].RecoveryAddresses = append(byID[owner].RecoveryAddresses, a)
		return nil
	}); err != nil {
		return err
	}

	creds := map[uuid.UUID]*Credential{}
	rows, err = q.Query(ctx, `SELECT id, identity_id, type, config, version, created_at, updated_at FROM identity_credentials WHERE identity_id IN `+in, args...)
	if err != nil {
		return err
	}
	if err := eachRow(rows, func() error {
		var c Credential
		var owner uuid.UUID
		var config string
		var created, updated store.Time
		if err := rows.Scan(&c.ID, &owner, &c.Type, &config, &c.Version, &created, &updated); err != nil {
			return err
		}
		c.Config, c.CreatedAt, c.UpdatedAt = json.RawMessage(config), created.Time, updated.Time
		byID[owner].Credentials[c.Type] = &c
		creds[c.ID] = &c
		return nil
	}); err != nil {
		return err
	}

	rows, err = q.Query(ctx, `SELECT credential_id, identifier FROM identity_credential_identifiers WHERE identity_id IN `+in+` ORDER BY created_at, identifier`, args...)
	if err != nil {
		return err
	}
	return eachRow(rows, func() error {
		var credID uuid.UUID
		var ident string
		if err := rows.Scan(&credID, &ident); err != nil {
			return err
		}
		if c := creds[credID]; c != nil {
			c.Identifiers = append(c.Identifiers, ident)
		}
		return nil
	})
}

func eachRow(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return string(raw)
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// credentialTypes are the types of creds in one fixed order. Every
// transaction writes identifiers in that order, so two racing ones that
// claim the same identifiers (a password and a code address alike) wait
// for each other instead of deadlocking.
func credentialTypes(creds map[string]*Credential) []string {
	types := make([]string, 0, len(creds))
	for typ := range creds {
		types = append(types, typ)
	}
	sort.Strings(types)
	return types
}
