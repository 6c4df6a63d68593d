// Package passkey is the passkey method: discoverable WebAuthn credentials
// on the user's device as a first factor. Registration creates an account
// with a passkey and no password; login asks the device for whichever
// passkey it holds for this site (no identifier typed first) and finds the
// account by the passkey's user handle; settings add and remove passkeys.
// The ceremonies are internal/securitykey's; their challenges live in the
// flow, so any instance can finish what another began, and each is used
// once.
package passkey

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
)

// ID is the method name in submissions, node groups and the session's
// authentication methods; it is also the credential type.
const ID = identity.CredentialsPasskey

// Names of the method's nodes and payload fields, as Kratos's.
const (
	fieldChallenge        = "passkey_challenge"
	fieldLogin            = "passkey_login"
	fieldLoginTrigger     = "passkey_login_trigger"
	fieldCreateData       = "passkey_create_data"
	fieldRegister         = "passkey_register"
	fieldRegisterTrigger  = "passkey_register_trigger"
	fieldSettingsRegister = "passkey_settings_register"
	fieldRemove           = "passkey_remove"
	fieldIdentifier       = "identifier"
)

// Functions of webauthn.js that the nodes trigger.
const (
	triggerLogin                = "oryPasskeyLogin"
	triggerLoginAutocomplete    = "oryPasskeyLoginAutocompleteInit"
	triggerRegistration         = "oryPasskeyRegistration"
	triggerSettingsRegistration = "oryPasskeySettingsRegistration"
)

// Where a flow keeps the ceremony it showed until the answer comes: the
// relying party's session, and for a new passkey the user handle it is
// made for.
const (
	sessionKey = "passkey_session"
	handleKey  = "passkey_user_handle"
)

// Method is the passkey method.
type Method struct {
	ids    *identity.Manager
	rp     *securitykey.RP
	script *securitykey.Script
	// Factors count an identity's first factors: the last one cannot be
	// removed. The zero value is Kratos's default configuration; set it
	// from the configuration before serving.
	Factors identity.FactorRules
	// Store, when set, lets a login find the account whose passkey was
	// saved as a passwordless webauthn key (Kratos's passkeys before the
	// passkey method) by that credential's user handle. Without it such
	// keys cannot sign in with the passkey method.
	Store *store.Store
}

// New wires the method: rp runs its ceremonies (securitykey.Passkey mode)
// and script is the webauthn.js its browser forms load, which the server
// mounts (securitykey.Script.Register).
func New(ids *identity.Manager, rp *securitykey.RP, script *securitykey.Script) *Method {
	return &Method{ids: ids, rp: rp, script: script}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Login || kind == flow.Registration || kind == flow.Settings
}

// Implies implements flow.Implied: webauthn.js submits the form with the
// ceremony's answer and no method, and a remove button carries only the
// key's id.
func (m *Method) Implies(p flow.Payload) bool {
	if p.String("method") != "" {
		return false
	}
	return p.String(fieldLogin) != "" || registerAnswer(p) != "" ||
		p.String(fieldSettingsRegister) != "" || p.String(fieldRemove) != ""
}

// AddNodes implements flow.Method.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch f.Kind {
	case flow.Login:
		return m.addLoginNodes(f, c)
	case flow.Registration:
		if c.Step == flow.StepProfile {
			return nil
		}
		return m.addRegistrationNodes(f, c.Schema)
	case flow.Settings:
		if c.Identity == nil {
			return nil
		}
		return m.addSettingsNodes(f, c.Identity)
	}
	return nil
}

// Submit implements flow.Method.
func (m *Method) Submit(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	switch s.Flow.Kind {
	case flow.Login:
		return m.login(ctx, s)
	case flow.Registration:
		return m.register(ctx, s)
	case flow.Settings:
		return m.settings(s)
	}
	return nil, fmt.Errorf("passkey: flows of kind %s are not served", s.Flow.Kind)
}

// begin keeps a ceremony's session (and handle, for a new passkey) in f
// until its answer comes.
func begin(f *flow.Flow, session json.RawMessage, handle []byte) error {
	f.Internal[sessionKey] = session
	delete(f.Internal, handleKey)
	if handle == nil {
		return nil
	}
	raw, err := json.Marshal(string(handle))
	if err != nil {
		return err
	}
	f.Internal[handleKey] = raw
	return nil
}

// pending is the ceremony f showed: its session and the handle of the
// passkey it makes (nil for a login).
func pending(f *flow.Flow) (session json.RawMessage, handle []byte) {
	var h string
	if raw := f.Internal[handleKey]; raw != nil && json.Unmarshal(raw, &h) == nil && h != "" {
		handle = []byte(h)
	}
	return f.Internal[sessionKey], handle
}

// finish forgets f's ceremony: an answer is accepted once.
func finish(f *flow.Flow) {
	delete(f.Internal, sessionKey)
	delete(f.Internal, handleKey)
}

// handleAlphabet is what user handles are made of. Lower case only: the
// handle is also the credential's identifier, which identifier lookups
// compare lower-cased.
const handleAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newHandle is a new passkey's user handle: 64 random alphanumerics (about
// 330 bits), as long as WebAuthn allows.
func newHandle() []byte {
	out := make([]byte, 0, 64)
	var buf [64]byte
	// Bytes at or above the largest multiple of the alphabet's size are
	// skipped, so that every character is equally likely.
	limit := byte(256 - 256%len(handleAlphabet))
	for len(out) < cap(out) {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			if b < limit && len(out) < cap(out) {
				out = append(out, handleAlphabet[int(b)%len(handleAlphabet)])
			}
		}
	}
	return out
}

// passkeys reads i's passkeys; ok reports whether there are any that
// sign i in (the credential also has an identifier). A config that cannot
// be read has none: the account's other ways in keep working.
func passkeys(i *identity.Identity) (keys securitykey.Credentials, ok bool) {
	c := i.Credentials[ID]
	if c == nil {
		return keys, false
	}
	keys, err := securitykey.Read(c.Config)
	if err != nil {
		slog.Warn("passkey: a passkey credential cannot be read; it is treated as holding no passkeys", "identity", i.ID, "error", err)
		return securitykey.Credentials{}, false
	}
	return keys, len(c.Identifiers) > 0 && len(keys.Keys) > 0
}

// displayName is what a passkey of i is named for on the device: the
// trait the schema marks as the passkey display name, else the first
// identifier a person would recognise; "" when the traits have none.
func (m *Method) displayName(i *identity.Identity) string {
	x := m.ids.Extracted(i)
	if x == nil {
		return ""
	}
	if x.PasskeyDisplayName != "" {
		return x.PasskeyDisplayName
	}
	for _, typ := range []string{schema.CredentialWebAuthn, schema.CredentialPassword, schema.CredentialCode} {
		if ids := x.Identifiers[typ]; len(ids) > 0 {
			return ids[0]
		}
	}
	return ""
}

// displayNameField is the trait input whose value names a new passkey
// (the browser reads it at sign-up): the schema's passkey display name,
// else its first identifier; "" when the schema has neither.
func displayNameField(sch *schema.Schema) string {
	if sch == nil {
		return ""
	}
	fields := sch.Fields()
	for _, f := range fields {
		if f.Extension.PasskeyDisplayName {
			return f.Name
		}
	}
	for _, f := range fields {
		if f.Extension.WebAuthnIdentifier || f.Extension.PasswordIdentifier || f.Extension.CodeIdentifier {
			return f.Name
		}
	}
	return ""
}
