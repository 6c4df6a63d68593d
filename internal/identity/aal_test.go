package identity

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func cred(typ, config string, identifiers ...string) *Credential {
	return &Credential{ID: uuid.New(), Type: typ, Identifiers: identifiers, Config: json.RawMessage(config)}
}

func withCreds(cs ...*Credential) *Identity {
	i := &Identity{Credentials: map[string]*Credential{}}
	for _, c := range cs {
		i.Credentials[c.Type] = c
	}
	return i
}

func TestAvailableAAL(t *testing.T) {
	const (
		password     = `{"hashed_password":"$2a$04$abcdefghijklmnopqrstuv"}`
		migrating    = `{"hashed_password":"","use_password_migration_hook":true}`
		totpURL      = `{"totp_url":"otpauth://totp/Lanyard:ada@example.org?secret=JBSWY3DPEHPK3PXP"}`
		sealedTOTP   = `{"totp_url_sealed":"bm9uY2UtYW5kLWNpcGhlcnRleHQ"}`
		codes        = `{"recovery_codes":[{"code":"abcd-efgh","used_at":null}]}`
		usedCodes    = `{"recovery_codes":[{"code":"abcd-efgh","used_at":"2024-01-02T03:04:05Z"}]}`
		keyMFA       = `{"credentials":[{"id":"a2V5","is_passwordless":false}],"user_handle":"aGFuZGxl"}`
		keyPassless  = `{"credentials":[{"id":"a2V5","is_passwordless":true}]}`
		oidcGoogle   = `{"providers":[{"subject":"123","provider":"google"}]}`
		oidcOrg      = `{"providers":[{"subject":"123","provider":"google","organization":"acme"}]}`
		codeAddress  = `{"addresses":[{"channel":"email","address":"ada@example.org"}]}`
		codeLegacy   = `{"address_type":"email","used_at":{"Time":"0001-01-01T00:00:00Z","Valid":false}}`
		codeNoAddr   = `{"addresses":[{"channel":"email","address":""}]}`
		passkeyCreds = `{"credentials":[{"id":"a2V5"}]}`
	)
	mfa := FactorRules{CodeMFA: true}
	for _, tc := range []struct {
		name  string
		rules FactorRules
		i     *Identity
		want  string
	}{
		{"no credentials", FactorRules{}, withCreds(), AAL0},
		{"credentials not loaded", FactorRules{}, &Identity{}, AAL0},
		{"password", FactorRules{}, withCreds(cred("password", password, "ada@example.org")), AAL1},
		{"password without identifiers", FactorRules{}, withCreds(cred("password", password)), AAL0},
		{"password without a hash", FactorRules{}, withCreds(cred("password", `{"hashed_password":""}`, "ada@example.org")), AAL0},
		{"corrupt password config", FactorRules{}, withCreds(cred("password", `{`, "ada@example.org")), AAL0},
		{"password left to the migration hook, hook off", FactorRules{}, withCreds(cred("password", migrating, "ada@example.org")), AAL0},
		{"password left to the migration hook, hook on", FactorRules{PasswordMigrationHook: true}, withCreds(cred("password", migrating, "ada@example.org")), AAL1},
		{"password and totp", FactorRules{}, withCreds(cred("password", password, "ada@example.org"), cred("totp", totpURL)), AAL2},
		{"totp alone is aal2, as in Kratos", FactorRules{}, withCreds(cred("totp", totpURL)), AAL2},
		{"encrypted totp", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("totp", sealedTOTP)), AAL2},
		{"empty totp config", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("totp", `{}`)), AAL1},
		{"empty totp url", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("totp", `{"totp_url":""}`)), AAL1},
		{"null totp config", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("totp", `null`)), AAL1},
		{"lookup secrets", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("lookup_secret", codes)), AAL2},
		{"used lookup secrets still count", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("lookup_secret", usedCodes)), AAL2},
		{"no lookup secrets", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("lookup_secret", `{"recovery_codes":[]}`)), AAL1},
		{"security key", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("webauthn", keyMFA)), AAL2},
		{"passwordless security key", FactorRules{}, withCreds(cred("webauthn", keyPassless, "handle")), AAL1},
		{"passwordless security key without identifiers", FactorRules{}, withCreds(cred("webauthn", keyPassless)), AAL0},
		{"passkey", FactorRules{}, withCreds(cred("passkey", passkeyCreds, "handle")), AAL1},
		{"passkey without keys", FactorRules{}, withCreds(cred("passkey", `{"credentials":[]}`, "handle")), AAL0},
		{"social sign-in", FactorRules{}, withCreds(cred("oidc", oidcGoogle, "google:123")), AAL1},
		{"social sign-in of another subject", FactorRules{}, withCreds(cred("oidc", oidcGoogle, "google:456")), AAL0},
		{"social sign-in of an organization", FactorRules{}, withCreds(cred("oidc", oidcOrg, "google:123")), AAL0},
		{"code address, mfa off", FactorRules{}, withCreds(cred("password", password, "a@x.org"), cred("code", codeAddress, "a@x.org")), AAL1},
		{"code address, mfa on", mfa, withCreds(cred("password", password, "a@x.org"), cred("code", codeAddress, "a@x.org")), AAL2},
		{"legacy code credential, mfa on", mfa, withCreds(cred("password", password, "a@x.org"), cred("code", codeLegacy, "a@x.org")), AAL2},
		{"code credential without an address, mfa on", mfa, withCreds(cred("password", password, "a@x.org"), cred("code", codeNoAddr)), AAL1},
		{"passwordless code gives everyone a first factor", FactorRules{CodePasswordless: true}, withCreds(), AAL1},
		{"unknown credential type", FactorRules{}, withCreds(cred("saml", `{"providers":[]}`, "x")), AAL0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rules.AvailableAAL(tc.i); got != tc.want {
				t.Errorf("AvailableAAL = %s; want %s", got, tc.want)
			}
			if got := tc.rules.HasSecondFactor(tc.i); got != (tc.want == AAL2) {
				t.Errorf("HasSecondFactor = %v; want %v", got, tc.want == AAL2)
			}
		})
	}
}

func TestPutCredential(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		var rules FactorRules
		i, err := m.Create(ctx, Draft{Traits: traits("put@example.org"), Password: ptr("a-long-enough-password")})
		if err != nil {
			t.Fatal(err)
		}
		cached, err := m.GetVersion(ctx, i.ID, i.Revision)
		if err != nil || rules.AvailableAAL(cached) != AAL1 {
			t.Fatalf("before: %v, %v", cached, err)
		}

		put := func(c *Credential) error {
			return s.Write(ctx, func(q *store.Q) error { return m.PutCredential(ctx, q, i.ID, c) })
		}
		totp := cred("totp", `{"totp_url":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"}`)
		if err := put(totp); err != nil {
			t.Fatal(err)
		}
		got, err := m.Get(ctx, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.UpdatedAt.After(i.UpdatedAt) || got.Revision <= i.Revision {
			t.Errorf("updated_at or revision did not move: %v (%d), then %v (%d)", i.UpdatedAt, i.Revision, got.UpdatedAt, got.Revision)
		}
		if rules.AvailableAAL(got) != AAL2 || got.Credentials["password"] == nil {
			t.Errorf("after adding TOTP: %+v", got.Credentials)
		}
		// The version whoami reads is the new one, and the cache follows.
		fresh, err := m.GetVersion(ctx, i.ID, got.Revision)
		if err != nil || rules.AvailableAAL(fresh) != AAL2 {
			t.Errorf("the cache kept the identity without its second factor: %v", err)
		}

		// Replacing keeps the credential's id and creation time.
		first := got.Credentials["totp"]
		if err := put(cred("totp", `{}`)); err != nil {
			t.Fatal(err)
		}
		got, _ = m.Get(ctx, i.ID)
		if c := got.Credentials["totp"]; c == nil || c.ID != first.ID || !c.CreatedAt.Equal(first.CreatedAt) || string(c.Config) != `{}` {
			t.Errorf("replaced credential: %+v; first %+v", c, first)
		}
		if rules.AvailableAAL(got) != AAL1 {
			t.Errorf("an emptied TOTP credential still counts")
		}

		// Identifiers are replaced too, and stay unique across identities.
		if err := put(cred("webauthn", `{"credentials":[]}`, "handle-one")); err != nil {
			t.Fatal(err)
		}
		if err := put(cred("webauthn", `{"credentials":[]}`, "handle-two")); err != nil {
			t.Fatal(err)
		}
		if found, err := m.FindByIdentifier(ctx, "webauthn", "handle-two"); err != nil || found.ID != i.ID {
			t.Errorf("new identifier: %v, %v", found, err)
		}
		if _, err := m.FindByIdentifier(ctx, "webauthn", "handle-one"); !errors.Is(err, ErrNotFound) {
			t.Errorf("old identifier still found: %v", err)
		}
		other, err := m.Create(ctx, Draft{Traits: traits("other@example.org")})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(ctx, func(q *store.Q) error {
			return m.PutCredential(ctx, q, other.ID, cred("webauthn", `{"credentials":[]}`, "handle-two"))
		})
		if code(err) != 409 || !IsConflict(err) {
			t.Errorf("a taken identifier: %v; want 409 ErrConflict", err)
		}

		err = s.Write(ctx, func(q *store.Q) error { return m.PutCredential(ctx, q, uuid.New(), cred("totp", `{}`)) })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown identity: %v; want ErrNotFound", err)
		}
	})
}
