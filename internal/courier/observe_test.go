package courier

import (
	"context"
	"sync"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestResultsAndQueueCounts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		sk := newSink(t)
		cfg := smtpConfig(sk.addr)
		cfg.MessageRetries = 1
		c := newCourier(t, cfg, false, s)
		var mu sync.Mutex
		results := map[string]int{}
		c.ReportResults(func(r string) {
			mu.Lock()
			defer mu.Unlock()
			results[r]++
		})
		sent := enqueue(t, c, Message{Template: VerificationCodeValid, To: "bob@example.com", Code: "111222"})
		refused := enqueue(t, c, Message{Template: VerificationCodeValid, To: "reject@example.com", Code: "333444"})
		retried := enqueue(t, c, Message{Template: VerificationCodeValid, To: "tempfail@example.com", Code: "555666"})
		counts, err := c.CountByStatus(context.Background())
		if err != nil || counts[StatusQueued] != 3 {
			t.Fatalf("before delivery: %v %v, want 3 queued", counts, err)
		}
		run(t, c)
		eventually(t, "every message settled", func() bool {
			return load(t, c, sent).Status == StatusSent && load(t, c, refused).Status == StatusAbandoned && load(t, c, retried).Status == StatusAbandoned
		})
		// A result is reported once its status has committed: wait for the
		// four attempts' reports too.
		eventually(t, "every attempt reported", func() bool {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, v := range results {
				n += v
			}
			return n >= 4
		})

		mu.Lock()
		got := map[string]int{}
		for k, v := range results {
			got[k] = v
		}
		mu.Unlock()
		// The temporary failure is retried once, then given up.
		if got[ResultSent] != 1 || got[ResultFailed] != 1 || got[ResultAbandoned] != 2 {
			t.Errorf("results = %v, want 1 sent, 1 failed, 2 abandoned", got)
		}
		counts, err = c.CountByStatus(context.Background())
		if err != nil || counts[StatusSent] != 1 || counts[StatusAbandoned] != 2 || counts[StatusQueued] != 0 {
			t.Errorf("after delivery: %v %v", counts, err)
		}
	})
}
