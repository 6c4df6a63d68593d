package courier

import (
	"context"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestRecent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		dev := newCourier(t, config.Courier{}, true, s)
		for _, to := range []string{"ada@example.org", "bob@example.org", "ada@example.org"} {
			err := s.Write(ctx, func(q *store.Q) error {
				_, err := dev.Enqueue(ctx, q, Message{Template: RecoveryCodeValid, To: to, Code: "482913"})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		got, more, err := dev.Recent(ctx, "", 2)
		if err != nil || len(got) != 2 || !more {
			t.Fatalf("Recent(2): %d, more %v, %v", len(got), more, err)
		}
		if got[0].CreatedAt.Before(got[1].CreatedAt) {
			t.Error("not newest first")
		}
		got, more, _ = dev.Recent(ctx, "ada@example.org", 10)
		if len(got) != 2 || more || got[0].Recipient != "ada@example.org" || got[0].Status != StatusQueued || got[0].Type != TypeEmail {
			t.Errorf("Recent(ada): %+v, more %v", got, more)
		}
		if got[0].Body == redacted || got[0].Subject == "" {
			t.Error("dev mode redacts")
		}
		prod := newCourier(t, config.Courier{}, false, s)
		got, _, _ = prod.Recent(ctx, "ada@example.org", 10)
		if len(got) != 2 || got[0].Body != redacted || got[0].Subject != redacted {
			t.Errorf("outside dev mode: %+v", got)
		}
	})
}
