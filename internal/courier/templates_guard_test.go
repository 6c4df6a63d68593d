package courier

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
)

func TestRemoteTemplatesFollowThePrivateIPRule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("Verify with {{ .VerificationCode }}"))
	}))
	t.Cleanup(srv.Close)
	templateURL := srv.URL + "/verification/subject.gotmpl"
	cfg := config.Courier{Templates: map[string]string{"verification_code.valid.email.subject": templateURL}}
	ctx := context.Background()

	on, err := egress.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadTemplates(ctx, cfg, on); !errors.Is(err, egress.ErrPrivateAddress) {
		t.Errorf("a template on 127.0.0.1 with the rule on: %v; want ErrPrivateAddress", err)
	}

	excepted, err := egress.New(true, []string{templateURL})
	if err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]*egress.Guard{"exception": excepted, "rule off": nil} {
		templates, err := loadTemplates(ctx, cfg, g)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		r, err := templates[VerificationCodeValid].render(ViaEmail, map[string]any{"VerificationCode": "424242"})
		if err != nil || r.subject != "Verify with 424242" {
			t.Errorf("%s: %+v, %v", name, r, err)
		}
	}
}
