// Package securitykey is the WebAuthn relying party shared by the webauthn
// and passkey methods: the stored key format, the ceremonies (on
// go-webauthn, which does every CBOR, attestation and signature check), and
// the webauthn.js script UIs load.
package securitykey

import (
	"encoding/hex"
	"encoding/json"
	"time"
)

// Key is one stored credential entry, in Kratos's JSON shape.
type Key struct {
	ID              []byte         `json:"id"`
	PublicKey       []byte         `json:"public_key"`
	AttestationType string         `json:"attestation_type"`
	Authenticator   *Authenticator `json:"authenticator,omitempty"`
	DisplayName     string         `json:"display_name"`
	AddedAt         time.Time      `json:"added_at"`
	IsPasswordless  bool           `json:"is_passwordless"`
	Flags           *Flags         `json:"flags,omitempty"`
	Transport       []string       `json:"transport,omitempty"`
	Attestation     *Attestation   `json:"attestation,omitempty"`
}

// Authenticator describes the device that holds a key.
type Authenticator struct {
	AAGUID       []byte `json:"aaguid"`
	SignCount    uint32 `json:"sign_count"`
	CloneWarning bool   `json:"clone_warning"`
}

// Flags are the authenticator data flags last seen for a key.
type Flags struct {
	UserPresent    bool `json:"user_present"`
	UserVerified   bool `json:"user_verified"`
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
}

// Attestation is what an authenticator answered at registration. Kratos
// reads it from stored entries but does not write it, and neither do we;
// it is kept so imported entries survive a round trip.
type Attestation struct {
	ClientDataJSON     []byte `json:"client_dataJSON"` // sic: Kratos's name
	ClientDataHash     []byte `json:"client_data_hash"`
	AuthenticatorData  []byte `json:"authenticator_data"`
	PublicKeyAlgorithm int64  `json:"public_key_algorithm"`
	Object             []byte `json:"object"`
}

// HexID is the lowercase hex of ID: the value of remove buttons.
func (k Key) HexID() string { return hex.EncodeToString(k.ID) }

// Name is what remove buttons call the key: its display name, or
// "unnamed" for a key added without one.
func (k Key) Name() string {
	if k.DisplayName == "" {
		return "unnamed"
	}
	return k.DisplayName
}

// Credentials is a webauthn or passkey credential's config.
type Credentials struct {
	Keys       []Key  `json:"credentials"`
	UserHandle []byte `json:"user_handle"`
}

// Read decodes a credential config; empty or null is the zero value.
func Read(raw json.RawMessage) (Credentials, error) {
	var c Credentials
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	err := json.Unmarshal(raw, &c)
	return c, err
}
