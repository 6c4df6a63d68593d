package recovery

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Admin serves the admin endpoints that hand an operator a recovery code or
// link to pass on to a user. As with Kratos they work whether or not
// self-service recovery is enabled.
type Admin struct{ h *Handler }

// Admin returns the admin endpoints.
func (h *Handler) Admin() *Admin { return &Admin{h: h} }

// Register adds the routes under prefix.
func (a *Admin) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("POST "+prefix+"/recovery/code", func(w http.ResponseWriter, r *http.Request) { a.create(w, r, onetime.MethodCode) })
	mux.HandleFunc("POST "+prefix+"/recovery/link", func(w http.ResponseWriter, r *http.Request) { a.create(w, r, onetime.MethodLink) })
}

func (a *Admin) create(w http.ResponseWriter, r *http.Request, method string) {
	h := a.h
	var body struct {
		IdentityID string `json:"identity_id"`
		ExpiresIn  string `json:"expires_in"`
		FlowType   string `json:"flow_type"`
	}
	if err := wire.DecodeJSON(w, r, wire.DefaultBodyLimit, &body); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	id, err := uuid.Parse(body.IdentityID)
	if err != nil {
		wire.WriteError(w, r, wire.BadRequest.WithReason("identity_id must be the id of an identity."))
		return
	}
	lifespan := h.opts.CodeLifespan
	if method == onetime.MethodLink {
		lifespan = h.opts.LinkLifespan
	}
	if body.ExpiresIn != "" {
		if lifespan, err = time.ParseDuration(body.ExpiresIn); err != nil || lifespan <= 0 {
			wire.WriteError(w, r, wire.BadRequest.WithReason("expires_in must be a positive duration such as 1h or 15m."))
			return
		}
	}
	// Links are opened in a browser; only codes may go to a native app
	// (flow_type is not part of the link endpoint's body).
	typ := flow.TypeBrowser
	if method == onetime.MethodCode {
		switch body.FlowType {
		case "", flow.TypeBrowser:
		case flow.TypeAPI:
			typ = flow.TypeAPI
		default:
			wire.WriteError(w, r, wire.BadRequest.WithReason("flow_type must be browser or api."))
			return
		}
	}
	m := h.methods.Named(method)
	if m == nil {
		wire.WriteError(w, r, wire.NotFound.WithReason("Recovery by %s is not available.", method))
		return
	}
	i, err := h.ids.Get(r.Context(), id)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}

	// No browser owns the flow yet: the user's browser claims it when it
	// first opens it (see claim).
	f := flow.New(flow.Recovery, typ, r, h.kit.PublicURL, lifespan)
	f.AddCSRF(nil)
	f.Internal[adminKey] = json.RawMessage(`true`)
	f.Active, f.State = method, flow.StateSentEmail
	if err := m.AddNodes(r.Context(), f, flow.NodeContext{}); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	var plain string
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := flow.Save(r.Context(), q, f); err != nil {
			return err
		}
		var err error
		plain, err = h.codes.Issue(r.Context(), q, onetime.Code{
			Purpose: onetime.Recovery, Method: method, FlowID: f.ID, IdentityID: &i.ID, ExpiresAt: f.ExpiresAt,
		})
		return err
	})
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if method == onetime.MethodLink {
		wire.WriteJSON(w, http.StatusOK, map[string]any{"recovery_link": h.kit.MessageLink(f, "token", plain), "expires_at": f.ExpiresAt})
		return
	}
	// As with Kratos, the link opens the recovery UI on the flow, where
	// the user types the code.
	wire.WriteJSON(w, http.StatusCreated, map[string]any{"recovery_code": plain, "recovery_link": h.kit.FlowUIURL(f), "expires_at": f.ExpiresAt})
}
