package main

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
	"strconv"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// admin-pages measures keyset paging: the first page and page P of the
// admin identity list, of a trait search and of an identifier-prefix
// search, requested in turn so that noise falls on all of them alike.
// With keyset paging, page P costs what page 1 costs.

// pageKind is one way of listing identities.
type pageKind struct {
	name  string
	query url.Values // besides page_size and page_token
}

// pageRequest is one of the pages measured.
type pageRequest struct {
	name string // "list p1", "search p10000", ...
	url  string
}

// pageToken encodes the page token that follows id, as the server's Link
// header does (internal/wire: base64url of {"k": id}, unpadded).
func pageToken(afterID string) string {
	raw, _ := json.Marshal(struct {
		K string `json:"k"`
	}{afterID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

// nextPageToken reads the page_token of the rel="next" link of a Link
// header; "" when there is none (the last page).
func nextPageToken(link string) string {
	for part := range strings.SplitSeq(link, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(params, `rel="next"`) {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(target), "<>"))
		if err != nil {
			return ""
		}
		return u.Query().Get("page_token")
	}
	return ""
}

// pageKinds answers the kinds a run measures: the plain list always, the
// searches when their flags are set.
func pageKinds(trait, traitValue, prefix string) []pageKind {
	kinds := []pageKind{{name: "list", query: url.Values{}}}
	if trait != "" {
		kinds = append(kinds, pageKind{name: "search", query: url.Values{"trait": {trait}, "trait_value": {traitValue}}})
	}
	if prefix != "" {
		kinds = append(kinds, pageKind{name: "prefix", query: url.Values{"identifier_prefix": {prefix}}})
	}
	return kinds
}

// pageURL is the list URL of kind k at page_size size after token ("" for
// the first page).
func pageURL(target string, k pageKind, size int, token string) string {
	q := url.Values{}
	for key, v := range k.query {
		q[key] = v
	}
	q.Set("page_size", strconv.Itoa(size))
	if token != "" {
		q.Set("page_token", token)
	}
	return target + "?" + q.Encode()
}

// skipped is how many identities precede page p of size each.
func skipped(p, size int) int { return (p - 1) * size }

// tokenFromDB asks the database for the last identity before page p of kind
// k, the way the server orders them (by id), and answers the page token
// that starts page p.
func tokenFromDB(ctx context.Context, s *store.Store, k pageKind, p, size int) (string, error) {
	offset := skipped(p, size) - 1
	var query string
	var args []any
	switch k.name {
	case "list":
		query = `SELECT id FROM identities ORDER BY id LIMIT 1 OFFSET $1`
		args = []any{offset}
	case "search":
		query = `SELECT identity_id FROM identity_trait_search WHERE path = $1 AND value_lower = $2 ORDER BY identity_id LIMIT 1 OFFSET $3`
		args = []any{k.query.Get("trait"), strings.ToLower(k.query.Get("trait_value")), offset}
	case "prefix":
		query = `SELECT DISTINCT identity_id FROM identity_credential_identifiers WHERE type IN ($1, $2, $3, $4) AND identifier LIKE $5 ESCAPE '\' ORDER BY identity_id LIMIT 1 OFFSET $6`
		args = []any{identity.CredentialsCode, identity.CredentialsPasskey, identity.CredentialsPassword, identity.CredentialsWebAuthn,
			likePattern(strings.ToLower(k.query.Get("identifier_prefix"))), offset}
	default:
		return "", fmt.Errorf("unknown page kind %q", k.name)
	}
	var id string
	err := s.Read().QueryRow(ctx, query, args...).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%s: fewer than %d identities match: page %d does not exist", k.name, skipped(p, size), p)
	}
	if err != nil {
		return "", err
	}
	return pageToken(id), nil
}

// likePattern matches the strings starting with p, with '\' escaping.
func likePattern(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p) + "%"
}

// listAnswer is what a page answer is checked for.
type listAnswer struct {
	items int
	next  string
}

// getPage fetches one page; count parses the answer to count its items,
// which only the preflight and the walk need.
func getPage(ctx context.Context, hc *http.Client, st *opStats, what, u string, count bool) (listAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return listAnswer{}, fatalf("building the request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return listAnswer{}, errStopped
		}
		return listAnswer{}, check(st, what, answer{latency: time.Since(start)}, err, http.StatusOK)
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, body: body, location: resp.Header.Get("Location"), latency: time.Since(start)}
	if readErr != nil && ctx.Err() != nil {
		return listAnswer{}, errStopped
	}
	if err := check(st, what, a, readErr, http.StatusOK); err != nil {
		return listAnswer{}, err
	}
	la := listAnswer{next: nextPageToken(resp.Header.Get("Link"))}
	if !count {
		return la, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return la, fatalf("%s answered 200 but not a JSON array: %s", what, snippet(body))
	}
	la.items = len(items)
	return la, nil
}

// walkTo follows the next links from page 1 to page p and answers the
// token of page p; every page it reads is recorded under "walk <kind>".
func walkTo(ctx context.Context, hc *http.Client, rec *recorder, target string, k pageKind, p, size int) (string, error) {
	token := ""
	for page := 1; page < p; page++ {
		la, err := getPage(ctx, hc, rec.op("walk "+k.name), "walking "+k.name+" page "+strconv.Itoa(page), pageURL(target, k, size, token), true)
		if err != nil {
			return "", err
		}
		if la.next == "" || la.items < size {
			return "", fmt.Errorf("%s: page %d is the last one (%d items): page %d does not exist", k.name, page, la.items, p)
		}
		token = la.next
	}
	return token, nil
}

func runAdminPages(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("admin-pages", errOut)
	var c common
	c.register(fs, 2, 0, 10*time.Second)
	admin := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:4434 (loopback only)")
	size := fs.Int("page-size", 100, "page_size of every request")
	page := fs.Int("page", 10000, "the far page measured against page 1")
	dsn := fs.String("dsn", "", "the server's database: find the far page's token there (default: walk every page up to it through the API); default $LANYARD_SEED_DSN")
	walk := fs.Bool("walk", false, "walk the pages even when -dsn is set, and check the token matches the database's")
	trait := fs.String("trait", "", "also measure ?trait=<this>&trait_value=... (empty: not)")
	traitValue := fs.String("trait-value", "", "the trait value searched for: one every identity shares pages through all of them")
	prefix := fs.String("identifier-prefix", "", "also measure ?identifier_prefix=<this> (empty: not)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("admin", *admin)
	if err != nil {
		return nil, err
	}
	if *dsn == "" {
		*dsn = os.Getenv("LANYARD_SEED_DSN")
	}
	switch {
	case *size < 1 || *size > 1000:
		return nil, fmt.Errorf("%w: -page-size must be between 1 and 1000 (the server's maximum)", errUsage)
	case *page < 2:
		return nil, fmt.Errorf("%w: -page must be at least 2", errUsage)
	case *trait == "" && *traitValue != "":
		return nil, fmt.Errorf("%w: -trait-value needs -trait", errUsage)
	}

	target := base.String() + "/admin/identities"
	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	kinds := pageKinds(*trait, *traitValue, *prefix)
	res := &result{Scenario: "admin-pages", Target: target, Workers: c.workers, Unit: "pages"}

	var s *store.Store
	if *dsn != "" {
		if s, err = store.Open(ctx, *dsn); err != nil {
			return res, err
		}
		defer s.Close()
	}
	walked := newRecorder()
	var reqs []pageRequest
	var steps []string
	for _, k := range kinds {
		var token string
		if s != nil {
			if token, err = tokenFromDB(ctx, s, k, *page, *size); err != nil {
				return res, err
			}
		}
		if s == nil || *walk {
			start := time.Now()
			walkedToken, err := walkTo(ctx, hc, walked, target, k, *page, *size)
			if err != nil {
				return res, preflightError(err)
			}
			w := walked.op("walk " + k.name)
			lat := summarize(w.latencies)
			res.notes = append(res.notes, fmt.Sprintf("walked %s pages 1 to %d in %.1f s: %s", k.name, *page-1, time.Since(start).Seconds(), formatLatency(lat)))
			if token != "" && token != walkedToken {
				return res, fmt.Errorf("%s: walking to page %d gave another token than the database's: keyset order differs", k.name, *page)
			}
			token = walkedToken
		}
		for _, p := range []struct {
			n     int
			token string
		}{{1, ""}, {*page, token}} {
			name := fmt.Sprintf("%s p%d", k.name, p.n)
			reqs = append(reqs, pageRequest{name: name, url: pageURL(target, k, *size, p.token)})
			steps = append(steps, name)
		}
	}
	how := "walked through the API"
	if s != nil && !*walk {
		how = "the id before it read from the database"
	}
	res.notes = append(res.notes, fmt.Sprintf("page_size %d; page %d's token: %s", *size, *page, how))

	// Every page once first: each must be full, or the far page is not
	// where the run thinks it is.
	for _, r := range reqs {
		la, err := getPage(ctx, hc, newOpStats(), "GET "+r.name, r.url, true)
		if err != nil {
			return res, preflightError(err)
		}
		if la.items != *size {
			return res, fmt.Errorf("preflight: %s has %d identities, not %d: too few identities for page %d", r.name, la.items, *size, *page)
		}
	}
	op := func(ctx context.Context, rec *recorder, i int) error {
		r := reqs[i%len(reqs)]
		start := time.Now()
		_, err := getPage(ctx, hc, rec.op(r.name), "GET "+r.name, r.url, false)
		if !errors.Is(err, errStopped) {
			status := "200"
			if err != nil {
				status = "failed"
			}
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			rec.op("page").add(time.Since(start), status, err == nil, errText)
		}
		return err
	}
	return res, c.measure(ctx, res, op, "page", steps)
}
