package conformance

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// TestRecovery_Disabled: with selfservice.flows.recovery.enabled false
// (the default) Kratos refuses to create or show recovery flows with a
// plain 400 (browsers are sent to the error UI); the admin endpoints keep
// working.
func TestRecovery_Disabled(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"selfservice.flows.recovery.enabled": nil})

		_, res, err := s.Public.FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
		status, body := sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusBadRequest); e.Error.ID != "" || e.Error.Reason == "" {
			t.Errorf("native flow: error id %q reason %q, want no id and a reason", e.Error.ID, e.Error.Reason)
		}

		b := newBrowser(t, s)
		_, res, err = b.sdk.FrontendAPI.CreateBrowserRecoveryFlow(context.Background()).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusBadRequest)

		page := b.do(t, http.MethodGet, s.PublicURL+"/self-service/recovery/browser", nil, nil)
		if u := redirectTarget(t, page); withoutQuery(u) != errorUI || u.Query().Get("id") == "" {
			t.Errorf("a browser was sent to %s, want the error UI", u)
		}

		get := recGet(t, s, plain(s), "9f0b4b0e-4f3a-4bc5-9d55-4d0f1f0f3b8e")
		requireError(t, get.status, get.body, http.StatusBadRequest)

		_, id := recUser(t, s, "rec-disabled")
		_, res, err = s.Admin.IdentityAPI.CreateRecoveryCodeForIdentity(context.Background()).
			CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: id}).Execute()
		requireOK(t, res, err, http.StatusCreated)
	})
}

// TestRecovery_CSRF: browser submissions without the CSRF token, with a
// wrong one or without the cookie are refused with 403
// security_csrf_violation and change nothing; native flows refuse cookies.
func TestRecovery_CSRF(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, _ := recUser(t, s, "rec-csrf")
		b := newBrowser(t, s)
		f := recBrowser(t, b)
		other := newBrowser(t, s)
		otherFlow := recBrowser(t, other)

		for _, tc := range []struct {
			name   string
			client *http.Client
			token  string
		}{
			{"no token", b.http, ""},
			{"wrong token", b.http, "bm90LWEtdG9rZW4tYXQtYWxsLW5vdC1hLXRva2VuLWF0LWFsbC1ub3QtYS10b2tlbg=="},
			{"token of another browser", b.http, otherFlow.csrf(t)},
			{"no cookie", plain(s), f.csrf(t)},
		} {
			body := map[string]any{"method": "code", "email": email}
			if tc.token != "" {
				body["csrf_token"] = tc.token
			}
			res := recSubmit(t, s, tc.client, f.ID, body)
			if e := requireError(t, res.status, res.body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
				t.Errorf("%s: error.id = %q, want security_csrf_violation", tc.name, e.Error.ID)
			}
		}
		if got := recGetOK(t, s, b.http, f.ID); got.State != "choose_method" {
			t.Errorf("after refused submissions the flow is in %v, want choose_method", got.State)
		}
		if msgs := recMessages(t, s, email); len(msgs) != 0 {
			t.Errorf("refused submissions queued %d messages", len(msgs))
		}

		// A form post without the token is sent to the error UI.
		res := recSubmit(t, s, b.http, f.ID, url.Values{"method": {"code"}, "email": {email}})
		if u := redirectTarget(t, res); withoutQuery(u) != errorUI {
			t.Errorf("form post without token sent to %s, want the error UI", u)
		}

		// The code step is protected the same way.
		sent := recSDKEmailBrowser(t, b, f, email)
		code := recMailCode(t, sink, email)
		res = recSubmit(t, s, b.http, f.ID, map[string]any{"method": "code", "code": code})
		if e := requireError(t, res.status, res.body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
			t.Errorf("code without token: error.id = %q", e.Error.ID)
		}
		if status, _, _ := s.whoami(t, b.http, nil); status == http.StatusOK {
			t.Error("a code without CSRF token signed the browser in")
		}
		res = recSubmit(t, s, b.http, f.ID, map[string]any{"method": "code", "code": code, "csrf_token": sent.csrf(t)})
		recLocationChange(t, res.status, res.body)

		// Native flows refuse browser state.
		nf := recNative(t, s)
		res = recSubmit(t, s, plain(s), nf.ID, map[string]any{"method": "code", "email": email, "csrf_token": ""})
		if res.status != http.StatusOK {
			t.Fatalf("native submit: %d: %s", res.status, res.body)
		}
		nf2 := recNative(t, s)
		res = sendRequest(t, plain(s), http.MethodPost, s.submitURL("recovery", nf2.ID), map[string]any{"method": "code", "email": email},
			http.Header{"Cookie": {"ory_kratos_session=x"}})
		if res.status != http.StatusBadRequest || !hasMessage(recDecode(t, res.body).UI.Messages, 4000001) {
			t.Errorf("native submit with a cookie: %d: %s, want 400 with 4000001", res.status, res.body)
		}
	})
}

// TestRecovery_SignedInUserIsRefused: asking for recovery with a session
// is Kratos's session_already_available.
func TestRecovery_SignedInUserIsRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, _ := recUser(t, s, "rec-signed-in")
		u := stLogin(t, s, email, testPassword, nil)
		raw := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/recovery/api", nil, tokenHeader(u.Token))
		if e := requireError(t, raw.status, raw.body, http.StatusBadRequest); e.Error.ID != "session_already_available" {
			t.Errorf("error.id = %q, want session_already_available", e.Error.ID)
		}
	})
}

// TestRecovery_MailIsRetriedUntilDelivered: the SMTP server is down when
// the code is requested; the courier retries with backoff and the message
// arrives exactly once after the server is back.
func TestRecovery_MailIsRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"courier.message_retries": 20})
		email, _ := recUser(t, s, "rec-retry")
		sink.Stop()

		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)

		// Wait until a delivery attempt failed and the message waits for
		// the next one.
		deadline := time.Now().Add(recMailWait)
		for {
			msgs := recMessages(t, s, email)
			if len(msgs) == 1 && msgs[0].SendCount >= 1 && msgs[0].Status == ory.COURIERMESSAGESTATUS_QUEUED {
				break
			}
			if len(msgs) == 1 && msgs[0].Status == ory.COURIERMESSAGESTATUS_ABANDONED {
				t.Fatalf("the message was abandoned: %s", asJSON(msgs))
			}
			if time.Now().After(deadline) {
				t.Fatalf("no failed delivery attempt recorded: %s", asJSON(msgs))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := sink.CountTo(email); n != 0 {
			t.Fatalf("%d mails arrived while the server was down", n)
		}

		sink.Restart(t)
		code := recMailCode(t, sink, email)
		for {
			msgs := recMessages(t, s, email)
			if len(msgs) == 1 && msgs[0].Status == ory.COURIERMESSAGESTATUS_SENT {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the message is not marked sent: %s", asJSON(msgs))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := sink.CountTo(email); n != 1 {
			t.Errorf("%d mails arrived, want exactly one", n)
		}
		res, body, _ := recSDKCode(t, s, f.ID, code)
		recLocationChange(t, res.StatusCode, body)
	})
}
