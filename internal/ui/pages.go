package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// welcomeView is the start page's content.
type welcomeView struct {
	Who string
}

func (h *Handler) welcome(w http.ResponseWriter, r *http.Request) {
	p, s, err := h.newPage(r, "title.welcome")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &welcomeView{}
	if s != nil {
		v.Who = h.who(s.Identity)
	}
	p.Content = v
	h.render(w, r, http.StatusOK, "welcome", p)
}

// who names an identity as its owner knows it: its first identifier (an
// email address, a username), else a string trait, else its id.
func (h *Handler) who(i *identity.Identity) string {
	if i == nil {
		return ""
	}
	if x := h.ids.Extracted(i); x != nil {
		types := make([]string, 0, len(x.Identifiers))
		for t := range x.Identifiers {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			if ids := x.Identifiers[t]; len(ids) > 0 {
				return ids[0]
			}
		}
	}
	var traits map[string]any
	if json.Unmarshal(i.Traits, &traits) == nil {
		for _, k := range []string{"email", "username", "phone"} {
			if s, ok := traits[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return i.ID.String()
}

// flowView is a flow page's content.
type flowView struct {
	Kind    string
	FlowID  string
	Form    *formView
	Expires time.Time
}

// initQuery are the query parameters a page without ?flow= passes on to
// the flow's browser endpoint.
var initQuery = map[flow.Kind][]string{
	flow.Login:        {"return_to", "refresh", "aal", "login_challenge", "organization", "via"},
	flow.Registration: {"return_to", "login_challenge", "organization"},
	flow.Settings:     {"return_to"},
	flow.Recovery:     {"return_to"},
	flow.Verification: {"return_to"},
}

func (h *Handler) flowPage(kind flow.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("flow")
		if id == "" {
			h.startFlow(w, r, kind)
			return
		}
		p, s, err := h.newPage(r, "title."+string(kind))
		if err != nil {
			h.fail(w, r, err)
			return
		}
		f, err := h.kit.ForBrowser(r, kind, id)
		if err != nil {
			if wire.From(err).Code >= 500 {
				h.fail(w, r, err)
				return
			}
			if wire.From(err).ID == "security_csrf_violation" && !h.hasCSRFCookie(r) {
				// The flow's endpoint set the cookie and it did not come
				// back: cookies are blocked, and a new flow would loop.
				h.showError(w, r, p, wire.From(err))
				return
			}
			// Unknown, expired, or another browser's: a new flow, as a
			// Kratos UI starts over.
			h.startFlow(w, r, kind)
			return
		}
		if f.Type != flow.TypeBrowser {
			// An app's flow: a browser could not submit it.
			h.startFlow(w, r, kind)
			return
		}
		if kind == flow.Settings && (s == nil || f.IdentityID == nil || *f.IdentityID != s.IdentityID) {
			h.startFlow(w, r, kind)
			return
		}
		p.Content = &flowView{Kind: string(kind), FlowID: f.ID.String(), Form: buildForm(p, f.UI), Expires: f.ExpiresAt}
		h.render(w, r, http.StatusOK, "flow", p)
	}
}

// startFlow sends the browser to the endpoint that creates a flow of kind
// (it comes back here with ?flow=).
func (h *Handler) startFlow(w http.ResponseWriter, r *http.Request, kind flow.Kind) {
	q := url.Values{}
	for _, k := range initQuery[kind] {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	target := h.kit.PublicURL + "self-service/" + string(kind) + "/browser"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// errorView is the error page's content: the stored error's fields.
type errorView struct {
	Code    int
	Status  string
	Reason  string
	Message string
	ID      string
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request) {
	p, _, err := h.newPage(r, "title.error")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &errorView{}
	stored, err := h.kit.ReadError(r.Context(), r.URL.Query().Get("id"))
	switch {
	case errors.Is(err, flow.ErrStoredErrorNotFound):
		e := wire.From(err)
		v.Code, v.Status, v.Reason, v.Message = e.Code, e.Status, e.Reason, e.Message
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		var e wire.Error
		_ = json.Unmarshal(stored.Error, &e)
		v.Code, v.Status, v.Reason, v.Message, v.ID = e.Code, e.Status, e.Reason, e.Message, e.ID
	}
	p.Content = v
	status := http.StatusOK
	if errors.Is(err, flow.ErrStoredErrorNotFound) {
		status = http.StatusNotFound
	}
	h.render(w, r, status, "error", p)
}

func (h *Handler) hasCSRFCookie(r *http.Request) bool {
	_, err := r.Cookie(h.kit.CSRF.CookieName())
	return err == nil
}

// showError renders e as the error page, without storing it.
func (h *Handler) showError(w http.ResponseWriter, r *http.Request, p *page, e *wire.Error) {
	p.Title = p.T("title.error")
	p.Content = &errorView{Code: e.Code, Status: e.Status, Reason: e.Reason, Message: e.Message, ID: e.ID}
	h.render(w, r, e.Code, "error", p)
}

// fail answers a failure of the server itself (the database) while
// showing a page: logged, and a plain page without details.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	wire.LogServerError(r, err)
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "The page could not be shown right now; please try again.", http.StatusServiceUnavailable)
}
