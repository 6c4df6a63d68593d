// Package breach asks a Pwned Passwords range API (haveibeenpwned.com's,
// or a self-hosted mirror) how often a password appears in known data
// breaches. Only the first five hex characters of the password's SHA-1
// leave the process (k-anonymity): the API answers every suffix it knows
// under that prefix, and the comparison happens here.
package breach

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lanyard-id/lanyard/internal/egress"
)

// DefaultHost is Kratos's default haveibeenpwned_host.
const DefaultHost = "api.pwnedpasswords.com"

// ErrUnavailable wraps every failure to get an answer: the range API could
// not be reached, answered with another status than 200, or sent more
// than a range answer can be.
var ErrUnavailable = errors.New("the breached-password range API is unavailable")

// Options tune a Client; the zero value of each field picks its default.
type Options struct {
	// ConnectTimeout bounds dialling, name resolution included (1s, as Kratos).
	ConnectTimeout time.Duration
	// Timeout bounds a whole range request (4s).
	Timeout time.Duration
	// CacheTTL is how long a range answer is reused (1h, as Kratos).
	CacheTTL time.Duration
	// CacheSize is how many prefixes' answers are kept at most (512).
	CacheSize int
	// Guard applies clients.http.disallow_private_ip_ranges to the range
	// API (nil: any address may be reached).
	Guard *egress.Guard
}

// maxBody bounds a range answer: real ones are about 40 KB with padding.
const maxBody = 1 << 20

// Client checks passwords against one range API. It is safe for
// concurrent use.
type Client struct {
	base  string // scheme://host[:port][/path], without the trailing slash
	http  *http.Client
	cache *rangeCache
}

// ParseHost turns haveibeenpwned_host into the API's base URL. A bare host
// (as Kratos takes it) means https; an http:// or https:// URL is used as
// given, for mirrors and tests.
func ParseHost(host string) (string, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		return "", errors.New("the host is empty")
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", fmt.Errorf("%q is neither a host name nor an http(s) URL", host)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("the scheme %q is neither http nor https", u.Scheme)
	case u.Hostname() == "":
		return "", fmt.Errorf("%q names no host", host)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("%q must be a host, optionally with a port and a path, and nothing else", host)
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// New returns a client of the range API at host (see ParseHost).
func New(host string, o Options) (*Client, error) {
	base, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 4 * time.Second
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Hour
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 512
	}
	var transport http.RoundTripper = newTransport(o, nil)
	if o.Guard != nil {
		transport = o.Guard.Route(transport, newTransport(o, egress.RefusePrivate))
	}
	return &Client{
		base: base,
		http: &http.Client{
			Transport: transport,
			Timeout:   o.Timeout,
			// A range API answers directly; a redirect is no answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cache: newRangeCache(o.CacheSize, o.CacheTTL),
	}, nil
}

// newTransport keeps the range API's own timeouts, the connect timeout
// above all, which the guard's general-purpose client does not have.
func newTransport(o Options, control func(network, address string, c syscall.RawConn) error) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.ConnectTimeout, Control: control}).DialContext,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Check returns how many times password appears in the breaches the API
// knows (0: never). A failure to get an answer wraps ErrUnavailable; its
// text names neither the password nor any part of its hash.
func (c *Client) Check(ctx context.Context, password string) (int, error) {
	sum := sha1.Sum([]byte(password))
	prefix := strings.ToUpper(hex.EncodeToString(sum[:]))[:5]
	r, ok := c.cache.get(prefix)
	if !ok {
		var err error
		if r, err = c.fetch(ctx, prefix); err != nil {
			return 0, err
		}
		c.cache.put(prefix, r)
	}
	return r.count(sum), nil
}

func (c *Client) fetch(ctx context.Context, prefix string) (rangeAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/range/"+prefix, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	// Padding makes every answer about the same size, so that its length
	// on the wire does not hint at the prefix.
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "lanyard")
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, withoutURL(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
		return nil, fmt.Errorf("%w: it answered %d %s", ErrUnavailable, res.StatusCode, http.StatusText(res.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrUnavailable, withoutURL(err))
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w: the answer is larger than %d bytes", ErrUnavailable, maxBody)
	}
	return parseRange(prefix, body), nil
}

// withoutURL drops the request URL (which carries the hash prefix) from a
// transport error, keeping what went wrong.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("%s: timed out: %w", ue.Op, ue.Err)
		}
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// rangeAnswer is one prefix's breached hashes with their counts, sorted
// by hash. Lines with a count of 0 (padding) are left out.
type rangeAnswer []breached

type breached struct {
	sum   [sha1.Size]byte
	count int
}

// parseRange reads lines of SUFFIX:COUNT. Counts may carry thousands
// separators; a line without a count counts once, as Kratos reads it.
// Lines that are not a 35-digit hex suffix are skipped.
func parseRange(prefix string, body []byte) rangeAnswer {
	var out rangeAnswer
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 256), maxBody)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		suffix, count, hasCount := strings.Cut(line, ":")
		if len(suffix) != 2*sha1.Size-len(prefix) {
			continue
		}
		var b breached
		if _, err := hex.Decode(b.sum[:], []byte(prefix+suffix)); err != nil {
			continue
		}
		b.count = 1
		if hasCount {
			b.count = parseCount(count)
		}
		if b.count > 0 {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b breached) int { return bytes.Compare(a.sum[:], b.sum[:]) })
	return out
}

func (r rangeAnswer) count(sum [sha1.Size]byte) int {
	i, found := slices.BinarySearchFunc(r, sum, func(b breached, s [sha1.Size]byte) int { return bytes.Compare(b.sum[:], s[:]) })
	if !found {
		return 0
	}
	return r[i].count
}

// parseCount reads a count such as "1,234"; one that does not parse
// counts once, since the hash is listed.
func parseCount(s string) int {
	n, err := strconv.ParseUint(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || n > math.MaxInt32:
		return math.MaxInt32
	case err != nil:
		return 1
	}
	return int(n)
}
