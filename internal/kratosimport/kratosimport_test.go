package kratosimport

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/kratosimport/kratostest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
)

const testCipherSecret = "kratosimport-test-cipher-32byte!"

// kratosDatabase makes a Kratos database of dialect d with the fixture
// and answers its DSN.
func kratosDatabase(t *testing.T, d store.Dialect) (string, *kratostest.Fixture) {
	t.Helper()
	dsn := storetest.DSN(t, d)
	driver, name, err := sourceDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if d == store.SQLite {
		name = strings.Replace(name, "mode=ro", "mode=rwc", 1)
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := kratostest.Create(context.Background(), db, d == store.Postgres)
	if err != nil {
		t.Fatalf("building the Kratos database: %v", err)
	}
	return dsn, f
}

func testCipher(t *testing.T) cipher.Cipher {
	t.Helper()
	c, err := cipher.New(cipher.XChaCha20Poly1305, []string{testCipherSecret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runImport(t *testing.T, from *Source, to *store.Store, c cipher.Cipher, batch int) Counts {
	t.Helper()
	counts, err := (&Importer{From: from, To: to, Cipher: c, BatchSize: batch}).Run(context.Background())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return counts
}

func TestImport_CopiesEverythingOnceOnBothStores(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn, f := kratosDatabase(t, d)
			src, err := OpenSource(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			to := storetest.Open(t, d)
			c := testCipher(t)

			first := runImport(t, src, to, c, 2) // two batches of identities, two of sessions
			want := Counts{
				Identities:          Count{Read: 3, Written: 3},
				Credentials:         Count{Read: 7, Written: 7},
				VerifiableAddresses: Count{Read: 3, Written: 3},
				RecoveryAddresses:   Count{Read: 3, Written: 3},
				Sessions:            Count{Read: 3, Written: 1, Skipped: 2},
			}
			if first != want {
				t.Fatalf("first run counts %+v, want %+v", first, want)
			}
			snapshot := dump(t, to)
			second := runImport(t, src, to, c, 2)
			want = Counts{
				Identities:          Count{Read: 3, Skipped: 3},
				Credentials:         Count{Read: 7, Skipped: 7},
				VerifiableAddresses: Count{Read: 3, Skipped: 3},
				RecoveryAddresses:   Count{Read: 3, Skipped: 3},
				Sessions:            Count{Read: 3, Skipped: 3},
			}
			if second != want {
				t.Fatalf("second run counts %+v, want %+v", second, want)
			}
			if again := dump(t, to); again != snapshot {
				t.Fatalf("the second run changed the database:\nbefore %s\nafter  %s", snapshot, again)
			}

			checkAlice(t, to, c, f)
			checkBob(t, to, c, f)
			checkCarol(t, to, f)
			checkSessions(t, to, f)
		})
	}
}

func load(t *testing.T, s *store.Store, id string) *identity.Identity {
	t.Helper()
	i, err := identity.Load(context.Background(), s.Read(), uuid.MustParse(id))
	if err != nil {
		t.Fatalf("loading %s: %v", id, err)
	}
	return i
}

func checkAlice(t *testing.T, s *store.Store, c cipher.Cipher, f *kratostest.Fixture) {
	t.Helper()
	i := load(t, s, f.Alice)
	if i.SchemaID != "default" || i.State != identity.StateActive || i.ExternalID == nil || *i.ExternalID != "alice-ext" {
		t.Errorf("alice: schema %q state %q external %v", i.SchemaID, i.State, i.ExternalID)
	}
	if !sameJSONValue(i.MetadataPublic, `{"plan":"gold"}`) || i.MetadataAdmin != nil || !sameJSONValue(i.Traits, `{"email":"alice@example.com"}`) {
		t.Errorf("alice: traits %s, metadata %s / %s", i.Traits, i.MetadataPublic, i.MetadataAdmin)
	}
	pw := i.Credentials["password"]
	if pw == nil || !strings.Contains(string(pw.Config), `$2a$04$`) || len(pw.Identifiers) != 1 || pw.Identifiers[0] != f.AliceEmail {
		t.Errorf("alice's password credential: %+v", pw)
	}
	totp := i.Credentials["totp"]
	var tc totpConfig
	if totp == nil || json.Unmarshal(totp.Config, &tc) != nil || tc.URL != "" || tc.URLEncrypted == "" {
		t.Fatalf("alice's totp credential is not sealed: %+v", totp)
	}
	url, err := c.Decrypt(tc.URLEncrypted)
	if err != nil || !strings.Contains(string(url), "secret="+f.TOTPSecret) {
		t.Errorf("alice's TOTP key opens to %q (%v)", url, err)
	}
	var lc lookupConfig
	if err := json.Unmarshal(i.Credentials["lookup_secret"].Config, &lc); err != nil || len(lc.RecoveryCodes) != 3 {
		t.Fatalf("alice's backup codes: %s", i.Credentials["lookup_secret"].Config)
	}
	for k, want := range []string{f.LookupCodes[0], f.UsedCode, f.LookupCodes[1]} {
		got, err := c.Decrypt(lc.RecoveryCodes[k].Code)
		if err != nil || string(got) != want || (lc.RecoveryCodes[k].UsedAt != nil) != (want == f.UsedCode) {
			t.Errorf("backup code %d: %q used %v (%v), want %q", k, got, lc.RecoveryCodes[k].UsedAt, err, want)
		}
		if strings.Contains(string(i.Credentials["lookup_secret"].Config), want) {
			t.Errorf("backup code %q stored in the clear", want)
		}
	}
	if len(i.VerifiableAddresses) != 1 || !i.VerifiableAddresses[0].Verified || i.VerifiableAddresses[0].Status != identity.AddressStatusCompleted ||
		i.VerifiableAddresses[0].VerifiedAt == nil {
		t.Errorf("alice's address: %+v", i.VerifiableAddresses)
	}
	if len(i.RecoveryAddresses) != 1 || i.RecoveryAddresses[0].Value != f.AliceEmail {
		t.Errorf("alice's recovery address: %+v", i.RecoveryAddresses)
	}
}

func checkBob(t *testing.T, s *store.Store, c cipher.Cipher, f *kratostest.Fixture) {
	t.Helper()
	i := load(t, s, f.Bob)
	if pw := i.Credentials["password"]; pw == nil || !strings.Contains(string(pw.Config), `$argon2id$`) {
		t.Errorf("bob's password credential: %+v", pw)
	}
	o := i.Credentials["oidc"]
	if o == nil || len(o.Identifiers) != 1 || o.Identifiers[0] != f.OIDCProvider+":"+f.OIDCSubject {
		t.Fatalf("bob's oidc credential: %+v", o)
	}
	cfg, err := oidc.ParseCredentialConfig(o.Config)
	if err != nil {
		t.Fatal(err)
	}
	opened, err := cfg.Opened(c)
	if err != nil || len(opened.Providers) != 1 || opened.Providers[0].InitialAccessToken != f.OIDCAccessToken || opened.Providers[0].InitialIDToken != "" {
		t.Errorf("bob's oidc tokens open to %+v (%v)", opened, err)
	}
	if strings.Contains(string(o.Config), f.OIDCAccessToken) {
		t.Errorf("bob's access token stored in the clear: %s", o.Config)
	}
	if len(i.VerifiableAddresses) != 1 || i.VerifiableAddresses[0].Verified || i.VerifiableAddresses[0].Status != identity.AddressStatusPending ||
		i.VerifiableAddresses[0].VerifiedAt != nil {
		t.Errorf("bob's address: %+v", i.VerifiableAddresses)
	}
}

func checkCarol(t *testing.T, s *store.Store, f *kratostest.Fixture) {
	t.Helper()
	i := load(t, s, f.Carol)
	w := i.Credentials["webauthn"]
	if w == nil || !sameJSONValue(w.Config, f.WebAuthnConfig) {
		t.Errorf("carol's webauthn config changed: %+v", w)
	}
}

func checkSessions(t *testing.T, s *store.Store, f *kratostest.Fixture) {
	t.Helper()
	ctx := context.Background()
	var (
		active        bool
		aal, methods  string
		devices, hash string
		exp           store.Time
	)
	err := s.Read().QueryRow(ctx, `SELECT active, aal, authentication_methods, devices, token_hash, expires_at FROM sessions WHERE id = $1`, f.ActiveSession).
		Scan(&active, &aal, &methods, &devices, &hash, &exp)
	if err != nil {
		t.Fatalf("the active session was not carried over: %v", err)
	}
	if !active || aal != "aal2" || hash != hashToken(f.ActiveToken) || !exp.Equal(f.SessionExpiresAt) ||
		!strings.Contains(methods, `"password"`) || !strings.Contains(devices, f.DeviceUserAgent) {
		t.Errorf("active session: active %t aal %s expires %s methods %s devices %s", active, aal, exp.Time, methods, devices)
	}
	var n int
	if err := s.Read().QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE token_hash IN ($1, $2, $3)`,
		f.ActiveToken, f.ExpiredToken, f.RevokedToken).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d session tokens stored in the clear (%v)", n, err)
	}
	if err := s.Read().QueryRow(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d sessions carried over, want only the valid one (%v)", n, err)
	}
}

// dump is the Lanyard tables an import writes, for comparing runs.
func dump(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, schema_id, state, traits, metadata_public, metadata_admin, external_id, created_at, updated_at FROM identities ORDER BY id`,
		`SELECT id, identity_id, type, config, version, created_at, updated_at FROM identity_credentials ORDER BY id`,
		`SELECT id, credential_id, identifier FROM identity_credential_identifiers ORDER BY identifier`,
		`SELECT id, via, value, verified, status, verified_at, updated_at FROM identity_verifiable_addresses ORDER BY id`,
		`SELECT id, via, value FROM identity_recovery_addresses ORDER BY id`,
		`SELECT id, token_hash, active, authentication_methods, devices, expires_at, updated_at FROM sessions ORDER BY id`,
	} {
		rows, err := s.Read().Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for k := range vals {
				ptrs[k] = &vals[k]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(vals)
			b.Write(raw)
			b.WriteByte('\n')
		}
		rows.Close()
	}
	return b.String()
}

func sameJSONValue(raw json.RawMessage, want string) bool {
	return identitySameJSON(raw, json.RawMessage(want))
}

func identitySameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

func TestImport_RefusesADatabaseThatNeedsMigrations(t *testing.T) {
	ctx := context.Background()
	dsn, _ := kratosDatabase(t, store.SQLite)
	src, err := OpenSource(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	to := storetest.OpenEmpty(t, store.SQLite)
	if _, err := (&Importer{From: src, To: to}).Run(ctx); !errors.Is(err, ErrNeedsMigrations) {
		t.Fatalf("import into an unmigrated database: %v, want ErrNeedsMigrations", err)
	}
}

func TestImport_WithoutACipherSaysWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	dsn, _ := kratosDatabase(t, store.SQLite)
	src, err := OpenSource(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	to := storetest.Open(t, store.SQLite)
	if _, err := (&Importer{From: src, To: to}).Run(ctx); !errors.Is(err, ErrNoCipher) {
		t.Fatalf("import without a cipher: %v, want ErrNoCipher", err)
	}
	var n int
	if err := to.Read().QueryRow(ctx, `SELECT COUNT(*) FROM identities`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a failed batch left %d identities (%v)", n, err)
	}
}

func TestImport_UpdatesWhatChangedInKratos(t *testing.T) {
	ctx := context.Background()
	dsn, f := kratosDatabase(t, store.SQLite)
	src, err := OpenSource(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	to := storetest.Open(t, store.SQLite)
	c := testCipher(t)
	runImport(t, src, to, c, 0)

	driver, name, _ := sourceDSN(dsn)
	rw, err := sql.Open(driver, strings.Replace(name, "mode=ro", "mode=rwc", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	later := time.Now().UTC().Format("2006-01-02 15:04:05.999999")
	for _, q := range []string{
		`UPDATE identity_verifiable_addresses SET verified = 1, status = 'completed', verified_at = '` + later + `', updated_at = '` + later + `' WHERE identity_id = '` + f.Bob + `'`,
		`UPDATE sessions SET active = 0 WHERE id = '` + f.ActiveSession + `'`,
	} {
		if _, err := rw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	counts := runImport(t, src, to, c, 0)
	if counts.Identities.Written != 1 || counts.Sessions.Written != 1 {
		t.Fatalf("counts after changes in Kratos: %+v", counts)
	}
	if a := load(t, to, f.Bob).VerifiableAddresses; len(a) != 1 || !a[0].Verified {
		t.Errorf("bob's address after verifying it in Kratos: %+v", a)
	}
	var active bool
	if err := to.Read().QueryRow(ctx, `SELECT active FROM sessions WHERE id = $1`, f.ActiveSession).Scan(&active); err != nil || active {
		t.Errorf("a session revoked in Kratos stays active in Lanyard (%v)", err)
	}
	// Alice's sealed credentials were left as they were.
	if counts.Credentials.Written != 2 {
		t.Errorf("credentials written %d, want only bob's 2", counts.Credentials.Written)
	}
}

func TestKratosTime_ReadsTheLayoutsDriversWrite(t *testing.T) {
	want := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, v := range []any{
		want, want.In(time.FixedZone("x", 3600)),
		"2024-05-06 07:08:09.123456", "2024-05-06T07:08:09.123456Z", "2024-05-06 07:08:09.123456+00:00",
		"2024-05-06 07:08:09.123456789+00:00", []byte("2024-05-06 08:08:09.123456+01:00"), "2024-05-06 07:08:09.123456 +0000 UTC",
	} {
		var got kratosTime
		if err := got.Scan(v); err != nil || !got.Valid || !got.Time.Equal(want) {
			t.Errorf("%v read as %v (%v)", v, got.Time, err)
		}
	}
	var null kratosTime
	if err := null.Scan(nil); err != nil || null.Valid {
		t.Errorf("NULL read as %v (%v)", null, err)
	}
	if err := new(kratosTime).Scan("yesterday"); err == nil {
		t.Error("a word read as a time")
	}
}

func TestOpenKratos_NoopHexAndSealedValues(t *testing.T) {
	c := testCipher(t)
	sealed, _ := c.Encrypt([]byte("sealed-token"))
	for in, want := range map[string]string{"": "", "6869": "hi", sealed: "sealed-token"} {
		if got, err := openKratos(c, in); err != nil || got != want {
			t.Errorf("openKratos(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	other, _ := cipher.New(cipher.AES, []string{"another-cipher-secret-of-32bytes"})
	foreign, _ := other.Encrypt([]byte("x"))
	for _, in := range []string{foreign, "zz", "00ff"} {
		if _, err := openKratos(c, in); err == nil {
			t.Errorf("openKratos(%q) opened a value sealed with another key", in)
		}
	}
}

func TestSourceDSN(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:///var/lib/kratos/db.sqlite?_fk=true&mode=rwc": "file:/var/lib/kratos/db.sqlite?mode=ro&_pragma=busy_timeout(10000)",
		"sqlite3://db.sqlite": "file:db.sqlite?mode=ro&_pragma=busy_timeout(10000)",
		"postgres://k:p@db:5432/kratos?sslmode=disable&max_conns=20": "postgres://k:p@db:5432/kratos?sslmode=disable",
		"cockroach://k@db:26257/kratos":                              "postgres://k@db:26257/kratos",
	} {
		if _, got, err := sourceDSN(in); err != nil || got != want {
			t.Errorf("sourceDSN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"memory", "sqlite://:memory:", "mysql://x"} {
		if _, _, err := sourceDSN(in); err == nil {
			t.Errorf("sourceDSN(%q) accepted", in)
		}
	}
}

func TestOpenSource_RefusesSeveralNetworks(t *testing.T) {
	dsn, _ := kratosDatabase(t, store.SQLite)
	driver, name, _ := sourceDSN(dsn)
	rw, err := sql.Open(driver, strings.Replace(name, "mode=ro", "mode=rwc", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Exec(`INSERT INTO networks (id, created_at, updated_at) VALUES ($1, '2024-01-01 00:00:00', '2024-01-01 00:00:00')`, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	if src, err := OpenSource(context.Background(), dsn); err == nil || !strings.Contains(err.Error(), "networks") {
		if src != nil {
			src.Close()
		}
		t.Fatalf("a database of two networks: %v", err)
	}
}

func TestOpenSource_RefusesWhatIsNotKratos(t *testing.T) {
	to := storetest.DSN(t, store.SQLite)
	lanyard, err := store.Open(context.Background(), to)
	if err != nil {
		t.Fatal(err)
	}
	lanyard.Close()
	if src, err := OpenSource(context.Background(), to); err == nil || !strings.Contains(err.Error(), "Kratos database") {
		if src != nil {
			src.Close()
		}
		t.Fatalf("an empty database opened as Kratos's: %v", err)
	}
}

func TestImport_ARerunLeavesWhatChangedInLanyard(t *testing.T) {
	ctx := context.Background()
	dsn, f := kratosDatabase(t, store.SQLite)
	src, err := OpenSource(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	to := storetest.Open(t, store.SQLite)
	c := testCipher(t)
	runImport(t, src, to, c, 0)

	// Alice spends her backup codes and signs out in Lanyard.
	now := store.Now()
	err = to.Write(ctx, func(q *store.Q) error {
		if _, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2 WHERE id = $1`, f.Alice, now); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE identity_credentials SET config = $2, updated_at = $3 WHERE identity_id = $1 AND type = 'lookup_secret'`,
			f.Alice, `{"recovery_codes":[]}`, now); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `UPDATE sessions SET active = $2, updated_at = $3 WHERE id = $1`, f.ActiveSession, false, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := dump(t, to)
	counts := runImport(t, src, to, c, 0)
	if counts.Identities.Written != 0 || counts.Sessions.Written != 0 {
		t.Fatalf("a re-run after changes in Lanyard wrote: %+v", counts)
	}
	if after := dump(t, to); after != before {
		t.Fatalf("a re-run undid changes made in Lanyard:\nbefore %s\nafter  %s", before, after)
	}
}
