package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"
)

// Tests of the brute-force and abuse protection (protection.*): rate limits
// per client address, the trusted proxies that decide that address, failed
// sign-in counters and locks shared by every instance, the admin API over
// them, and the cap on messages per address.

// Lanyard's own message ids of refused attempts.
const (
	msgAttemptsDelayed  = 4900001
	msgIdentifierLocked = 4900002
)

// guardAttemptsConfig turns the rate limits off, so that a test of the
// attempt counters sees nothing else, and sets the attempt limits.
func guardAttemptsConfig(lockAfter, freeFailures int, window, lockDuration string) map[string]any {
	return map[string]any{
		"protection.rate_limits.enabled":    false,
		"protection.attempts.lock_after":    lockAfter,
		"protection.attempts.free_failures": freeFailures,
		"protection.attempts.window":        window,
		"protection.attempts.lock_duration": lockDuration,
		"protection.attempts.max_delay":     "1m",
	}
}

// requireTooManyRequests asserts a 429 in the error shape with a
// Retry-After of whole seconds, and answers it.
func requireTooManyRequests(t *testing.T, status int, header http.Header, body []byte) int {
	t.Helper()
	e := requireError(t, status, body, http.StatusTooManyRequests)
	ra, err := strconv.Atoi(header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After %q, want whole seconds", header.Get("Retry-After"))
	}
	if got, _ := e.Error.Details["retry_after_seconds"].(float64); int(got) != ra {
		t.Errorf("details.retry_after_seconds = %v, want the Retry-After %d: %s", e.Error.Details["retry_after_seconds"], ra, body)
	}
	return ra
}

func TestGuard_RateLimitsAnswer429WithRetryAfter(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"protection.rate_limits.flow_creation.rate_per_minute": 1,
			"protection.rate_limits.flow_creation.burst":           2,
			"protection.rate_limits.submission.rate_per_minute":    1,
			"protection.rate_limits.submission.burst":              2,
		})
		ctx := context.Background()

		// Flow creation: the burst, then 429 through the SDK and raw, for
		// every kind of flow alike.
		first := s.nativeFlow(t, "login")
		s.nativeFlow(t, "registration")
		_, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
		status, body := sdkFailure(t, res, err)
		requireTooManyRequests(t, status, res.Header, body)
		raw := s.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/browser", nil, nil)
		requireTooManyRequests(t, raw.status, raw.header, raw.body)
		if cc := raw.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("Cache-Control %q on a 429, want no-store", cc)
		}

		// Submissions draw from their own bucket.
		for i := range 2 {
			res := s.do(t, http.MethodPost, s.submitURL("login", first.ID), map[string]any{
				"method": "password", "identifier": "nobody@example.org", "password": "not-the-Password-1",
			}, nil)
			if res.status == http.StatusTooManyRequests || res.status >= 500 {
				t.Fatalf("submission %d: %d %s", i+1, res.status, res.body)
			}
		}
		_, res, err = s.Public.FrontendAPI.UpdateLoginFlow(ctx).Flow(first.ID).UpdateLoginFlowBody(ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
			ory.NewUpdateLoginFlowWithPasswordMethod("nobody@example.org", "password", "not-the-Password-1"))).Execute()
		status, body = sdkFailure(t, res, err)
		requireTooManyRequests(t, status, res.Header, body)
		// The links and codes of messages are submissions too.
		raw = s.do(t, http.MethodGet, s.PublicURL+"/self-service/recovery?flow="+uuid.NewString()+"&token=abc", nil, nil)
		requireTooManyRequests(t, raw.status, raw.header, raw.body)

		// What is not a flow creation or submission stays open.
		for range 5 {
			for _, u := range []string{
				s.PublicURL + "/sessions/whoami", s.PublicURL + "/health/alive", s.PublicURL + "/health/ready",
				s.PublicURL + "/schemas", s.PublicURL + "/self-service/login/flows?id=" + first.ID,
				s.AdminURL + "/admin/identities",
			} {
				if res := s.do(t, http.MethodGet, u, nil, nil); res.status == http.StatusTooManyRequests || res.status >= 500 {
					t.Fatalf("GET %s: %d %s", u, res.status, res.body)
				}
			}
		}
	})
}

func TestGuard_TrustedProxiesDecideTheClientAddress(t *testing.T) {
	t.Parallel()
	limits := map[string]any{
		"protection.rate_limits.flow_creation.rate_per_minute": 1,
		"protection.rate_limits.flow_creation.burst":           1,
	}
	create := func(t *testing.T, s *Server, xff string) int {
		t.Helper()
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		res := s.do(t, http.MethodGet, s.PublicURL+"/self-service/login/api", nil, h)
		if res.status >= 500 {
			t.Fatalf("%d %s", res.status, res.body)
		}
		return res.status
	}
	forEachStore(t, func(t *testing.T, store string) {
		behind := map[string]any{"protection.trusted_proxies": []any{"127.0.0.1/32"}}
		for k, v := range limits {
			behind[k] = v
		}
		proxied := selfserviceServer(t, store, behind)
		for _, step := range []struct {
			xff  string
			want int
		}{
			{"203.0.113.1", http.StatusOK},
			{"203.0.113.1", http.StatusTooManyRequests},
			{"203.0.113.2", http.StatusOK},
			// Addresses the client wrote left of the one the proxy saw
			// change nothing.
			{"198.51.100.1, 203.0.113.1", http.StatusTooManyRequests},
			{"", http.StatusOK}, // the proxy itself
			{"", http.StatusTooManyRequests},
		} {
			if got := create(t, proxied, step.xff); got != step.want {
				t.Errorf("behind a trusted proxy, X-Forwarded-For %q: %d, want %d", step.xff, got, step.want)
			}
		}

		// Without trusted proxies the header is the client's say-so.
		direct := selfserviceServer(t, store, limits)
		if got := create(t, direct, "203.0.113.1"); got != http.StatusOK {
			t.Errorf("first request: %d", got)
		}
		if got := create(t, direct, "203.0.113.2"); got != http.StatusTooManyRequests {
			t.Errorf("an untrusted X-Forwarded-For escaped the limit: %d", got)
		}
	})
}

func TestGuard_InvalidProtectionConfigFailsNamingTheKey(t *testing.T) {
	t.Parallel()
	for key, value := range map[string]any{
		"protection.attempts.lock_after":              0,
		"protection.rate_limits.submission.burst":     -1,
		"protection.trusted_proxies":                  []any{"proxy.internal"},
		"protection.courier.max_messages_per_address": 0,
		"protection.attempts.window":                  "0s",
	} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			if out := startFailing(t, map[string]any{key: value}); !strings.Contains(out, key) {
				t.Errorf("the error does not name %s:\n%s", key, out)
			}
		})
	}
}

// guardAttempts is the admin API's view of an identity's counters.
type guardAttempts struct {
	IdentityID string `json:"identity_id"`
	Locked     bool   `json:"locked"`
	Counters   []struct {
		Identifier  string     `json:"identifier"`
		Scope       string     `json:"scope"`
		Failures    int        `json:"failures"`
		LockedUntil *time.Time `json:"locked_until"`
		Clients     []struct {
			Address  string `json:"address"`
			Failures int    `json:"failures"`
		} `json:"clients"`
	} `json:"counters"`
}

func (s *Server) guardAttempts(t *testing.T, id string) guardAttempts {
	t.Helper()
	res := s.do(t, http.MethodGet, s.AdminURL+"/admin/identities/"+id+"/login-attempts", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET login-attempts: %d %s", res.status, res.body)
	}
	var v guardAttempts
	if err := json.Unmarshal(res.body, &v); err != nil || v.IdentityID != id {
		t.Fatalf("login-attempts body (%v): %s", err, res.body)
	}
	return v
}

func (s *Server) clearGuardAttempts(t *testing.T, id string) {
	t.Helper()
	res := s.do(t, http.MethodDelete, s.AdminURL+"/admin/identities/"+id+"/login-attempts", nil, nil)
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		t.Fatalf("DELETE login-attempts: %d %s", res.status, res.body)
	}
}

func TestGuardAdmin_AnswersForKnownIdentitiesOnly(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		id := s.createIdentity(t, withPassword(identityBody(uniqueEmail("guard-admin")), testPassword)).Id
		if v := s.guardAttempts(t, id); v.Locked || len(v.Counters) != 0 {
			t.Errorf("a fresh identity has counters: %+v", v)
		}
		s.clearGuardAttempts(t, id)
		// Both prefixes, as every admin route.
		if res := s.do(t, http.MethodGet, s.AdminURL+"/identities/"+id+"/login-attempts", nil, nil); res.status != http.StatusOK {
			t.Errorf("without the /admin prefix: %d %s", res.status, res.body)
		}
		for _, other := range []string{uuid.NewString(), "not-a-uuid"} {
			for _, m := range []string{http.MethodGet, http.MethodDelete} {
				res := s.do(t, m, s.AdminURL+"/admin/identities/"+other+"/login-attempts", nil, nil)
				requireError(t, res.status, res.body, http.StatusNotFound)
			}
		}
		// The public listener does not serve it.
		if res := s.do(t, http.MethodGet, s.PublicURL+"/admin/identities/"+id+"/login-attempts", nil, nil); res.status != http.StatusTemporaryRedirect {
			t.Errorf("public listener: %d, want a redirect to the admin listener", res.status)
		}
	})
}

// guardLogin submits a native login to a flow of s without failing the
// test, so that goroutines can call it.
func guardLogin(s *Server, flowID, identifier, password string) (int, []byte, error) {
	body := asJSON(map[string]any{"method": "password", "identifier": identifier, "password": password})
	res, err := s.HTTP.Post(s.submitURL("login", flowID), "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// loginMessage logs in once and answers the status and, for a refusal,
// the flow message ids (and the flow).
func loginMessage(t *testing.T, s *Server, identifier, password string) (int, []int64, flowView) {
	t.Helper()
	res := s.loginNative(t, identifier, password)
	if res.status == http.StatusOK {
		return res.status, nil, flowView{}
	}
	if res.status != http.StatusBadRequest {
		t.Fatalf("login of %s: %d, want 200 or 400 with the flow: %s", identifier, res.status, res.body)
	}
	f := decodeFlow(t, "login", res.body)
	return res.status, messageIDs(f.UI.Messages), f
}

// TestGuardLogin_ParallelGuessesOnTwoInstancesAreCountedExactly: fifty
// parallel wrong guesses against one account, spread over two instances on
// one PostgreSQL database, leave the counter exact; all are refused once
// the limit is reached, the right password too, until an admin clears it.
func TestGuardLogin_ParallelGuessesOnTwoInstancesAreCountedExactly(t *testing.T) {
	t.Parallel()
	const guesses, limit = 50, 10
	dsn := newPostgresDatabase(t)
	set := guardAttemptsConfig(limit, 1000, "1h", "15m")
	a := startServer(t, serverSpec{store: storePostgres, dsn: dsn, set: withSelfservice(set)})
	b := startServer(t, serverSpec{store: storePostgres, dsn: dsn, set: withSelfservice(set)})
	email := uniqueEmail("guard-victim")
	id := a.createIdentity(t, withPassword(identityBody(email), testPassword)).Id

	servers := []*Server{a, b}
	flows := make([]string, guesses)
	for i := range flows {
		flows[i] = servers[i%2].nativeFlow(t, "login").ID
	}
	type outcome struct {
		status int
		ids    []int64
		err    string
	}
	results := make([]outcome, guesses)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			status, body, err := guardLogin(servers[i%2], flows[i], email, fmt.Sprintf("wrong-Guess-%02d", i))
			if err != nil {
				results[i] = outcome{err: err.Error()}
				return
			}
			var f flowView
			if status == http.StatusBadRequest {
				if err := json.Unmarshal(body, &f); err != nil {
					results[i] = outcome{status: status, err: "not a flow: " + string(body)}
					return
				}
			}
			results[i] = outcome{status: status, ids: messageIDs(f.UI.Messages), err: string(body)}
		}()
	}
	close(start)
	wg.Wait()

	wrong, locked := 0, 0
	for i, r := range results {
		switch {
		case r.status == http.StatusBadRequest && len(r.ids) == 1 && r.ids[0] == 4000006:
			wrong++
		case r.status == http.StatusBadRequest && len(r.ids) == 1 && r.ids[0] == msgIdentifierLocked:
			locked++
		default:
			t.Errorf("guess %d: status %d, messages %v: %s", i, r.status, r.ids, r.err)
		}
	}
	if wrong != limit || locked != guesses-limit {
		t.Errorf("%d guesses were checked and %d refused as locked, want exactly %d and %d", wrong, locked, limit, guesses-limit)
	}

	// Both instances see the same exact counter.
	for _, s := range servers {
		v := s.guardAttempts(t, id)
		if !v.Locked || len(v.Counters) != 1 || v.Counters[0].Failures != guesses || v.Counters[0].LockedUntil == nil || v.Counters[0].Scope != "login" {
			t.Errorf("counters seen by one instance: %+v, want %d failures and a lock", v, guesses)
		}
	}
	// The right password is refused while the lock lasts, on both.
	for _, s := range servers {
		status, ids, _ := loginMessage(t, s, email, testPassword)
		if status != http.StatusBadRequest || len(ids) != 1 || ids[0] != msgIdentifierLocked {
			t.Errorf("the right password of a locked account: %d %v, want 400 with %d", status, ids, msgIdentifierLocked)
		}
	}
	// An admin lifts the lock.
	b.clearGuardAttempts(t, id)
	if v := a.guardAttempts(t, id); v.Locked || len(v.Counters) != 0 {
		t.Errorf("after clearing: %+v", v)
	}
	if status, ids, _ := loginMessage(t, a, email, testPassword); status != http.StatusOK {
		t.Errorf("after clearing, the right password: %d %v", status, ids)
	}
}

// withSelfservice adds set to the config selfserviceServer uses.
func withSelfservice(set map[string]any) map[string]any {
	cfg := map[string]any{
		"selfservice.flows.login.ui_url":                             loginUI,
		"selfservice.flows.registration.ui_url":                      registerUI,
		"selfservice.flows.error.ui_url":                             errorUI,
		"selfservice.default_browser_return_url":                     defaultReturn,
		"selfservice.methods.password.config.haveibeenpwned_enabled": false,
	}
	for k, v := range set {
		cfg[k] = v
	}
	return cfg
}

// TestGuardLogin_LockRefusesTheRightPasswordUntilItEnds: past the limit the
// right password is refused with a message of Lanyard's own, unknown
// identifiers are locked alike, and the lock ends by itself; a success
// then starts the count afresh.
func TestGuardLogin_LockRefusesTheRightPasswordUntilItEnds(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		// The lock lasts until the window of 20s ends.
		s := selfserviceServer(t, store, guardAttemptsConfig(3, 1000, "20s", "1s"))
		email := uniqueEmail("guard-lock")
		id := s.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
		unknown := uniqueEmail("guard-nobody")

		for _, who := range []string{email, unknown} {
			for i := range 3 {
				if status, ids, _ := loginMessage(t, s, who, "wrong-Password-9"); status != http.StatusBadRequest || len(ids) != 1 || ids[0] != 4000006 {
					t.Fatalf("%s, wrong guess %d: %d %v, want 4000006", who, i+1, status, ids)
				}
			}
			_, ids, f := loginMessage(t, s, who, "wrong-Password-9")
			if len(ids) != 1 || ids[0] != msgIdentifierLocked {
				t.Fatalf("%s, the guess past the limit: %v, want %d", who, ids, msgIdentifierLocked)
			}
			m := f.UI.Messages[0]
			until, ok1 := m.Context["locked_until_unix"].(float64)
			retry, ok2 := m.Context["retry_after_seconds"].(float64)
			if !ok1 || !ok2 || retry < 1 || until < 1 || m.Type != "error" || m.Text == "" {
				t.Errorf("%s: lock message %+v, want the end of the lock as numbers", who, m)
			}
		}
		if v := s.guardAttempts(t, id); !v.Locked || len(v.Counters) != 1 || v.Counters[0].Failures != 4 {
			t.Errorf("counters %+v, want 4 failures and a lock", v)
		}

		// The right password is refused until the lock ends by itself.
		deadline := time.Now().Add(time.Minute)
		for refused := 0; ; refused++ {
			status, ids, _ := loginMessage(t, s, email, testPassword)
			if status == http.StatusOK {
				if refused == 0 {
					t.Error("the right password of a locked account went through at once")
				}
				break
			}
			if len(ids) != 1 || ids[0] != msgIdentifierLocked {
				t.Fatalf("the right password during the lock: %d %v, want %d", status, ids, msgIdentifierLocked)
			}
			if time.Now().After(deadline) {
				t.Fatal("the lock did not end")
			}
			time.Sleep(500 * time.Millisecond)
		}

		// A success resets the counter: two rounds of two wrong guesses and
		// the right password stay below the limit of three only so.
		if v := s.guardAttempts(t, id); v.Locked || len(v.Counters) != 0 {
			t.Errorf("after a success: %+v, want no counters", v)
		}
		for round := range 2 {
			for i := range 2 {
				if _, ids, _ := loginMessage(t, s, email, "wrong-Password-9"); len(ids) != 1 || ids[0] != 4000006 {
					t.Fatalf("round %d, wrong guess %d: %v, want 4000006", round+1, i+1, ids)
				}
			}
			if status, ids, _ := loginMessage(t, s, email, testPassword); status != http.StatusOK {
				t.Fatalf("round %d, the right password: %d %v, want 200", round+1, status, ids)
			}
		}
	})
}

// TestGuardLogin_DelaysGrowPerClientAfterFreeFailures: after the free
// failures one client must wait before its next attempt, the right
// password included.
func TestGuardLogin_DelaysGrowPerClientAfterFreeFailures(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, guardAttemptsConfig(1000, 2, "1h", "15m"))
		email := uniqueEmail("guard-delay")
		id := s.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
		for i := range 2 {
			if _, ids, _ := loginMessage(t, s, email, "wrong-Password-9"); len(ids) != 1 || ids[0] != 4000006 {
				t.Fatalf("free failure %d: %v", i+1, ids)
			}
		}
		// Delays double (2s, 4s, ...): on a slow machine an attempt may
		// come after one, but not after all of them.
		var retry float64
		var refusedAt time.Time
		for i := 0; retry == 0; i++ {
			_, ids, f := loginMessage(t, s, email, "wrong-Password-9")
			switch {
			case len(ids) == 1 && ids[0] == msgAttemptsDelayed:
				retry, _ = f.UI.Messages[0].Context["retry_after_seconds"].(float64)
				refusedAt = time.Now()
				if retry < 1 {
					t.Fatalf("delay message %+v, want retry_after_seconds", f.UI.Messages[0])
				}
			case len(ids) == 1 && ids[0] == 4000006 && i < 6:
			default:
				t.Fatalf("attempt %d after the free failures: %v, want %d", i+1, ids, msgAttemptsDelayed)
			}
		}
		status, ids, _ := loginMessage(t, s, email, testPassword)
		if time.Since(refusedAt) < time.Duration(retry)*time.Second && (status != http.StatusBadRequest || len(ids) != 1 || ids[0] != msgAttemptsDelayed) {
			t.Errorf("the right password during the delay: %d %v, want %d", status, ids, msgAttemptsDelayed)
		}
		v := s.guardAttempts(t, id)
		if len(v.Counters) != 1 || len(v.Counters[0].Clients) != 1 || v.Counters[0].Clients[0].Address != "127.0.0.1" || v.Locked {
			t.Errorf("counters %+v, want one delayed client and no lock", v)
		}
	})
}

// TestGuardCourier_MessagesPerAddressAreCapped: fifty recovery requests for
// one address queue only the configured number of messages, for known and
// unknown addresses alike, and every answer stays the same.
func TestGuardCourier_MessagesPerAddressAreCapped(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{
			"protection.rate_limits.enabled":                       false,
			"protection.courier.max_messages_per_address":          3,
			"selfservice.flows.recovery.notify_unknown_recipients": true,
		})
		known, _ := recUser(t, s, "guard-mail")
		unknown := uniqueEmail("guard-mail-nobody")
		answers := map[string][]string{}
		for i := range 50 {
			for _, address := range []string{known, unknown} {
				f := recNative(t, s)
				res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "email": address})
				if res.status != http.StatusOK {
					t.Fatalf("request %d for %s: %d %s", i+1, address, res.status, res.body)
				}
				answers[address] = append(answers[address], recNormalize(res.body, address))
			}
		}
		for _, address := range []string{known, unknown} {
			_, res, err := s.Admin.CourierAPI.ListCourierMessages(context.Background()).Recipient(address).Execute()
			requireOK(t, res, err, http.StatusOK)
			if n := res.Header.Get("X-Total-Count"); n != "3" {
				t.Errorf("%s: %s messages queued for 50 requests, want 3", address, n)
			}
			for i, a := range answers[address] {
				if a != answers[known][0] {
					t.Fatalf("answer %d for %s differs from the first answer for the known address:\n%s\n%s", i+1, address, a, answers[known][0])
				}
			}
		}
	})
}
