package identity

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
)

// The lookups below answer requests whose answer must not tell whether an
// account exists (recovery, verification, sign-in by code): each runs the
// same queries whether or not an identity matches, reading the relations
// of an id no identity has when none does, so that how long it takes does
// not tell either.

// FindByAddressEvenly is FindByAddress, evenly.
func (m *Manager) FindByAddressEvenly(ctx context.Context, recovery bool, via, value string) (*Identity, error) {
	table := "identity_verifiable_addresses"
	if recovery {
		table = "identity_recovery_addresses"
	}
	q := m.store.Read()
	var id uuid.UUID // stays uuid.Nil, which no identity has, when no one owns the address
	err := q.QueryRow(ctx, `SELECT identity_id FROM `+table+` WHERE via = $1 AND value = $2`,
		via, schema.NormalizeAddress(via, value)).Scan(&id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return loadEvenly(ctx, q, id)
}

// FindByCodeIdentifierEvenly finds the identity whose code credential has
// identifier, an address as a user types it: lower-cased when it holds an
// "@", a phone number in any usual spelling. ErrNotFound when none does.
func (m *Manager) FindByCodeIdentifierEvenly(ctx context.Context, identifier string) (*Identity, error) {
	preferred, other := codeIdentifierForms(identifier)
	q := m.store.Read()
	matches, err := identifierMatches(ctx, q, `SELECT identity_id, type, identifier FROM identity_credential_identifiers
WHERE type = $1 AND identifier IN ($2, $3)`, CredentialsCode, preferred, other)
	if err != nil {
		return nil, err
	}
	id := uuid.Nil
	for _, mt := range matches {
		// Both spellings can match only when an email and a phone
		// address are stored alike; the form the input reads as wins.
		if id == uuid.Nil || mt.identifier == preferred {
			id = mt.identityID
		}
	}
	return loadEvenly(ctx, q, id)
}

// codeIdentifierForms answers the two ways a code address can be stored
// (code.go: as an email, or as an SMS number), the one the input reads as
// first.
func codeIdentifierForms(identifier string) (preferred, other string) {
	asEmail := schema.NormalizeAddress(schema.ViaEmail, identifier)
	if strings.Contains(identifier, "@") {
		return asEmail, asEmail
	}
	asPhone := schema.NormalizeAddress(schema.ViaSMS, identifier)
	if _, ok := schema.NormalizePhone(identifier); ok {
		return asPhone, asEmail
	}
	return asEmail, asPhone
}

// FindByAnyIdentifierEvenly finds the identity with identifier among the
// identifiers of any of its credentials, ignoring case (identifier-first
// sign-in, and sign-in by code falling back to other credentials). When
// identities share it through different credential types, the password's
// owner wins, then the code's, then the others' by type. ErrNotFound when
// none has it.
func (m *Manager) FindByAnyIdentifierEvenly(ctx context.Context, identifier string) (*Identity, error) {
	q := m.store.Read()
	// Identifiers are stored normalised; the second form finds a phone
	// number kept as typed by a type that does not normalise it. Second
	// factors are named by the identity's id, which nobody signs in with.
	matches, err := identifierMatches(ctx, q, `SELECT identity_id, type, identifier FROM identity_credential_identifiers
WHERE identifier IN ($1, $2) AND type NOT IN ($3, $4)`, schema.NormalizeIdentifier(identifier), strings.ToLower(strings.TrimSpace(identifier)),
		CredentialsTOTP, CredentialsLookupSecret)
	if err != nil {
		return nil, err
	}
	id := uuid.Nil
	var best identifierMatch
	for _, mt := range matches {
		if id == uuid.Nil || mt.before(best) {
			id, best = mt.identityID, mt
		}
	}
	return loadEvenly(ctx, q, id)
}

type identifierMatch struct {
	identityID uuid.UUID
	typ        string
	identifier string
}

// typeRank orders credential types for FindByAnyIdentifierEvenly.
func typeRank(typ string) int {
	switch typ {
	case CredentialsPassword:
		return 0
	case CredentialsCode:
		return 1
	}
	return 2
}

func (a identifierMatch) before(b identifierMatch) bool {
	if ra, rb := typeRank(a.typ), typeRank(b.typ); ra != rb {
		return ra < rb
	}
	if a.typ != b.typ {
		return a.typ < b.typ
	}
	return a.identityID.String() < b.identityID.String()
}

func identifierMatches(ctx context.Context, q *store.Q, query string, args ...any) ([]identifierMatch, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []identifierMatch
	err = eachRow(rows, func() error {
		var mt identifierMatch
		if err := rows.Scan(&mt.identityID, &mt.typ, &mt.identifier); err != nil {
			return err
		}
		out = append(out, mt)
		return nil
	})
	return out, err
}

// loadEvenly loads identity id with its relations, running the same
// queries for uuid.Nil (no match), for which it answers ErrNotFound.
func loadEvenly(ctx context.Context, q *store.Q, id uuid.UUID) (*Identity, error) {
	rows, err := q.Query(ctx, `SELECT `+identitySelectColumns+` FROM identities WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	found, err := scanIdentities(rows)
	if err != nil {
		return nil, err
	}
	subjects := found
	if len(found) == 0 {
		subjects = []*Identity{{ID: id, Credentials: map[string]*Credential{}}}
	}
	if err := loadRelations(ctx, q, subjects); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, ErrNotFound
	}
	return found[0], nil
}
