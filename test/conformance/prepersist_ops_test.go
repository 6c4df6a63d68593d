package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// Pre-persist web hooks (response.parse) see the identity as the change
// will write it, and only a submission that will be written calls them.

// A settings profile change's pre-persist hook sees the new traits, and
// the traits it answers are what is stored.
func TestPrePersistOps_SettingsHookSeesTheChangeAndAmendsIt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, c hookCall) {
			id, _ := c.body["identity"].(map[string]any)
			traits, _ := id["traits"].(map[string]any)
			seen, _ := traits["email"].(string)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"identity": map[string]any{
				"traits": map[string]any{"email": "hooked." + seen},
			}})
		})
		s := stServer(t, store, map[string]any{
			"selfservice.flows.settings.after.profile.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		u := stRegister(t, s, "prepersist-settings")
		newEmail := uniqueEmail("prepersist-settings-new")
		res := sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+s.nativeFlowWithToken(t, u.Token), map[string]any{
			"method": "profile", "traits": map[string]any{"email": newEmail},
		}, tokenHeader(u.Token))
		if res.status != http.StatusOK {
			t.Fatalf("settings: %d %s", res.status, res.body)
		}
		c := receive(t, calls)
		id, _ := c.body["identity"].(map[string]any)
		if traits, _ := id["traits"].(map[string]any); traits["email"] != newEmail {
			t.Errorf("the pre-persist hook saw email %v, want the submitted %s", traits["email"], newEmail)
		}
		if id["id"] != u.IdentityID || c.body["has_session"] != true || c.body["session_identity"] != u.IdentityID {
			t.Errorf("ctx: %v (settings pre-persist hooks get the identity and the session)", c.body)
		}
		for _, hidden := range []string{"credentials", "metadata_admin"} {
			if _, ok := id[hidden]; ok {
				t.Errorf("the hook sees %s: %v", hidden, id)
			}
		}
		if got := traitsOf(t, s.getIdentity(t, u.IdentityID))["email"]; got != "hooked."+newEmail {
			t.Errorf("stored email = %v, want the hook's hooked.%s", got, newEmail)
		}
	})
}

// A password change's pre-persist hook sees the identity (its traits as
// they are, no credentials) with the session.
func TestPrePersistOps_SettingsPasswordHookSeesTheIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		s := stServer(t, store, map[string]any{
			"selfservice.flows.settings.after.password.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		u := stRegister(t, s, "prepersist-credential")
		res := sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+s.nativeFlowWithToken(t, u.Token), map[string]any{
			"method": "password", "password": "a-new-long-passphrase-for-hooks",
		}, tokenHeader(u.Token))
		if res.status != http.StatusOK {
			t.Fatalf("settings: %d %s", res.status, res.body)
		}
		c := receive(t, calls)
		id, _ := c.body["identity"].(map[string]any)
		if traits, _ := id["traits"].(map[string]any); id["id"] != u.IdentityID || traits["email"] != u.Email {
			t.Errorf("the hook's identity = %v, want %s with email %s", id, u.IdentityID, u.Email)
		}
		if _, ok := id["credentials"]; ok {
			t.Errorf("the hook sees credentials: %v", id)
		}
		if c.body["has_session"] != true {
			t.Errorf("ctx: %v (settings pre-persist hooks get the session)", c.body)
		}
		if res := s.loginNative(t, u.Email, "a-new-long-passphrase-for-hooks"); res.status != http.StatusOK {
			t.Errorf("login with the new password: %d %s", res.status, res.body)
		}
	})
}

// A code registration's pre-persist hook runs only on the submission with
// the right code: asking for the code and typing a wrong one call nothing
// and create nothing; the right code calls it once and creates the
// identity.
func TestPrePersistOps_CodeRegistrationHookRunsAfterTheCodeIsChecked(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		e := codeServer(t, store, map[string]any{
			"selfservice.flows.registration.after.code.hooks": []any{
				webHook(url, map[string]any{"response": map[string]any{"parse": true}}), map[string]any{"hook": "session"},
			},
		})
		email := uniqueEmail("prepersist-code")
		flowID, code := e.askRegistrationCode(t, email)
		if n := len(calls); n != 0 {
			t.Fatalf("asking for a code called the hook %d times", n)
		}

		for i := 0; i < 2; i++ {
			status, body := e.codeRegister(t, flowID, codeRegistration(email, otherCode(code)))
			if status != http.StatusBadRequest {
				t.Fatalf("wrong code %d: status %d, want 400: %s", i+1, status, body)
			}
			requireAnyMessage(t, requireFlowAnswer(t, "registration", status, body, "a wrong registration code"), 4040003)
		}
		if n := len(calls); n != 0 {
			t.Errorf("wrong codes called the hook %d times", n)
		}
		if ids := e.identitiesWith(t, email); len(ids) != 0 {
			t.Errorf("wrong codes created identities %v", ids)
		}

		status, body := e.codeRegister(t, flowID, codeRegistration(email, code))
		if status != http.StatusOK {
			t.Fatalf("the right code: status %d, want 200: %s", status, body)
		}
		c := receive(t, calls)
		id, _ := c.body["identity"].(map[string]any)
		if traits, _ := id["traits"].(map[string]any); traits["email"] != email {
			t.Errorf("the hook's identity = %v, want email %s", id, email)
		}
		if n := len(calls); n != 0 {
			t.Errorf("the right code called the hook %d more times", n)
		}
		ok := decodeSuccess(t, body)
		if ok.SessionToken == "" || ok.Identity == nil {
			t.Fatalf("the right code signs up with a session: %s", body)
		}
		if ids := e.identitiesWith(t, email); len(ids) != 1 || ids[0] != ok.Identity.Id {
			t.Errorf("identities with %s = %v, want [%s]", email, ids, ok.Identity.Id)
		}
		e.requireVerified(t, ok.Identity.Id, email, true)
	})
}

// The wrong codes a pre-persist hook holds back count as they do without
// one: past the limit even the right code is refused, with the same
// message, and the hook is never called.
func TestPrePersistOps_CodeRegistrationAttemptsStillCount(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		set := map[string]any{
			"selfservice.methods.code.config.max_submissions": 2,
		}
		hooked := map[string]any{
			"selfservice.flows.registration.after.code.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		}
		for k, v := range set {
			hooked[k] = v
		}
		answers := func(e *codeEnv, prefix string) []string {
			email := uniqueEmail(prefix)
			flowID, code := e.askRegistrationCode(t, email)
			var out []string
			for _, typed := range []string{otherCode(code), otherCode(code), code} {
				status, body := e.codeRegister(t, flowID, codeRegistration(email, typed))
				out = append(out, answerShape(status, body))
			}
			return out
		}
		plainRun := answers(codeServer(t, store, set), "prepersist-limit-plain")
		hookedRun := answers(codeServer(t, store, hooked), "prepersist-limit-hooked")
		if len(plainRun) != len(hookedRun) {
			t.Fatalf("answers %v with the hook, %v without", hookedRun, plainRun)
		}
		for i := range plainRun {
			if plainRun[i] != hookedRun[i] {
				t.Errorf("submission %d: %q with the hook, %q without", i+1, hookedRun[i], plainRun[i])
			}
		}
		if n := len(calls); n != 0 {
			t.Errorf("refused codes called the hook %d times", n)
		}
	})
}

// answerShape is a submission's status with the ids and texts of the
// messages its flow (or error) shows: what must not differ between two
// servers answering the same submissions.
func answerShape(status int, body []byte) string {
	var f struct {
		UI struct {
			Messages []struct {
				ID   int64  `json:"id"`
				Text string `json:"text"`
			} `json:"messages"`
			Nodes []struct {
				Messages []struct {
					ID int64 `json:"id"`
				} `json:"messages"`
			} `json:"nodes"`
		} `json:"ui"`
		Error struct {
			ID string `json:"id"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &f)
	out := fmt.Sprintf("%d %s", status, f.Error.ID)
	for _, m := range f.UI.Messages {
		out += fmt.Sprintf(" %d:%s", m.ID, m.Text)
	}
	for _, n := range f.UI.Nodes {
		for _, m := range n.Messages {
			out += fmt.Sprintf(" node:%d", m.ID)
		}
	}
	return out
}
