package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// codeSchema has an email that signs in by password and code, a phone
// that signs in by code over SMS, and a second email (code only).
const codeSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}, "code": {"identifier": true, "via": "email"}}}
        },
        "phone": {
          "type": "string", "format": "tel",
          "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "sms"}}}
        },
        "backup": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "email"}}}
        }
      },
      "additionalProperties": false
    }
  }
}`

// passwordOnlySchema and codeOnlySchema make an email a password
// identifier in one and a code identifier in the other, so that two
// identities can hold one address through different credential types.
const passwordOnlySchema = `{
  "type": "object",
  "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string",
    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}}}
}`

const codeOnlySchema = `{
  "type": "object",
  "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string", "format": "email",
    "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "email"}}}}}}}
}`

func newCodeManager(t testing.TB, s *store.Store) *Manager {
	t.Helper()
	src := func(id, doc string) schema.Source {
		return schema.Source{ID: id, URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(doc))}
	}
	reg, err := schema.Load(ctx, []schema.Source{src("code", codeSchema), src("password-only", passwordOnlySchema), src("code-only", codeOnlySchema)}, "code")
	if err != nil {
		t.Fatal(err)
	}
	return NewManager(s, reg, testHasher(t), "http://public.test/")
}

func codeConfigOf(t *testing.T, c *Credential) []CodeAddress {
	t.Helper()
	var cfg codeConfig
	if err := json.Unmarshal(c.Config, &cfg); err != nil {
		t.Fatalf("code credential config %s: %v", c.Config, err)
	}
	return cfg.Addresses
}

func storedCodeIdentifiers(t *testing.T, s *store.Store, identityID uuid.UUID) []string {
	t.Helper()
	rows, err := s.Read().Query(ctx, `SELECT identifier FROM identity_credential_identifiers WHERE identity_id = $1 AND type = $2 ORDER BY identifier`, identityID, CredentialsCode)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if err := eachRow(rows, func() error {
		var id string
		out = append(out, id)
		return rows.Scan(&out[len(out)-1])
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCodeCredentialFollowsTheTraits(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newCodeManager(t, s)
		created := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"email": "Ada@Example.org", "phone": "+49 151 1234 5678", "backup": "ada@example.org"}`)})

		got, err := m.Get(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		c := got.Credentials[CredentialsCode]
		if c == nil {
			t.Fatalf("credentials = %v; want a code credential", got.Credentials)
		}
		// Sorted by address: "+49..." before "ada@..."; the email named
		// twice once.
		want := []CodeAddress{{Channel: ChannelSMS, Address: "+4915112345678"}, {Channel: ChannelEmail, Address: "ada@example.org"}}
		if c.Version != 1 || !reflect.DeepEqual(c.Identifiers, []string{"+4915112345678", "ada@example.org"}) || !reflect.DeepEqual(codeConfigOf(t, c), want) {
			t.Errorf("code credential = version %d, identifiers %v, config %s; want version 1 and %v", c.Version, c.Identifiers, c.Config, want)
		}
		if !reflect.DeepEqual(CodeAddresses(got), want) {
			t.Errorf("CodeAddresses = %v; want %v", CodeAddresses(got), want)
		}
		if c.ID != created.Credentials[CredentialsCode].ID || c.CreatedAt.IsZero() || !c.CreatedAt.Equal(c.UpdatedAt) {
			t.Errorf("stored code credential %+v; want the created one", c)
		}

		// The same traits again change nothing about it.
		same, err := m.Replace(ctx, created.ID, Draft{Traits: json.RawMessage(`{"email": "ada@example.org", "phone": "+4915112345678"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if sc := same.Credentials[CredentialsCode]; sc.ID != c.ID || !sc.CreatedAt.Equal(c.CreatedAt) || !sc.UpdatedAt.Equal(c.UpdatedAt) {
			t.Errorf("unchanged addresses: %+v; want the credential as it was (%+v)", sc, c)
		}

		// A changed address keeps the credential, with new identifiers.
		changed, err := m.Replace(ctx, created.ID, Draft{Traits: json.RawMessage(`{"email": "grace@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}
		cc := changed.Credentials[CredentialsCode]
		if cc == nil || cc.ID != c.ID || !cc.CreatedAt.Equal(c.CreatedAt) || cc.UpdatedAt.Before(c.UpdatedAt) {
			t.Fatalf("after changing the addresses: %+v; want the same credential, updated", cc)
		}
		if ids := storedCodeIdentifiers(t, s, created.ID); !reflect.DeepEqual(ids, []string{"grace@example.org"}) {
			t.Errorf("stored code identifiers = %v; want [grace@example.org]", ids)
		}
		reread, _ := m.Get(ctx, created.ID)
		if got := CodeAddresses(reread); !reflect.DeepEqual(got, []CodeAddress{{Channel: ChannelEmail, Address: "grace@example.org"}}) {
			t.Errorf("CodeAddresses after the change = %v", got)
		}
		if _, err := m.FindByCodeIdentifierEvenly(ctx, "ada@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the old address still finds the identity: %v", err)
		}

		// Without a code address the credential goes, identifiers too.
		gone, err := m.Replace(ctx, created.ID, Draft{Traits: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := gone.Credentials[CredentialsCode]; ok {
			t.Errorf("credentials = %v; want no code credential without a code address", gone.Credentials)
		}
		reread, _ = m.Get(ctx, created.ID)
		if _, ok := reread.Credentials[CredentialsCode]; ok || CodeAddresses(reread) != nil {
			t.Errorf("stored credentials = %v; want no code credential", reread.Credentials)
		}
		if ids := storedCodeIdentifiers(t, s, created.ID); len(ids) != 0 {
			t.Errorf("stored code identifiers = %v; want none", ids)
		}
		// And the address is free for someone else.
		mustCreate(t, m, Draft{Traits: json.RawMessage(`{"email": "grace@example.org"}`)})
	})
}

func TestCodeAddressTakenIsConflict(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newCodeManager(t, s)
		first := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"phone": "+4915112345678"}`)})
		// Only the code credential holds the number: the conflict is its.
		_, err := m.Create(ctx, Draft{Traits: json.RawMessage(`{"phone": "+49 151 12345678"}`)})
		if code(err) != 409 || !IsConflict(err) {
			t.Fatalf("a second identity with the code address: %v; want 409", err)
		}
		other := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"backup": "b@example.org"}`)})
		if _, err := m.Replace(ctx, other.ID, Draft{Traits: json.RawMessage(`{"backup": "b@example.org", "phone": "+4915112345678"}`)}); code(err) != 409 {
			t.Errorf("an update taking the code address: %v; want 409", err)
		}
		_, errs := m.CreateMany(ctx, []Draft{{Traits: json.RawMessage(`{"phone": "+4915112345678"}`)}, {Traits: json.RawMessage(`{"phone": "+4915187654321"}`)}})
		if code(errs[0]) != 409 || errs[1] != nil {
			t.Errorf("batch: %v; want a conflict for the taken address only", errs)
		}
		if n, _ := m.Count(ctx); n != 3 {
			t.Errorf("%d identities; want 3", n)
		}
		if i, err := m.FindByCodeIdentifierEvenly(ctx, "+4915112345678"); err != nil || i.ID != first.ID {
			t.Errorf("the address belongs to %v, %v; want the first identity", i, err)
		}
	})
}

func TestCodeAddressesShapes(t *testing.T) {
	withCode := func(c *Credential) *Identity {
		return &Identity{Credentials: map[string]*Credential{CredentialsCode: c}}
	}
	for name, tc := range map[string]struct {
		i    *Identity
		want []CodeAddress
	}{
		"no code credential": {&Identity{}, nil},
		"version 1": {withCode(&Credential{Version: 1, Identifiers: []string{"a@example.org", "+4915112345678"},
			Config: json.RawMessage(`{"addresses": [{"address": "+4915112345678", "channel": "sms"}, {"channel": "email", "address": "a@example.org"}, {"channel": "email", "address": ""}]}`)}),
			[]CodeAddress{{ChannelSMS, "+4915112345678"}, {ChannelEmail, "a@example.org"}}},
		"legacy email": {withCode(&Credential{Identifiers: []string{"a@example.org", "b@example.org"}, Config: json.RawMessage(`{"address_type": "email", "used_at": {"Time": "0001-01-01T00:00:00Z", "Valid": false}}`)}),
			[]CodeAddress{{ChannelEmail, "a@example.org"}, {ChannelEmail, "b@example.org"}}},
		"legacy phone": {withCode(&Credential{Identifiers: []string{"+4915112345678"}, Config: json.RawMessage(`{"address_type": "phone"}`)}),
			[]CodeAddress{{ChannelSMS, "+4915112345678"}}},
		"empty config":  {withCode(&Credential{Identifiers: []string{"a@example.org"}, Config: json.RawMessage(`{}`)}), nil},
		"broken config": {withCode(&Credential{Config: json.RawMessage(`[`)}), nil},
	} {
		if got := CodeAddresses(tc.i); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: CodeAddresses = %v; want %v", name, got, tc.want)
		}
	}
}

func TestFindByCodeIdentifierEvenly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newCodeManager(t, s)
		want := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"email": "ada@example.org", "phone": "+4915112345678"}`), Password: ptr("a-long-enough-passphrase")})
		for _, typed := range []string{"ada@example.org", " ADA@Example.ORG ", "+4915112345678", "+49 151 1234-5678", " +49 (151) 12345678 "} {
			got, err := m.FindByCodeIdentifierEvenly(ctx, typed)
			if err != nil || got.ID != want.ID || got.Credentials[CredentialsPassword] == nil || got.Credentials[CredentialsCode] == nil {
				t.Errorf("%q: %+v, %v; want the identity with its credentials", typed, got, err)
			}
		}
		for _, typed := range []string{"nobody@example.org", "+4915100000000", "", "ada", "4915112345678"} {
			if _, err := m.FindByCodeIdentifierEvenly(ctx, typed); !errors.Is(err, ErrNotFound) {
				t.Errorf("%q: %v; want ErrNotFound", typed, err)
			}
		}
		// A password identifier is no code identifier.
		pw := mustCreate(t, m, Draft{SchemaID: "password-only", Traits: json.RawMessage(`{"email": "pw@example.org"}`), Password: ptr("a-long-enough-passphrase")})
		if _, err := m.FindByCodeIdentifierEvenly(ctx, "pw@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a password-only identifier: %v; want ErrNotFound", err)
		}
		if got, err := m.FindByAnyIdentifierEvenly(ctx, "PW@example.org"); err != nil || got.ID != pw.ID {
			t.Errorf("FindByAnyIdentifierEvenly(password identifier) = %v, %v", got, err)
		}
	})
}

func TestFindByAnyIdentifierEvenly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newCodeManager(t, s)
		codeOwner := mustCreate(t, m, Draft{SchemaID: "code-only", Traits: json.RawMessage(`{"email": "shared@example.org"}`)})
		if got, err := m.FindByAnyIdentifierEvenly(ctx, " Shared@Example.org"); err != nil || got.ID != codeOwner.ID {
			t.Fatalf("a code identifier: %v, %v; want its owner", got, err)
		}
		// Another identity holds the same string as a webauthn identifier:
		// the code's owner still wins.
		other := mustCreate(t, m, Draft{SchemaID: "password-only", Traits: json.RawMessage(`{"email": "other@example.org"}`)})
		if err := s.Write(ctx, func(q *store.Q) error {
			return m.PutCredential(ctx, q, other.ID, &Credential{Type: CredentialsWebAuthn, Identifiers: []string{"shared@example.org"}, Config: json.RawMessage(`{}`)})
		}); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 3; k++ {
			if got, err := m.FindByAnyIdentifierEvenly(ctx, "shared@example.org"); err != nil || got.ID != codeOwner.ID {
				t.Fatalf("code and webauthn owners: %v, %v; want the code's owner", got, err)
			}
		}
		// A third holds it as a password identifier, and wins.
		pwOwner := mustCreate(t, m, Draft{SchemaID: "password-only", Traits: json.RawMessage(`{"email": "SHARED@example.org"}`), Password: ptr("a-long-enough-passphrase")})
		for k := 0; k < 3; k++ {
			got, err := m.FindByAnyIdentifierEvenly(ctx, "shared@EXAMPLE.org")
			if err != nil || got.ID != pwOwner.ID || got.Credentials[CredentialsPassword] == nil {
				t.Fatalf("password, code and webauthn owners: %v, %v; want the password's owner with its credentials", got, err)
			}
		}
		// Phone numbers in any usual spelling.
		phone := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"phone": "+4915112345678"}`)})
		if got, err := m.FindByAnyIdentifierEvenly(ctx, "+49 151 12345678"); err != nil || got.ID != phone.ID {
			t.Errorf("a phone number: %v, %v; want its owner", got, err)
		}
		if _, err := m.FindByAnyIdentifierEvenly(ctx, "nobody@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown identifier: %v; want ErrNotFound", err)
		}
		if _, err := m.FindByAnyIdentifierEvenly(ctx, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("an empty identifier: %v; want ErrNotFound", err)
		}
	})
}
