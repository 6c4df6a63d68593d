package flow

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

// A form that shows a secret (a TOTP key, backup codes) rests sealed in the
// database, on both stores (PostgreSQL keeps forms as JSON), and reads back.
func TestSealedFormsRestEncrypted(t *testing.T) {
	c, err := cipher.New("xchacha20-poly1305", []string{"flow-seal-test-secret-32-bytes!!"})
	if err != nil {
		t.Fatal(err)
	}
	SealForms(c)
	defer SealForms(nil)
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := New(Settings, TypeAPI, httptest.NewRequest("GET", "/self-service/settings/api", nil), publicURL, time.Hour)
		f.UI.Add(Text("lookup_secret", "lookup_secret_codes", &text.Message{ID: 1050015, Text: "abcd1234, efgh5678", Type: text.Info}, nil))
		if err := s.Write(ctx, func(q *store.Q) error { return Save(ctx, q, f) }); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := s.Read().QueryRow(ctx, `SELECT ui FROM selfservice_flows WHERE id = $1`, f.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored, "abcd1234") || !strings.Contains(stored, sealedPrefix) {
			t.Errorf("stored form %.80s..., want it sealed", stored)
		}
		got, err := Get(ctx, s.Read(), Settings, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n := got.UI.Nodes[len(got.UI.Nodes)-1]; n.Attributes.Text == nil || n.Attributes.Text.Text != "abcd1234, efgh5678" {
			t.Errorf("the form read back has %+v, want the codes", n.Attributes)
		}
	})
}
