package session

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// BenchmarkWhoamiHandler is the public whoami handler answering a session
// the cache keeps (SQLite), without the network: what one request costs
// the server's CPU and its garbage collector (allocs/op).
func BenchmarkWhoamiHandler(b *testing.B) {
	s := storetest.Open(b, store.SQLite)
	f := newFixture(b, s)
	sess := f.issue(b, f.identity(b, "bench@example.org"), httptest.NewRequest(http.MethodPost, "/self-service/login", nil))
	mux := http.NewServeMux()
	NewPublicHandler(f.m, nil, "https://auth.example.com/").Register(mux)
	req := httptest.NewRequest(http.MethodGet, "/sessions/whoami", nil)
	req.Header.Set("X-Session-Token", sess.Token)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("whoami: %d %s", w.Code, w.Body)
		}
	}
}
