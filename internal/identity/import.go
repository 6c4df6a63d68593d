package identity

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Load reads identity id with its credentials and addresses inside the
// caller's transaction, or ErrNotFound.
func Load(ctx context.Context, q *store.Q, id uuid.UUID) (*Identity, error) {
	i, err := getIdentity(ctx, q, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	return i, err
}

// Import writes i exactly as given (ids, times, credential configs), as
// moving from another server needs: inserted when before is nil, else
// written over before, the stored copy, unless they already agree. It
// reports whether anything was written, so that a repeated import of
// the same data writes nothing.
func Import(ctx context.Context, q *store.Q, i, before *Identity) (bool, error) {
	if before == nil {
		return true, mapWriteError(insertIdentity(ctx, q, i))
	}
	if sameImported(i, before) {
		return false, nil
	}
	if _, err := q.Exec(ctx, `DELETE FROM identity_recovery_addresses WHERE identity_id = $1`, i.ID); err != nil {
		return false, err
	}
	// Recovery addresses are written fresh: updateIdentity keeps rows by id
	// without rewriting them.
	kept := *before
	kept.RecoveryAddresses = nil
	return true, mapWriteError(updateIdentity(ctx, q, i, &kept))
}

// sameImported reports whether a and b hold the same data, comparing JSON
// by value (PostgreSQL reorders jsonb keys) and times by instant.
func sameImported(a, b *Identity) bool {
	if a.ID != b.ID || a.SchemaID != b.SchemaID || a.State != b.State ||
		!sameTimePtr(a.StateChangedAt, b.StateChangedAt) || !sameStringPtr(a.ExternalID, b.ExternalID) ||
		!sameJSON(a.Traits, b.Traits) || !sameJSON(a.MetadataPublic, b.MetadataPublic) || !sameJSON(a.MetadataAdmin, b.MetadataAdmin) ||
		!a.CreatedAt.Equal(b.CreatedAt) || !a.UpdatedAt.Equal(b.UpdatedAt) {
		return false
	}
	if len(a.Credentials) != len(b.Credentials) {
		return false
	}
	for typ, ca := range a.Credentials {
		cb, ok := b.Credentials[typ]
		if !ok || ca.ID != cb.ID || ca.Version != cb.Version || !sameJSON(ca.Config, cb.Config) ||
			!sameStrings(sortedCopy(ca.Identifiers), sortedCopy(cb.Identifiers)) ||
			!ca.CreatedAt.Equal(cb.CreatedAt) || !ca.UpdatedAt.Equal(cb.UpdatedAt) {
			return false
		}
	}
	if len(a.VerifiableAddresses) != len(b.VerifiableAddresses) || len(a.RecoveryAddresses) != len(b.RecoveryAddresses) {
		return false
	}
	verifiable := map[uuid.UUID]VerifiableAddress{}
	for _, v := range b.VerifiableAddresses {
		verifiable[v.ID] = v
	}
	for _, va := range a.VerifiableAddresses {
		vb, ok := verifiable[va.ID]
		if !ok || va.Via != vb.Via || va.Value != vb.Value || va.Verified != vb.Verified || va.Status != vb.Status ||
			!sameTimePtr(va.VerifiedAt, vb.VerifiedAt) || !va.CreatedAt.Equal(vb.CreatedAt) || !va.UpdatedAt.Equal(vb.UpdatedAt) {
			return false
		}
	}
	recovery := map[uuid.UUID]RecoveryAddress{}
	for _, r := range b.RecoveryAddresses {
		recovery[r.ID] = r
	}
	for _, ra := range a.RecoveryAddresses {
		rb, ok := recovery[ra.ID]
		if !ok || ra.Via != rb.Via || ra.Value != rb.Value || !ra.CreatedAt.Equal(rb.CreatedAt) || !ra.UpdatedAt.Equal(rb.UpdatedAt) {
			return false
		}
	}
	return true
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b) || string(a) == "null" || string(b) == "null"
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(va, vb)
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func sameStringPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
