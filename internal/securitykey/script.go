package securitykey

import (
	"bytes"
	"crypto/sha512"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
)

//go:embed webauthn.js
var script []byte

// ScriptPath is where UIs load webauthn.js from, as in Kratos.
const ScriptPath = "/.well-known/ory/webauthn.js"

// Script is webauthn.js as served and as referenced by flows' script nodes.
type Script struct {
	src       string // absolute URL, versioned by the file's hash
	version   string
	etag      string
	integrity string
}

// NewScript serves webauthn.js under publicURL (the public base URL).
func NewScript(publicURL string) *Script {
	sum := sha512.Sum512(script)
	version := hex.EncodeToString(sum[:8])
	return &Script{
		src:       strings.TrimRight(publicURL, "/") + ScriptPath + "?v=" + version,
		version:   version,
		etag:      `"` + version + `"`,
		integrity: "sha512-" + base64.StdEncoding.EncodeToString(sum[:]),
	}
}

// Register mounts GET (and HEAD) ScriptPath. A request naming the current
// version (?v=, as the script node's src does) may be cached for a year: a
// new script has a new URL. Any other request revalidates by ETag, so it
// never runs a stale script against a fresh integrity hash.
func (s *Script) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ScriptPath, s.serve)
}

func (s *Script) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=UTF-8")
	h.Set("ETag", s.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	// Script nodes load it with crossorigin="anonymous" and an integrity
	// hash, which needs CORS when the UI is on another origin; the file is
	// public and fetched without credentials.
	h.Set("Access-Control-Allow-Origin", "*")
	if r.URL.Query().Get("v") == s.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	http.ServeContent(w, r, "webauthn.js", time.Time{}, bytes.NewReader(script))
}

// Node is the script node that loads webauthn.js in a flow's UI, with a
// fresh nonce for the page's content security policy.
func (s *Script) Node() *flow.Node {
	return flow.Script("webauthn", "webauthn_script", s.src, flow.ScriptOptions{
		Async:          true,
		ReferrerPolicy: "no-referrer",
		CrossOrigin:    "anonymous",
		Integrity:      s.integrity,
		Type:           "text/javascript",
		Nonce:          uuid.NewString(),
	})
}
