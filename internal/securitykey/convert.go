package securitykey

import (
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// libUser is a User as the library asks for it.
type libUser struct {
	handle            []byte
	name, displayName string
	creds             []webauthn.Credential
}

func (u *libUser) WebAuthnID() []byte                         { return u.handle }
func (u *libUser) WebAuthnName() string                       { return u.name }
func (u *libUser) WebAuthnDisplayName() string                { return u.displayName }
func (u *libUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// user converts u for the library. With an assertion at hand, keys stored
// without flags (written before Kratos kept them) take the backup flags
// the authenticator reports, as Kratos upgrades them: the library refuses
// a backup-eligible flag that differs from the stored one. Clone warnings
// are cleared so that the library's verdict speaks of this assertion only.
func (rp *RP) user(u User, assertion *protocol.ParsedCredentialAssertionData) *libUser {
	lu := &libUser{handle: u.Handle, name: u.Name, displayName: u.DisplayName}
	if lu.name == "" {
		lu.name = rp.lib.Config.RPDisplayName
	}
	if lu.displayName == "" {
		lu.displayName = rp.lib.Config.RPDisplayName
	}
	for _, k := range u.Keys {
		c := k.credential()
		if assertion != nil {
			if k.Flags == nil {
				f := assertion.Response.AuthenticatorData.Flags
				c.Flags.BackupEligible = f.HasBackupEligible()
				c.Flags.BackupState = f.HasBackupState()
			}
			c.Authenticator.CloneWarning = false
		}
		lu.creds = append(lu.creds, c)
	}
	return lu
}

// credential is k as the library's credential record.
func (k Key) credential() webauthn.Credential {
	c := webauthn.Credential{
		ID:              k.ID,
		PublicKey:       k.PublicKey,
		AttestationType: k.AttestationType,
	}
	for _, t := range k.Transport {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	if a := k.Authenticator; a != nil {
		c.Authenticator = webauthn.Authenticator{AAGUID: a.AAGUID, SignCount: a.SignCount, CloneWarning: a.CloneWarning}
	}
	if f := k.Flags; f != nil {
		c.Flags = webauthn.CredentialFlags{
			UserPresent: f.UserPresent, UserVerified: f.UserVerified,
			BackupEligible: f.BackupEligible, BackupState: f.BackupState,
		}
	}
	if a := k.Attestation; a != nil {
		c.Attestation = webauthn.CredentialAttestation{
			ClientDataJSON: a.ClientDataJSON, ClientDataHash: a.ClientDataHash,
			AuthenticatorData: a.AuthenticatorData, PublicKeyAlgorithm: a.PublicKeyAlgorithm, Object: a.Object,
		}
	}
	return c
}

// keyOf is a freshly registered credential as a stored entry. Like Kratos
// it keeps no attestation: nothing re-verifies it later.
func keyOf(c *webauthn.Credential) Key {
	k := Key{
		ID:              c.ID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		Authenticator: &Authenticator{
			AAGUID: c.Authenticator.AAGUID, SignCount: c.Authenticator.SignCount, CloneWarning: c.Authenticator.CloneWarning,
		},
		Flags: &Flags{
			UserPresent: c.Flags.UserPresent, UserVerified: c.Flags.UserVerified,
			BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		},
	}
	for _, t := range c.Transport {
		k.Transport = append(k.Transport, string(t))
	}
	return k
}

// clone copies k deeply enough that changing the copy's authenticator or
// flags leaves k alone.
func (k Key) clone() Key {
	if k.Authenticator != nil {
		a := *k.Authenticator
		k.Authenticator = &a
	}
	if k.Flags != nil {
		f := *k.Flags
		k.Flags = &f
	}
	return k
}
