package flow

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/wire"
)

func TestForBrowser(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		rec := httptest.NewRecorder()
		f, err := k.Start(rec, httptest.NewRequest(http.MethodGet, publicURL+"self-service/login/browser", nil), Login, TypeBrowser)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Save(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		own := httptest.NewRequest(http.MethodGet, publicURL+"ui/login", nil)
		for _, c := range rec.Result().Cookies() {
			own.AddCookie(c)
		}
		if got, err := k.ForBrowser(own, Login, f.ID.String()); err != nil || got.ID != f.ID {
			t.Fatalf("own browser: %v", err)
		}
		stranger := httptest.NewRequest(http.MethodGet, publicURL+"ui/login", nil)
		if _, err := k.ForBrowser(stranger, Login, f.ID.String()); wire.From(err).ID != "security_csrf_violation" {
			t.Errorf("another browser: %v", err)
		}
		for _, tc := range []struct {
			kind Kind
			id   string
		}{{Login, "nope"}, {Login, uuid.NewString()}, {Registration, f.ID.String()}} {
			if _, err := k.ForBrowser(own, tc.kind, tc.id); !errors.Is(err, ErrFlowNotFound) {
				t.Errorf("%s %s: %v", tc.kind, tc.id, err)
			}
		}
		if err := s.Write(context.Background(), func(q *store.Q) error {
			_, err := q.Exec(context.Background(), `UPDATE selfservice_flows SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Minute), f.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := k.ForBrowser(own, Login, f.ID.String()); !errors.Is(err, ErrExpiredFlow) {
			t.Errorf("expired: %v", err)
		}
	})
}

func TestReadError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		rec := httptest.NewRecorder()
		k.BrowserError(rec, httptest.NewRequest(http.MethodGet, publicURL, nil), wire.Forbidden.WithReason("No."))
		id := rec.Header().Get("Location")[len("https://ui.example.com/error?id="):]
		e, err := k.ReadError(context.Background(), id)
		if err != nil || e.ID != id || string(e.Error) == "" {
			t.Fatalf("stored: %+v, %v", e, err)
		}
		if e, err := k.ReadError(context.Background(), "stub:404"); err != nil || e.ID != "stub:404" {
			t.Errorf("stub: %v", err)
		}
		for _, bad := range []string{"", "nope", uuid.NewString()} {
			if _, err := k.ReadError(context.Background(), bad); !errors.Is(err, ErrStoredErrorNotFound) {
				t.Errorf("%q: %v", bad, err)
			}
		}
	})
}
