package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lanyard-id/lanyard/internal/bodytemplate"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// WebHook is the name of the hook that calls an HTTP endpoint.
const WebHook = "web_hook"

// tracerName names this package's spans; the tracer is looked up per call
// (a web hook is slow anyway) so that it follows the installed provider.
const tracerName = "github.com/lanyard-id/lanyard/internal/hook"

// Limits of a web hook call.
const (
	webHookTimeout   = 10 * time.Second
	webHookRetries   = 2
	maxWebHookAnswer = 5 << 20
)

// requestHeaderAllowlist are the headers of the flow's request a web hook
// sees unless clients.web_hook.header_allowlist names others (Kratos's
// default).
var requestHeaderAllowlist = []string{
	"Accept", "Accept-Encoding", "Accept-Language", "Content-Length", "Content-Type", "Origin", "Priority",
	"Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
	"Sec-Fetch-Site", "Sec-Fetch-User", "True-Client-Ip", "User-Agent",
}

// WebHooks builds the web_hook hooks of the runners: what they need to
// show the identity and session as the API does.
type WebHooks struct {
	Sessions *session.Manager
	// Identities writes what a registration's interrupting hooks changed.
	Identities *identity.Manager
	// Client makes the calls; nil: one with a 10 s timeout per call,
	// guarded by Egress.
	Client *http.Client
	// Egress is clients.http's private-IP rule (nil: off).
	Egress *egress.Guard
	// HeaderAllowlist is clients.web_hook.header_allowlist (nil: Kratos's
	// default list).
	HeaderAllowlist []string
	// Backoff is the wait before the first retry (doubled for the next).
	Backoff time.Duration
}

// webHook is one configured web_hook.
type webHook struct {
	cfg    config.WebHook
	body   *bodytemplate.Template
	client *http.Client
	whs    *WebHooks
	// headers are the canonical names of the request headers ctx shows.
	headers map[string]bool
	// withSession: the flow shows its session to hooks (not registration).
	withSession bool
}

func (w *WebHooks) build(flowName, where string, cfg *config.WebHook) (*webHook, error) {
	if cfg == nil {
		return nil, fmt.Errorf("config key %q: a web_hook needs a config", where)
	}
	if cfg.Request.Body == "" {
		// Kratos loads such a config and then fails every call.
		return nil, fmt.Errorf("config key %q: a web_hook has no body: set config.body to a Jsonnet file://, base64:// or http(s):// URL", where)
	}
	if cfg.Parse && flowName != "registration" && flowName != "login" && flowName != "settings" {
		// Nothing is left to interrupt once these flows complete.
		slog.Warn("response.parse and can_interrupt have no effect here; the web_hook is called after the flow completes", "key", where)
		c := *cfg
		c.Parse = false
		cfg = &c
	}
	client := w.Client
	if client == nil {
		client = w.Egress.Client(webHookTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), webHookTimeout)
	defer cancel()
	body, err := bodytemplate.Load(ctx, client, "web_hook.jsonnet", cfg.Request.Body)
	if err != nil {
		return nil, fmt.Errorf("config key %q: web_hook body: %w", where, err)
	}
	allow := w.HeaderAllowlist
	if allow == nil {
		allow = requestHeaderAllowlist
	}
	headers := make(map[string]bool, len(allow))
	for _, name := range allow {
		headers[textproto.CanonicalMIMEHeaderKey(name)] = true
	}
	return &webHook{cfg: *cfg, body: body, client: client, whs: w, headers: headers,
		withSession: flowName != "registration" && flowName != "verification"}, nil
}

// send makes the hook's call with vars: in the background for
// response.ignore (answering nil, nil at once), else waiting for the answer.
func (h *webHook) send(ctx context.Context, vars map[string]any) (*answer, error) {
	if !h.cfg.Ignore {
		return h.call(ctx, vars)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*webHookTimeout)
		defer cancel()
		if _, err := h.call(ctx, vars); err != nil {
			slog.WarnContext(ctx, "a background web_hook failed", "hook", h.label(), "error", err)
		}
	}()
	return nil, nil
}

// Execute defers the call until the flow's transaction has committed: an
// HTTP call must not hold the database. Interrupting hooks run before the
// transaction instead (Runner.PrePersist).
func (h *webHook) Execute(_ context.Context, _ *store.Q, e *Event) error {
	if h.cfg.Parse {
		return nil
	}
	e.After = append(e.After, func(ctx context.Context) error {
		res, err := h.send(ctx, h.vars(e))
		if err != nil {
			return err
		}
		if res != nil && res.status >= 300 {
			return failedStatus(res.status)
		}
		return nil
	})
	return nil
}

func (h *webHook) label() string {
	if h.cfg.ID != "" {
		return h.cfg.ID
	}
	if u, err := url.Parse(h.cfg.Request.URL); err == nil {
		return u.Host
	}
	return "web_hook"
}

// vars are the template's ctx.
func (h *webHook) vars(e *Event) map[string]any {
	v := map[string]any{}
	if e.Flow != nil {
		v["flow"] = e.Flow.View()
	}
	if r := e.Request; r != nil {
		headers := map[string][]string{}
		for name, vals := range r.Header {
			// Header keys are canonical unless set by hand; match either way.
			if h.headers[textproto.CanonicalMIMEHeaderKey(name)] && len(vals) > 0 {
				headers[name] = vals
			}
		}
		cookies := map[string]string{}
		for _, c := range r.Cookies() {
			cookies[c.Name] = c.Value
		}
		u := *r.URL
		if u.Host == "" {
			u.Host = r.Host
		}
		if u.Scheme == "" {
			u.Scheme = "http"
			if r.TLS != nil {
				u.Scheme = "https"
			}
		}
		v["request_headers"], v["request_cookies"] = headers, cookies
		v["request_method"], v["request_url"] = r.Method, u.String()
	}
	if e.Identity != nil {
		schemaURL := ""
		if h.whs.Sessions != nil {
			schemaURL = h.whs.Sessions.SchemaURL(e.Identity.SchemaID)
		}
		// Not the admin view: no credentials, no metadata_admin.
		v["identity"] = e.Identity.View(identity.ViewOptions{SchemaURL: schemaURL})
	}
	if e.Session != nil && h.whs.Sessions != nil && h.withSession {
		v["session"] = h.whs.Sessions.View(e.Session, false)
	}
	return v
}

// answer is what the endpoint said.
type answer struct {
	status int
	body   []byte
}

// call makes the request, retrying network failures and 5xx answers; a
// nil answer means the template cancelled the call.
func (h *webHook) call(ctx context.Context, vars map[string]any) (res *answer, err error) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "selfservice.webhook", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	// One trigger id for the call, the same on every retry, as in Kratos.
	triggerID := uuid.NewString()
	if h.cfg.EmitAnalyticsEvent {
		defer func() { h.recordOutcome(span, triggerID, res, err) }()
	}
	payload, err := h.body.Evaluate(vars)
	if errors.Is(err, bodytemplate.ErrCancelled) {
		return nil, nil
	}
	if err != nil {
		return nil, wire.Internal.WithReason("The web_hook body could not be built.").WithCause(err)
	}
	contentType := h.header("Content-Type")
	if contentType == "" {
		contentType = "application/json"
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		form, err := bodytemplate.FormValues(payload)
		if err != nil {
			return nil, wire.Internal.WithReason("The web_hook body could not be built.").WithCause(err)
		}
		payload = []byte(form.Encode())
	}
	backoff := h.whs.Backoff
	if backoff == 0 {
		backoff = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		res, err = h.once(ctx, payload, contentType, triggerID, attempt+1)
		refused := errors.Is(err, egress.ErrPrivateAddress) // dialling again changes nothing
		retry := (err != nil && !isTimeout(err) && !refused) || (res != nil && res.status >= 500)
		if !retry || attempt == webHookRetries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff << attempt):
		case <-ctx.Done():
		}
	}
	if err != nil {
		slog.WarnContext(ctx, "a web_hook could not be called", "hook", h.label(), "error", err)
		if isTimeout(err) {
			return nil, errTimeout
		}
		return nil, &wire.Error{Code: http.StatusBadGateway, Status: http.StatusText(http.StatusBadGateway),
			Message: "An upstream server could not be reached.", Reason: "webhook could not be called"}
	}
	if res.status >= 300 {
		slog.WarnContext(ctx, "a web_hook answered with an error", "hook", h.label(), "status", res.status)
	}
	return res, nil
}

func (h *webHook) once(ctx context.Context, payload []byte, contentType, triggerID string, attempt int) (*answer, error) {
	var body io.Reader
	if h.cfg.Request.Method != http.MethodTrace {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, h.cfg.Request.Method, h.cfg.Request.URL, body)
	if err != nil {
		return nil, errors.New("the request could not be built from the config")
	}
	for k, v := range h.cfg.Request.Headers {
		req.Header.Set(k, v)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	bodytemplate.Authorize(req, h.cfg.Request.Auth)
	requestID := ""
	if h.cfg.EmitAnalyticsEvent {
		// A fresh id for every attempt; the trigger id ties them together.
		requestID = uuid.NewString()
		req.Header.Set("Ory-Webhook-Request-ID", requestID)
		req.Header.Set("Ory-Webhook-Trigger-ID", triggerID)
	}
	res, err := h.client.Do(req)
	if h.cfg.EmitAnalyticsEvent && err == nil {
		trace.SpanFromContext(ctx).AddEvent("WebhookDelivered", trace.WithAttributes(
			attribute.String("webhook.id", h.cfg.ID), attribute.String("webhook.trigger_id", triggerID),
			attribute.String("webhook.request_id", requestID), attribute.Int("webhook.attempt", attempt),
			attribute.Int("http.response.status_code", res.StatusCode)))
	}
	if err != nil {
		// *url.Error repeats the URL, which may carry an API key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxWebHookAnswer))
	if err != nil {
		return nil, err
	}
	return &answer{status: res.StatusCode, body: b}, nil
}

// recordOutcome adds the call's outcome to its span, as Kratos's
// WebhookSucceeded and WebhookFailed events; nothing from the request or
// answer bodies, which may carry secrets.
func (h *webHook) recordOutcome(span trace.Span, triggerID string, res *answer, err error) {
	attrs := []attribute.KeyValue{attribute.String("webhook.id", h.cfg.ID), attribute.String("webhook.trigger_id", triggerID)}
	switch {
	case err != nil:
		var we *wire.Error
		reason := "webhook call failed"
		if errors.As(err, &we) && we.Reason != "" {
			reason = we.Reason
		}
		span.AddEvent("WebhookFailed", trace.WithAttributes(append(attrs, attribute.String("webhook.error", reason))...))
		span.SetStatus(codes.Error, reason)
	case res != nil && res.status >= 400:
		span.AddEvent("WebhookFailed", trace.WithAttributes(append(attrs, attribute.Int("http.response.status_code", res.status))...))
		span.SetStatus(codes.Error, fmt.Sprintf("webhook answered %d", res.status))
	default:
		span.AddEvent("WebhookSucceeded", trace.WithAttributes(attrs...))
	}
}

func (h *webHook) header(name string) string {
	for k, v := range h.cfg.Request.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

var errTimeout = &wire.Error{Code: http.StatusGatewayTimeout, Status: http.StatusText(http.StatusGatewayTimeout),
	Message: "A third-party upstream service could not be reached. Please try again later.", Reason: "webhook timed out"}

func failedStatus(code int) *wire.Error {
	return &wire.Error{Code: http.StatusBadGateway, Status: http.StatusText(http.StatusBadGateway),
		Message: "An upstream server sent an invalid response.", Reason: fmt.Sprintf("webhook failed with status code %d", code)}
}

// interpret reads the answer of an interrupting hook: messages for the
// form (a flow.FormError), changes to the identity, or nothing.
func (h *webHook) interpret(res *answer) (*Changes, error) {
	switch {
	case res == nil || res.status == http.StatusNoContent:
		return nil, nil
	case res.status >= 400:
		var body struct {
			Messages []struct {
				InstancePtr string `json:"instance_ptr"`
				Messages    []struct {
					ID      int            `json:"id"`
					Text    string         `json:"text"`
					Type    string         `json:"type"`
					Context map[string]any `json:"context"`
				} `json:"messages"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(res.body, &body); err != nil || len(body.Messages) == 0 {
			return nil, failedStatus(res.status)
		}
		fe := flow.FormError{}
		for _, group := range body.Messages {
			field := strings.ReplaceAll(strings.Trim(strings.TrimPrefix(group.InstancePtr, "#"), "/"), "/", ".")
			for _, m := range group.Messages {
				typ := m.Type
				if typ == "" {
					typ = text.Info
				}
				fe = append(fe, flow.FieldError{Field: field, Message: &text.Message{ID: m.ID, Text: m.Text, Type: typ, Context: m.Context}})
			}
		}
		if len(fe) == 0 {
			return nil, failedStatus(res.status)
		}
		return nil, fe
	case res.status == http.StatusOK:
		var body struct {
			Identity *Changes `json:"identity"`
		}
		if err := json.Unmarshal(res.body, &body); err != nil {
			return nil, nil // Kratos ignores an answer it cannot read
		}
		return body.Identity, nil
	}
	return nil, nil
}

// prePersist runs the hook before the flow's transaction.
func (h *webHook) prePersist(ctx context.Context, e *Event) (*Changes, error) {
	res, err := h.call(ctx, h.vars(e))
	if err != nil {
		return nil, err
	}
	return h.interpret(res)
}
