// Package webauthn is the webauthn method: security keys (and devices
// used like them) as a second factor, or, with passwordless on, as the
// first factor people sign up and sign in with. Settings add keys with a
// name and remove them. Browser flows only, as in Kratos: the ceremony
// needs the browser's WebAuthn API, which webauthn.js drives.
//
// The ceremonies themselves are internal/securitykey's. This package keeps
// each challenge in its flow (so any instance can finish a ceremony
// another began), spends it with the ceremony, and writes keys and their
// sign counts inside the flow's completing transaction.
package webauthn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/text"
)

// ID is the method name in submissions, node groups and the session's
// authentication methods; it is also the credential type.
const ID = identity.CredentialsWebAuthn

// Names of the method's nodes, payload fields and flow state, as Kratos's.
const (
	fieldLogin           = "webauthn_login"
	fieldLoginTrigger    = "webauthn_login_trigger"
	fieldRegister        = "webauthn_register"
	fieldRegisterTrigger = "webauthn_register_trigger"
	fieldDisplayName     = "webauthn_register_displayname"
	fieldRemove          = "webauthn_remove"

	// sessionKey holds the ceremony begun when the form was laid out.
	sessionKey = "webauthn_session"
	// handleKey holds the user handle a registration ceremony was begun
	// for, which the new key is bound to.
	handleKey = "webauthn_user_handle"
)

// The webauthn.js functions the trigger buttons call.
const (
	loginFunction        = "oryWebAuthnLogin"
	registrationFunction = "oryWebAuthnRegistration"
)

// Method is the webauthn method.
type Method struct {
	ids          *identity.Manager
	rp           *securitykey.RP
	script       *securitykey.Script
	passwordless bool
	// Factors count an identity's first factors, which decide whether a
	// passwordless key may be removed. The zero value is Kratos's default
	// configuration; set it from the configuration before serving.
	Factors identity.FactorRules
}

// New wires the method; script is the webauthn.js its forms load, which
// the server mounts (securitykey.Script.Register). With passwordless, keys
// are a first factor: they sign up and sign in (aal1) instead of
// confirming a sign-in (aal2).
func New(ids *identity.Manager, rp *securitykey.RP, script *securitykey.Script, passwordless bool) *Method {
	return &Method{ids: ids, rp: rp, script: script, passwordless: passwordless}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method: sign-in, and sign-up when keys are a
// first factor; settings add and remove keys.
func (m *Method) Serves(kind flow.Kind) bool {
	switch kind {
	case flow.Login, flow.Settings:
		return true
	case flow.Registration:
		return m.passwordless
	}
	return false
}

// Implies implements flow.Implied: webauthn.js submits the key's answer
// (or a remove button its key) without naming the method.
func (m *Method) Implies(p flow.Payload) bool {
	return p.String("method") == "" &&
		(len(rawField(p, fieldLogin)) > 0 || len(rawField(p, fieldRegister)) > 0 || strings.TrimSpace(p.String(fieldRemove)) != "")
}

// AddNodes implements flow.Method.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	if f.Type != flow.TypeBrowser {
		return nil
	}
	switch f.Kind {
	case flow.Login:
		return m.loginNodes(f, c)
	case flow.Registration:
		if m.passwordless && c.Step != flow.StepProfile {
			return m.registrationNodes(f)
		}
	case flow.Settings:
		if c.Identity != nil {
			return m.settingsNodes(f, c.Identity)
		}
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
	return nil, fmt.Errorf("webauthn: flows of kind %s are not served", s.Flow.Kind)
}

// aal is what a sign-in with a key proves, decided by the configuration
// as in Kratos.
func (m *Method) aal() string {
	if m.passwordless {
		return identity.AAL1
	}
	return identity.AAL2
}

// credentialOf answers i's webauthn credential (nil when it has none) and
// its keys.
func credentialOf(i *identity.Identity) (*identity.Credential, securitykey.Credentials, error) {
	c := i.Credentials[ID]
	if c == nil {
		return nil, securitykey.Credentials{}, nil
	}
	cfg, err := securitykey.Read(c.Config)
	if err != nil {
		return nil, cfg, fmt.Errorf("webauthn: the credential of identity %s is corrupt: %w", i.ID, err)
	}
	return c, cfg, nil
}

// handleOf is the user handle i's keys are bound to: the stored one, else
// the identity's id, as Kratos binds keys added in settings.
func handleOf(cfg securitykey.Credentials, i *identity.Identity) []byte {
	if len(cfg.UserHandle) > 0 {
		return cfg.UserHandle
	}
	id := i.ID
	return id[:]
}

// keysFor picks the keys a sign-in may use: passwordless ones for a
// first factor, the others for a second, every key for a refresh.
func keysFor(keys []securitykey.Key, passwordless, all bool) []securitykey.Key {
	var out []securitykey.Key
	for _, k := range keys {
		if all || k.IsPasswordless == passwordless {
			out = append(out, k)
		}
	}
	return out
}

// rawField is a JSON answer of webauthn.js: a string as forms (and the
// SDK) send it, or an object a native client may send as it is.
func rawField(p flow.Payload, name string) json.RawMessage {
	switch v := p[name].(type) {
	case string:
		if s := strings.TrimSpace(v); s != "" {
			return json.RawMessage(s)
		}
	case map[string]any:
		if raw, err := json.Marshal(v); err == nil {
			return raw
		}
	}
	return nil
}

// upsert puts n in f's form, in place of the node of the same name (or id,
// for a script) in n's group, else at the end: a fresh challenge replaces
// the spent one's nodes, and the passkey method's webauthn.js is loaded
// once.
func upsert(f *flow.Flow, n *flow.Node) {
	for k, old := range f.UI.Nodes {
		if old.Group == n.Group && old.Type == n.Type && old.Attributes != nil &&
			old.Attributes.Name == n.Attributes.Name && old.Attributes.ID == n.Attributes.ID {
			f.UI.Nodes[k] = n
			return
		}
	}
	f.UI.Add(n)
}

// trigger is a button that hands options to the webauthn.js function fn:
// by name for current UIs, as inline JavaScript for older ones.
func trigger(name, fn string, options json.RawMessage, label *text.Message) *flow.Node {
	n := flow.Input(ID, name, "button", string(options), label)
	n.Attributes.OnclickTrigger = fn
	// json.Marshal escapes <, > and &, so the options cannot end the
	// attribute or the script they are inlined in.
	n.Attributes.Onclick = "window." + fn + "(" + string(options) + ")"
	return n
}

// logClone records a refused key that may have been cloned: the identity
// and the key's id only, never the key's answer.
func logClone(ctx context.Context, identityID uuid.UUID, keyID string) {
	slog.WarnContext(ctx, "webauthn: refused a security key whose sign count did not increase; it may have been cloned",
		"identity", identityID.String(), "credential", keyID)
}
