package hook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/wire"
)

func TestWebHookHeaderAllowlistIsConfigurableAndCaseInsensitive(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) })
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}},
		&WebHooks{HeaderAllowlist: []string{"x-tenant", "AUTHORIZATION"}})
	e := event(t)
	e.Request.Header.Set("X-Tenant", "acme")
	e.Request.Header["x-lower"] = []string{"set by hand"} // not canonical
	if err := complete(t, r, e); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Headers map[string][]string `json:"headers"`
	}
	got := <-calls
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Headers["X-Tenant"][0] != "acme" || body.Headers["Authorization"][0] != "Bearer secret-token" {
		t.Errorf("the configured headers are missing: %v", body.Headers)
	}
	if _, ok := body.Headers["User-Agent"]; ok || len(body.Headers) != 2 {
		t.Errorf("a configured list replaces the default one: %v", body.Headers)
	}

	// A hand-set, non-canonical key matches too.
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}}, &WebHooks{HeaderAllowlist: []string{"X-Lower"}})
	e.After = nil
	if err := complete(t, r, e); err != nil {
		t.Fatal(err)
	}
	got = <-calls
	if !strings.Contains(string(got.body), "set by hand") {
		t.Errorf("x-lower is missing: %s", got.body)
	}
}

func TestWebHookAnalyticsHeadersAndSpanEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	srv, calls := receiver(t, func(w http.ResponseWriter, n int) {
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway) // retried
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	r := runner(t, "login", config.WebHook{ID: "crm", Request: config.HTTPRequest{URL: srv.URL}, EmitAnalyticsEvent: true}, &WebHooks{Backoff: time.Millisecond})
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	var trigger string
	requests := map[string]bool{}
	for range 3 {
		got := <-calls
		rid, tid := got.header.Get("Ory-Webhook-Request-ID"), got.header.Get("Ory-Webhook-Trigger-ID")
		if uuid.Validate(rid) != nil || uuid.Validate(tid) != nil {
			t.Fatalf("ids are not UUIDs: %q %q", rid, tid)
		}
		if trigger == "" {
			trigger = tid
		}
		if tid != trigger {
			t.Errorf("the trigger id changed across retries: %s, %s", trigger, tid)
		}
		requests[rid] = true
	}
	if len(requests) != 3 {
		t.Errorf("each attempt has its own request id: %v", requests)
	}

	// A second execution is a new trigger.
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got.header.Get("Ory-Webhook-Trigger-ID") == trigger {
		t.Error("a new execution reused the trigger id")
	}

	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "selfservice.webhook" {
		t.Fatalf("spans: %v", spans)
	}
	var names []string
	for _, ev := range spans[0].Events() {
		names = append(names, ev.Name)
	}
	if strings.Join(names, ",") != "WebhookDelivered,WebhookDelivered,WebhookDelivered,WebhookSucceeded" {
		t.Errorf("events: %v", names)
	}

	// Off: neither header, no events.
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	got := <-calls
	if got.header.Get("Ory-Webhook-Request-ID") != "" || got.header.Get("Ory-Webhook-Trigger-ID") != "" {
		t.Errorf("emit_analytics_event false still sends ids: %v", got.header)
	}
	spans = rec.Ended()
	if last := spans[len(spans)-1]; len(last.Events()) != 0 {
		t.Errorf("events without emit_analytics_event: %v", last.Events())
	}
}

func TestWebHookFailureIsASpanEvent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusForbidden) })
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, EmitAnalyticsEvent: true}, nil)
	if err := complete(t, r, event(t)); err == nil {
		t.Fatal("a 403 passed")
	}
	spans := rec.Ended()
	evs := spans[len(spans)-1].Events()
	if len(evs) != 2 || evs[1].Name != "WebhookFailed" {
		t.Errorf("events: %v", evs)
	}
}

func TestWebHookPrivateIPsAreRefusedUnlessExcepted(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) })
	guard, err := egress.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL + "/hook?api_key=s3cret"}}, &WebHooks{Egress: guard, Backoff: time.Millisecond})
	err = complete(t, r, event(t))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != http.StatusBadGateway || we.Reason != "webhook could not be called" {
		t.Fatalf("a refused call answers like an unreachable one: %v", err)
	}
	if strings.Contains(we.Error(), "s3cret") {
		t.Errorf("the error repeats the URL: %v", we)
	}
	if len(calls) != 0 {
		t.Fatal("the refused call reached the receiver")
	}

	guard, err = egress.New(true, []string{srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL + "/hook?api_key=s3cret"}}, &WebHooks{Egress: guard})
	if err := complete(t, r, event(t)); err != nil {
		t.Fatalf("an excepted URL: %v", err)
	}
	<-calls
}

func TestWebHookRemoteBodyIsGuardedToo(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) { _, _ = w.Write([]byte(`function(ctx) {}`)) })
	guard, _ := egress.New(true, nil)
	_, err := NewRunnerWithWebHooks("login", []config.Hook{{Name: WebHook, WebHook: &config.WebHook{
		Request: config.HTTPRequest{URL: "http://x.test", Method: "POST", Body: srv.URL + "/body.jsonnet"}}}}, nil, nil, &WebHooks{Egress: guard})
	if err == nil || !strings.Contains(err.Error(), "private IP") {
		t.Fatalf("a body on a private address loaded: %v", err)
	}
	guard, _ = egress.New(true, []string{srv.URL + "/*.jsonnet"})
	if _, err := NewRunnerWithWebHooks("login", []config.Hook{{Name: WebHook, WebHook: &config.WebHook{
		Request: config.HTTPRequest{URL: "http://x.test", Method: "POST", Body: srv.URL + "/body.jsonnet"}}}}, nil, nil, &WebHooks{Egress: guard}); err != nil {
		t.Fatalf("an excepted body URL: %v", err)
	}
}

func TestWebHookParseAnswersEveryIdentityField(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			_, _ = w.Write([]byte(`{"identity":{"schema_id":"customer","state":"inactive","external_id":"crm-7","traits":{"email":"b@example.org"},
				"verifiable_addresses":[{"via":"email","value":"B@example.org","verified":true}],"recovery_addresses":[{"via":"email","value":"b@example.org"}],
				"credentials":{"password":{"config":{"hashed_password":"x"}}}}}`))
			return
		}
		_, _ = w.Write([]byte(`{"identity":{"state":"active","metadata_public":{"tier":"gold"}}}`))
	})
	cfg := config.WebHook{Request: config.HTTPRequest{URL: srv.URL, Method: http.MethodPost, Body: jsonnetURL(`function(ctx) { identity: ctx.identity }`)}, Parse: true}
	first, second := cfg, cfg
	r, err := NewRunnerWithWebHooks("registration", []config.Hook{{Name: WebHook, WebHook: &first}, {Name: WebHook, WebHook: &second}}, nil, nil, &WebHooks{})
	if err != nil {
		t.Fatal(err)
	}
	e := event(t)
	c, err := r.PrePersist(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if c.SchemaID != "customer" || c.State != "active" || c.ExternalID != "crm-7" || string(c.MetadataPublic) != `{"tier":"gold"}` ||
		len(c.VerifiableAddresses) != 1 || !c.VerifiableAddresses[0].Verified || len(c.RecoveryAddresses) != 1 {
		t.Errorf("merged changes: %+v", c)
	}
	<-calls
	// The second hook saw what the first changed.
	second2 := <-calls
	var seen struct {
		Identity map[string]any `json:"identity"`
	}
	_ = json.Unmarshal(second2.body, &seen)
	if seen.Identity["schema_id"] != "customer" || seen.Identity["state"] != "inactive" || seen.Identity["external_id"] != "crm-7" {
		t.Errorf("the second hook saw %v", seen.Identity)
	}
	if strings.Contains(string(second2.body), "hashed_password") {
		t.Errorf("a hook sees credentials: %s", second2.body)
	}
	d := c.draft(e.Identity)
	if d.SchemaID != "customer" || d.State != "active" || *d.ExternalID != "crm-7" || string(d.Traits) != `{"email":"b@example.org"}` {
		t.Errorf("draft: %+v", d)
	}
	if _, ok := d.VerifiedAddresses["email:b@example.org"]; !ok || len(d.VerifiedAddresses) != 1 {
		t.Errorf("verified addresses: %v", d.VerifiedAddresses)
	}
}

func TestWebHookParseRefusesABadState(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) {
		_, _ = w.Write([]byte(`{"identity":{"state":"deleted"}}`))
	})
	r := runner(t, "registration", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Parse: true}, nil)
	var we *wire.Error
	if _, err := r.PrePersist(context.Background(), event(t)); !errors.As(err, &we) || we.Code != http.StatusBadRequest {
		t.Fatalf("state deleted: %v", err)
	}
	for _, bad := range []*Changes{{State: "blocked"}, {Traits: json.RawMessage(`[1]`)}, {MetadataPublic: json.RawMessage(`"x"`)}} {
		if err := bad.check(); !errors.As(err, &we) || we.Code != http.StatusBadRequest {
			t.Errorf("check(%+v) = %v", bad, err)
		}
	}
}

func TestChangesSchema(t *testing.T) {
	reg, err := schema.Load(context.Background(), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := (&Changes{}).Schema(reg, "default"); err != nil || s.ID != "default" {
		t.Errorf("no schema_id: %v %v", s, err)
	}
	if s, err := (*Changes)(nil).Schema(reg, ""); err != nil || s != reg.Default() {
		t.Errorf("nil changes: %v %v", s, err)
	}
	var we *wire.Error
	if _, err := (&Changes{SchemaID: "nope"}).Schema(reg, "default"); !errors.As(err, &we) || we.Code != http.StatusBadRequest {
		t.Errorf("unknown schema: %v", err)
	}
	if !(&Changes{SchemaID: "x"}).Reshapes() || (&Changes{State: "active"}).Reshapes() || (*Changes)(nil).Reshapes() {
		t.Error("Reshapes")
	}
	if (&Changes{Traits: json.RawMessage(`null`)}).HasTraits() {
		t.Error("null traits are not given")
	}
	_ = identity.StateActive
}
