package guard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestRefusalsAreReportedByScopeAndReason(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) {
			p.Attempts.FreeFailures = 1
			p.Attempts.MaxDelay = time.Minute
		})
		var mu sync.Mutex
		seen := map[string]int{}
		g.ReportRefusals(func(scope, reason string) {
			mu.Lock()
			defer mu.Unlock()
			seen[scope+" "+reason]++
		})

		// Past the free failure, the same client waits: delayed.
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		// Past lock_after (5), every client is refused: locked.
		for i := range 6 {
			attempt(t, g, ScopeCode, "lin@example.org", fmt.Sprintf("192.0.2.%d", 10+i))
		}
		for range 4 {
			if err := s.Write(context.Background(), func(q *store.Q) error {
				_, err := g.AllowMessage(context.Background(), q, "grace@example.org")
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		h := g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for range 3 {
			r := httptest.NewRequest("POST", "/self-service/login?flow=x", nil)
			r.RemoteAddr = "192.0.2.99:1234"
			h.ServeHTTP(httptest.NewRecorder(), r)
		}

		mu.Lock()
		defer mu.Unlock()
		if seen["login delayed"] == 0 {
			t.Errorf("no delayed login was reported: %v", seen)
		}
		if seen["code locked"] == 0 {
			t.Errorf("no locked code scope was reported: %v", seen)
		}
		if seen["messages capped"] != 1 {
			t.Errorf("capped messages reported %d times, want 1: %v", seen["messages capped"], seen)
		}
		if seen["submit rate_limited"] != 1 {
			t.Errorf("rate-limited submissions reported %d times, want 1: %v", seen["submit rate_limited"], seen)
		}
	})
}
