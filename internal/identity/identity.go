// Package identity holds identities, their credentials and addresses: the
// model, its persistence, the rules that keep it consistent with the identity
// schema, and the admin API over it.
package identity

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// States an identity can be in.
const (
	StateActive   = "active"
	StateInactive = "inactive"
)

// Credential types known to Lanyard. The methods storing most of them
// live elsewhere; AvailableAAL needs to know them all.
const (
	CredentialsPassword     = "password"
	CredentialsOIDC         = "oidc"
	CredentialsCode         = "code"
	CredentialsPasskey      = "passkey"
	CredentialsWebAuthn     = "webauthn"
	CredentialsTOTP         = "totp"
	CredentialsLookupSecret = "lookup_secret"
)

// Statuses of a verifiable address.
const (
	AddressStatusPending   = "pending"
	AddressStatusSent      = "sent"
	AddressStatusCompleted = "completed"
)

// Identity is a person or machine that can sign in.
type Identity struct {
	ID                  uuid.UUID
	SchemaID            string
	State               string
	StateChangedAt      *time.Time
	Traits              json.RawMessage
	MetadataPublic      json.RawMessage // nil when unset
	MetadataAdmin       json.RawMessage // nil when unset
	ExternalID          *string
	VerifiableAddresses []VerifiableAddress
	RecoveryAddresses   []RecoveryAddress
	// Credentials by type; nil when not loaded.
	Credentials map[string]*Credential
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Revision counts the changes the database has made to the identity
	// (as read; an identity changed in memory keeps the revision it was
	// read at). Caches key on it.
	Revision int64
}

// Credential is one way to authenticate, such as a password.
type Credential struct {
	ID          uuid.UUID
	Type        string
	Identifiers []string
	Config      json.RawMessage
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// VerifiableAddress is an address (email, phone) the owner can prove to hold.
type VerifiableAddress struct {
	ID         uuid.UUID
	Via        string
	Value      string
	Verified   bool
	VerifiedAt *time.Time
	Status     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// RecoveryAddress is an address that can be used to recover the account.
type RecoveryAddress struct {
	ID        uuid.UUID
	Via       string
	Value     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PasswordConfig is the config of a password credential.
type PasswordConfig struct {
	HashedPassword           string `json:"hashed_password"`
	UsePasswordMigrationHook bool   `json:"use_password_migration_hook,omitempty"`
}
