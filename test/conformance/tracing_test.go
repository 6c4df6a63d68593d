package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/tracing/tracingtest"
)

// tracingSet points a server's traces at collector c.
func tracingSet(c *tracingtest.Collector) map[string]any {
	return map[string]any{
		"tracing.provider":                  "otel",
		"tracing.service_name":              "lanyard-conformance",
		"tracing.providers.otlp.server_url": c.Addr(),
		"tracing.providers.otlp.insecure":   true,
	}
}

// newTraceparent is a sampled W3C traceparent with a fresh trace id, and
// that id and the parent span id.
func newTraceparent() (header, traceID, spanID string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	traceID, spanID = hex.EncodeToString(b[:16]), hex.EncodeToString(b[16:])
	return "00-" + traceID + "-" + spanID + "-01", traceID, spanID
}

// waitForSpans polls c until done accepts what arrived; the exporter sends
// in batches, so spans of one request may come in several.
func waitForSpans(t *testing.T, c *tracingtest.Collector, what string, done func([]tracingtest.Span) bool) []tracingtest.Span {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans := c.Spans()
		if done(spans) {
			return spans
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.GetName())
			}
			t.Fatalf("no %s after 30s; received %d spans: %s", what, len(spans), strings.Join(names, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// descendsFrom reports whether s is below the span with id root.
func descendsFrom(s tracingtest.Span, root string, byID map[string]tracingtest.Span) bool {
	for p := s.ParentID(); p != ""; {
		if p == root {
			return true
		}
		parent, ok := byID[p]
		if !ok {
			return false
		}
		p = parent.ParentID()
	}
	return false
}

func TestTracing_LoginSpansReachTheCollector(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		c := tracingtest.Start(t)
		s := startServer(t, serverSpec{store: store, set: tracingSet(c),
			env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "100"}})
		email := uniqueEmail("traced")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))

		f := s.nativeFlow(t, "login")
		parent, traceID, parentID := newTraceparent()
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{
			"method": "password", "identifier": email, "password": testPassword,
		}, http.Header{"Traceparent": {parent}})
		if res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		token := decodeSuccess(t, res.body).SessionToken
		if code, _, res := s.whoami(t, plain(s), tokenHeader(token)); code != http.StatusOK {
			t.Fatalf("whoami: %d %s", code, res.body)
		}

		var login tracingtest.Span
		spans := waitForSpans(t, c, "login request span with a db span and a verify span below it, and a whoami span", func(spans []tracingtest.Span) bool {
			byID := map[string]tracingtest.Span{}
			for _, sp := range spans {
				byID[sp.ID()] = sp
			}
			var found, db, verify, whoami bool
			for _, sp := range spans {
				switch {
				case sp.GetName() == "POST /self-service/login" && sp.TraceID() == traceID:
					login, found = sp, true
				case sp.GetName() == "GET /sessions/whoami":
					whoami = true
				}
			}
			if !found {
				return false
			}
			for _, sp := range spans {
				if sp.TraceID() != traceID || !descendsFrom(sp, login.ID(), byID) {
					continue
				}
				db = db || strings.HasPrefix(sp.GetName(), "db.")
				verify = verify || sp.GetName() == "verify"
			}
			return db && verify && whoami
		})

		if login.ParentID() != parentID {
			t.Errorf("the login span's parent = %s, want the traceparent's span %s", login.ParentID(), parentID)
		}
		if login.Attr("http.route") != "/self-service/login" || login.Attr("http.request.method") != "POST" ||
			login.Attr("http.response.status_code") != "200" {
			t.Errorf("login span attributes: route %q method %q status %q", login.Attr("http.route"),
				login.Attr("http.request.method"), login.Attr("http.response.status_code"))
		}
		if got := login.Resource["service.name"]; got != "lanyard-conformance" {
			t.Errorf("service.name = %q", got)
		}
		wantSystem := map[string]string{storeSQLite: "sqlite", storePostgres: "postgresql"}[store]
		for _, sp := range spans {
			if strings.HasPrefix(sp.GetName(), "db.") && sp.Attr("db.system") != wantSystem {
				t.Errorf("%s db.system = %q, want %q", sp.GetName(), sp.Attr("db.system"), wantSystem)
			}
			if sp.GetName() == "verify" && sp.Attr("hash.algorithm") != "bcrypt" {
				t.Errorf("verify hash.algorithm = %q, want bcrypt", sp.Attr("hash.algorithm"))
			}
			if strings.Contains(sp.GetName(), f.ID) || strings.Contains(sp.GetName(), "?") {
				t.Errorf("span named after the raw request: %q", sp.GetName())
			}
			for _, kv := range sp.GetAttributes() {
				v := sp.Attr(kv.GetKey())
				for _, secret := range []string{testPassword, token, token[len("ory_st_"):], f.ID} {
					if strings.Contains(v, secret) {
						t.Errorf("span %s attribute %s carries a password, session token or flow id", sp.GetName(), kv.GetKey())
					}
				}
			}
		}
	})
}

// With a batch delay longer than the test, the spans leave only through
// the flush on shutdown: the check runs in a cleanup registered before the
// server's, so after the server has stopped on SIGTERM.
func TestTracing_SpansAreFlushedOnShutdown(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		c := tracingtest.Start(t)
		parent, traceID, _ := newTraceparent()
		t.Cleanup(func() {
			for _, sp := range c.Spans() {
				if sp.TraceID() == traceID && sp.GetName() == "GET /health/alive" {
					return
				}
			}
			t.Errorf("the request span did not reach the collector on shutdown (%d spans received)", len(c.Spans()))
		})
		s := startServer(t, serverSpec{store: store, set: tracingSet(c),
			env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "3600000"}})
		res := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/health/alive", nil, http.Header{"Traceparent": {parent}})
		if res.status != http.StatusOK {
			t.Fatalf("alive: %d", res.status)
		}
		if n := len(c.Spans()); n != 0 {
			t.Logf("%d spans exported before shutdown", n)
		}
	})
}

// A sampling ratio of 0 records no new trace, yet follows a caller that
// sampled its own.
func TestTracing_SamplingRatioZeroFollowsTheCaller(t *testing.T) {
	c := tracingtest.Start(t)
	set := tracingSet(c)
	set["tracing.providers.otlp.sampling.sampling_ratio"] = 0
	s := startServer(t, serverSpec{set: set, env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "100"}})
	sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/health/ready", nil, nil)
	parent, traceID, _ := newTraceparent()
	sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/health/alive", nil, http.Header{"Traceparent": {parent}})
	spans := waitForSpans(t, c, "span of the sampled caller", func(spans []tracingtest.Span) bool {
		for _, sp := range spans {
			if sp.TraceID() == traceID {
				return true
			}
		}
		return false
	})
	for _, sp := range spans {
		if sp.TraceID() != traceID {
			t.Errorf("a span outside the caller's trace was sampled at ratio 0: %s", sp.GetName())
		}
	}
}
