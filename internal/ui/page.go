package ui

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/text"
)

//go:embed templates/*.html
var templateFS embed.FS

// layoutFiles are parsed into every page: the base layout and the
// templates that render nodes and messages.
var layoutFiles = []string{"templates/base.html", "templates/nodes.html"}

// pageSet holds one template per page, each the layout plus the page's
// own "content".
type pageSet struct{ byName map[string]*template.Template }

// mustParsePages parses every templates/*.html other than the layout as a
// page named after its file ("flow", "welcome", ...).
func mustParsePages() *pageSet {
	layout := template.Must(template.New("base.html").Funcs(funcs).ParseFS(templateFS, layoutFiles...))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	ps := &pageSet{byName: map[string]*template.Template{}}
	for _, file := range names {
		if isLayout(file) {
			continue
		}
		t := template.Must(template.Must(layout.Clone()).ParseFS(templateFS, file))
		ps.byName[strings.TrimSuffix(strings.TrimPrefix(file, "templates/"), ".html")] = t
	}
	return ps
}

// funcs are the templates' helpers: pair hands two values to a template
// that takes one argument.
var funcs = template.FuncMap{"pair": func(a, b any) []any { return []any{a, b} }}

func isLayout(file string) bool {
	for _, l := range layoutFiles {
		if l == file {
			return true
		}
	}
	return false
}

// page is what the layout renders around a page's content. Pages of this
// package (and the sessions and mailbox pages) fill Title and Content and
// call Handler.render.
type page struct {
	Lang  string
	Title string
	Brand config.UIBranding
	// Nonce is this response's CSP nonce, for every <script> and <style>.
	Nonce    string
	CSS, JS  string
	Home     string
	SignedIn bool
	// SignOut is the logout URL of the signed-in session.
	SignOut string
	Links   map[string]string
	// Content is the page's own data.
	Content any

	tag string
	tr  Translator
}

// T is a phrase of the UI in the page's language.
func (p *page) T(key string) string { return p.tr.Phrase(p.tag, key) }

// Msg is a message in the page's language.
func (p *page) Msg(m *text.Message) string {
	if m == nil {
		return ""
	}
	return p.tr.Text(p.tag, m)
}

// Date is t in the page's locale.
func (p *page) Date(t time.Time) string { return p.tr.Date(p.tag, t) }

// newPage starts the page of r: language, branding, links, and the
// signed-in session when there is one (s is nil when signed out).
func (h *Handler) newPage(r *http.Request, title string) (*page, *session.Session, error) {
	tag := h.tr.Match(r.Header.Get("Accept-Language"))
	if tag == "" {
		tag = "en"
	}
	p := &page{
		Lang: tag, Brand: h.opts.Branding, Nonce: newNonce(),
		CSS: assetURL(h.kit.PublicURL, "ui.css"), JS: assetURL(h.kit.PublicURL, "ui.js"),
		Home:  h.kit.PublicURL + "ui/",
		Links: h.links(),
		tag:   tag, tr: h.tr,
	}
	if !safeColor.MatchString(p.Brand.PrimaryColor) {
		p.Brand.PrimaryColor = config.DefaultPrimaryColor
	}
	p.Title = p.T(title)
	s, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		return p, nil, err
	}
	if s != nil {
		p.SignedIn = true
		p.SignOut = h.kit.PublicURL + "self-service/logout?" + url.Values{"token": {h.sessions.LogoutToken(h.sessions.TokenFrom(r))}}.Encode()
	}
	return p, s, nil
}

func (h *Handler) links() map[string]string {
	base := h.kit.PublicURL
	links := map[string]string{
		"login":        base + "ui/login",
		"registration": base + "ui/registration",
		"recovery":     base + "ui/recovery",
		"verification": base + "ui/verification",
		"settings":     base + "ui/settings",
		"sessions":     base + "ui/sessions",
	}
	if h.hasMailbox() {
		links["mailbox"] = base + "ui/mailbox"
	}
	return links
}

var safeColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// render writes page p with the template name and the security headers
// every page carries.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t := h.pages.byName[name]
	var buf bytes.Buffer
	if t == nil {
		slog.ErrorContext(r.Context(), "ui: no such page template", "page", name)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "base.html", p); err != nil {
		slog.ErrorContext(r.Context(), "ui: rendering a page", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp.with(p.Nonce))
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// newNonce is a fresh CSP nonce: 128 random bits.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// cspTemplate is the page's Content-Security-Policy with a slot for the
// response's nonce.
type cspTemplate struct{ before, between, after string }

func newCSPTemplate(logoURL string, formActions []string) cspTemplate {
	img := "'self' data:"
	if o := originOf(logoURL); o != "" {
		img += " " + o
	}
	form := "'self'"
	for _, a := range formActions {
		if o := originOf(a); o != "" {
			form += " " + o
		}
	}
	return cspTemplate{
		before:  "default-src 'none'; script-src 'nonce-",
		between: "'; style-src 'self' 'nonce-",
		after:   "'; img-src " + img + "; form-action " + form + "; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'",
	}
}

func (c cspTemplate) with(nonce string) string { return c.before + nonce + c.between + nonce + c.after }

// originOf is the scheme://host of an http(s) URL, or "" for anything a
// policy must not carry.
func originOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(u.Host, " ;,'") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
