// Package ui is Lanyard's built-in user interface: server-rendered pages
// under <public>/ui/ for every self-service flow, shown whenever a flow's
// ui_url is not configured. Pages render a flow's nodes generically, so a
// method added later appears with no change here.
//
// A page is a template in templates/ defining "content", rendered inside
// the layout (templates/base.html) by Handler.render with a page made by
// Handler.newPage: newPage picks the language, the branding and the
// signed-in session; the handler puts its data in page.Content.
// Templates reach phrases with {{$.T "key"}}, messages with {{$.Msg m}}
// and dates with {{$.Date t}}; render sets the security headers and the
// policy whose nonce every <script> and <style> carries ({{$.Nonce}}).
package ui

import (
	"net/http"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/ui/i18n"
)

// Options shape the pages.
type Options struct {
	Branding config.UIBranding
	// Translator words the pages; nil: internal/ui/i18n's catalogue.
	Translator Translator
	// FormActionOrigins are where a form submission may be redirected
	// besides this origin (social sign-in providers), for form-action.
	FormActionOrigins []string
	// Dev enables the pages only a development server has.
	Dev bool
	// Mailbox is the courier the dev mailbox (/ui/mailbox) reads; the
	// page exists only with Dev.
	Mailbox Mailbox
}

// Handler serves the pages.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	ids      *identity.Manager
	opts     Options
	tr       Translator
	csp      cspTemplate
	pages    *pageSet
}

// New makes the pages over the flows of kit.
func New(kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, opts Options) *Handler {
	if opts.Branding.Name == "" {
		opts.Branding.Name = "Lanyard"
	}
	if opts.Branding.PrimaryColor == "" {
		opts.Branding.PrimaryColor = config.DefaultPrimaryColor
	}
	tr := opts.Translator
	if tr == nil {
		tr = i18n.New()
	}
	return &Handler{
		kit: kit, sessions: sessions, ids: ids, opts: opts, tr: tr,
		csp:   newCSPTemplate(opts.Branding.LogoURL, opts.FormActionOrigins),
		pages: mustParsePages(),
	}
}

// Register mounts the pages and their assets.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ui/{$}", h.welcome)
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, h.kit.PublicURL+"ui/", http.StatusSeeOther)
	})
	for _, kind := range flowKinds {
		mux.HandleFunc("GET /ui/"+string(kind), h.flowPage(kind))
	}
	mux.HandleFunc("GET /ui/error", h.errorPage)
	mux.HandleFunc("GET /ui/sessions", h.sessionsPage)
	mux.HandleFunc("POST /ui/sessions/revoke", h.revokeSession)
	mux.HandleFunc("POST /ui/sessions/revoke-others", h.revokeOtherSessions)
	if h.hasMailbox() {
		mux.HandleFunc("GET /ui/mailbox", h.mailbox)
	}
	mux.HandleFunc("GET /ui/assets/{name}", serveAsset)
}

// flowKinds are the flows with a page of their own.
var flowKinds = []flow.Kind{flow.Login, flow.Registration, flow.Settings, flow.Recovery, flow.Verification}
