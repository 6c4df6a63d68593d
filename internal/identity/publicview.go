package identity

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// PublicView is an identity as whoami embeds it, rendered once and kept in
// the identities table (columns public_view*) with the revision it was made
// from. The schema URL is left out because it depends on the config:
// WithSchemaURL puts it back.
type PublicView struct {
	JSON []byte
	// Factors says which second factors the identity has (Factor*), so
	// that whoami can check the session's level without its credentials.
	Factors int
}

// Second factors, as PublicView.Factors bits.
const (
	// FactorAlways is a second factor whatever the config: TOTP, backup
	// codes, a security key.
	FactorAlways = 1 << iota
	// FactorCode is a code credential with an address, a second factor
	// when selfservice.methods.code.mfa_enabled is on.
	FactorCode
)

// emptySchemaURL is how the schema URL of a view rendered without one
// looks; it cannot appear anywhere else in the JSON, whose strings have
// their quotes escaped.
var emptySchemaURL = []byte(`,"schema_url":""`)

// PublicViewOf renders i's public view.
func PublicViewOf(i *Identity) (PublicView, error) {
	raw, err := json.Marshal(i.View(ViewOptions{}))
	if err != nil {
		return PublicView{}, err
	}
	raw = bytes.Replace(raw, emptySchemaURL, nil, 1)
	return PublicView{JSON: raw, Factors: secondFactors(i)}, nil
}

// HasSecondFactorIn answers HasSecondFactor for the identity a view was
// made from.
func (r FactorRules) HasSecondFactorIn(factors int) bool {
	return factors&FactorAlways != 0 || (r.CodeMFA && factors&FactorCode != 0)
}

func secondFactors(i *Identity) int {
	f := 0
	if (FactorRules{}).HasSecondFactor(i) {
		f |= FactorAlways
	}
	if c := i.Credentials[CredentialsCode]; c != nil && codeAddresses(c) > 0 {
		f |= FactorCode
	}
	return f
}

// SchemaURLField is `"schema_url":"<url>",` for WithSchemaURL.
func SchemaURLField(url string) []byte {
	enc, _ := json.Marshal(url) // a string always encodes
	return append(append([]byte(`"schema_url":`), enc...), ',')
}

// WithSchemaURL appends view with its schema URL field (SchemaURLField)
// put back, as the first member, to dst.
func WithSchemaURL[View ~string | ~[]byte](dst []byte, view View, field []byte) []byte {
	if len(view) < 2 || view[0] != '{' {
		return append(dst, view...)
	}
	dst = append(dst, '{')
	dst = append(dst, field...)
	if view[1] == '}' { // cannot happen (id is always there), but stay valid JSON
		dst = dst[:len(dst)-1]
	}
	return append(dst, view[1:]...)
}

// StorePublicView keeps v as the public view of identity id at revision
// rev, unless the identity has changed since: a view is only ever stored
// for the revision it shows. i must have been read after rev was.
func (m *Manager) StorePublicView(ctx context.Context, id uuid.UUID, rev int64, v PublicView) error {
	return m.store.Write(ctx, func(q *store.Q) error {
		_, err := q.Exec(ctx, `UPDATE identities SET public_view = $1, public_view_factors = $2, public_view_revision = $3 WHERE id = $4 AND revision = $3`,
			string(v.JSON), v.Factors, rev, id)
		return err
	})
}
