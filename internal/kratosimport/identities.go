package kratosimport

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
)

// identityPage reads up to n identities with ids after after (all ids when
// after is uuid.Nil), in id order, with their credentials, identifiers and
// addresses, as Kratos stored them: credential configs are converted
// later (convert.go).
func (s *Source) identityPage(ctx context.Context, after uuid.UUID, n int) ([]*identity.Identity, error) {
	query := `SELECT id, schema_id, state, state_changed_at, traits, metadata_public, metadata_admin, external_id, created_at, updated_at FROM identities`
	args := []any{n}
	if after != uuid.Nil {
		query += ` WHERE id > $2`
		args = append(args, after.String())
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading Kratos identities: %w", err)
	}
	defer rows.Close()
	var (
		page []*identity.Identity
		byID = map[uuid.UUID]*identity.Identity{}
	)
	for rows.Next() {
		var (
			id                              kratosUUID
			schemaID, state                 string
			traits, public, admin, external kratosText
			changed, created, updated       kratosTime
		)
		if err := rows.Scan(&id, &schemaID, &state, &changed, &traits, &public, &admin, &external, &created, &updated); err != nil {
			return nil, fmt.Errorf("reading Kratos identities: %w", err)
		}
		i := &identity.Identity{
			ID: id.UUID, SchemaID: schemaID, State: state, StateChangedAt: changed.ptr(),
			Traits: json.RawMessage(traits), MetadataPublic: jsonOrNil(public), MetadataAdmin: jsonOrNil(admin),
			Credentials: map[string]*identity.Credential{}, CreatedAt: created.Time, UpdatedAt: updated.Time,
		}
		if state == "" {
			i.State = identity.StateActive
		}
		if external != "" {
			e := string(external)
			i.ExternalID = &e
		}
		page = append(page, i)
		byID[i.ID] = i
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading Kratos identities: %w", err)
	}
	if len(page) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(page))
	for k, i := range page {
		ids[k] = i.ID
	}
	if err := s.loadCredentials(ctx, ids, byID); err != nil {
		return nil, err
	}
	if err := s.loadAddresses(ctx, ids, byID); err != nil {
		return nil, err
	}
	return page, nil
}

// jsonOrNil is nil for an unset (NULL, empty or null) JSON column.
func jsonOrNil(t kratosText) json.RawMessage {
	if v := strings.TrimSpace(string(t)); v == "" || v == "null" {
		return nil
	}
	return json.RawMessage(t)
}

func (s *Source) loadCredentials(ctx context.Context, ids []uuid.UUID, byID map[uuid.UUID]*identity.Identity) error {
	rows, err := s.db.QueryContext(ctx, `SELECT c.id, c.identity_id, t.name, c.config, c.version, c.created_at, c.updated_at
FROM identity_credentials c JOIN identity_credential_types t ON t.id = c.identity_credential_type_id
WHERE c.identity_id IN (`+placeholders(1, len(ids))+`) ORDER BY c.updated_at, c.id`, idArgs(ids)...)
	if err != nil {
		return fmt.Errorf("reading Kratos credentials: %w", err)
	}
	defer rows.Close()
	byCredential := map[uuid.UUID]*identity.Credential{}
	for rows.Next() {
		var (
			id, identityID   kratosUUID
			typ              string
			config           kratosText
			version          int
			created, updated kratosTime
		)
		if err := rows.Scan(&id, &identityID, &typ, &config, &version, &created, &updated); err != nil {
			return fmt.Errorf("reading Kratos credentials: %w", err)
		}
		i := byID[identityID.UUID]
		if i == nil {
			continue
		}
		c := &identity.Credential{ID: id.UUID, Type: typ, Config: json.RawMessage(config), Version: version, CreatedAt: created.Time, UpdatedAt: updated.Time}
		if strings.TrimSpace(string(config)) == "" {
			c.Config = json.RawMessage(`{}`)
		}
		// One credential per type, as Kratos reads them: the newest wins.
		i.Credentials[typ] = c
		byCredential[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading Kratos credentials: %w", err)
	}
	rows.Close()

	rows, err = s.db.QueryContext(ctx, `SELECT identity_credential_id, identifier FROM identity_credential_identifiers
WHERE identity_id IN (`+placeholders(1, len(ids))+`) ORDER BY identifier`, idArgs(ids)...)
	if err != nil {
		return fmt.Errorf("reading Kratos credential identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			credentialID kratosUUID
			identifier   string
		)
		if err := rows.Scan(&credentialID, &identifier); err != nil {
			return fmt.Errorf("reading Kratos credential identifiers: %w", err)
		}
		if c := byCredential[credentialID.UUID]; c != nil && !slices.Contains(c.Identifiers, identifier) {
			c.Identifiers = append(c.Identifiers, identifier)
		}
	}
	return rows.Err()
}

func (s *Source) loadAddresses(ctx context.Context, ids []uuid.UUID, byID map[uuid.UUID]*identity.Identity) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, identity_id, via, value, verified, verified_at, status, created_at, updated_at
FROM identity_verifiable_addresses WHERE identity_id IN (`+placeholders(1, len(ids))+`) ORDER BY created_at, id`, idArgs(ids)...)
	if err != nil {
		return fmt.Errorf("reading Kratos verifiable addresses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, identityID               kratosUUID
			via, value, status           string
			verified                     kratosBool
			verifiedAt, created, updated kratosTime
		)
		if err := rows.Scan(&id, &identityID, &via, &value, &verified, &verifiedAt, &status, &created, &updated); err != nil {
			return fmt.Errorf("reading Kratos verifiable addresses: %w", err)
		}
		if i := byID[identityID.UUID]; i != nil {
			i.VerifiableAddresses = append(i.VerifiableAddresses, identity.VerifiableAddress{
				ID: id.UUID, Via: via, Value: value, Verified: bool(verified), VerifiedAt: verifiedAt.ptr(),
				Status: status, CreatedAt: created.Time, UpdatedAt: updated.Time,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading Kratos verifiable addresses: %w", err)
	}
	rows.Close()

	rows, err = s.db.QueryContext(ctx, `SELECT id, identity_id, via, value, created_at, updated_at
FROM identity_recovery_addresses WHERE identity_id IN (`+placeholders(1, len(ids))+`) ORDER BY created_at, id`, idArgs(ids)...)
	if err != nil {
		return fmt.Errorf("reading Kratos recovery addresses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, identityID   kratosUUID
			via, value       string
			created, updated kratosTime
		)
		if err := rows.Scan(&id, &identityID, &via, &value, &created, &updated); err != nil {
			return fmt.Errorf("reading Kratos recovery addresses: %w", err)
		}
		if i := byID[identityID.UUID]; i != nil {
			i.RecoveryAddresses = append(i.RecoveryAddresses, identity.RecoveryAddress{
				ID: id.UUID, Via: via, Value: value, CreatedAt: created.Time, UpdatedAt: updated.Time,
			})
		}
	}
	return rows.Err()
}
