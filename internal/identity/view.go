package identity

import (
	"encoding/json"
	"time"
)

// View is an identity as the API shows it (the SDK's Identity model).
type View struct {
	ID                  string                     `json:"id"`
	SchemaID            string                     `json:"schema_id"`
	SchemaURL           string                     `json:"schema_url"`
	State               string                     `json:"state"`
	StateChangedAt      *time.Time                 `json:"state_changed_at,omitempty"`
	Traits              json.RawMessage            `json:"traits"`
	VerifiableAddresses []VerifiableAddressView    `json:"verifiable_addresses,omitempty"`
	RecoveryAddresses   []RecoveryAddressView      `json:"recovery_addresses,omitempty"`
	MetadataPublic      json.RawMessage            `json:"metadata_public"`
	MetadataAdmin       json.RawMessage            `json:"metadata_admin,omitempty"`
	ExternalID          *string                    `json:"external_id,omitempty"`
	Credentials         map[string]CredentialsView `json:"credentials,omitempty"`
	CreatedAt           time.Time                  `json:"created_at"`
	UpdatedAt           time.Time                  `json:"updated_at"`
	OrganizationID      *string                    `json:"organization_id"`
}

// VerifiableAddressView is the SDK's VerifiableIdentityAddress.
type VerifiableAddressView struct {
	ID         string     `json:"id"`
	Value      string     `json:"value"`
	Verified   bool       `json:"verified"`
	Via        string     `json:"via"`
	Status     string     `json:"status"`
	VerifiedAt *time.Time `json:"verified_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// RecoveryAddressView is the SDK's RecoveryIdentityAddress.
type RecoveryAddressView struct {
	ID        string    `json:"id"`
	Value     string    `json:"value"`
	Via       string    `json:"via"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CredentialsView is the SDK's IdentityCredentials.
type CredentialsView struct {
	Type        string          `json:"type"`
	Identifiers []string        `json:"identifiers"`
	Config      json.RawMessage `json:"config,omitempty"`
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// ViewOptions choose what a view reveals.
type ViewOptions struct {
	// SchemaURL is the public URL of the identity's schema.
	SchemaURL string
	// Admin reveals metadata_admin and the credentials' types and
	// identifiers, as the admin API does.
	Admin bool
	// IncludeConfig lists credential types whose config (such as the
	// password hash) is revealed too. Only with Admin.
	IncludeConfig []string
	// Declassify, when set, turns a revealed config as stored into the
	// one shown (a TOTP key URL kept encrypted is shown decrypted).
	Declassify func(typ string, stored json.RawMessage) json.RawMessage
}

// View renders i for the API.
func (i *Identity) View(opts ViewOptions) View {
	v := View{
		ID:             i.ID.String(),
		SchemaID:       i.SchemaID,
		SchemaURL:      opts.SchemaURL,
		State:          i.State,
		StateChangedAt: i.StateChangedAt,
		Traits:         i.Traits,
		MetadataPublic: jsonOrNull(i.MetadataPublic),
		ExternalID:     i.ExternalID,
		CreatedAt:      i.CreatedAt,
		UpdatedAt:      i.UpdatedAt,
	}
	for _, a := range i.VerifiableAddresses {
		v.VerifiableAddresses = append(v.VerifiableAddresses, VerifiableAddressView{
			ID: a.ID.String(), Value: a.Value, Verified: a.Verified, Via: a.Via, Status: a.Status,
			VerifiedAt: a.VerifiedAt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		})
	}
	for _, a := range i.RecoveryAddresses {
		v.RecoveryAddresses = append(v.RecoveryAddresses, RecoveryAddressView{
			ID: a.ID.String(), Value: a.Value, Via: a.Via, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
		})
	}
	if !opts.Admin {
		return v
	}
	v.MetadataAdmin = i.MetadataAdmin
	if len(i.Credentials) > 0 {
		v.Credentials = make(map[string]CredentialsView, len(i.Credentials))
		for typ, c := range i.Credentials {
			cv := CredentialsView{
				Type: typ, Identifiers: c.Identifiers, Version: c.Version,
				CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
			}
			if cv.Identifiers == nil {
				cv.Identifiers = []string{}
			}
			for _, inc := range opts.IncludeConfig {
				if inc == typ {
					cv.Config = c.Config
					if opts.Declassify != nil {
						cv.Config = opts.Declassify(typ, c.Config)
					}
				}
			}
			v.Credentials[typ] = cv
		}
	}
	return v
}

func jsonOrNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}
