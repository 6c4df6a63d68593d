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
		var (
			kind             int
			id, owner        uuid.UUID
			s1, s2, status   string
			verified         bool
			verifiedAt       store.NullTime
			version          sql.NullInt64
			created, updated store.Time
		)
		if err := rows.Scan(&kind, &id, &owner, &s1, &s2, &verified, &verifiedAt, &status, &version, &created, &updated); err != nil {
			return err
		}
		i := byID[owner]
		switch kind {
		case relVerifiable:
			i.VerifiableAddresses = append(i.VerifiableAddresses, VerifiableAddress{
				ID: id, Via: s1, Value: s2, Verified: verified, VerifiedAt: verifiedAt.Ptr(), Status: status,
				CreatedAt: created.Time, UpdatedAt: updated.Time,
			})
		case relRecovery:
			i.RecoveryAddresses = append(i.RecoveryAddresses, RecoveryAddress{
				ID: id, Via: s1, Value: s2, CreatedAt: created.Time, UpdatedAt: updated.Time,
			})
		case relCredential:
			c := &Credential{ID: id, Type: s1, Config: json.RawMessage(s2), Version: int(version.Int64), CreatedAt: created.Time, UpdatedAt: updated.Time}
			i.Credentials[c.Type] = c
			creds[c.ID] = c
		case relIdentifier:
			if c := creds[id]; c != nil {
				c.Identifiers = append(c.Identifiers, s2)
			}
		}
		return nil
	})
}
