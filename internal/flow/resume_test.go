package flow

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// TestTakeLetsOneRequestUseTheValue: of requests racing to take a one-time
// value out of a flow (a provider's state), exactly one succeeds, on both
// stores, and the flow keeps its other state.
func TestTakeLetsOneRequestUseTheValue(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := New(Login, TypeBrowser, httptest.NewRequest("GET", "/self-service/login/browser", nil), publicURL, time.Hour)
		f.Internal["once"] = json.RawMessage(`"secret-digest"`)
		f.Internal["kept"] = json.RawMessage(`1`)
		if err := s.Write(ctx, func(q *store.Q) error { return Save(ctx, q, f) }); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		start := make(chan struct{})
		for range 10 {
			mine, err := Get(ctx, s.Read(), Login, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := Take(ctx, s, mine, "once")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					if mine.Internal["once"] != nil {
						t.Error("the winner's copy still holds the value")
					}
				case !errors.Is(err, ErrCompleted):
					t.Errorf("take: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d of 10 racing takes won, want exactly 1", wins)
		}
		got, err := Get(ctx, s.Read(), Login, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Internal["once"] != nil || string(got.Internal["kept"]) != "1" {
			t.Errorf("stored internal state = %v, want only kept", got.Internal)
		}
		// The flow can still be written back and completed after a take.
		if err := s.Write(ctx, func(q *store.Q) error { return Update(ctx, q, got) }); err != nil {
			t.Errorf("update after take: %v", err)
		}
	})
}

// TestExchangeCodeOnNativeFlows: only native login and registration flows
// that ask get an exchange code; login reads the parameter as a boolean,
// registration only as "true"; the flow keeps the digest, not the code.
func TestExchangeCodeOnNativeFlows(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		typ   string
		query string
		want  bool
	}{
		{Login, TypeAPI, "true", true},
		{Login, TypeAPI, "1", true},
		{Login, TypeAPI, "false", false},
		{Login, TypeBrowser, "true", false},
		{Registration, TypeAPI, "true", true},
		{Registration, TypeAPI, "1", false},
		{Settings, TypeAPI, "true", false},
		{Login, TypeAPI, "", false},
	} {
		r := httptest.NewRequest("GET", "/self-service/"+string(tc.kind)+"/"+tc.typ+"?return_session_token_exchange_code="+tc.query, nil)
		f := New(tc.kind, tc.typ, r, publicURL, time.Hour)
		offerExchange(f, r)
		if got := f.ExchangeCode != ""; got != tc.want {
			t.Errorf("%s %s %q: code offered %t, want %t", tc.kind, tc.typ, tc.query, got, tc.want)
			continue
		}
		if !tc.want {
			continue
		}
		if len(f.ExchangeCode) != 64 || strings.Trim(f.ExchangeCode, exchangeAlphabet) != "" {
			t.Errorf("code %q is not 64 alphanumerics", f.ExchangeCode)
		}
		raw, _ := json.Marshal(f.Internal)
		if strings.Contains(string(raw), f.ExchangeCode) || len(f.ExchangeDigest()) != 64 {
			t.Errorf("internal state %s holds the code or no digest", raw)
		}
		if f.View().SessionTokenExchangeCode != f.ExchangeCode {
			t.Error("the new flow's view does not show the code")
		}
	}
}
