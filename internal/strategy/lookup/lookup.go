// Package lookup is the backup codes method (Kratos's lookup_secret): a
// set of one-time codes, made and shown in settings, each of which signs
// in once as a second factor. The codes are stored encrypted with
// secrets.cipher, since settings must be able to show them again.
package lookup

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
)

// ID is the method's name in submissions, node groups and a session's
// authentication methods; it is also its credential type.
const ID = identity.CredentialsLookupSecret

// group is the node group of every node the method adds.
const group = ID

// Node names, as UIs know them.
const (
	nodeCode       = "lookup_secret" // login: the code entered
	nodeReveal     = "lookup_secret_reveal"
	nodeRegenerate = "lookup_secret_regenerate"
	nodeConfirm    = "lookup_secret_confirm"
	nodeDisable    = "lookup_secret_disable"
	nodeCodes      = "lookup_secret_codes" // the text node listing codes
)

// Method is the backup codes method.
type Method struct {
	ids    *identity.Manager
	cipher cipher.Cipher
}

// New wires the method; c encrypts the codes at rest.
func New(ids *identity.Manager, c cipher.Cipher) *Method {
	return &Method{ids: ids, cipher: c}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method: second-factor sign-in and managing the
// codes.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Login || kind == flow.Settings
}

// Implies implements flow.Implied: the settings buttons carry no method.
func (m *Method) Implies(p flow.Payload) bool {
	for _, name := range []string{nodeReveal, nodeRegenerate, nodeConfirm, nodeDisable} {
		if flag(p, name) {
			return true
		}
	}
	return false
}

// flag reads a boolean field as JSON sends it (true) or a form does
// ("true").
func flag(p flow.Payload, name string) bool {
	switch v := p[name].(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(v)
		return err == nil && b
	}
	return false
}

// AddNodes implements flow.Method.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch f.Kind {
	case flow.Login:
		m.loginNodes(f, c.Identity)
	case flow.Settings:
		settingsNodes(f, c.Identity)
	}
	return nil
}

// Submit implements flow.Method.
func (m *Method) Submit(ctx context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	switch sub.Flow.Kind {
	case flow.Login:
		return m.login(sub)
	case flow.Settings:
		return m.settings(sub)
	}
	return nil, fmt.Errorf("lookup: flows of kind %s are not served", sub.Flow.Kind)
}

// Declassify shows a stored config as Kratos stores it, the codes in the
// clear: what the admin API answers for include_credential=lookup_secret.
func (m *Method) Declassify(config json.RawMessage) (json.RawMessage, error) {
	cfg, err := decode(config)
	if err != nil {
		return nil, err
	}
	set, err := open(m.cipher, cfg)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		RecoveryCodes []code `json:"recovery_codes"`
	}{set})
}

// credential answers i's backup codes credential, or nil.
func credential(i *identity.Identity) *identity.Credential {
	if i == nil {
		return nil
	}
	return i.Credentials[ID]
}
