package lookup

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// internalKey is where a settings flow keeps the codes a regenerate made,
// sealed, until they are confirmed.
const internalKey = ID

// pending is the flow's internal state.
type pending struct {
	// Codes is the JSON list of the new codes, encrypted.
	Codes string `json:"regenerated"`
}

// settingsNodes offers to show or turn off the codes an identity has, or
// to make some.
func settingsNodes(f *flow.Flow, i *identity.Identity) {
	if c := credential(i); c != nil && hasCodes(c.Config) {
		f.UI.Add(button(nodeReveal, text.LookupReveal()), button(nodeDisable, text.LookupDisable()))
		return
	}
	f.UI.Add(button(nodeRegenerate, text.LookupRegenerate()))
}

func button(name string, label *text.Message) *flow.Node {
	return flow.Submit(group, name, "true", label)
}

// settings runs the action a submission asks for. Of several, confirm
// wins, then reveal, disable and regenerate, as in Kratos. Each needs a
// recent sign-in.
func (m *Method) settings(sub *flow.Submission) (*flow.Outcome, error) {
	p := sub.Payload
	confirm, reveal, disable, regenerate := flag(p, nodeConfirm), flag(p, nodeReveal), flag(p, nodeDisable), flag(p, nodeRegenerate)
	if !confirm && !reveal && !disable && !regenerate {
		return nil, flow.FormMessage(text.NoSettingsStrategy())
	}
	if !sub.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	switch {
	case confirm:
		return m.confirm(sub)
	case reveal:
		return m.reveal(sub)
	case disable:
		return m.disable(sub)
	}
	return m.regenerate(sub)
}

// reveal shows the stored codes again, with the buttons to turn them off
// or replace them. Only the form changes.
func (m *Method) reveal(sub *flow.Submission) (*flow.Outcome, error) {
	c := credential(sub.Identity)
	if c == nil || !hasCodes(c.Config) {
		return nil, flow.FormMessage(text.ValidationGeneric("There are no backup codes to show; create some first."))
	}
	cfg, err := decode(c.Config)
	if err != nil {
		return nil, err
	}
	set, err := open(m.cipher, cfg)
	if err != nil {
		return nil, err
	}
	replaceNodes(sub.Flow, listNode(set), button(nodeDisable, text.LookupDisable()), button(nodeRegenerate, text.LookupRegenerate()))
	return &flow.Outcome{Identity: sub.Identity, Shown: true}, nil
}

// regenerate makes a new set and shows it for confirmation. The set waits
// in the flow, sealed; the stored codes stay valid until confirm.
func (m *Method) regenerate(sub *flow.Submission) (*flow.Outcome, error) {
	set, err := newSet()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	sealed, err := m.cipher.Encrypt(raw)
	if err != nil {
		return nil, err
	}
	state, err := json.Marshal(pending{Codes: sealed})
	if err != nil {
		return nil, err
	}
	sub.Flow.Internal[internalKey] = state
	replaceNodes(sub.Flow, listNode(set), button(nodeConfirm, text.LookupConfirm()))
	return &flow.Outcome{Identity: sub.Identity, Shown: true}, nil
}

// confirm stores the set this flow made in place of the identity's codes;
// the session has then used them, as a second factor.
func (m *Method) confirm(sub *flow.Submission) (*flow.Outcome, error) {
	set := m.pendingSet(sub.Flow)
	if len(set) != setSize {
		return nil, flow.FormMessage(text.ValidationGeneric("Create new backup codes before you save them."))
	}
	config, err := seal(m.cipher, set)
	if err != nil {
		return nil, err
	}
	delete(sub.Flow.Internal, internalKey)
	i := sub.Identity
	return &flow.Outcome{Identity: i, AAL: identity.AAL2, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		c := &identity.Credential{Type: ID, Identifiers: []string{i.ID.String()}, Config: config}
		if err := m.ids.PutCredential(ctx, q, i.ID, c); err != nil {
			return nil, err
		}
		return i.WithCredential(ID, c, c.UpdatedAt), nil
	}}, nil
}

// pendingSet answers the codes a regenerate of f made, or nil. State that
// cannot be opened (a cipher key retired since) counts as none.
func (m *Method) pendingSet(f *flow.Flow) []code {
	var state pending
	if json.Unmarshal(f.Internal[internalKey], &state) != nil || state.Codes == "" {
		return nil
	}
	raw, err := m.cipher.Decrypt(state.Codes)
	if err != nil {
		return nil
	}
	var set []code
	if json.Unmarshal(raw, &set) != nil {
		return nil
	}
	for _, rc := range set {
		if len(rc.Value) != codeLength || rc.UsedAt != nil {
			return nil
		}
	}
	return set
}

// disable removes the identity's codes, and any set waiting in the flow.
func (m *Method) disable(sub *flow.Submission) (*flow.Outcome, error) {
	delete(sub.Flow.Internal, internalKey)
	i := sub.Identity
	return &flow.Outcome{Identity: i, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		if err := m.ids.DeleteCredential(ctx, q, i.ID, ID); err != nil {
			return nil, err
		}
		return i.WithCredential(ID, nil, store.Now()), nil
	}}, nil
}

// replaceNodes puts nodes in place of the method's nodes in f's form.
func replaceNodes(f *flow.Flow, nodes ...*flow.Node) {
	mine := func(n *flow.Node) bool { return n.Group == group }
	at := slices.IndexFunc(f.UI.Nodes, mine) // nothing before it is removed
	kept := slices.DeleteFunc(f.UI.Nodes, mine)
	if at < 0 {
		at = len(kept)
	}
	f.UI.Nodes = slices.Insert(kept, at, nodes...)
}
