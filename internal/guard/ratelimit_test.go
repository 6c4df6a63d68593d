package guard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func take(t *testing.T, g *Guard, key string, b config.TokenBucket) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := g.take(context.Background(), key, b)
	if err != nil {
		t.Fatalf("take(%s): %v", key, err)
	}
	return ok, wait
}

func TestTake_TokenBucket(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, nil)
		b := config.TokenBucket{RatePerMinute: 60, Burst: 3} // one token a second
		for i := 1; i <= 3; i++ {
			if ok, _ := take(t, g, "k", b); !ok {
				t.Fatalf("request %d of the burst refused", i)
			}
		}
		if ok, wait := take(t, g, "k", b); ok || wait != time.Second {
			t.Fatalf("over the burst: ok=%v wait=%s, want refused for 1s", ok, wait)
		}
		clock.advance(500 * time.Millisecond)
		if ok, wait := take(t, g, "k", b); ok || wait != 500*time.Millisecond {
			t.Fatalf("half a token later: ok=%v wait=%s, want refused for 500ms", ok, wait)
		}
		clock.advance(500 * time.Millisecond)
		if ok, _ := take(t, g, "k", b); !ok {
			t.Fatal("refused after a token was refilled")
		}
		if ok, _ := take(t, g, "other", b); !ok {
			t.Error("another key shares the bucket")
		}

		// A long pause refills up to the burst, never beyond.
		clock.advance(24 * time.Hour)
		for i := 1; i <= 3; i++ {
			if ok, _ := take(t, g, "k", b); !ok {
				t.Fatalf("request %d after a pause refused", i)
			}
		}
		if ok, _ := take(t, g, "k", b); ok {
			t.Error("the bucket filled beyond its burst")
		}

		// An instance whose clock lags adds no tokens and breaks nothing.
		clock.advance(-time.Hour)
		if ok, wait := take(t, g, "k", b); ok || wait <= 0 {
			t.Errorf("with a lagging clock: ok=%v wait=%s", ok, wait)
		}
	})
}

func TestTake_ConcurrentRequestsSpendEachTokenOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, nil)
		b := config.TokenBucket{RatePerMinute: 1, Burst: 7}
		var wg sync.WaitGroup
		var mu sync.Mutex
		granted := 0
		start := make(chan struct{})
		for range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, _, err := g.take(context.Background(), "shared", b)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if ok {
					granted++
				}
			}()
		}
		close(start)
		wg.Wait()
		if granted != 7 {
			t.Errorf("%d requests got through, want the burst of 7", granted)
		}
	})
}

func TestLimitClass(t *testing.T) {
	g, _ := newTestGuard(nil, nil)
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/self-service/login/browser", "create"},
		{"GET", "/self-service/registration/api?return_to=x", "create"},
		{"GET", "/self-service/settings/browser", "create"},
		{"GET", "/self-service/recovery/api", "create"},
		{"GET", "/self-service/verification/browser", "create"},
		{"POST", "/self-service/login?flow=x", "submit"},
		{"POST", "/self-service/registration", "submit"},
		{"POST", "/self-service/anything/else", "submit"},
		{"GET", "/self-service/recovery?flow=x&token=abc", "submit"},
		{"GET", "/self-service/verification?flow=x&code=123456", "submit"},
		{"GET", "/self-service/fed-cm/parameters", "create"},
		{"GET", "/self-service/methods/oidc/callback/google?code=x&state=y", "submit"},
		{"GET", "/self-service/methods/oidc/callback?code=x&state=y", "submit"},
		{"POST", "/self-service/fed-cm/token", "submit"},
		{"GET", "/self-service/recovery?flow=x", ""},
		{"GET", "/self-service/login/flows?id=x", ""},
		{"GET", "/self-service/errors?id=x", ""},
		{"GET", "/self-service/logout/browser", ""},
		{"DELETE", "/self-service/logout/api", ""},
		{"GET", "/sessions/whoami", ""},
		{"POST", "/sessions/whoami", ""},
		{"GET", "/health/ready", ""},
		{"GET", "/schemas/default", ""},
		{"OPTIONS", "/self-service/login", ""},
	} {
		class, _, limited := g.limitClass(httptest.NewRequest(tc.method, tc.target, nil))
		if class != tc.want || limited != (tc.want != "") {
			t.Errorf("%s %s: class %q limited %v, want %q", tc.method, tc.target, class, limited, tc.want)
		}
	}
}

func TestMiddleware_AnswersTooManyRequests(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) {
			p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
			p.RateLimits.FlowCreation = config.TokenBucket{RatePerMinute: 1, Burst: 2}
		})
		h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
		do := func(method, target, peer, xff string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, target, nil)
			r.RemoteAddr = peer
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		for i := range 2 {
			if w := do("GET", "/self-service/login/api", "192.0.2.1:5000", ""); w.Code != http.StatusTeapot {
				t.Fatalf("request %d: %d", i+1, w.Code)
			}
		}
		w := do("GET", "/self-service/login/api", "192.0.2.1:5001", "")
		if w.Code != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d", w.Code)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("Retry-After %q, want whole seconds up to a minute", w.Header().Get("Retry-After"))
		}
		var body struct {
			Error struct {
				Code    int            `json:"code"`
				Status  string         `json:"status"`
				Reason  string         `json:"reason"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %s", err, w.Body)
		}
		e := body.Error
		if e.Code != 429 || e.Status != "Too Many Requests" || e.Message == "" || e.Reason == "" || e.Details["retry_after_seconds"] == nil {
			t.Errorf("error %+v", e)
		}
		if cc := w.Header().Get("Cache-Control"); cc == "" {
			t.Error("the 429 may be cached")
		}

		// Submissions have a bucket of their own; unlimited paths stay open.
		if w := do("POST", "/self-service/login?flow=x", "192.0.2.1:5002", ""); w.Code != http.StatusTeapot {
			t.Errorf("a submission was refused by the flow creation bucket: %d", w.Code)
		}
		for range 5 {
			if w := do("GET", "/sessions/whoami", "192.0.2.1:5003", ""); w.Code != http.StatusTeapot {
				t.Fatalf("whoami limited: %d", w.Code)
			}
		}
		// Another client address has its own bucket; a forwarded address
		// counts only behind a trusted proxy.
		if w := do("GET", "/self-service/login/api", "192.0.2.2:5000", ""); w.Code != http.StatusTeapot {
			t.Errorf("another client was refused: %d", w.Code)
		}
		if w := do("GET", "/self-service/login/api", "192.0.2.1:5000", "203.0.113.5"); w.Code != http.StatusTooManyRequests {
			t.Errorf("an untrusted peer escaped its limit with X-Forwarded-For: %d", w.Code)
		}
		for i := range 2 {
			if w := do("GET", "/self-service/login/api", "10.1.2.3:5000", "192.0.2.1, 203.0.113.5"); w.Code != http.StatusTeapot {
				t.Fatalf("forwarded request %d: %d", i+1, w.Code)
			}
		}
		if w := do("GET", "/self-service/login/api", "10.9.9.9:5000", "203.0.113.5"); w.Code != http.StatusTooManyRequests {
			t.Errorf("the forwarded client over its limit behind another proxy: %d", w.Code)
		}
	})
}

func TestMiddleware_OffWhenDisabled(t *testing.T) {
	for name, mod := range map[string]func(*config.Protection){
		"protection":  func(p *config.Protection) { p.Enabled = false },
		"rate limits": func(p *config.Protection) { p.RateLimits.Enabled = false },
	} {
		// No store: a middleware that counted would fail.
		g, _ := newTestGuard(nil, mod)
		served := 0
		h := g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served++ }))
		for range 10 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/self-service/login", nil))
		}
		if served != 10 {
			t.Errorf("%s off: %d of 10 requests served", name, served)
		}
	}
}
