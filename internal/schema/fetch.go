package schema

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/egress"
)

const (
	// MaxSchemaSize is the largest schema document Load accepts.
	MaxSchemaSize = 1 << 20
	// fetchTimeout bounds one HTTP fetch so start-up cannot hang on a
	// dead schema server.
	fetchTimeout = 10 * time.Second
)

// defaultClient fetches for callers that pass no guard.
var defaultClient = &http.Client{Timeout: fetchTimeout}

// clientKey carries the HTTP client of one LoadGuarded call down to every
// fetch it makes, $ref documents included.
type clientKey struct{}

// LoadGuarded is Load with every http(s):// fetch, referenced documents
// included, made through g (clients.http.disallow_private_ip_ranges); a
// nil g refuses nothing.
func LoadGuarded(ctx context.Context, sources []Source, defaultID string, g *egress.Guard) (*Registry, error) {
	return Load(context.WithValue(ctx, clientKey{}, g.Client(fetchTimeout)), sources, defaultID)
}

func clientFor(ctx context.Context) *http.Client {
	if c, ok := ctx.Value(clientKey{}).(*http.Client); ok {
		return c
	}
	return defaultClient
}

// fetch returns the bytes behind a schema URL: file://, base64://,
// http(s)://, or a bare file path.
func fetch(ctx context.Context, rawURL string) ([]byte, error) {
	switch {
	case strings.HasPrefix(rawURL, "base64://"):
		return decodeBase64(strings.TrimPrefix(rawURL, "base64://"))
	case strings.HasPrefix(rawURL, "file://"):
		p, err := filePath(rawURL)
		if err != nil {
			return nil, err
		}
		return readFile(p)
	case strings.HasPrefix(rawURL, "http://"), strings.HasPrefix(rawURL, "https://"):
		return fetchHTTP(ctx, rawURL)
	}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return nil, fmt.Errorf("unsupported URL scheme %q (use file://, base64://, http:// or https://)", u.Scheme)
	}
	if rawURL == "" {
		return nil, errors.New("empty URL")
	}
	return readFile(rawURL)
}

// filePath accepts file:///abs/path and the relative file://./path form
// found in many Kratos configs.
func filePath(rawURL string) (string, error) {
	rest := strings.TrimPrefix(rawURL, "file://")
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		return "", errors.New("file URL without a path")
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("invalid file URL: %w", err)
	}
	// file://localhost/abs is the same as file:///abs.
	if strings.HasPrefix(p, "localhost/") {
		p = strings.TrimPrefix(p, "localhost")
	}
	return filepath.FromSlash(p), nil
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f)
}

func fetchHTTP(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/schema+json, application/json")
	resp, err := clientFor(ctx).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: unexpected status %s", rawURL, resp.Status)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSchemaSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSchemaSize {
		return nil, fmt.Errorf("document is larger than the limit of %d bytes", MaxSchemaSize)
	}
	return b, nil
}

func decodeBase64(s string) ([]byte, error) {
	// Checking the encoded size first keeps a huge URL from being decoded.
	if base64.StdEncoding.DecodedLen(len(s)) > MaxSchemaSize+3 {
		return nil, fmt.Errorf("document is larger than the limit of %d bytes", MaxSchemaSize)
	}
	var lastErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			if len(b) > MaxSchemaSize {
				return nil, fmt.Errorf("document is larger than the limit of %d bytes", MaxSchemaSize)
			}
			return b, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("invalid base64 data: %w", lastErr)
}
