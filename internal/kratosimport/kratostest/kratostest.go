// Package kratostest builds a Kratos database for tests, on SQLite or
// PostgreSQL, with no Kratos binary: the user tables as Kratos v26's
// migrations leave them (the columns are in ../shared/kratos-facts.md §1),
// and a set of users with every kind of credential, addresses in both
// verification states, and sessions that are valid, expired and revoked.
package kratostest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password is every fixture user's password.
const Password = "kratos-Password-7"

// Fixture is what Create put into the database.
type Fixture struct {
	// Alice has a bcrypt password, TOTP, backup codes, a verified address,
	// and three sessions: active, expired and revoked.
	Alice, AliceEmail string
	// Bob has an argon2id password, a social sign-in link and an address
	// not verified.
	Bob, BobEmail string
	// Carol has a bcrypt password and a security key.
	Carol, CarolEmail string

	TOTPSecret  string   // base32, as authenticator apps take it
	LookupCodes []string // Alice's unused backup codes
	UsedCode    string   // a backup code Alice already spent

	OIDCProvider, OIDCSubject, OIDCAccessToken string

	ActiveSession, ActiveToken   string // Alice's valid session, at aal2
	ExpiredSession, ExpiredToken string
	RevokedSession, RevokedToken string
	SessionExpiresAt             time.Time
	DeviceUserAgent              string

	WebAuthnConfig string // Carol's webauthn credential config
}

// columns of the user tables, with the types of each dialect: uuid, time,
// JSON and boolean columns are text, datetime, text and bool on SQLite.
const schema = `
CREATE TABLE networks (id {U} PRIMARY KEY, created_at {T} NOT NULL, updated_at {T} NOT NULL);
CREATE TABLE identities (id {U} PRIMARY KEY, schema_id TEXT NOT NULL, traits {J} NOT NULL, created_at {T} NOT NULL, updated_at {T} NOT NULL,
  nid {U} REFERENCES networks (id), state TEXT NOT NULL, state_changed_at {T}, metadata_public {JB}, metadata_admin {JB}, available_aal VARCHAR(4),
  organization_id {U}, external_id VARCHAR(64), UNIQUE (nid, external_id));
CREATE TABLE identity_credential_types (id {U} PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE identity_credentials (id {U} PRIMARY KEY, config {J} NOT NULL,
  identity_credential_type_id {U} NOT NULL REFERENCES identity_credential_types (id), identity_id {U} NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
  created_at {T} NOT NULL, updated_at {T} NOT NULL, nid {U}, version INT NOT NULL DEFAULT 0);
CREATE TABLE identity_credential_identifiers (id {U} PRIMARY KEY, identifier TEXT NOT NULL,
  identity_credential_id {U} NOT NULL REFERENCES identity_credentials (id) ON DELETE CASCADE, created_at {T} NOT NULL, updated_at {T} NOT NULL,
  nid {U} REFERENCES networks (id), identity_credential_type_id {U} NOT NULL REFERENCES identity_credential_types (id),
  identity_id {U} NOT NULL REFERENCES identities (id) ON DELETE CASCADE, UNIQUE (nid, identity_credential_type_id, identifier));
CREATE TABLE identity_verifiable_addresses (id {U} PRIMARY KEY, status TEXT NOT NULL, via TEXT NOT NULL, verified {B} NOT NULL, value TEXT NOT NULL,
  verified_at {T}, identity_id {U} NOT NULL REFERENCES identities (id) ON DELETE CASCADE, created_at {T} NOT NULL, updated_at {T} NOT NULL, nid {U},
  UNIQUE (nid, via, value));
CREATE TABLE identity_recovery_addresses (id {U} PRIMARY KEY, via TEXT NOT NULL, value TEXT NOT NULL,
  identity_id {U} NOT NULL REFERENCES identities (id) ON DELETE CASCADE, created_at {T} NOT NULL, updated_at {T} NOT NULL, nid {U},
  UNIQUE (nid, via, value));
CREATE TABLE sessions (id {U} PRIMARY KEY, issued_at {T} NOT NULL, expires_at {T} NOT NULL, authenticated_at {T} NOT NULL,
  identity_id {U} NOT NULL REFERENCES identities (id) ON DELETE CASCADE, created_at {T} NOT NULL, updated_at {T} NOT NULL, active {N}, nid {U},
  aal TEXT NOT NULL, authentication_methods {J} NOT NULL, token VARCHAR(39) UNIQUE, logout_token VARCHAR(39) UNIQUE);
CREATE TABLE session_devices (id UUID NOT NULL PRIMARY KEY, identity_id UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
  ip_address VARCHAR(50), user_agent VARCHAR(512), location VARCHAR(512), nid UUID NOT NULL REFERENCES networks (id),
  session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL,
  UNIQUE (nid, session_id, ip_address, user_agent));
`

func ddl(postgres bool) string {
	types := map[string]string{"{U}": "TEXT", "{T}": "DATETIME", "{J}": "TEXT", "{JB}": "JSONB", "{B}": "BOOL", "{N}": "NUMERIC"}
	if postgres {
		types = map[string]string{"{U}": "UUID", "{T}": "TIMESTAMP", "{J}": "JSONB", "{JB}": "JSONB", "{B}": "BOOLEAN", "{N}": "BOOLEAN"}
	}
	s := schema
	for k, v := range types {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

type db struct {
	ctx      context.Context
	db       *sql.DB
	postgres bool
	err      error
}

func (d *db) exec(query string, args ...any) {
	if d.err != nil {
		return
	}
	for k, a := range args {
		if t, ok := a.(time.Time); ok && !d.postgres {
			// As Kratos's SQLite driver writes times.
			args[k] = t.UTC().Format("2006-01-02 15:04:05.999999")
		}
		if b, ok := a.(bool); ok && !d.postgres {
			args[k] = map[bool]int{false: 0, true: 1}[b]
		}
	}
	if _, err := d.db.ExecContext(d.ctx, query, args...); err != nil {
		d.err = fmt.Errorf("%s: %w", strings.SplitN(strings.TrimSpace(query), "(", 2)[0], err)
	}
}

// Create makes the Kratos tables in conn (an empty database) and fills
// them. postgres picks the column types.
func Create(ctx context.Context, conn *sql.DB, postgres bool) (*Fixture, error) {
	d := &db{ctx: ctx, db: conn, postgres: postgres}
	for _, stmt := range strings.Split(ddl(postgres), ";") {
		if strings.TrimSpace(stmt) != "" {
			d.exec(stmt)
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	created := now.Add(-30 * 24 * time.Hour)
	nid := uuid.NewString()
	d.exec(`INSERT INTO networks (id, created_at, updated_at) VALUES ($1, $2, $3)`, nid, created, created)
	types := map[string]string{}
	for _, name := range []string{"password", "oidc", "totp", "lookup_secret", "webauthn", "passkey", "code"} {
		types[name] = uuid.NewString()
		d.exec(`INSERT INTO identity_credential_types (id, name) VALUES ($1, $2)`, types[name], name)
	}

	f := &Fixture{
		Alice: uuid.NewString(), AliceEmail: "alice@example.com",
		Bob: uuid.NewString(), BobEmail: "bob@example.com",
		Carol: uuid.NewString(), CarolEmail: "carol@example.com",
		TOTPSecret:      "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
		LookupCodes:     []string{"k3j2h1g4", "p0o9i8u7"},
		UsedCode:        "z1x2c3v4",
		OIDCProvider:    "github",
		OIDCSubject:     "4711",
		OIDCAccessToken: "gho_kratosAccessToken",
		ActiveSession:   uuid.NewString(), ActiveToken: token("ory_st_"),
		ExpiredSession: uuid.NewString(), ExpiredToken: token("ory_st_"),
		RevokedSession: uuid.NewString(), RevokedToken: token("ory_st_"),
		SessionExpiresAt: now.Add(24 * time.Hour),
		DeviceUserAgent:  "Mozilla/5.0 (Kratos fixture)",
	}
	bcryptHash, err := bcrypt.GenerateFromPassword([]byte(Password), 4)
	if err != nil {
		return nil, err
	}

	identity := func(id, email, external, public string) {
		var ext, pub any
		if external != "" {
			ext = external
		}
		if public != "" {
			pub = public
		}
		d.exec(`INSERT INTO identities (id, schema_id, traits, created_at, updated_at, nid, state, state_changed_at, metadata_public, metadata_admin, available_aal, external_id)
VALUES ($1, 'default', $2, $3, $4, $5, 'active', $6, $7, NULL, 'aal1', $8)`,
			id, fmt.Sprintf(`{"email":%q}`, email), created, now.Add(-time.Hour), nid, created, pub, ext)
	}
	credential := func(identityID, typ, config string, identifiers ...string) {
		id := uuid.NewString()
		d.exec(`INSERT INTO identity_credentials (id, config, identity_credential_type_id, identity_id, created_at, updated_at, nid, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`, id, config, types[typ], identityID, created, created, nid)
		for _, ident := range identifiers {
			d.exec(`INSERT INTO identity_credential_identifiers (id, identifier, identity_credential_id, created_at, updated_at, nid, identity_credential_type_id, identity_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, uuid.NewString(), ident, id, created, created, nid, types[typ], identityID)
		}
	}
	addresses := func(identityID, email string, verified bool) {
		status, at := "pending", any(nil)
		if verified {
			status, at = "completed", created.Add(time.Minute)
		}
		d.exec(`INSERT INTO identity_verifiable_addresses (id, status, via, verified, value, verified_at, identity_id, created_at, updated_at, nid)
VALUES ($1, $2, 'email', $3, $4, $5, $6, $7, $8, $9)`, uuid.NewString(), status, verified, email, at, identityID, created, created, nid)
		d.exec(`INSERT INTO identity_recovery_addresses (id, via, value, identity_id, created_at, updated_at, nid)
VALUES ($1, 'email', $2, $3, $4, $5, $6)`, uuid.NewString(), email, identityID, created, created, nid)
	}

	identity(f.Alice, f.AliceEmail, "alice-ext", `{"plan":"gold"}`)
	credential(f.Alice, "password", fmt.Sprintf(`{"hashed_password":%q}`, bcryptHash), f.AliceEmail)
	totpURL := "otpauth://totp/Kratos:alice@example.com?algorithm=SHA1&digits=6&issuer=Kratos&period=30&secret=" + f.TOTPSecret
	// Kratos's noop cipher: the value hex-encoded.
	credential(f.Alice, "totp", fmt.Sprintf(`{"totp_url":%q}`, hex.EncodeToString([]byte(totpURL))), f.Alice)
	credential(f.Alice, "lookup_secret", fmt.Sprintf(`{"recovery_codes":[{"code":%q,"used_at":null},{"code":%q,"used_at":"%s"},{"code":%q,"used_at":null}]}`,
		f.LookupCodes[0], f.UsedCode, created.Add(time.Hour).Format(time.RFC3339), f.LookupCodes[1]), f.Alice)
	addresses(f.Alice, f.AliceEmail, true)

	identity(f.Bob, f.BobEmail, "", "")
	credential(f.Bob, "password", fmt.Sprintf(`{"hashed_password":%q}`, argon2id(Password)), f.BobEmail)
	credential(f.Bob, "oidc", fmt.Sprintf(`{"providers":[{"subject":%q,"provider":%q,"initial_id_token":"","initial_access_token":%q,"initial_refresh_token":%q}]}`,
		f.OIDCSubject, f.OIDCProvider, hex.EncodeToString([]byte(f.OIDCAccessToken)), hex.EncodeToString([]byte("refresh-"+f.OIDCSubject))),
		f.OIDCProvider+":"+f.OIDCSubject)
	addresses(f.Bob, f.BobEmail, false)

	identity(f.Carol, f.CarolEmail, "", "")
	credential(f.Carol, "password", fmt.Sprintf(`{"hashed_password":%q}`, bcryptHash), f.CarolEmail)
	carolHandle := uuid.MustParse(f.Carol)
	keyID := base64.StdEncoding.EncodeToString([]byte("carol-key-id-0001"))
	f.WebAuthnConfig = fmt.Sprintf(`{"credentials":[{"id":%q,"public_key":%q,"attestation_type":"none","authenticator":{"aaguid":"AAAAAAAAAAAAAAAAAAAAAA==","sign_count":7,"clone_warning":false},"display_name":"YubiKey","added_at":"%s","is_passwordless":false,"flags":{"user_present":true,"user_verified":false,"backup_eligible":false,"backup_state":false}}],"user_handle":%q}`,
		keyID, base64.StdEncoding.EncodeToString([]byte("not-a-real-cose-key")), created.Format(time.RFC3339),
		base64.StdEncoding.EncodeToString(carolHandle[:]))
	credential(f.Carol, "webauthn", f.WebAuthnConfig, f.CarolEmail)
	addresses(f.Carol, f.CarolEmail, true)

	sessionRow := func(id, tok string, active bool, expires time.Time) {
		// Signed in with the password, then the app: Kratos's default
		// whoami (required_aal highest_available) wants both of Alice.
		methods := fmt.Sprintf(`[{"method":"password","aal":"aal1","completed_at":"%s","provider":"","organization":""},{"method":"totp","aal":"aal2","completed_at":"%s"}]`,
			now.Add(-2*time.Hour).Format(time.RFC3339Nano), now.Add(-2*time.Hour+time.Minute).Format(time.RFC3339Nano))
		d.exec(`INSERT INTO sessions (id, issued_at, expires_at, authenticated_at, identity_id, created_at, updated_at, active, nid, aal, authentication_methods, token, logout_token)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'aal2', $10, $11, $12)`,
			id, now.Add(-2*time.Hour), expires, now.Add(-2*time.Hour), f.Alice, now.Add(-2*time.Hour), now.Add(-time.Hour), active, nid, methods, tok, token("ory_lo_"))
		d.exec(`INSERT INTO session_devices (id, identity_id, ip_address, user_agent, location, nid, session_id, created_at, updated_at)
VALUES ($1, $2, '192.0.2.7', $3, 'Berlin, DE', $4, $5, $6, $7)`, uuid.NewString(), f.Alice, f.DeviceUserAgent, nid, id, now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	}
	sessionRow(f.ActiveSession, f.ActiveToken, true, f.SessionExpiresAt)
	sessionRow(f.ExpiredSession, f.ExpiredToken, true, now.Add(-time.Minute))
	sessionRow(f.RevokedSession, f.RevokedToken, false, f.SessionExpiresAt)
	if d.err != nil {
		return nil, d.err
	}
	return f, nil
}

// argon2id hashes password in the PHC format Kratos writes.
func argon2id(password string) string {
	salt := []byte("kratos-salt-16by")
	const memory, iterations, threads = 16384, 1, 1
	key := argon2.IDKey([]byte(password), salt, iterations, memory, threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, iterations, threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// token makes a Kratos token: prefix and 32 letters and digits.
func token(prefix string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for k := range b {
		b[k] = alphabet[int(b[k])%len(alphabet)]
	}
	return prefix + string(b)
}
