package flow

import (
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// claimRace lets n goroutines, each holding its own copy of f as read,
// claim it in their own transactions at once, and counts the winners.
func claimRace(t *testing.T, s *store.Store, f *Flow, n int, complete bool) int {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	start := make(chan struct{})
	for range n {
		mine, err := Get(ctx, s.Read(), f.Kind, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.Write(ctx, func(q *store.Q) error {
				if err := Claim(ctx, q, mine); err != nil {
					return err
				}
				if complete {
					mine.State = StatePassedChallenge
				}
				return Update(ctx, q, mine)
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrCompleted):
				t.Errorf("claim: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return wins
}

func TestClaimLetsOneSubmissionComplete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, kind := range []Kind{Login, Registration, Recovery, Verification, Settings} {
			f := New(kind, TypeAPI, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/api", nil), publicURL, time.Hour)
			if err := s.Write(ctx, func(q *store.Q) error { return Save(ctx, q, f) }); err != nil {
				t.Fatal(err)
			}
			if wins := claimRace(t, s, f, 12, kind != Settings); wins != 1 {
				t.Errorf("%s: %d of 12 racing claims won, want exactly 1", kind, wins)
			}
			got, err := Get(ctx, s.Read(), kind, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if kind == Settings {
				// A settings flow stays open: the next submission, which
				// reads the new version, may claim it again.
				if wins := claimRace(t, s, got, 1, false); wins != 1 {
					t.Errorf("settings: a later claim of the new version failed")
				}
				continue
			}
			if got.State != StatePassedChallenge {
				t.Errorf("%s: state %q after the race, want passed_challenge", kind, got.State)
			}
			// A completed flow stays completed, whatever a stale writer sends.
			stale := *got
			stale.State = StateChooseMethod
			err = s.Write(ctx, func(q *store.Q) error { return Update(ctx, q, &stale) })
			if !errors.Is(err, ErrCompleted) {
				t.Errorf("%s: a stale update of a completed flow = %v, want ErrCompleted", kind, err)
			}
		}
	})
}
