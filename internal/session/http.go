package session

import (
	"net/http"
	"net/url"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Redirector is how logout sends browsers on: to an allowed return_to, or
// to the configured default, and how it reports errors to browsers.
type Redirector interface {
	// LogoutReturnTo picks where a browser goes after logout.
	LogoutReturnTo(r *http.Request, requested string) (string, error)
	// BrowserError stores err and sends the browser to the error UI.
	BrowserError(w http.ResponseWriter, r *http.Request, err error)
}

// PublicHandler serves whoami and logout on the public listener.
type PublicHandler struct {
	m         *Manager
	redirect  Redirector
	publicURL string // ends with "/"
}

// NewPublicHandler wires the public session endpoints.
func NewPublicHandler(m *Manager, redirect Redirector, publicBaseURL string) *PublicHandler {
	return &PublicHandler{m: m, redirect: redirect, publicURL: publicBaseURL}
}

// Register adds the routes.
func (h *PublicHandler) Register(mux *http.ServeMux) {
	// whoami answers every method, as Kratos's does. Each is registered on
	// its own so the path does not clash with DELETE /sessions/{id}.
	for _, m := range wire.Methods {
		mux.HandleFunc(m+" /sessions/whoami", h.whoami)
	}
	mux.HandleFunc("GET /self-service/logout/browser", h.createBrowserLogout)
	mux.HandleFunc("GET /self-service/logout", h.updateLogout)
	mux.HandleFunc("DELETE /self-service/logout/api", h.nativeLogout)
}

func (h *PublicHandler) whoami(w http.ResponseWriter, r *http.Request) {
	token := h.m.TokenFrom(r)
	if token == "" {
		wire.WriteError(w, r, ErrNoSession)
		return
	}
	a, err := h.m.Whoami(r.Context(), token)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if !a.AALSatisfied {
		wire.WriteError(w, r, ErrAAL2Required(h.publicURL, ""))
		return
	}
	w.Header().Set("X-Kratos-Authenticated-Identity-Id", a.IdentityID)
	wire.WriteJSONBytes(w, http.StatusOK, a.Body)
}

func (h *PublicHandler) createBrowserLogout(w http.ResponseWriter, r *http.Request) {
	token := h.m.TokenFrom(r)
	if token == "" {
		wire.WriteError(w, r, ErrNoSession)
		return
	}
	if _, err := h.m.ByToken(r.Context(), token); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	q := url.Values{}
	lt := h.m.LogoutToken(token)
	q.Set("token", lt)
	if rt := r.URL.Query().Get("return_to"); rt != "" {
		if _, err := h.redirect.LogoutReturnTo(r, rt); err != nil {
			wire.WriteError(w, r, err)
			return
		}
		q.Set("return_to", rt)
	}
	wire.WriteJSON(w, http.StatusOK, map[string]string{
		"logout_url":   h.publicURL + "self-service/logout?" + q.Encode(),
		"logout_token": lt,
	})
}

// updateLogout follows a logout URL. The unguessable logout token proves
// the request came from the session's owner, so no CSRF cookie is needed;
// the session itself must come along, so a leaked URL logs nobody out.
func (h *PublicHandler) updateLogout(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	target, err := h.redirect.LogoutReturnTo(r, r.URL.Query().Get("return_to"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if token == "" {
		h.fail(w, r, wire.BadRequest.WithReason("Please include a token in the URL query."))
		return
	}
	sessionToken := h.m.TokenFrom(r)
	s, err := h.m.ByToken(r.Context(), sessionToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.m.RevokeByLogoutToken(r.Context(), s, sessionToken, token); err != nil {
		h.fail(w, r, err)
		return
	}
	h.m.ClearCookie(w)
	if wire.WantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (h *PublicHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if wire.WantsJSON(r) {
		wire.WriteError(w, r, err)
		return
	}
	h.redirect.BrowserError(w, r, err)
}

func (h *PublicHandler) nativeLogout(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SessionToken string `json:"session_token"`
	}
	if err := wire.DecodeJSON(w, r, wire.DefaultBodyLimit, &body); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if body.SessionToken == "" {
		wire.WriteError(w, r, wire.BadRequest.WithReason("session_token is required."))
		return
	}
	// Revoking an already revoked session succeeds again; an unknown token
	// is refused.
	var found bool
	err := h.m.store.Write(r.Context(), func(q *store.Q) error {
		res, err := q.Exec(r.Context(), `UPDATE sessions SET active = $2, updated_at = $3 WHERE token_hash = $1`,
			hashToken(body.SessionToken), false, store.Now())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		found = n > 0
		return err
	})
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if !found {
		wire.WriteError(w, r, wire.Forbidden.WithReason("The session token is malformed or does not exist."))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
