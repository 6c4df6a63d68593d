package login

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Identifier-first login (selfservice.flows.login.style identifier_first):
// the first step asks only for the identifier; the second offers the
// methods the identity it names can use.

// IdentifierFirstMethod is the `method` of the first step's submission,
// and the group of its nodes.
const IdentifierFirstMethod = "identifier_first"

// identifierFirst reports whether f begins with the identifier alone:
// first-factor logins do, refreshes (whose identity is known) do not.
func (h *Handler) identifierFirst(f *flow.Flow) bool {
	return h.opts.IdentifierFirst && h.opts.Identities != nil && f.RequestedAAL != "aal2" && !f.Refresh
}

// askForIdentifier lays out the first step: the identifier, its submit,
// and the nodes of the methods that belong beside it.
func (h *Handler) askForIdentifier(ctx context.Context, f *flow.Flow, sch *schema.Schema) error {
	f.UI.KeepOnlyCSRF()
	f.UI.Add(
		flow.Input(IdentifierFirstMethod, "identifier", "text", nil, flow.IdentifierLabel(sch)).Required().Autocomplete("username webauthn"),
		flow.Submit(IdentifierFirstMethod, "method", IdentifierFirstMethod, text.LabelContinue()),
	)
	for _, m := range h.methods {
		if im, ok := m.(flow.Identifying); ok {
			if err := im.AddIdentificationNodes(ctx, f, flow.NodeContext{Schema: sch}); err != nil {
				return err
			}
		}
	}
	return nil
}

// identify answers the first step: the form goes on to the methods that
// the identity can use, with the identifier kept hidden. Nobody is told
// whether the account exists when account enumeration is mitigated: every
// method is offered, and a code is never sent at once. The lookup costs the
// same whether the identifier is known or not.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request, sub *flow.Submission) {
	f, p := sub.Flow, sub.Payload
	ctx := r.Context()
	identifier := strings.TrimSpace(p.String("identifier"))
	if identifier == "" {
		if err := h.askForIdentifier(ctx, f, sub.Schema); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.Reject(w, r, f, flow.FormError{{Field: "identifier", Message: text.ValidationRequired("identifier")}})
		return
	}
	hint, err := h.opts.Identities.FindByAnyIdentifierEvenly(ctx, identifier)
	if errors.Is(err, identity.ErrNotFound) {
		hint, err = nil, nil
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	sch := sub.Schema
	if hint != nil {
		if s, ok := h.schemas.Get(hint.SchemaID); ok {
			sch = s
		}
	}
	f.UI.KeepOnlyCSRF()
	id := flow.Input(IdentifierFirstMethod, "identifier", "hidden", identifier, flow.IdentifierLabel(sch)).Required().Autocomplete("username webauthn")
	f.UI.Add(id)
	c := flow.NodeContext{Schema: sch, Identity: hint, Identifier: identifier}
	var offered flow.Methods
	for _, m := range h.methods {
		im, ok := m.(flow.Identified)
		if !ok {
			continue
		}
		yes, err := im.AddIdentifiedNodes(ctx, f, c, h.opts.Mitigate)
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		if yes {
			offered = append(offered, m)
		}
	}
	if len(offered) == 0 && !h.opts.Mitigate {
		if err := h.askForIdentifier(ctx, f, sub.Schema); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		f.UI.SetValue("identifier", identifier)
		h.kit.Reject(w, r, f, flow.FormMessage(text.AccountNotFound()))
		return
	}
	f.Active = IdentifierFirstMethod
	if len(offered) == 1 && !h.opts.Mitigate {
		// The identity's only way in is a code: it is sent right away.
		out, err := h.open(ctx, offered, f, c)
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		if out != nil {
			h.kit.Hold(w, r, f, out.Send)
			return
		}
	}
	h.kit.Hold(w, r, f, nil)
}
