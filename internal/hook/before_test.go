package hook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// before builds the before-runner of flowName with one web_hook.
func before(t *testing.T, flowName string, cfg config.WebHook) *Before {
	t.Helper()
	if cfg.Request.Method == "" {
		cfg.Request.Method = http.MethodPost
	}
	if cfg.Request.Body == "" {
		cfg.Request.Body = jsonnetURL(`function(ctx) { flow_id: ctx.flow.id, has_identity: std.objectHas(ctx, "identity"), method: ctx.request_method }`)
	}
	b, err := NewBefore(flowName, []config.Hook{{Name: Session}, {Name: WebHook, WebHook: &cfg}}, &WebHooks{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newFlow(kind flow.Kind) (*flow.Flow, *http.Request) {
	return &flow.Flow{ID: uuid.New(), Kind: kind, Type: flow.TypeAPI},
		httptest.NewRequest(http.MethodGet, "http://lanyard.test/self-service/"+string(kind)+"/api", nil)
}

func wireCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v is not a wire error", err)
	}
	return we.Code, we.Reason
}

func TestBeforeHookSeesTheNewFlowAndSkipsOtherHooks(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) })
	b := before(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}})
	if len(b.hooks) != 1 {
		t.Fatalf("hooks = %d, want the web_hook only", len(b.hooks))
	}
	f, r := newFlow(flow.Login)
	if err := b.Run(context.Background(), r, f, nil); err != nil {
		t.Fatal(err)
	}
	got := <-calls
	var body map[string]any
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatal(err)
	}
	if body["flow_id"] != f.ID.String() || body["has_identity"] != false || body["method"] != http.MethodGet {
		t.Errorf("body: %s", got.body)
	}
}

func TestBeforeHookFailureIs502(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusForbidden) })
	b := before(t, "recovery", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}})
	f, r := newFlow(flow.Recovery)
	code, reason := wireCode(t, b.Run(context.Background(), r, f, nil))
	if code != http.StatusBadGateway || reason != "webhook failed with status code 403" {
		t.Errorf("error: %d %q", code, reason)
	}
}

func TestBeforeHookInterruptIs400WithTheMessages(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Closed.","type":"error"},{"id":4000002,"text":"Try later."}]}]}`))
	})
	// Parse before verification is kept: the flow is not complete yet.
	b := before(t, "verification", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Parse: true})
	f, r := newFlow(flow.Verification)
	code, reason := wireCode(t, b.Run(context.Background(), r, f, nil))
	if code != http.StatusBadRequest || reason != "Closed.; Try later." {
		t.Errorf("error: %d %q", code, reason)
	}
}

func TestBeforeHookInterruptWithoutMessagesIs502(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusForbidden) })
	b := before(t, "registration", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Parse: true})
	f, r := newFlow(flow.Registration)
	if code, _ := wireCode(t, b.Run(context.Background(), r, f, nil)); code != http.StatusBadGateway {
		t.Errorf("code = %d", code)
	}
}

func TestBeforeHookParseOKChangesNothing(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) {
		_, _ = w.Write([]byte(`{"identity":{"traits":{"email":"x@example.org"}}}`))
	})
	b := before(t, "registration", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Parse: true})
	f, r := newFlow(flow.Registration)
	if err := b.Run(context.Background(), r, f, nil); err != nil {
		t.Fatal(err)
	}
}

func TestBeforeHookIgnoredRunsInTheBackground(t *testing.T) {
	release := make(chan struct{})
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) {
		<-release
		w.WriteHeader(http.StatusInternalServerError)
	})
	defer close(release)
	b := before(t, "settings", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Ignore: true})
	f, r := newFlow(flow.Settings)
	// The receiver holds the call until the test ends: Run returns first.
	if err := b.Run(context.Background(), r, f, nil); err != nil {
		t.Fatal(err)
	}
	<-calls
}

func TestNilBeforeRunsNothing(t *testing.T) {
	var b *Before
	f, r := newFlow(flow.Login)
	if b.Runs() || b.Run(context.Background(), r, f, nil) != nil {
		t.Error("a nil runner ran")
	}
	if _, err := NewBefore("login", []config.Hook{{Name: WebHook}}, &WebHooks{}); err == nil {
		t.Error("a web_hook without config was accepted")
	}
}
