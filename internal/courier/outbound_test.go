package courier

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
)

func TestHTTPChannelFollowsThePrivateIPRule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`function(ctx) { to: ctx.recipient }`))
	}))
	defer srv.Close()
	cfg := config.HTTPRequest{URL: srv.URL + "/sms", Method: "POST", Body: srv.URL + "/sms.jsonnet"}

	guard, err := egress.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newHTTPSender(cfg, &Courier{outbound: guard}); err == nil || !strings.Contains(err.Error(), "private IP") {
		t.Fatalf("a body on a loopback address loaded: %v", err)
	}

	guard, err = egress.New(true, []string{srv.URL + "/sms.jsonnet"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newHTTPSender(cfg, &Courier{outbound: guard})
	if err != nil {
		t.Fatalf("an excepted body URL: %v", err)
	}
	if s.client.Transport != guard {
		t.Error("the channel's own calls are not guarded")
	}
	// The channel's URL is not an exception: its call is refused.
	res, err := s.client.Post(cfg.URL, "application/json", strings.NewReader(`{}`))
	if err == nil {
		res.Body.Close()
		t.Fatal("the SMS call reached a loopback address")
	}

	// Without the rule nothing changes.
	s, err = newHTTPSender(cfg, &Courier{})
	if err != nil || s.client.Transport != nil {
		t.Fatalf("unguarded: %v %v", s, err)
	}
}
