package session

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// BenchmarkWhoamiHandler is the public whoami handler, without the
// network: what one request costs the server's CPU and its garbage
// collector (allocs/op), on SQLite answered from the cache, on PostgreSQL
// by its one query (LANYARD_TEST_POSTGRES_DSN).
func BenchmarkWhoamiHandler(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkWhoamiHandler(b, store.SQLite) })
	b.Run("postgres", func(b *testing.B) { benchmarkWhoamiHandler(b, store.Postgres) })
}

func benchmarkWhoamiHandler(b *testing.B, d store.Dialect) {
	s := storetest.Open(b, d)
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
