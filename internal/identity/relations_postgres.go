package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Kinds of the rows of relationsUnion, in the order they must be read:
// credentials before the identifiers that belong to them.
const (
	relVerifiable = 1
	relRecovery   = 2
	relCredential = 3
	relIdentifier = 4
)

// relationsUnion reads the four tables of an identity's relations as one
// statement, one round trip over the network, instead of one per table.
// The columns are shared: s1 is via, type or nothing; s2 is value, config
// or identifier; each table keeps its own order (created_at, then value or
// identifier).
const relationsUnion = `
SELECT 1, id, identity_id, via, value, verified, verified_at, status, 0, created_at, updated_at
  FROM identity_verifiable_addresses WHERE identity_id IN :in
UNION ALL
SELECT 2, id, identity_id, via, value, FALSE, NULL, '', 0, created_at, updated_at
  FROM identity_recovery_addresses WHERE identity_id IN :in
UNION ALL
SELECT 3, id, identity_id, type, CAST(config AS TEXT), FALSE, NULL, '', version, created_at, updated_at
  FROM identity_credentials WHERE identity_id IN :in
UNION ALL
SELECT 4, credential_id, identity_id, '', identifier, FALSE, NULL, '', 0, created_at, updated_at
  FROM identity_credential_identifiers WHERE identity_id IN :in
ORDER BY 1, 10, 5`

// loadRelationsAtOnce is loadRelations in one statement, for PostgreSQL.
func loadRelationsAtOnce(ctx context.Context, q *store.Q, byID map[uuid.UUID]*Identity, args []any) error {
	ph := make([]string, len(args))
	for k := range args {
		ph[k] = "$" + strconv.Itoa(k+1)
	}
	rows, err := q.Query(ctx, strings.ReplaceAll(relationsUnion, ":in", "("+strings.Join(ph, ", ")+")"), args...)
	if err != nil {
		return err
	}
	creds := map[uuid.UUID]*Credential{}
	return eachRow(rows, func() error {
		var r relationRow
		var owner uuid.UUID
		if err := rows.Scan(&r.kind, &r.id, &owner, &r.s1, &r.s2, &r.verified, &r.verifiedAt, &r.status, &r.version, &r.created, &r.updated); err != nil {
			return err
		}
		r.addTo(byID[owner], creds)
		return nil
	})
}

// relationRow is one row of relationsUnion. Its columns are nullable for
// identityByIdentifierAtOnce, where an identity without relations has one
// row with none.
type relationRow struct {
	kind             sql.NullInt64
	id               uuid.NullUUID
	s1, s2, status   sql.NullString
	verified         sql.NullBool
	verifiedAt       store.NullTime
	version          sql.NullInt64
	created, updated store.NullTime
}

// addTo puts the relation on i; creds collects i's credentials by id, so
// that the identifiers after them find theirs.
func (r *relationRow) addTo(i *Identity, creds map[uuid.UUID]*Credential) {
	id, created, updated := r.id.UUID, r.created.Time, r.updated.Time
	switch r.kind.Int64 {
	case relVerifiable:
		i.VerifiableAddresses = append(i.VerifiableAddresses, VerifiableAddress{
			ID: id, Via: r.s1.String, Value: r.s2.String, Verified: r.verified.Bool, VerifiedAt: r.verifiedAt.Ptr(), Status: r.status.String,
			CreatedAt: created, UpdatedAt: updated,
		})
	case relRecovery:
		i.RecoveryAddresses = append(i.RecoveryAddresses, RecoveryAddress{
			ID: id, Via: r.s1.String, Value: r.s2.String, CreatedAt: created, UpdatedAt: updated,
		})
	case relCredential:
		c := &Credential{ID: id, Type: r.s1.String, Config: json.RawMessage(r.s2.String), Version: int(r.version.Int64), CreatedAt: created, UpdatedAt: updated}
		i.Credentials[c.Type] = c
		creds[c.ID] = c
	case relIdentifier:
		if c := creds[id]; c != nil {
			c.Identifiers = append(c.Identifiers, r.s2.String)
		}
	}
}

// identityByIdentifierAtOnce finds an identity by a credential identifier
// and reads it with its relations in one statement: a password login's
// only read of the identity. Each relation is a row, the identity's
// columns repeated on it.
var identityByIdentifierAtOnce = `
SELECT ` + prefixed("i.", identitySelectColumns) + `, r.kind, r.id, r.s1, r.s2, r.verified, r.verified_at, r.status, r.version, r.created_at, r.updated_at
FROM identities i
LEFT JOIN LATERAL (` + strings.ReplaceAll(strings.TrimSuffix(strings.TrimSpace(relationsUnion), "ORDER BY 1, 10, 5"), "identity_id IN :in", "identity_id = i.id") + `
) AS r (kind, id, owner, s1, s2, verified, verified_at, status, version, created_at, updated_at) ON TRUE
WHERE i.id = (SELECT identity_id FROM identity_credential_identifiers WHERE type = $1 AND identifier = $2)
ORDER BY r.kind, r.created_at, r.s2`

// findByIdentifierAtOnce is findByIdentifier in one round trip, for PostgreSQL.
func findByIdentifierAtOnce(ctx context.Context, q *store.Q, typ, identifier string) (*Identity, error) {
	rows, err := q.Query(ctx, identityByIdentifierAtOnce, typ, identifier)
	if err != nil {
		return nil, err
	}
	var found *Identity
	creds := map[uuid.UUID]*Credential{}
	if err := eachRow(rows, func() error {
		var ir identityRow
		var r relationRow
		if err := rows.Scan(append(ir.dest(), &r.kind, &r.id, &r.s1, &r.s2, &r.verified, &r.verifiedAt, &r.status, &r.version, &r.created, &r.updated)...); err != nil {
			return err
		}
		if found == nil {
			found = ir.identity()
		}
		if r.kind.Valid {
			r.addTo(found, creds)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrNotFound
	}
	return found, nil
}
