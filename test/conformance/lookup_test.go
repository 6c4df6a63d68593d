package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	ory "github.com/ory/client-go"
	_ "modernc.org/sqlite" // reads the SQLite database as any reader of the file could
)

// Backup codes (selfservice.methods.lookup_secret): set up, shown again,
// spent at an aal2 sign-in, refused once spent, replaced and turned off,
// as Kratos does it; and stored so that a database reader cannot use them.

func lkServer(t *testing.T, store string) *Server {
	t.Helper()
	return stServer(t, store, map[string]any{
		"selfservice.methods.lookup_secret.enabled": true,
		"protection.attempts.free_failures":         100,
	})
}

var lkCodeFormat = regexp.MustCompile(`^[a-z0-9]{8}$`)

// lkCodes reads the codes shown in a settings flow's lookup_secret_codes
// node, checking its shape: message 1050015 with one message per code in
// its context, label 1050010.
func lkCodes(t *testing.T, f flowView) []string {
	t.Helper()
	var node *uiNode
	for k, n := range f.UI.Nodes {
		if n.Type == "text" && n.Attributes["id"] == "lookup_secret_codes" {
			node = &f.UI.Nodes[k]
		}
	}
	if node == nil {
		t.Fatalf("no lookup_secret_codes node in %s", asJSON(f.UI.Nodes))
	}
	if node.Group != "lookup_secret" || node.Attributes["node_type"] != "text" || node.Meta.Label == nil || node.Meta.Label.ID != 1050010 {
		t.Errorf("codes node %s", asJSON(node))
	}
	var txt uiText
	raw, _ := json.Marshal(node.Attributes["text"])
	if err := json.Unmarshal(raw, &txt); err != nil || txt.ID != 1050015 {
		t.Fatalf("codes node text %s", raw)
	}
	codes := strings.Split(txt.Text, ", ")
	secrets, _ := txt.Context["secrets"].([]any)
	if len(codes) != 12 || len(secrets) != 12 {
		t.Fatalf("%d codes, %d context secrets: %s", len(codes), len(secrets), raw)
	}
	for k, c := range codes {
		each, _ := secrets[k].(map[string]any)
		ctx, _ := each["context"].(map[string]any)
		switch {
		case c == "used":
			if each["id"] != float64(1050014) || ctx["used_at"] == nil || ctx["used_at_unix"] == nil {
				t.Errorf("used code %d: context %s", k, asJSON(each))
			}
		case lkCodeFormat.MatchString(c):
			if each["id"] != float64(1050009) || ctx["secret"] != c || each["text"] != c {
				t.Errorf("code %d (%s): context %s", k, c, asJSON(each))
			}
		default:
			t.Errorf("code %d is %q, want 8 characters of [a-z0-9] or \"used\"", k, c)
		}
	}
	return codes
}

// lkRequireNodes asserts the lookup_secret nodes of a settings flow, in
// order, each a submit with value "true" but the codes text.
func lkRequireNodes(t *testing.T, f flowView, want ...string) {
	t.Helper()
	labels := map[string]int64{
		"lookup_secret_reveal": 1050007, "lookup_secret_regenerate": 1050008,
		"lookup_secret_confirm": 1050011, "lookup_secret_disable": 1050016,
	}
	var got []string
	for _, n := range f.UI.Nodes {
		if n.Group != "lookup_secret" {
			continue
		}
		if n.Type == "text" {
			got = append(got, "codes")
			continue
		}
		got = append(got, n.name())
		if n.inputType() != "submit" || n.value() != "true" || n.Meta.Label == nil || n.Meta.Label.ID != labels[n.name()] {
			t.Errorf("node %s", asJSON(n))
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("lookup_secret nodes %v, want %v", got, want)
	}
}

func lkSettingsBody(action string) ory.UpdateSettingsFlowBody {
	yes := true
	m := &ory.UpdateSettingsFlowWithLookupMethod{Method: "lookup_secret"}
	switch action {
	case "reveal":
		m.LookupSecretReveal = &yes
	case "regenerate":
		m.LookupSecretRegenerate = &yes
	case "confirm":
		m.LookupSecretConfirm = &yes
	case "disable":
		m.LookupSecretDisable = &yes
	}
	return ory.UpdateSettingsFlowWithLookupMethodAsUpdateSettingsFlowBody(m)
}

// lkNativeAction submits one action to a fresh or given settings flow
// through the SDK and answers the flow it returns (200).
func lkNativeAction(t *testing.T, s *Server, token, flowID, action string) stFlow {
	t.Helper()
	_, res, err := s.Public.FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(flowID).XSessionToken(token).
		UpdateSettingsFlowBody(lkSettingsBody(action)).Execute()
	requireOK(t, res, err, http.StatusOK)
	return stFlowOf(t, res)
}

// lkSession is a native session at aal1, from a password sign-in.
func lkSession(t *testing.T, s *Server, email string) stUser {
	t.Helper()
	return stLogin(t, s, email, testPassword, nil)
}

// lkStepUp opens an aal2 login flow for token and submits code with the
// SDK; it answers the HTTP status and body.
func lkStepUp(t *testing.T, s *Server, token, code string) (int, []byte) {
	t.Helper()
	ctx := context.Background()
	f, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(token).Execute()
	requireOK(t, res, err, http.StatusOK)
	body := ory.UpdateLoginFlowWithLookupSecretMethodAsUpdateLoginFlowBody(&ory.UpdateLoginFlowWithLookupSecretMethod{
		Method: "lookup_secret", LookupSecret: code,
	})
	_, res, err = s.Public.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).XSessionToken(token).UpdateLoginFlowBody(body).Execute()
	if err == nil {
		// The SDK leaves the body readable again after decoding it.
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, raw
	}
	return sdkFailure(t, res, err)
}

// lkRequireRefused asserts a 400 login flow carrying message id.
func lkRequireRefused(t *testing.T, status int, body []byte, id int64) {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 with the flow: %s", status, body)
	}
	requireFlowMessage(t, decodeFlow(t, "login", body), id)
}

// lkStoredConfig reads the lookup_secret credential's config straight
// from the database, as anyone with read access to it could.
func lkStoredConfig(t *testing.T, s *Server, identityID string) string {
	t.Helper()
	const query = `SELECT config FROM identity_credentials WHERE identity_id = $1 AND type = 'lookup_secret'`
	var config string
	if s.Store == storePostgres {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, s.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, query, identityID).Scan(&config); err != nil {
			t.Fatalf("reading the stored credential: %v", err)
		}
		return config
	}
	u, err := url.Parse(s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+u.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(query, identityID).Scan(&config); err != nil {
		t.Fatalf("reading the stored credential: %v", err)
	}
	return config
}

// lkAdminCodes answers the codes the admin API shows with
// include_credential=lookup_secret (nil when the identity has none).
func lkAdminCodes(t *testing.T, s *Server, identityID string) []map[string]any {
	t.Helper()
	raw := s.rawIdentity(t, identityID, "include_credential=lookup_secret")
	creds, _ := raw["credentials"].(map[string]any)
	c, ok := creds["lookup_secret"].(map[string]any)
	if !ok {
		return nil
	}
	if ids, _ := c["identifiers"].([]any); len(ids) != 1 || ids[0] != identityID {
		t.Errorf("lookup_secret identifiers %v, want the identity id", c["identifiers"])
	}
	config, _ := c["config"].(map[string]any)
	list, _ := config["recovery_codes"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

// lkBrowserAAL1 signs email in with the password in a new browser: the
// identity has backup codes, so the answer (422) sends the browser on to
// the second factor, signed in at aal1 meanwhile, as Kratos does.
func lkBrowserAAL1(t *testing.T, s *Server, email string) *browser {
	t.Helper()
	b, res := browserPasswordLogin(t, s, email, testPassword)
	requireSentToAAL2(t, b, res, "browser login with a second factor")
	return b
}

func lkRequireAAL2(t *testing.T, sess *ory.Session, what string) {
	t.Helper()
	var found bool
	for _, m := range sess.AuthenticationMethods {
		found = found || m.GetMethod() == "lookup_secret" && m.GetAal() == "aal2"
	}
	if sess.GetAuthenticatorAssuranceLevel() != "aal2" || !found {
		t.Errorf("%s: session at %s with methods %s; want aal2 with lookup_secret", what, sess.GetAuthenticatorAssuranceLevel(), asJSON(sess.AuthenticationMethods))
	}
}

// The native app: every step through the SDK.
func TestLookup_NativeLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := lkServer(t, store)
		ctx := context.Background()
		owner := stRegister(t, s, "lookup-native")

		// Nothing set up: only regenerate is offered.
		f := stNativeSettings(t, s, owner.Token)
		lkRequireNodes(t, f.flowView, "lookup_secret_regenerate")

		// Confirm before regenerate, reveal without codes: 400 with 4000001.
		for _, action := range []string{"confirm", "reveal"} {
			_, res, err := s.Public.FrontendAPI.UpdateSettingsFlow(ctx).Flow(f.ID).XSessionToken(owner.Token).
				UpdateSettingsFlowBody(lkSettingsBody(action)).Execute()
			st, body := sdkFailure(t, res, err)
			if st != http.StatusBadRequest {
				t.Fatalf("%s first: status %d, want 400: %s", action, st, body)
			}
			requireFlowMessage(t, stDecodeFlow(t, body).flowView, 4000001)
		}

		// Regenerate: the codes are shown, not saved, not a success.
		f = lkNativeAction(t, s, owner.Token, f.ID, "regenerate")
		if f.State != "show_form" || hasMessage(f.UI.Messages, 1050001) {
			t.Errorf("regenerate: state %v, messages %v; want show_form without a success", f.State, messageIDs(f.UI.Messages))
		}
		lkRequireNodes(t, f.flowView, "codes", "lookup_secret_confirm")
		codes := lkCodes(t, f.flowView)
		if got := lkAdminCodes(t, s, owner.IdentityID); got != nil {
			t.Fatalf("regenerate stored codes already: %v", got)
		}

		// Confirm: saved, and this session now counts the factor.
		f = lkNativeAction(t, s, owner.Token, f.ID, "confirm")
		stRequireSuccess(t, f)
		lkRequireNodes(t, f.flowView, "lookup_secret_reveal", "lookup_secret_disable")
		sess, res, err := s.Public.FrontendAPI.ToSession(ctx).XSessionToken(owner.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		lkRequireAAL2(t, sess, "after confirm")

		// Stored encrypted; the admin API shows Kratos's shape in the clear.
		stored := lkStoredConfig(t, s, owner.IdentityID)
		for _, c := range codes {
			if strings.Contains(stored, c) {
				t.Fatalf("code %s is stored in the clear: %s", c, stored)
			}
		}
		admin := lkAdminCodes(t, s, owner.IdentityID)
		if len(admin) != 12 {
			t.Fatalf("admin API shows %d codes: %v", len(admin), admin)
		}
		for k, e := range admin {
			if e["code"] != codes[k] || e["used_at"] != nil {
				t.Errorf("admin code %d = %v, want %s unused", k, e, codes[k])
			}
		}

		// Reveal, in a new flow, shows the same codes again.
		f = stNativeSettings(t, s, owner.Token)
		lkRequireNodes(t, f.flowView, "lookup_secret_reveal", "lookup_secret_disable")
		f = lkNativeAction(t, s, owner.Token, f.ID, "reveal")
		lkRequireNodes(t, f.flowView, "codes", "lookup_secret_disable", "lookup_secret_regenerate")
		if got := lkCodes(t, f.flowView); strings.Join(got, ",") != strings.Join(codes, ",") {
			t.Errorf("revealed %v, confirmed %v", got, codes)
		}

		// A new password sign-in is aal1; a code steps the same session up.
		second := lkSession(t, s, owner.Email)
		st, body := lkStepUp(t, s, second.Token, codes[2])
		if st != http.StatusOK {
			t.Fatalf("aal2 sign-in with a code: %d %s", st, body)
		}
		ok := decodeSuccess(t, body)
		if ok.Session == nil || ok.Session.Id != second.SessionID || ok.SessionToken != second.Token {
			t.Errorf("step-up answered session %v, token %q; want the same session %s", ok.Session, ok.SessionToken, second.SessionID)
		}
		sess, res, err = s.Public.FrontendAPI.ToSession(ctx).XSessionToken(second.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		lkRequireAAL2(t, sess, "after the step-up")

		// Spent: refused with 4000012; a wrong code 4000016.
		third := lkSession(t, s, owner.Email)
		st, body = lkStepUp(t, s, third.Token, codes[2])
		lkRequireRefused(t, st, body, 4000012)
		st, body = lkStepUp(t, s, third.Token, "zzzz9999")
		lkRequireRefused(t, st, body, 4000016)
		if status := stWhoami(t, s, third.Token); status != http.StatusForbidden {
			t.Errorf("whoami of the refused session: %d, want 403 (still aal1)", status)
		}
		admin = lkAdminCodes(t, s, owner.IdentityID)
		if admin[2]["used_at"] == nil || admin[3]["used_at"] != nil {
			t.Errorf("after one use: %v", admin)
		}
		if at, err := time.Parse(time.RFC3339, admin[2]["used_at"].(string)); err != nil || at.Nanosecond() != 0 {
			t.Errorf("used_at %v: %v; want RFC 3339 seconds", admin[2]["used_at"], err)
		}

		// Reveal marks the spent code used.
		f = lkNativeAction(t, s, owner.Token, stNativeSettings(t, s, owner.Token).ID, "reveal")
		if got := lkCodes(t, f.flowView); got[2] != "used" || got[3] != codes[3] {
			t.Errorf("revealed after use: %v", got)
		}

		// Regenerate again and confirm: the old codes stop working.
		f = lkNativeAction(t, s, owner.Token, f.ID, "regenerate")
		fresh := lkCodes(t, f.flowView)
		f = lkNativeAction(t, s, owner.Token, f.ID, "confirm")
		stRequireSuccess(t, f)
		st, body = lkStepUp(t, s, third.Token, codes[5])
		lkRequireRefused(t, st, body, 4000016)
		st, body = lkStepUp(t, s, third.Token, fresh[0])
		if st != http.StatusOK {
			t.Fatalf("a new code: %d %s", st, body)
		}

		// Disable: gone, and only regenerate is offered again.
		f = lkNativeAction(t, s, owner.Token, stNativeSettings(t, s, owner.Token).ID, "disable")
		stRequireSuccess(t, f)
		lkRequireNodes(t, f.flowView, "lookup_secret_regenerate")
		if got := lkAdminCodes(t, s, owner.IdentityID); got != nil {
			t.Errorf("after disable the admin API still shows %v", got)
		}
		fourth := lkSession(t, s, owner.Email)
		if status := stWhoami(t, s, fourth.Token); status != http.StatusOK {
			t.Errorf("whoami of an aal1 session after disable: %d, want 200", status)
		}
	})
}

// A browser: form posts and AJAX, with CSRF, the method implied by the
// buttons.
func TestLookup_BrowserLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := lkServer(t, store)
		owner := stRegister(t, s, "lookup-browser")
		b := stBrowserLogin(t, s, owner.Email, testPassword)

		// Regenerate as a plain form post: 303 to the settings UI, the
		// codes in the flow it shows.
		f := stBrowserSettings(t, b, nil)
		lkRequireNodes(t, f.flowView, "lookup_secret_regenerate")
		res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
			"csrf_token": {f.csrf(t)}, "lookup_secret_regenerate": {"true"},
		}, nil)
		if to := redirectTarget(t, res); withoutQuery(to) != stSettingsUI || to.Query().Get("flow") != f.ID {
			t.Errorf("regenerate redirected to %s, want the settings UI for flow %s", to, f.ID)
		}
		got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+f.ID, nil, jsonAccept)
		if got.status != http.StatusOK {
			t.Fatalf("fetching the flow: %d %s", got.status, got.body)
		}
		f = stDecodeFlow(t, got.body)
		lkRequireNodes(t, f.flowView, "codes", "lookup_secret_confirm")
		codes := lkCodes(t, f.flowView)

		// Without the CSRF token nothing happens.
		res = b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{"lookup_secret_confirm": true}, nil)
		requireError(t, res.status, res.body, http.StatusForbidden)
		if c := lkAdminCodes(t, s, owner.IdentityID); c != nil {
			t.Fatalf("a confirm without CSRF token stored codes")
		}

		// Confirm over AJAX, no method field: success, session at aal2.
		res = b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
			"csrf_token": f.csrf(t), "lookup_secret_confirm": true,
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("confirm: %d %s", res.status, res.body)
		}
		stRequireSuccess(t, stDecodeFlow(t, res.body))
		status, sess, _ := s.whoami(t, b.http, nil)
		if status != http.StatusOK {
			t.Fatalf("whoami after confirm: %d", status)
		}
		lkRequireAAL2(t, sess, "browser after confirm")

		// Reveal over AJAX.
		f = stBrowserSettings(t, b, nil)
		res = b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
			"csrf_token": f.csrf(t), "method": "lookup_secret", "lookup_secret_reveal": true,
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("reveal: %d %s", res.status, res.body)
		}
		if got := lkCodes(t, stDecodeFlow(t, res.body).flowView); strings.Join(got, ",") != strings.Join(codes, ",") {
			t.Errorf("revealed %v, confirmed %v", got, codes)
		}

		// Another browser signs in with the password (aal1), then steps
		// its session up with a code.
		other := lkBrowserAAL1(t, s, owner.Email)
		if status, _, _ := s.whoami(t, other.http, nil); status != http.StatusForbidden {
			t.Errorf("whoami at aal1 with codes set up: %d, want 403", status)
		}
		sessionCookie := other.cookie("ory_kratos_session")
		lf, _ := other.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
		if n := lf.node(t, "lookup_secret"); n.Group != "lookup_secret" || n.inputType() != "text" || n.Meta.Label == nil || n.Meta.Label.ID != 1010007 {
			t.Errorf("login node %s", asJSON(n))
		}
		if n := lf.node(t, "method", "lookup_secret"); n.Meta.Label == nil || n.Meta.Label.ID != 1010010 {
			t.Errorf("login submit %s", asJSON(n))
		}
		res = other.do(t, http.MethodPost, s.submitURL("login", lf.ID), map[string]any{
			"csrf_token": lf.csrf(t), "method": "lookup_secret", "lookup_secret": codes[0],
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("browser step-up: %d %s", res.status, res.body)
		}
		status, sess, _ = s.whoami(t, other.http, nil)
		if status != http.StatusOK {
			t.Fatalf("whoami after the step-up: %d", status)
		}
		lkRequireAAL2(t, sess, "browser after the step-up")
		if c := other.cookie("ory_kratos_session"); sessionCookie == nil || c == nil {
			t.Error("the session cookie is gone")
		}

		// The spent code, in a third browser: 4000012 on the flow.
		third := lkBrowserAAL1(t, s, owner.Email)
		lf, _ = third.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
		res = third.do(t, http.MethodPost, s.submitURL("login", lf.ID), map[string]any{
			"csrf_token": lf.csrf(t), "method": "lookup_secret", "lookup_secret": codes[0],
		}, nil)
		lkRequireRefused(t, res.status, res.body, 4000012)

		// Disable as a form post.
		f = stBrowserSettings(t, b, nil)
		res = b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
			"csrf_token": {f.csrf(t)}, "lookup_secret_disable": {"true"},
		}, nil)
		redirectTarget(t, res)
		if c := lkAdminCodes(t, s, owner.IdentityID); c != nil {
			t.Errorf("after disable the admin API still shows %v", c)
		}
	})
}

// Ten aal1 sessions race to spend one code, each in its own aal2 flow:
// exactly one signs in, the others are told the code was used.
func TestLookup_RacingRedemptionsSpendOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := lkServer(t, store)
		owner := stRegister(t, s, "lookup-race")
		f := lkNativeAction(t, s, owner.Token, stNativeSettings(t, s, owner.Token).ID, "regenerate")
		codes := lkCodes(t, f.flowView)
		stRequireSuccess(t, lkNativeAction(t, s, owner.Token, f.ID, "confirm"))

		const racers = 10
		ctx := context.Background()
		type racer struct {
			token, flowID string
		}
		rs := make([]racer, racers)
		for k := range rs {
			u := lkSession(t, s, owner.Email)
			lf, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(u.Token).Execute()
			requireOK(t, res, err, http.StatusOK)
			rs[k] = racer{token: u.Token, flowID: lf.Id}
		}
		results := make([]response, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k := range rs {
			wg.Go(func() {
				<-start
				results[k] = sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", rs[k].flowID),
					map[string]any{"method": "lookup_secret", "lookup_secret": codes[7]}, tokenHeader(rs[k].token))
			})
		}
		close(start)
		wg.Wait()

		won := 0
		for k, r := range results {
			switch r.status {
			case http.StatusOK:
				won++
				if status := stWhoami(t, s, rs[k].token); status != http.StatusOK {
					t.Errorf("the winner's whoami: %d", status)
				}
			case http.StatusBadRequest:
				requireFlowMessage(t, decodeFlow(t, "login", r.body), 4000012)
				if status := stWhoami(t, s, rs[k].token); status != http.StatusForbidden {
					t.Errorf("a loser's whoami: %d, want 403 (aal1)", status)
				}
			default:
				t.Errorf("racer %d: status %d: %s", k, r.status, r.body)
			}
		}
		if won != 1 {
			t.Errorf("%d of %d racers signed in with one code; want exactly 1", won, racers)
		}
		used := 0
		for _, e := range lkAdminCodes(t, s, owner.IdentityID) {
			if e["used_at"] != nil {
				used++
			}
		}
		if used != 1 {
			t.Errorf("%d codes marked used, want 1", used)
		}
	})
}
