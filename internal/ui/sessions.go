package ui

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// maxListedSessions bounds the devices page: an identity with more
// sessions than this sees a note, and "revoke all others" still ends all.
const maxListedSessions = 200

// maxRevokeForm bounds a revocation form's body: a token and an id.
const maxRevokeForm = 4 << 10

// sessionsView is the devices page's content.
type sessionsView struct {
	Sessions []sessionView
	// Others counts the sessions other than this one, for "revoke all others".
	Others int
	More   bool
	// Notice is the phrase key of what the last revocation did.
	Notice     string
	CSRF       string
	Revoke     string
	RevokeRest string
}

// sessionView is one session as the page lists it.
type sessionView struct {
	ID              string
	Current         bool
	Devices         []deviceView
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	AAL             string
	AALLabel        string
	Methods         []string
}

type deviceView struct{ UserAgent, IP, Location string }

// revokedNotices map the flag a revocation comes back with to its phrase.
var revokedNotices = map[string]string{"one": "sessions.revoked_one", "others": "sessions.revoked_others"}

func (h *Handler) sessionsPage(w http.ResponseWriter, r *http.Request) {
	p, s, err := h.newPage(r, "title.sessions")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s == nil || !h.sessions.SatisfiesWhoami(s) {
		h.signInFirst(w, r, s)
		return
	}
	list, more, err := h.sessions.ActiveOf(r.Context(), s.IdentityID, maxListedSessions)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sort.SliceStable(list, func(i, j int) bool {
		if !list[i].AuthenticatedAt.Equal(list[j].AuthenticatedAt) {
			return list[i].AuthenticatedAt.After(list[j].AuthenticatedAt)
		}
		return list[i].ID.String() < list[j].ID.String()
	})
	v := &sessionsView{
		More:   more,
		Notice: revokedNotices[r.URL.Query().Get("revoked")],
		CSRF:   flow.Mask(h.kit.CSRF.Ensure(w, r)),
		Revoke: h.kit.PublicURL + "ui/sessions/revoke", RevokeRest: h.kit.PublicURL + "ui/sessions/revoke-others",
	}
	for _, x := range list {
		sv := h.sessionView(p, x)
		sv.Current = x.ID == s.ID
		if !sv.Current {
			v.Others++
		}
		v.Sessions = append(v.Sessions, sv)
	}
	p.Content = v
	h.render(w, r, http.StatusOK, "sessions", p)
}

func (h *Handler) sessionView(p *page, s *session.Session) sessionView {
	v := sessionView{ID: s.ID.String(), AuthenticatedAt: s.AuthenticatedAt, ExpiresAt: s.ExpiresAt, AAL: s.AAL, AALLabel: s.AAL}
	if key := "sessions." + s.AAL; s.AAL != "" && p.T(key) != key {
		v.AALLabel = p.T(key)
	}
	for _, d := range s.Devices {
		v.Devices = append(v.Devices, deviceView{UserAgent: deref(d.UserAgent), IP: deref(d.IPAddress), Location: deref(d.Location)})
	}
	seen := map[string]bool{}
	for _, m := range s.Methods {
		name := p.T("group." + m.Method)
		if m.Method == "oidc" && m.Provider != "" {
			name = m.Provider
		}
		if name == "" || strings.HasPrefix(name, "group.") {
			name = m.Method
		}
		if !seen[name] {
			seen[name] = true
			v.Methods = append(v.Methods, name)
		}
	}
	return v
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// signInFirst sends a browser that is signed out, or whose session lacks
// the second factor listing sessions asks for, through sign-in and back.
func (h *Handler) signInFirst(w http.ResponseWriter, r *http.Request, s *session.Session) {
	q := url.Values{"return_to": {h.kit.PublicURL + "ui/sessions"}}
	if s != nil {
		q.Set("aal", session.AAL2)
	}
	http.Redirect(w, r, h.kit.PublicURL+"ui/login?"+q.Encode(), http.StatusSeeOther)
}

// revokeSession ends one other session of the signed-in identity.
func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	h.revoking(w, r, func(s *session.Session) (string, error) {
		id, err := uuid.Parse(r.PostFormValue("session_id"))
		if err != nil {
			return "", session.ErrSessionNotFound
		}
		return "one", h.sessions.RevokeOwn(r.Context(), s, id)
	})
}

// revokeOtherSessions ends every session of the signed-in identity but
// this one.
func (h *Handler) revokeOtherSessions(w http.ResponseWriter, r *http.Request) {
	h.revoking(w, r, func(s *session.Session) (string, error) {
		_, err := h.sessions.RevokeOthersOf(r.Context(), s)
		return "others", err
	})
}

// revoking checks a revocation form (its CSRF token first, then the
// session) and runs revoke; success goes back to the list with revoke's
// flag, any refusal is the error page and changes nothing.
func (h *Handler) revoking(w http.ResponseWriter, r *http.Request, revoke func(*session.Session) (string, error)) {
	p, s, err := h.newPage(r, "title.sessions")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRevokeForm)
	if err := r.ParseForm(); err != nil {
		e := wire.From(err)
		if e.Code >= 500 {
			e = wire.BadRequest.WithReason("The form could not be read.")
		}
		h.showError(w, r, p, e)
		return
	}
	if err := h.kit.CSRF.Verify(r, r.PostFormValue("csrf_token")); err != nil {
		h.showError(w, r, p, wire.From(err))
		return
	}
	if s == nil {
		h.signInFirst(w, r, nil)
		return
	}
	flag, err := revoke(s)
	if err != nil {
		if wire.From(err).Code >= 500 {
			h.fail(w, r, err)
			return
		}
		h.showError(w, r, p, wire.From(err))
		return
	}
	http.Redirect(w, r, h.kit.PublicURL+"ui/sessions?revoked="+flag, http.StatusSeeOther)
}
