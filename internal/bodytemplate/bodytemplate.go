// Package bodytemplate builds the bodies of outgoing HTTP requests from
// Jsonnet templates, as Kratos configs write them: a template located by a
// file://, base64:// or http(s):// URL, called as function(ctx), that may
// refuse with error "cancel".
package bodytemplate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-jsonnet"

	"github.com/lanyard-id/lanyard/internal/config"
)

// MaxSize bounds what a template URL may hold.
const MaxSize = 1 << 20

// ErrCancelled is a template saying "do not send this one".
var ErrCancelled = errors.New("the body template cancelled the request")

// Template is a parsed Jsonnet body template.
type Template struct {
	name string
	src  string
}

// Load fetches the template at u and checks that it parses.
func Load(ctx context.Context, client *http.Client, name, u string) (*Template, error) {
	b, err := Fetch(ctx, client, u)
	if err != nil {
		return nil, err
	}
	if _, err := jsonnet.SnippetToAST(name, string(b)); err != nil {
		return nil, fmt.Errorf("invalid Jsonnet: %v", err)
	}
	return &Template{name: name, src: string(b)}, nil
}

// Evaluate calls the template with ctx (marshalled to JSON) and answers
// its JSON output.
func (t *Template) Evaluate(ctx any) ([]byte, error) {
	ctxJSON, err := json.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	vm := jsonnet.MakeVM()
	// Templates get ctx and nothing else: no files, no environment.
	vm.Importer(&jsonnet.MemoryImporter{Data: map[string]jsonnet.Contents{}})
	vm.TLACode("ctx", string(ctxJSON))
	// The VM answers errors as formatted text; the formatter sees them
	// typed first.
	f := &cancelSpotter{ErrorFormatter: vm.ErrorFormatter}
	vm.ErrorFormatter = f
	out, err := vm.EvaluateAnonymousSnippet(t.name, t.src)
	if err != nil {
		if f.cancelled {
			return nil, ErrCancelled
		}
		return nil, fmt.Errorf("evaluating the body template: %v", err)
	}
	return []byte(out), nil
}

// cancelSpotter notices a template's error "cancel".
type cancelSpotter struct {
	jsonnet.ErrorFormatter
	cancelled bool
}

func (c *cancelSpotter) Format(err error) string {
	var rt jsonnet.RuntimeError
	if errors.As(err, &rt) && rt.Msg == "cancel" {
		c.cancelled = true
	}
	return c.ErrorFormatter.Format(err)
}

// Fetch reads a file://, base64:// or http(s):// URL, as the config
// loader resolved it (file paths are absolute), up to MaxSize. Errors name
// the URL without its query or credentials.
func Fetch(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	scheme, rest, _ := strings.Cut(u, "://")
	switch strings.ToLower(scheme) {
	case "file":
		p, _, _ := strings.Cut(rest, "?")
		if unescaped, err := url.PathUnescape(p); err == nil {
			p = unescaped
		}
		f, err := os.Open(filepath.FromSlash(p))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, errors.Unwrap(err))
		}
		defer f.Close()
		return readLimited(f)
	case "base64":
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(rest); err == nil {
				return limited(b)
			}
		}
		return nil, errors.New("the base64:// URL does not hold valid base64")
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", redacted(u), errors.Unwrap(err))
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetching %s: the server answered %s", redacted(u), res.Status)
		}
		return readLimited(res.Body)
	default:
		return nil, fmt.Errorf("unsupported URL scheme %q (use file://, base64://, http:// or https://)", scheme)
	}
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	return limited(b)
}

func limited(b []byte) ([]byte, error) {
	if len(b) > MaxSize {
		return nil, errors.New("the template is larger than 1 MiB")
	}
	return b, nil
}

// redacted is u without its query and credentials, for errors.
func redacted(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(url)"
	}
	parsed.RawQuery, parsed.User = "", nil
	return parsed.String()
}

// Authorize adds the configured credentials of an outgoing request
// (request_config.auth of HTTP courier channels and web hooks).
func Authorize(req *http.Request, a config.HTTPAuth) {
	switch a.Type {
	case "basic_auth":
		req.SetBasicAuth(a.User, a.Password)
	case "api_key":
		if a.In == "cookie" {
			req.AddCookie(&http.Cookie{Name: a.Name, Value: a.Value})
		} else {
			req.Header.Set(a.Name, a.Value)
		}
	}
}

// FormValues turns a template's JSON object into form fields, for a body
// sent as application/x-www-form-urlencoded.
func FormValues(payload []byte) (url.Values, error) {
	var obj map[string]any
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, errors.New("a form-encoded body needs the body template to produce a JSON object")
	}
	form := url.Values{}
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
		case string:
			form.Set(k, v)
		case float64, bool:
			form.Set(k, fmt.Sprint(v))
		default:
			b, _ := json.Marshal(v)
			form.Set(k, string(b))
		}
	}
	return form, nil
}
