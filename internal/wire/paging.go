package wire

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Keyset pagination as Kratos's list endpoints do it: page_size and an
// opaque page_token naming the last id of the previous page, and a Link
// header with rel="first" and, while more follow, rel="next".

// Paging limits of the list endpoints.
const (
	DefaultPageSize = 250
	MaxPageSize     = 1000
)

// Page is a parsed page request.
type Page struct {
	Size  int
	After *uuid.UUID // nil for the first page
}

type pageToken struct {
	K string `json:"k"`
}

// ParsePage reads page_size (or the deprecated per_page) and page_token.
func ParsePage(r *http.Request) (Page, error) {
	p := Page{Size: DefaultPageSize}
	q := r.URL.Query()
	size := q.Get("page_size")
	if size == "" {
		size = q.Get("per_page")
	}
	if size != "" {
		n, err := strconv.Atoi(size)
		if err != nil || n < 1 {
			return p, BadRequest.WithReason("page_size must be a positive whole number.")
		}
		p.Size = min(n, MaxPageSize)
	}
	if tok := q.Get("page_token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		var t pageToken
		if err != nil || json.Unmarshal(raw, &t) != nil {
			return p, BadRequest.WithReason("page_token is malformed.")
		}
		id, err := uuid.Parse(t.K)
		if err != nil {
			return p, BadRequest.WithReason("page_token is malformed.")
		}
		p.After = &id
	}
	return p, nil
}

// SetLinkHeader sets the Link header for a page; next is the last id of
// the page when more follow, else nil. base is the listener's base URL.
func SetLinkHeader(w http.ResponseWriter, r *http.Request, base string, size int, next *uuid.UUID) {
	link := func(token string) string {
		q := r.URL.Query()
		for _, k := range []string{"page_token", "page_size", "per_page", "page"} {
			q.Del(k)
		}
		q.Set("page_size", strconv.Itoa(size))
		if token != "" {
			q.Set("page_token", token)
		}
		return strings.TrimSuffix(base, "/") + r.URL.Path + "?" + q.Encode()
	}
	parts := []string{"<" + link("") + `>; rel="first"`}
	if next != nil {
		raw, _ := json.Marshal(pageToken{K: next.String()})
		parts = append(parts, "<"+link(base64.RawURLEncoding.EncodeToString(raw))+`>; rel="next"`)
	}
	w.Header().Set("Link", strings.Join(parts, ","))
}
