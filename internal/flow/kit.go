package flow

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Config holds the flow-related parts of the configuration.
type Config struct {
	PublicURL string // ends with "/"
	// UIURL is where browsers render each kind of flow (ui_url).
	UIURL      map[Kind]string
	ErrorUIURL string
	Lifespan   map[Kind]time.Duration
	// DefaultReturnTo is selfservice.default_browser_return_url.
	DefaultReturnTo string
	// AfterReturnTo overrides DefaultReturnTo per kind
	// (selfservice.flows.<kind>.after.default_browser_return_url).
	AfterReturnTo     map[Kind]string
	AfterLogout       string
	AllowedReturnURLs []string
	// LinkBaseURL is selfservice.methods.link.config.base_url: where the
	// links in messages point, when not at PublicURL.
	LinkBaseURL string
}

// LinkURL is the address of a public endpoint (path without a leading
// slash) as a link in a message shows it.
func (c Config) LinkURL(path string, q url.Values) string {
	base := c.PublicURL
	if c.LinkBaseURL != "" {
		base = strings.TrimSuffix(c.LinkBaseURL, "/") + "/"
	}
	return base + path + "?" + q.Encode()
}

// Kit is what every flow handler uses: storage, CSRF, return_to checks and
// the answers for browsers.
type Kit struct {
	Config
	Store *store.Store
	CSRF  *CSRF

	entries map[Kind]Entry
}

// LifespanOf answers how long flows of kind live (default one hour).
func (k *Kit) LifespanOf(kind Kind) time.Duration {
	if d := k.Lifespan[kind]; d > 0 {
		return d
	}
	return time.Hour
}

// UIURLOf answers the UI URL of kind.
func (k *Kit) UIURLOf(kind Kind) string {
	if u := k.UIURL[kind]; u != "" {
		return u
	}
	return k.PublicURL + "ui/" + string(kind)
}

// ErrReturnToForbidden is Kratos's self_service_flow_return_to_forbidden.
var ErrReturnToForbidden = wire.BadRequest.WithID("self_service_flow_return_to_forbidden").
	WithReason("The requested return_to URL is not allowed. Add it to selfservice.allowed_return_urls.")

// CheckReturnTo validates a requested return_to as Kratos does: it must
// match an allowed URL in scheme, host (a leading "*" matches any prefix,
// so "*.example.com" allows subdomains) and path prefix. Any scheme works
// once it is listed, so native apps can return to deep links such as
// exp://example.com/my-app; script schemes (javascript:, data:, vbscript:)
// never do, and neither do opaque URLs, which have no host or path to
// check. Relative URLs resolve against the public base URL.
func (k *Kit) CheckReturnTo(requested string) (string, error) {
	if requested == "" {
		return "", nil
	}
	u, err := url.Parse(requested)
	if err != nil {
		return "", ErrReturnToForbidden
	}
	if base, err := url.Parse(k.PublicURL); err == nil {
		u = base.ResolveReference(u)
	}
	if u.Scheme == "" || u.Opaque != "" || scriptSchemes[u.Scheme] {
		return "", ErrReturnToForbidden
	}
	allowed := append([]string{}, k.AllowedReturnURLs...)
	// Lanyard's own public URL is always a safe place to come back to
	// (e.g. the settings flow sending a browser through login and back).
	allowed = append(allowed, k.DefaultReturnTo, k.PublicURL)
	for _, a := range allowed {
		au, err := url.Parse(a)
		if err != nil || a == "" || au.Opaque != "" {
			continue
		}
		if !strings.EqualFold(au.Scheme, u.Scheme) || !hostMatches(au.Host, u.Host) {
			continue
		}
		if strings.HasPrefix(u.Path, au.Path) || strings.TrimSuffix(au.Path, "/") == u.Path {
			return u.String(), nil
		}
	}
	return "", ErrReturnToForbidden
}

// scriptSchemes run code where a browser is sent, so no allow list entry
// can make them a return address.
var scriptSchemes = map[string]bool{"javascript": true, "data": true, "vbscript": true}

// hostMatches compares hosts (with ports) case-insensitively; a pattern
// starting with "*" matches every host ending in the rest, as in Kratos.
func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return suffix != "" && strings.HasSuffix(host, suffix)
	}
	return pattern == host
}

// ReturnTo picks where a browser goes after a flow of kind completes.
func (k *Kit) ReturnTo(f *Flow) string {
	if f != nil && f.ReturnTo != "" {
		return f.ReturnTo
	}
	if f != nil {
		if u := k.AfterReturnTo[f.Kind]; u != "" {
			return u
		}
	}
	return k.defaultReturnTo()
}

// defaultReturnTo is selfservice.default_browser_return_url, or else the
// built-in UI's welcome page.
func (k *Kit) defaultReturnTo() string {
	if k.DefaultReturnTo != "" {
		return k.DefaultReturnTo
	}
	return k.PublicURL + "ui/"
}

// LogoutReturnTo implements session.Redirector.
func (k *Kit) LogoutReturnTo(_ *http.Request, requested string) (string, error) {
	if requested != "" {
		return k.CheckReturnTo(requested)
	}
	if k.AfterLogout != "" {
		return k.AfterLogout, nil
	}
	return k.defaultReturnTo(), nil
}

// FlowUIURL is where a browser shows flow f.
func (k *Kit) FlowUIURL(f *Flow) string {
	return appendQuery(k.UIURLOf(f.Kind), "flow", f.ID.String())
}

// RedirectToUI sends a browser to the flow's UI.
func (k *Kit) RedirectToUI(w http.ResponseWriter, r *http.Request, f *Flow) {
	http.Redirect(w, r, k.FlowUIURL(f), http.StatusSeeOther)
}

func appendQuery(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// BrowserError stores err for the error UI and sends the browser there.
func (k *Kit) BrowserError(w http.ResponseWriter, r *http.Request, err error) {
	e := wire.From(err)
	if e.Code >= 500 {
		// Logged with its cause by WriteError's sibling; keep the same here.
		wire.LogServerError(r, err)
	}
	id := uuid.New()
	body, _ := json.Marshal(e)
	now := store.Now()
	werr := k.Store.Write(r.Context(), func(q *store.Q) error {
		_, err := q.Exec(r.Context(), `INSERT INTO selfservice_errors (id, error, created_at, updated_at) VALUES ($1, $2, $3, $4)`, id, string(body), now, now)
		return err
	})
	if werr != nil {
		wire.WriteError(w, r, werr)
		return
	}
	http.Redirect(w, r, appendQuery(k.errorUI(), "id", id.String()), http.StatusSeeOther)
}

func (k *Kit) errorUI() string {
	if k.ErrorUIURL != "" {
		return k.ErrorUIURL
	}
	return k.PublicURL + "ui/error"
}

// stubErrors are canned errors for testing UIs, as Kratos serves them.
var stubErrors = map[string]*wire.Error{
	"stub:500": wire.Internal.WithReason("This is a stub error."),
	"stub:400": wire.BadRequest.WithReason("This is a stub error."),
	"stub:404": wire.NotFound.WithReason("This is a stub error."),
}

// ServeError answers GET /self-service/errors?id=.
func (k *Kit) ServeError(w http.ResponseWriter, r *http.Request) {
	e, err := k.ReadError(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"id": e.ID, "error": e.Error, "created_at": e.CreatedAt, "updated_at": e.UpdatedAt})
}
