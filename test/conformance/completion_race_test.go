package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// The tests here race many submissions of one flow. On SQLite one server
// takes them all; on PostgreSQL two servers share the database and the
// submissions alternate between them, so the flow's completion must be
// decided by the database, not by a process.

const completionRacers = 20

// raceServers starts one server (SQLite) or two on one PostgreSQL
// database from spec.
func raceServers(t *testing.T, store string, spec serverSpec) []*Server {
	t.Helper()
	if store != storePostgres {
		return []*Server{startServer(t, spec)}
	}
	spec.dsn = newPostgresDatabase(t)
	a := startServer(t, spec)
	b := startServer(t, spec)
	return []*Server{a, b}
}

// raceSubmit sends completionRacers submissions at once, the i-th to
// servers[i%len(servers)] with body(i) and header, and answers the
// responses in order.
func raceSubmit(t *testing.T, servers []*Server, kind, flowID string, header http.Header, body func(i int) any) []response {
	t.Helper()
	return race(t, completionRacers, func(i int) response {
		s := servers[i%len(servers)]
		return sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, flowID), body(i), header)
	})
}

// race runs submit(0) to submit(n-1) at once and answers the responses in
// order; a 5xx fails the test.
func race(t *testing.T, n int, submit func(i int) response) []response {
	t.Helper()
	results := make([]response, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = submit(i)
		}()
	}
	close(start)
	wg.Wait()
	for i, res := range results {
		if res.status >= 500 {
			t.Errorf("submission %d failed with %d: %s", i, res.status, res.body)
		}
	}
	return results
}

// requireOneWinner checks that exactly one response has status win and
// that every other one is a 4xx carrying message id lost (0: any 4xx).
func requireOneWinner(t *testing.T, results []response, win int, lost int64) int {
	t.Helper()
	winner, wins := -1, 0
	for i, res := range results {
		if res.status == win {
			winner = i
			wins++
			continue
		}
		if res.status < 400 || res.status >= 500 {
			t.Errorf("losing submission %d answered %d, want a 4xx: %s", i, res.status, res.body)
			continue
		}
		if lost != 0 && !bodyHasMessage(res.body, lost) {
			t.Errorf("losing submission %d answered %d without message %d: %s", i, res.status, lost, res.body)
		}
	}
	if wins != 1 {
		statuses := map[int]int{}
		for _, res := range results {
			statuses[res.status]++
		}
		t.Fatalf("%d of %d racing submissions completed the flow (statuses %v), want exactly one", wins, len(results), statuses)
	}
	return winner
}

// bodyHasMessage reports whether a flow body carries message id in its
// ui.messages.
func bodyHasMessage(body []byte, id int64) bool {
	var f struct {
		UI struct {
			Messages []uiText `json:"messages"`
		} `json:"ui"`
	}
	return json.Unmarshal(body, &f) == nil && hasMessage(f.UI.Messages, id)
}

func TestCompletionRace_RegistrationMakesOneIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		servers := raceServers(t, store, selfserviceSpec(store, nil))
		s := servers[0]
		f := s.nativeFlow(t, "registration")
		results := raceSubmit(t, servers, "registration", f.ID, nil, func(i int) any {
			return map[string]any{
				"method":   "password",
				"password": testPassword,
				"traits":   map[string]any{"email": fmt.Sprintf("reg-race-%02d@example.org", i)},
			}
		})
		requireOneWinner(t, results, http.StatusOK, 4040002)
		for _, srv := range servers {
			srv.requireCount(t, 1, "racing registrations of one flow")
		}
		// The flow stays completed for a late submission too.
		late := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": "reg-race-late@example.org"},
		}, nil)
		if late.status != http.StatusBadRequest || !bodyHasMessage(late.body, 4040002) {
			t.Errorf("late submission: %d %s, want 400 with message 4040002", late.status, late.body)
		}
		s.requireCount(t, 1, "a late submission")
	})
}

func TestCompletionRace_LoginIssuesOneSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		// Twenty sign-ins in flight from one client look like guesses to
		// the brute-force guard (guard_test.go); here only completion counts.
		servers := raceServers(t, store, selfserviceSpec(store, map[string]any{"protection.attempts.free_failures": 100}))
		s := servers[0]
		email := uniqueEmail("login-race")
		id := s.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
		f := s.nativeFlow(t, "login")
		results := raceSubmit(t, servers, "login", f.ID, nil, func(int) any {
			return map[string]any{"method": "password", "identifier": email, "password": testPassword}
		})
		winner := requireOneWinner(t, results, http.StatusOK, 4010007)
		if tok := decodeSuccess(t, results[winner].body).SessionToken; tok == "" {
			t.Errorf("the winning login has no session token: %s", results[winner].body)
		}
		for _, srv := range servers {
			sessions, res, err := srv.Admin.IdentityAPI.ListIdentitySessions(context.Background(), id).Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(sessions) != 1 {
				t.Errorf("%d sessions after %d racing logins of one flow, want 1", len(sessions), completionRacers)
			}
		}
	})
}

func TestCompletionRace_SettingsAppliesOneChangePerVersion(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		servers := raceServers(t, store, stSpec(store, nil))
		s := servers[0]
		u := stRegister(t, s, "settings-race")
		f := stNativeSettings(t, s, u.Token)
		emails := make([]string, completionRacers)
		results := raceSubmit(t, servers, "settings", f.ID, tokenHeader(u.Token), func(i int) any {
			emails[i] = uniqueEmail("settings-race-new")
			return map[string]any{"method": "profile", "traits": map[string]any{"email": emails[i]}}
		})
		// Submissions that read the flow at the same version race for it:
		// one applies, the others answer 409 and change nothing. A
		// submission that read the flow after a success may apply too,
		// as a later submission of a settings flow does.
		applied := map[string]bool{}
		for i, res := range results {
			switch res.status {
			case http.StatusOK:
				applied[emails[i]] = true
			case http.StatusConflict:
			default:
				t.Errorf("submission %d answered %d, want 200 or 409: %s", i, res.status, res.body)
			}
		}
		if len(applied) == 0 || len(applied) == completionRacers {
			t.Fatalf("%d of %d racing settings submissions applied, want at least one and not all", len(applied), completionRacers)
		}
		got := traitsOf(t, s.getIdentity(t, u.IdentityID))["email"]
		email, _ := got.(string)
		if !applied[email] {
			t.Errorf("the identity's email is %v, which no successful submission set", got)
		}
	})
}

func TestCompletionRace_RecoveryCompletesOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		servers := raceServers(t, store, recSpec(store, sink, map[string]any{"feature_flags.use_continue_with_transitions": true}))
		s := servers[0]
		email, id := recUser(t, s, "rec-completion-race")
		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		code := recMailCode(t, sink, email)
		results := raceSubmit(t, servers, "recovery", f.ID, nil, func(int) any {
			return map[string]any{"method": "code", "code": code}
		})
		wins := 0
		for _, res := range results {
			if res.status == http.StatusOK && len(recDecode(t, res.body).ContinueWith) > 0 {
				wins++
			}
		}
		if wins != 1 {
			t.Fatalf("%d racing submissions recovered the account, want exactly one: %s", wins, asJSON(results))
		}
		sessions, res, err := s.Admin.IdentityAPI.ListIdentitySessions(context.Background(), id).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(sessions) != 1 {
			t.Errorf("%d sessions after racing recoveries, want 1", len(sessions))
		}
	})
}

func TestCompletionRace_VerificationCompletesOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		servers := raceServers(t, store, verificationSpec(store, sink, nil))
		s := servers[0]
		email := uniqueEmail("ver-completion-race")
		id := s.newVerifiable(t, email)
		f := s.nativeVerification(t)
		s.sdkSendCode(t, f.ID, email)
		code := sink.WaitFor(t, email, "", mailWait).Code(t)
		results := raceSubmit(t, servers, "verification", f.ID, nil, func(int) any {
			return map[string]any{"method": "code", "code": code}
		})
		wins := 0
		for i, res := range results {
			if res.status != http.StatusOK {
				continue
			}
			got := decodeVerification(t, res.body)
			if got.ID == f.ID && got.State == "passed_challenge" && bodyHasMessage(res.body, 1080002) {
				wins++
			} else if got.ID == f.ID {
				t.Errorf("submission %d answered the same flow without completing it: %s", i, res.body)
			}
		}
		if wins != 1 {
			t.Fatalf("%d racing submissions verified with one flow, want exactly one: %s", wins, asJSON(results))
		}
		s.requireVerified(t, id, email)
	})
}
