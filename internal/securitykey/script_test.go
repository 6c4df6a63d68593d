package securitykey

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

func TestScriptServed(t *testing.T) {
	s := NewScript("https://auth.example.org/")
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(query string, header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+ScriptPath+query, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	res := get("?v="+s.version, nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=UTF-8" {
		t.Fatalf("%d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sum := sha512.Sum512(body)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != s.Node().Attributes.Integrity {
		t.Errorf("served file hashes to %s, node says %s", got, s.Node().Attributes.Integrity)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "public") {
		t.Errorf("versioned Cache-Control = %q", cc)
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("ETag %q, CORS %q", etag, res.Header.Get("Access-Control-Allow-Origin"))
	}

	for _, q := range []string{"", "?v=old"} {
		if cc := get(q, nil).Header.Get("Cache-Control"); strings.Contains(cc, "max-age=31536000") {
			t.Errorf("%q: Cache-Control = %q, want revalidation", q, cc)
		}
	}
	if res := get("", http.Header{"If-None-Match": {etag}}); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+ScriptPath, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", res.StatusCode, err)
	}
}

func TestScriptNode(t *testing.T) {
	s := NewScript("https://auth.example.org/")
	a, b := s.Node(), s.Node()
	if a.Attributes.Nonce == "" || a.Attributes.Nonce == b.Attributes.Nonce {
		t.Errorf("nonces %q and %q, want fresh ones", a.Attributes.Nonce, b.Attributes.Nonce)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var n ory.UiNode
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	attr := n.Attributes.UiNodeScriptAttributes
	if attr == nil {
		t.Fatalf("not a script node: %s", raw)
	}
	if n.Group != "webauthn" || attr.Id != "webauthn_script" || !attr.Async || attr.Referrerpolicy != "no-referrer" ||
		attr.Crossorigin != "anonymous" || attr.Type != "text/javascript" || !strings.HasPrefix(attr.Integrity, "sha512-") ||
		!strings.HasPrefix(attr.Src, "https://auth.example.org/.well-known/ory/webauthn.js") {
		t.Errorf("node = %s", raw)
	}
}

// TestScriptParses checks webauthn.js with node when it is installed, then
// drives it against a fake DOM (testdata/dom.js).
func TestScriptParses(t *testing.T) {
	nodeJS, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: webauthn.js not checked")
	}
	if out, err := exec.Command(nodeJS, "--check", "webauthn.js").CombinedOutput(); err != nil {
		t.Fatalf("node --check: %v\n%s", err, out)
	}
	if out, err := exec.Command(nodeJS, "testdata/dom.js", "webauthn.js").CombinedOutput(); err != nil {
		t.Fatalf("webauthn.js against a fake DOM: %v\n%s", err, out)
	}
}
