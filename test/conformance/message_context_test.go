package conformance

import (
	"context"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"
)

// UIs that translate by message id (kratos-selfservice-ui-node, Ory
// Elements) fill their templates from the message's context, so each
// message must carry Kratos's keys with Kratos's JSON types.

// requireContextTime checks that m's context has exactly keys, where every
// key is an RFC 3339 time except those ending in _unix, which are the same
// instant in Unix seconds; and answers that instant.
func requireContextTime(t *testing.T, m uiText, keys ...string) time.Time {
	t.Helper()
	got := make([]string, 0, len(m.Context))
	for k := range m.Context {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("message %d: context keys %v, want Kratos's %v; context %s", m.ID, got, keys, asJSON(m.Context))
	}
	var at time.Time
	var unixes []float64
	for _, k := range keys {
		switch v := m.Context[k].(type) {
		case string:
			parsed, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				t.Errorf("message %d: %s = %q, want an RFC 3339 time", m.ID, k, v)
			}
			if !at.IsZero() && !parsed.Equal(at) {
				t.Errorf("message %d: %s = %s differs from %s", m.ID, k, v, at)
			}
			at = parsed
		case float64:
			if v != math.Trunc(v) || len(k) < 5 || k[len(k)-5:] != "_unix" {
				t.Errorf("message %d: %s = %v, want a string time, or integer Unix seconds under a _unix key", m.ID, k, v)
			}
			unixes = append(unixes, v)
		default:
			t.Errorf("message %d: %s = %s, want an RFC 3339 string or Unix seconds", m.ID, k, asJSON(v))
		}
	}
	for _, u := range unixes {
		if int64(u) != at.Unix() {
			t.Errorf("message %d: Unix seconds %v, but the time says %d", m.ID, u, at.Unix())
		}
	}
	return at
}

// flowMessage answers f's flow-level message id.
func flowMessage(t *testing.T, f flowView, id int64) uiText {
	t.Helper()
	for _, m := range f.UI.Messages {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("flow %s has messages %v, want %d", f.ID, messageIDs(f.UI.Messages), id)
	return uiText{}
}

// requireNear fails unless got is want, give or take the second that
// storage precision and Unix truncation may cost.
func requireNear(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -time.Second || d > time.Second {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func TestMessageContext_ExpiredFlowsSayWhen(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.lifespan":        "1s",
			"selfservice.flows.registration.lifespan": "1s",
		})
		flows := map[string]flowView{"login": s.nativeFlow(t, "login"), "registration": s.nativeFlow(t, "registration")}
		bodies := map[string]map[string]any{
			"login":        {"method": "password", "identifier": "nobody@example.org", "password": testPassword},
			"registration": {"method": "password", "password": testPassword, "traits": map[string]any{"email": uniqueEmail("expired-ctx")}},
		}
		ids := map[string]int64{"login": 4010001, "registration": 4040001}
		sleepUntil(t, flows["registration"].ExpiresAt.Add(100*time.Millisecond))
		for kind, old := range flows {
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, old.ID), bodies[kind], nil)
			newID := requireExpired(t, res, old.ID)
			if newID == "" {
				continue
			}
			got := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+"/flows?id="+newID, nil, nil)
			if got.status != http.StatusOK {
				t.Fatalf("GET the new %s flow: %d %s", kind, got.status, got.body)
			}
			m := flowMessage(t, decodeFlow(t, kind, got.body), ids[kind])
			requireNear(t, kind+" expired_at", requireContextTime(t, m, "expired_at", "expired_at_unix"), old.ExpiresAt)
		}
	})
}

func TestMessageContext_ExpiredVerificationFlowSaysWhen(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := verificationServer(t, store, startMailSink(t), map[string]any{"selfservice.flows.verification.lifespan": "1s"})
		old := s.nativeVerification(t)
		sleepUntil(t, old.ExpiresAt.Add(100*time.Millisecond))
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", old.ID),
			map[string]any{"method": "code", "email": uniqueEmail("expired-ver")}, nil)
		loc := redirectTarget(t, res)
		nf := s.verificationFlowAs(t, plain(s), loc.Query().Get("id"))
		m := flowMessage(t, nf, 4070005)
		requireNear(t, "verification expired_at", requireContextTime(t, m, "expired_at", "expired_at_unix"), old.ExpiresAt)
	})
}

func TestMessageContext_ExpiredRecoveryCodeSaysWhen(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"selfservice.methods.code.config.lifespan": "1s"})
		email, _ := recUser(t, s, "rec-expired-ctx")
		f := recNative(t, s)
		before := time.Now()
		recSDKEmail(t, s, f.ID, email)
		code := recMailCode(t, sink, email)
		sleepUntil(t, time.Now().Add(1100*time.Millisecond))
		after := time.Now()

		res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
		nf := recGetOK(t, s, plain(s), recRetriedFlowID(t, s, res))
		m := flowMessage(t, nf.flowView, 4060005)
		// The code was issued after before and expired a second later,
		// before after.
		if at := requireContextTime(t, m, "expired_at", "expired_at_unix"); at.Before(before.Truncate(time.Second)) || at.After(after) {
			t.Errorf("expired_at = %s, want between %s and %s", at, before, after)
		}
	})
}

func TestMessageContext_RecoverySaysUntilWhenCredentialsMayChange(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{
			"feature_flags.use_continue_with_transitions":           true,
			"selfservice.flows.settings.privileged_session_max_age": "17m",
		})
		email, _ := recUser(t, s, "rec-privileged-ctx")
		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		res, body, err := recSDKCode(t, s, f.ID, recMailCode(t, sink, email))
		if err != nil {
			t.Fatalf("the right code: status %d (%v), want 200: %s", res.StatusCode, err, body)
		}
		done := recDecode(t, body)
		if len(done.ContinueWith) != 2 {
			t.Fatalf("continue_with = %s, want the session token and the settings flow", asJSON(done.ContinueWith))
		}
		token, _ := done.ContinueWith[0]["ory_session_token"].(string)
		sf, _ := done.ContinueWith[1]["flow"].(map[string]any)
		settingsID, _ := sf["id"].(string)

		_, sres, err := s.Public.FrontendAPI.GetSettingsFlow(context.Background()).Id(settingsID).XSessionToken(token).Execute()
		requireOK(t, sres, err, http.StatusOK)
		m := flowMessage(t, stFlowOf(t, sres).flowView, 1060001)
		until := requireContextTime(t, m, "privilegedSessionExpiresAt", "privileged_session_expires_at", "privileged_session_expires_at_unix")

		status, sess, _ := s.whoami(t, plain(s), tokenHeader(token))
		if status != http.StatusOK || sess.AuthenticatedAt == nil {
			t.Fatalf("whoami with the recovery session: %d %s", status, asJSON(sess))
		}
		requireNear(t, "privileged_session_expires_at", until, sess.AuthenticatedAt.Add(17*time.Minute))
	})
}
