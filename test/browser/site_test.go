// Package browser drives Debian's Chromium, headless, through the DevTools
// protocol (github.com/chromedp/chromedp) against a real lanyard server:
// webauthn.js runs on a page and talks to the browser's own WebAuthn API,
// answered by a DevTools virtual authenticator.
package browser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// site is a lanyard server behind a test-only web site on one origin,
// http://localhost:<port> (WebAuthn wants a domain, not an IP address):
// the site serves the UI pages the flows redirect to, rendering a flow's
// nodes as a form the way a Kratos UI does, and proxies everything else to
// the server, so the flows, the script and the cookies share the origin.
type site struct {
	Origin string // what the browser sees: the public base URL
	Public string // the server's own public listener
	Admin  string
}

var build struct {
	once sync.Once
	path string
	err  error
}

// TestMain removes the binary lanyardBinary built, which would otherwise
// stay in the temporary directory after every run.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.path != "" {
		_ = os.RemoveAll(filepath.Dir(build.path))
	}
	os.Exit(code)
}

// lanyardBinary builds ./cmd/lanyard once per run, with -race when the
// tests run with it, as the conformance tests do (so the build is cached).
func lanyardBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		root, err := testserver.RepoRoot()
		if err != nil {
			build.err = err
			return
		}
		dir, err := os.MkdirTemp("", "lanyard-browser-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "lanyard")
		build.err = testserver.Build(root, build.path, raceEnabled)
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// The stores the browser tests run on, one after the other (each has a
// browser of its own).
var stores = []string{"sqlite", "postgres"}

// forEachStore runs fn as subtests "sqlite" and "postgres".
func forEachStore(t *testing.T, fn func(t *testing.T, store string)) {
	for _, store := range stores {
		t.Run(store, func(t *testing.T) { fn(t, store) })
	}
}

// startSite starts the web site and a lanyard server on store with
// passkeys on, the relying party of passkeys and security keys being the
// site's origin; set adds or overrides config keys (by dotted path).
func startSite(t *testing.T, store string, set map[string]any) *site {
	t.Helper()
	return startSiteFor(t, store, func(string) map[string]any { return set })
}

// startSiteFor is startSite for config that depends on the site's origin,
// such as an OpenID Provider's redirect URIs: set is called once the
// origin is known, before the server starts.
func startSiteFor(t *testing.T, store string, set func(origin string) map[string]any) *site {
	t.Helper()
	bin := lanyardBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &site{Origin: fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)}
	publicPort, adminPort := testserver.FreePort(t), testserver.FreePort(t)
	s.Public = fmt.Sprintf("http://127.0.0.1:%d", publicPort)
	s.Admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)

	public, _ := url.Parse(s.Public)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui/{kind}", s.page)
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>app</title><h1 id="app">Signed in</h1>`)
	})
	mux.Handle("/", httputil.NewSingleHostReverseProxy(public))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "db.sqlite") + "?_fk=true"
	if store == "postgres" {
		dsn = testserver.PostgresDatabase(t)
	}
	cfg := testserver.BaseConfig(dsn, publicPort, adminPort)
	base := map[string]any{
		"serve.public.base_url":                                      s.Origin + "/",
		"selfservice.default_browser_return_url":                     s.Origin + "/app",
		"selfservice.allowed_return_urls":                            []any{s.Origin + "/app"},
		"selfservice.flows.login.ui_url":                             s.Origin + "/ui/login",
		"selfservice.flows.registration.ui_url":                      s.Origin + "/ui/registration",
		"selfservice.flows.settings.ui_url":                          s.Origin + "/ui/settings",
		"selfservice.flows.error.ui_url":                             s.Origin + "/ui/error",
		"selfservice.methods.password.config.haveibeenpwned_enabled": false,
		"selfservice.methods.passkey.enabled":                        true,
	}
	for _, method := range []string{"passkey", "webauthn"} {
		base["selfservice.methods."+method+".config.rp.id"] = "localhost"
		base["selfservice.methods."+method+".config.rp.display_name"] = "Lanyard Browser Test"
		base["selfservice.methods."+method+".config.rp.origins"] = []any{s.Origin}
	}
	for k, v := range set(s.Origin) {
		base[k] = v
	}
	serveLanyard(t, bin, dir, dsn, s.Admin, cfg, base)
	return s
}

// page renders the flow named by ?flow= as a form: each node as the input,
// button or script it describes, and the messages as paragraphs. The flow
// is read from the server with the browser's cookies, as a UI's back end
// reads it.
func (s *site) page(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	id := r.URL.Query().Get("flow")
	if kind == "error" {
		id = r.URL.Query().Get("id")
	}
	if id == "" {
		http.Error(w, "no flow id", http.StatusBadRequest)
		return
	}
	path := "/self-service/" + kind + "/flows?id="
	if kind == "error" {
		path = "/self-service/errors?id="
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, s.Public+path+url.QueryEscape(id), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Cookie", r.Header.Get("Cookie"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if res.StatusCode != http.StatusOK || kind == "error" {
		fmt.Fprintf(w, `<!doctype html><title>%s</title><pre id="error">%d %s</pre>`, kind, res.StatusCode, html.EscapeString(string(body)))
		return
	}
	var f flow
	if err := json.Unmarshal(body, &f); err != nil {
		fmt.Fprintf(w, `<!doctype html><pre id="error">%s</pre>`, html.EscapeString(err.Error()))
		return
	}
	_, _ = io.WriteString(w, renderFlow(kind, f))
}

// flow is the part of a flow a UI renders.
type flow struct {
	ID string `json:"id"`
	UI struct {
		Action   string    `json:"action"`
		Method   string    `json:"method"`
		Nodes    []node    `json:"nodes"`
		Messages []message `json:"messages"`
	} `json:"ui"`
}

type node struct {
	Type       string         `json:"type"`
	Group      string         `json:"group"`
	Attributes map[string]any `json:"attributes"`
	Messages   []message      `json:"messages"`
	Meta       struct {
		Label *message `json:"label"`
	} `json:"meta"`
}

type message struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
	Type string `json:"type"`
}

func (n node) attr(key string) string {
	switch v := n.Attributes[key].(type) {
	case string:
		return v
	case nil:
		return ""
	case bool, float64:
		return fmt.Sprint(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (n node) flag(key string) bool { v, _ := n.Attributes[key].(bool); return v }

// renderFlow writes the page of a flow: a form posting to ui.action.
func renderFlow(kind string, f flow) string {
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head><body>\n", esc(kind))
	for _, m := range f.UI.Messages {
		fmt.Fprintf(&b, "<p class=\"message\" data-id=\"%d\" data-type=\"%s\">%s</p>\n", m.ID, esc(m.Type), esc(m.Text))
	}
	fmt.Fprintf(&b, "<form id=\"flow\" action=\"%s\" method=\"%s\">\n", esc(f.UI.Action), esc(f.UI.Method))
	for _, n := range f.UI.Nodes {
		label := ""
		if n.Meta.Label != nil {
			label = n.Meta.Label.Text
		}
		switch n.Type {
		case "script":
			fmt.Fprintf(&b, "<script src=\"%s\" integrity=\"%s\" crossorigin=\"%s\" referrerpolicy=\"%s\" type=\"%s\" nonce=\"%s\"%s></script>\n",
				esc(n.attr("src")), esc(n.attr("integrity")), esc(n.attr("crossorigin")), esc(n.attr("referrerpolicy")),
				esc(n.attr("type")), esc(n.attr("nonce")), map[bool]string{true: " async"}[n.flag("async")])
		case "input":
			typ := n.attr("type")
			common := fmt.Sprintf("name=\"%s\" value=\"%s\"%s", esc(n.attr("name")), esc(n.attr("value")), map[bool]string{true: " disabled"}[n.flag("disabled")])
			switch typ {
			case "submit":
				// data-label tells apart buttons that submit the same value
				// (a provider's sign-up and its "Continue").
				labelID := int64(0)
				if n.Meta.Label != nil {
					labelID = n.Meta.Label.ID
				}
				fmt.Fprintf(&b, "<button type=\"submit\" %s data-label=\"%d\">%s</button>\n", common, labelID, esc(label))
			case "button":
				// The legacy onclick carries the call itself; newer nodes
				// name the script's function in onclickTrigger.
				onclick := n.attr("onclick")
				if onclick == "" && n.attr("onclickTrigger") != "" {
					onclick = "window." + n.attr("onclickTrigger") + "()"
				}
				fmt.Fprintf(&b, "<button type=\"button\" %s onclick=\"%s\">%s</button>\n", common, esc(onclick), esc(label))
			default:
				// No required attribute: one form holds every method here,
				// where UIs that honour it give each method a form of its own.
				fmt.Fprintf(&b, "<label>%s <input type=\"%s\" %s autocomplete=\"%s\"></label>\n",
					esc(label), esc(typ), common, esc(n.attr("autocomplete")))
			}
		default:
			fmt.Fprintf(&b, "<p class=\"node\" data-type=\"%s\">%s</p>\n", esc(n.Type), esc(label))
		}
		for _, m := range n.Messages {
			fmt.Fprintf(&b, "<p class=\"message\" data-id=\"%d\" data-type=\"%s\">%s</p>\n", m.ID, esc(m.Type), esc(m.Text))
		}
	}
	b.WriteString("</form>\n</body></html>\n")
	return b.String()
}

// createIdentity makes an identity with a password through the admin API
// and answers its id.
func (s *site) createIdentity(t *testing.T, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"schema_id":   "default",
		"traits":      map[string]any{"email": email},
		"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"password": password}}},
	})
	res, err := http.Post(s.Admin+"/admin/identities", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out struct {
		ID string `json:"id"`
	}
	if res.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil || out.ID == "" {
		t.Fatalf("creating %s: %d %s", email, res.StatusCode, raw)
	}
	return out.ID
}

// whoami asks the server who the session cookie belongs to.
func (s *site) whoami(t *testing.T, cookie *http.Cookie) (int, session) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.Public+"/sessions/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var sess session
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &sess); err != nil {
			t.Fatalf("whoami body: %v: %s", err, body)
		}
	}
	return res.StatusCode, sess
}

// session is what the test reads of a whoami answer.
type session struct {
	ID       string `json:"id"`
	Active   bool   `json:"active"`
	AAL      string `json:"authenticator_assurance_level"`
	Identity struct {
		ID     string         `json:"id"`
		Traits map[string]any `json:"traits"`
	} `json:"identity"`
	Methods []struct {
		Method   string `json:"method"`
		AAL      string `json:"aal"`
		Provider string `json:"provider"`
	} `json:"authentication_methods"`
}

// serveLanyard sets keys in cfg, writes it to dir/lanyard.yml and runs the
// server binary bin on dsn until the test ends, logging its output when
// the test failed.
func serveLanyard(t *testing.T, bin, dir, dsn, admin string, cfg, keys map[string]any) {
	t.Helper()
	for k, v := range keys {
		testserver.SetPath(cfg, k, v)
	}
	cfgPath := filepath.Join(dir, "lanyard.yml")
	if err := os.WriteFile(cfgPath, testserver.RenderYAML(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	proc, err := testserver.Serve(testserver.Spec{
		Binary: bin, Dir: dir, Config: cfgPath, DSN: dsn, AdminURL: admin,
		Env: map[string]string{"LANYARD_DATA_DIR": filepath.Join(dir, "data")},
	})
	if err != nil {
		t.Fatalf("starting lanyard: %v\n%s", err, proc.Output.String())
	}
	t.Cleanup(func() {
		if err := proc.Stop(); err != nil {
			t.Errorf("lanyard %v", err)
		}
		if t.Failed() {
			t.Logf("lanyard log:\n%s", proc.Output.String())
		}
	})
}
