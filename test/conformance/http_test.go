package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a raw request. body may be nil, []byte, string or a value that
// is encoded as JSON.
func (s *Server) do(t *testing.T, method, rawURL string, body any, header http.Header) response {
	t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		reader = bytes.NewReader(b)
	case string:
		reader = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, rawURL, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := s.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// apiError is Kratos's generic error body.
type apiError struct {
	Error struct {
		ID      string         `json:"id"`
		Code    int            `json:"code"`
		Status  string         `json:"status"`
		Reason  string         `json:"reason"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// requireError asserts the Kratos error shape with the given status.
// want 0 accepts any 4xx.
func requireError(t *testing.T, status int, body []byte, want int) apiError {
	t.Helper()
	if status >= 500 {
		t.Fatalf("got a server error %d, want %s: %s", status, describeWant(want), body)
	}
	if want == 0 && (status < 400 || status > 499) || want != 0 && status != want {
		t.Fatalf("status %d, want %s: %s", status, describeWant(want), body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON (%v): %q", err, body)
	}
	if e.Error.Code != status {
		t.Errorf("error.code = %d, want the HTTP status %d: %s", e.Error.Code, status, body)
	}
	if e.Error.Status != http.StatusText(status) {
		t.Errorf("error.status = %q, want %q: %s", e.Error.Status, http.StatusText(status), body)
	}
	if e.Error.Message == "" {
		t.Errorf("error.message is empty: %s", body)
	}
	return e
}

func describeWant(want int) string {
	if want == 0 {
		return "a 4xx"
	}
	return http.StatusText(want) + " (" + strconv.Itoa(want) + ")"
}

// sdkFailure returns the status and body of a failed SDK call.
func sdkFailure(t *testing.T, res *http.Response, err error) (int, []byte) {
	t.Helper()
	if err == nil {
		t.Fatalf("the call succeeded with %d, want an error", res.StatusCode)
	}
	if res == nil {
		t.Fatalf("transport error: %v", err)
	}
	var oerr *ory.GenericOpenAPIError
	if errors.As(err, &oerr) {
		return res.StatusCode, oerr.Body()
	}
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// requireOK fails the test unless an SDK call succeeded with want.
func requireOK(t *testing.T, res *http.Response, err error, want int) {
	t.Helper()
	if err != nil {
		if res == nil {
			t.Fatalf("transport error: %v", err)
		}
		var body []byte
		var oerr *ory.GenericOpenAPIError
		if errors.As(err, &oerr) {
			body = oerr.Body()
		}
		t.Fatalf("status %d (%v), want %d: %s", res.StatusCode, err, want, body)
	}
	if res.StatusCode != want {
		t.Fatalf("status %d, want %d", res.StatusCode, want)
	}
}

var linkPart = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?([a-z]+)"?`)

// parseLink maps rel to URL for an RFC 8288 Link header.
func parseLink(header string) map[string]*url.URL {
	out := map[string]*url.URL{}
	for _, m := range linkPart.FindAllStringSubmatch(header, -1) {
		if u, err := url.Parse(m[1]); err == nil {
			out[m[2]] = u
		}
	}
	return out
}
