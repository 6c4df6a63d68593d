package conformance

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to build the Kratos database
	_ "modernc.org/sqlite"             // the "sqlite" driver, likewise

	"github.com/lanyard-id/lanyard/internal/kratosimport/kratostest"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// Moving from Kratos: `lanyard migrate from-kratos` reads a Kratos database
// built here from the columns of Kratos's migrations (no Kratos binary),
// twice, and `lanyard serve` then lets its users in as Kratos did: their
// passwords, TOTP apps and backup codes work, their valid sessions pass
// whoami, ended ones do not, addresses keep their verification state.

// fkKratosDatabase builds the Kratos database of the fixture and answers
// its DSN, as a Kratos config would name it.
func fkKratosDatabase(t *testing.T, store string) (string, *kratostest.Fixture) {
	t.Helper()
	var dsn, driver, name string
	if store == storePostgres {
		dsn = newPostgresDatabase(t)
		driver, name = "pgx", dsn
	} else {
		path := filepath.Join(t.TempDir(), "kratos.sqlite")
		dsn = "sqlite://" + path + "?_fk=true&mode=rwc"
		driver, name = "sqlite", "file:"+path
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := kratostest.Create(context.Background(), db, store == storePostgres)
	if err != nil {
		t.Fatalf("building the Kratos database: %v", err)
	}
	return dsn, f
}

var fkSummary = regexp.MustCompile(`(?m)^(identities|credentials|verifiable addresses|recovery addresses|sessions):\s+(\d+) read,\s+(\d+) written,\s+(\d+) skipped$`)

// fkImport runs the import and answers "kind read/written/skipped" lines.
func fkImport(t *testing.T, dir, configPath, kratosDSN string) map[string]string {
	t.Helper()
	res := runLanyard(t, dir, nil, "-c", configPath, "migrate", "from-kratos", "--dsn", kratosDSN, "--batch-size", "2", "-y")
	if res.Code != 0 {
		t.Fatalf("migrate from-kratos: exit %d\n%s", res.Code, res.Stdout+res.Stderr)
	}
	got := map[string]string{}
	for _, m := range fkSummary.FindAllStringSubmatch(res.Stdout, -1) {
		got[m[1]] = m[2] + "/" + m[3] + "/" + m[4]
	}
	if len(got) != 5 {
		t.Fatalf("migrate from-kratos printed no count per kind:\n%s", res.Stdout+res.Stderr)
	}
	return got
}

func TestFromKratos_UsersKeepPasswordsSecondFactorsAndSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		kratosDSN, f := fkKratosDatabase(t, store)
		dir := t.TempDir()
		lanyardDSN := "sqlite://" + filepath.Join(dir, "lanyard.sqlite") + "?_fk=true"
		if store == storePostgres {
			lanyardDSN = newPostgresDatabase(t)
		}
		// The deployment's config: its secrets.cipher seals what needs it.
		configPath := filepath.Join(dir, "lanyard.yml")
		if err := os.WriteFile(configPath, testserver.RenderYAML(testserver.BaseConfig(lanyardDSN, 4433, 4434)), 0o600); err != nil {
			t.Fatal(err)
		}

		// An unmigrated database is refused, and nothing is written.
		if res := runLanyard(t, dir, nil, "-c", configPath, "migrate", "from-kratos", "--dsn", kratosDSN, "-y"); res.Code == 0 ||
			!strings.Contains(res.Stdout+res.Stderr, "migrate sql") {
			t.Fatalf("import into an unmigrated database: exit %d\n%s", res.Code, res.Stdout+res.Stderr)
		}
		if res := runLanyard(t, dir, nil, "migrate", "sql", "-y", lanyardDSN); res.Code != 0 {
			t.Fatalf("migrate sql: exit %d\n%s", res.Code, res.Stdout+res.Stderr)
		}

		first := fkImport(t, dir, configPath, kratosDSN)
		want := map[string]string{"identities": "3/3/0", "credentials": "7/7/0", "verifiable addresses": "3/3/0", "recovery addresses": "3/3/0", "sessions": "3/1/2"}
		if !sameJSON(first, want) {
			t.Fatalf("first import counts %v, want %v", first, want)
		}
		second := fkImport(t, dir, configPath, kratosDSN)
		want = map[string]string{"identities": "3/0/3", "credentials": "7/0/7", "verifiable addresses": "3/0/3", "recovery addresses": "3/0/3", "sessions": "3/0/3"}
		if !sameJSON(second, want) {
			t.Fatalf("second import counts %v, want %v (it must change nothing)", second, want)
		}

		set := map[string]any{"selfservice.methods.lookup_secret.enabled": true}
		for k, v := range totpConfig {
			set[k] = v
		}
		spec := stSpec(store, set)
		spec.dsn = lanyardDSN
		s := startServer(t, spec)
		fkCheckSessions(t, s, f)
		fkCheckKratosCookie(t, s, f)
		fkCheckSignIns(t, s, f)
		fkCheckIdentities(t, s, f)

		// A late re-run, after people used Lanyard, undoes nothing: the
		// backup code Alice spent here stays spent.
		fkImport(t, dir, configPath, kratosDSN)
		again := stLogin(t, s, f.AliceEmail, kratostest.Password, nil)
		status, body := lkStepUp(t, s, again.Token, f.LookupCodes[0])
		lkRequireRefused(t, status, body, 4000012)
	})
}

func fkCheckSessions(t *testing.T, s *Server, f *kratostest.Fixture) {
	t.Helper()
	ctx := context.Background()
	sess, res, err := s.Public.FrontendAPI.ToSession(ctx).XSessionToken(f.ActiveToken).Execute()
	requireOK(t, res, err, http.StatusOK)
	if sess.Id != f.ActiveSession || sess.Identity == nil || sess.Identity.Id != f.Alice || string(sess.GetAuthenticatorAssuranceLevel()) != "aal2" ||
		!sess.GetActive() || !sess.GetExpiresAt().Equal(f.SessionExpiresAt) {
		t.Errorf("whoami with the Kratos session token: %s", asJSON(sess))
	}
	if m := totpMethods(sess); len(m) != 2 || m[0] != "password/aal1" || m[1] != "totp/aal2" {
		t.Errorf("session methods %v, want Kratos's password then totp", m)
	}
	if len(sess.Devices) != 1 || sess.Devices[0].GetUserAgent() != f.DeviceUserAgent {
		t.Errorf("session devices %s", asJSON(sess.Devices))
	}
	for what, token := range map[string]string{"expired": f.ExpiredToken, "revoked": f.RevokedToken} {
		_, res, err := s.Public.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
		if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
			t.Errorf("whoami with the %s Kratos session: %v, want 401", what, res)
		}
	}
}

func fkCheckSignIns(t *testing.T, s *Server, f *kratostest.Fixture) {
	t.Helper()
	// bcrypt (Alice, Carol) and argon2id (Bob), as Kratos hashed them.
	for _, email := range []string{f.AliceEmail, f.BobEmail, f.CarolEmail} {
		stLogin(t, s, email, kratostest.Password, nil)
	}
	if res := s.loginNative(t, f.BobEmail, "not-"+kratostest.Password); res.status != http.StatusBadRequest {
		t.Errorf("a wrong password for an imported identity: status %d", res.status)
	}

	// Alice's TOTP app, set up in Kratos, gives codes Lanyard takes.
	alice := stLogin(t, s, f.AliceEmail, kratostest.Password, nil)
	flowID := totpNativeStepUp(t, s, alice.Token)
	ok, res, err := totpLoginSDK(s, flowID, alice.Token, totpCode(t, f.TOTPSecret, time.Now()))
	requireOK(t, res, err, http.StatusOK)
	if m := totpMethods(&ok.Session); len(m) != 2 || m[1] != "totp/aal2" {
		t.Errorf("step-up with the imported TOTP app: methods %v", m)
	}

	// Her backup codes too; the one she spent in Kratos stays spent.
	again := stLogin(t, s, f.AliceEmail, kratostest.Password, nil)
	status, body := lkStepUp(t, s, again.Token, f.UsedCode)
	lkRequireRefused(t, status, body, 4000012)
	if status, body := lkStepUp(t, s, again.Token, f.LookupCodes[0]); status != http.StatusOK {
		t.Errorf("step-up with an imported backup code: %d %s", status, body)
	}
}

func fkCheckIdentities(t *testing.T, s *Server, f *kratostest.Fixture) {
	t.Helper()
	alice := s.getIdentity(t, f.Alice)
	if len(alice.VerifiableAddresses) != 1 || !alice.VerifiableAddresses[0].Verified || alice.VerifiableAddresses[0].Status != "completed" ||
		alice.VerifiableAddresses[0].VerifiedAt == nil || alice.GetExternalId() != "alice-ext" || !sameJSON(alice.MetadataPublic, map[string]any{"plan": "gold"}) {
		t.Errorf("alice as imported: %s", asJSON(alice))
	}
	bob := s.getIdentity(t, f.Bob, "oidc")
	if len(bob.VerifiableAddresses) != 1 || bob.VerifiableAddresses[0].Verified || bob.VerifiableAddresses[0].Status != "pending" {
		t.Errorf("bob's address as imported: %s", asJSON(bob.VerifiableAddresses))
	}
	if len(bob.RecoveryAddresses) != 1 || bob.RecoveryAddresses[0].Value != f.BobEmail {
		t.Errorf("bob's recovery address as imported: %s", asJSON(bob.RecoveryAddresses))
	}
	creds := bob.GetCredentials()
	o, ok := creds["oidc"]
	if !ok || len(o.Identifiers) != 1 || o.Identifiers[0] != f.OIDCProvider+":"+f.OIDCSubject {
		t.Fatalf("bob's oidc credential: %s", asJSON(creds))
	}
	providers, _ := o.Config["providers"].([]any)
	if len(providers) != 1 || providers[0].(map[string]any)["initial_access_token"] != f.OIDCAccessToken {
		t.Errorf("bob's oidc link (tokens decrypted for the admin): %s", asJSON(o.Config))
	}
}

// fkKratosCookie is the session cookie Kratos set for token: securecookie
// keyed with secrets.cookie (HMAC) and its SHA-256 (AES), over the values
// Kratos stores in it.
func fkKratosCookie(t *testing.T, secret, token string, expiresAt time.Time) string {
	t.Helper()
	block := sha256.Sum256([]byte(secret))
	v, err := securecookie.New([]byte(secret), block[:]).Encode("ory_kratos_session", map[any]any{
		"session_token": token,
		"expires_at":    expiresAt.UTC().Format(time.RFC3339Nano),
		"nonce":         "QwErTyUi",
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// fkCheckKratosCookie: a browser that still holds Kratos's cookie stays
// signed in; a cookie for an ended session or signed with another secret
// does not.
func fkCheckKratosCookie(t *testing.T, s *Server, f *kratostest.Fixture) {
	t.Helper()
	const secret = "conformance-cookie-secret-0123456789" // testserver.BaseConfig's secrets.cookie
	whoami := func(cookie string) response {
		return sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/sessions/whoami", nil,
			http.Header{"Cookie": {"ory_kratos_session=" + cookie}})
	}
	res := whoami(fkKratosCookie(t, secret, f.ActiveToken, f.SessionExpiresAt))
	if res.status != http.StatusOK || !strings.Contains(string(res.body), f.ActiveSession) {
		t.Errorf("whoami with Kratos's session cookie: %d %s", res.status, res.body)
	}
	for what, cookie := range map[string]string{
		"an expired session": fkKratosCookie(t, secret, f.ExpiredToken, f.SessionExpiresAt),
		"a revoked session":  fkKratosCookie(t, secret, f.RevokedToken, f.SessionExpiresAt),
		"another secret":     fkKratosCookie(t, "not-the-cookie-secret-0123456789", f.ActiveToken, f.SessionExpiresAt),
	} {
		if res := whoami(cookie); res.status != http.StatusUnauthorized {
			t.Errorf("whoami with a Kratos cookie for %s: %d %s", what, res.status, res.body)
		}
	}
}
