package guard

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// A token is a million units in guard_buckets.tokens, so that integer
// arithmetic keeps fractions of a token on both dialects.
const tokenUnits = 1_000_000

var bucketSQL = strings.NewReplacer(
	":now", "CAST($2 AS BIGINT)",
	":rate", "CAST($3 AS BIGINT)",
	":capacity", "CAST($4 AS BIGINT)",
	":fill", "CAST($5 AS BIGINT)",
)

// bucketTake refills a bucket for the time since its last use (rate tokens
// a minute, never beyond capacity) and takes one token if there is one, in
// one statement. An instance whose clock is behind adds nothing.
var bucketTake = func() string {
	elapsed := `CASE WHEN :now - b.updated_at > :fill THEN :fill WHEN :now > b.updated_at THEN :now - b.updated_at ELSE 0 END`
	refilled := `b.tokens + (` + elapsed + `) * :rate / 60`
	avail := `(CASE WHEN ` + refilled + ` > :capacity THEN :capacity ELSE ` + refilled + ` END)`
	return bucketSQL.Replace(`
INSERT INTO guard_buckets AS b (key, tokens, allowed, updated_at)
VALUES ($1, :capacity - ` + strconv.Itoa(tokenUnits) + `, TRUE, :now)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN ` + avail + ` >= ` + strconv.Itoa(tokenUnits) + ` THEN ` + avail + ` - ` + strconv.Itoa(tokenUnits) + ` ELSE ` + avail + ` END,
    allowed = ` + avail + ` >= ` + strconv.Itoa(tokenUnits) + `,
    updated_at = CASE WHEN :now > b.updated_at THEN :now ELSE b.updated_at END
RETURNING tokens, allowed`)
}()

// fillMicros is how long an empty bucket takes to fill up.
func fillMicros(b config.TokenBucket) int64 {
	capacity := int64(b.Burst) * tokenUnits
	rate := int64(b.RatePerMinute)
	return (capacity*60 + rate - 1) / rate
}

// take spends one token of the bucket named key; when there is none it
// answers how long until there is.
func (g *Guard) take(ctx context.Context, key string, b config.TokenBucket) (bool, time.Duration, error) {
	var tokens int64
	var ok bool
	// One upsert is atomic alone: no transaction around it.
	err := g.store.Autocommit().QueryRow(ctx, bucketTake, key, g.now().UnixMicro(), b.RatePerMinute, int64(b.Burst)*tokenUnits, fillMicros(b)).Scan(&tokens, &ok)
	if err != nil || ok {
		return ok, 0, err
	}
	missing := tokenUnits - tokens
	rate := int64(b.RatePerMinute)
	return false, time.Duration((missing*60+rate-1)/rate) * time.Microsecond, nil
}

// limitClass names the bucket a request draws from, if any: creating a
// flow, or submitting one (including the links and codes in messages and
// providers' callbacks).
// Whoami, health, schemas, fetching flows and everything else is free.
func (g *Guard) limitClass(r *http.Request) (string, config.TokenBucket, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/self-service/")
	if !ok {
		return "", config.TokenBucket{}, false
	}
	switch r.Method {
	case http.MethodPost:
		return "submit", g.cfg.RateLimits.Submission, true
	case http.MethodGet:
		switch {
		case rest == "fed-cm/parameters": // begins a login
			return "create", g.cfg.RateLimits.FlowCreation, true
		case strings.HasPrefix(rest, "methods/oidc/callback"): // a provider's answer completes a flow
			return "submit", g.cfg.RateLimits.Submission, true
		}
		kind, how, _ := strings.Cut(rest, "/")
		if !flowKinds[kind] {
			return "", config.TokenBucket{}, false
		}
		switch {
		case how == "browser" || how == "api":
			return "create", g.cfg.RateLimits.FlowCreation, true
		case how == "" && (kind == "recovery" || kind == "verification"):
			if q := r.URL.Query(); q.Has("token") || q.Has("code") {
				return "submit", g.cfg.RateLimits.Submission, true
			}
		}
	}
	return "", config.TokenBucket{}, false
}

var flowKinds = map[string]bool{"login": true, "registration": true, "settings": true, "recovery": true, "verification": true}

// Middleware applies the per-client rate limits to the public API: one
// bucket for creating flows and one for submitting them, per client
// address (see ClientIP). A client over its limit gets 429 in the error
// shape with Retry-After. If the database cannot be asked, the request
// goes through: the flow it reaches needs the database anyway and answers
// for itself.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	if !g.on() || !g.cfg.RateLimits.Enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		class, bucket, limited := g.limitClass(r)
		if !limited {
			next.ServeHTTP(w, r)
			return
		}
		key := clientKey(g.ClientIP(r))
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		g.sweepIfDue()
		ok, wait, err := g.take(r.Context(), class+"|"+key, bucket)
		if err != nil {
			slog.WarnContext(r.Context(), "guard: rate limit not checked", "path", r.URL.Path, "error", err)
			next.ServeHTTP(w, r)
			return
		}
		if !ok {
			g.refused(class, ReasonRateLimited)
			refuse(w, r, wait)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers 429; RFC 6585 forbids caching it.
func refuse(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s := ceilSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(s))
	w.Header().Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
	wire.WriteError(w, r, wire.TooManyRequests.
		WithReason("Too many requests came from this client address. Retry in %d seconds.", s).
		WithDetail("retry_after_seconds", s))
}
