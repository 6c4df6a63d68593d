package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/wire"
)

var ctx = context.Background()

// twoAddressSchema has two verifiable and recovery addresses, so that an
// update can keep one and replace the other.
const twoAddressSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "verification": {"via": "email"},
            "recovery": {"via": "email"}
          }
        },
        "backup": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"verification": {"via": "email"}, "recovery": {"via": "email"}}
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

func testHasher(t testing.TB) *hasher.Hasher {
	t.Helper()
	h, err := hasher.New(config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newManager(t testing.TB, s *store.Store) *Manager {
	t.Helper()
	reg, err := schema.Load(ctx, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	return NewManager(s, reg, testHasher(t), "http://public.test")
}

func newTwoAddressManager(t testing.TB, s *store.Store) *Manager {
	t.Helper()
	reg, err := schema.Load(ctx, []schema.Source{{ID: "two", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(twoAddressSchema))}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return NewManager(s, reg, testHasher(t), "http://public.test/")
}

func traits(email string) json.RawMessage {
	return json.RawMessage(`{"email": "` + email + `", "name": {"first": "Ada"}}`)
}

func ptr[T any](v T) *T { return &v }

func code(err error) int {
	if err == nil {
		return 0
	}
	return wire.From(err).Code
}

// jsonEqual compares JSON by value: PostgreSQL's JSONB does not keep key
// order or spacing.
func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func mustCreate(t *testing.T, m *Manager, d Draft) *Identity {
	t.Helper()
	i, err := m.Create(ctx, d)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return i
}

func passwordHash(t *testing.T, i *Identity) string {
	t.Helper()
	c := i.Credentials[CredentialsPassword]
	if c == nil {
		t.Fatal("no password credential")
	}
	var cfg PasswordConfig
	if err := json.Unmarshal(c.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.HashedPassword
}

func TestCreateAndGet(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		created := mustCreate(t, m, Draft{
			Traits:         json.RawMessage(`{ "email" : "Ada@Example.ORG", "name": {"first": "Ada"} }`),
			MetadataPublic: json.RawMessage(`{"plan": "pro"}`),
			MetadataAdmin:  json.RawMessage(`{"note": "vip"}`),
			ExternalID:     ptr("ext-1"),
			Password:       ptr("correct horse battery staple"),
		})
		got, err := m.Get(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SchemaID != "default" || got.State != StateActive {
			t.Errorf("schema %q, state %q; want default, active", got.SchemaID, got.State)
		}
		if got.StateChangedAt == nil || !got.StateChangedAt.Equal(got.CreatedAt) {
			t.Errorf("state_changed_at = %v; want the creation time %v", got.StateChangedAt, got.CreatedAt)
		}
		if !got.CreatedAt.Equal(created.CreatedAt) || !got.UpdatedAt.Equal(created.UpdatedAt) {
			t.Errorf("times changed in storage: %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, created.CreatedAt, created.UpdatedAt)
		}
		if !jsonEqual(got.Traits, `{"email":"Ada@Example.ORG","name":{"first":"Ada"}}`) {
			t.Errorf("traits = %s; want them stored as sent", got.Traits)
		}
		if !jsonEqual(got.MetadataPublic, `{"plan":"pro"}`) || !jsonEqual(got.MetadataAdmin, `{"note":"vip"}`) {
			t.Errorf("metadata = %s / %s", got.MetadataPublic, got.MetadataAdmin)
		}
		if got.ExternalID == nil || *got.ExternalID != "ext-1" {
			t.Errorf("external_id = %v", got.ExternalID)
		}
		c := got.Credentials[CredentialsPassword]
		if c == nil || len(c.Identifiers) != 1 || c.Identifiers[0] != "ada@example.org" {
			t.Fatalf("password credential = %+v; want the normalised email as identifier", c)
		}
		if h := passwordHash(t, got); !strings.HasPrefix(h, "$2a$04$") || testHasher(t).Compare(ctx, []byte("correct horse battery staple"), []byte(h)) != nil {
			t.Errorf("stored hash %q does not verify the password", h)
		}
		if len(got.VerifiableAddresses) != 1 || got.VerifiableAddresses[0].Value != "ada@example.org" ||
			got.VerifiableAddresses[0].Verified || got.VerifiableAddresses[0].Status != AddressStatusPending {
			t.Errorf("verifiable addresses = %+v; want one pending ada@example.org", got.VerifiableAddresses)
		}
		if len(got.RecoveryAddresses) != 1 || got.RecoveryAddresses[0].Via != "email" || got.RecoveryAddresses[0].Value != "ada@example.org" {
			t.Errorf("recovery addresses = %+v", got.RecoveryAddresses)
		}

		byExt, err := m.GetByExternalID(ctx, "ext-1")
		if err != nil || byExt.ID != created.ID {
			t.Errorf("GetByExternalID = %v, %v", byExt, err)
		}
		if _, err := m.GetByExternalID(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetByExternalID(unknown) = %v; want ErrNotFound", err)
		}
		if _, err := m.Get(ctx, uuid.New()); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(unknown) = %v; want ErrNotFound", err)
		}
		if n, err := m.Count(ctx); err != nil || n != 1 {
			t.Errorf("Count = %d, %v", n, err)
		}
	})
}

func TestCreateWithoutPasswordOrMetadata(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("bare@example.org"), State: StateInactive, MetadataPublic: json.RawMessage("null")})
		got, err := m.Get(ctx, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != StateInactive || got.MetadataPublic != nil || got.MetadataAdmin != nil || got.ExternalID != nil {
			t.Errorf("got %+v; want inactive with no metadata or external id", got)
		}
		// The default schema makes the email a code identifier, so only
		// the code credential exists without a password (as in Kratos).
		if _, ok := got.Credentials[CredentialsCode]; len(got.Credentials) != 1 || !ok {
			t.Errorf("credentials = %v; want only the code credential without a password", got.Credentials)
		}
	})
}

func TestCreateImportsHashes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		imported, err := testHasher(t).Hash(ctx, []byte("imported secret"))
		if err != nil {
			t.Fatal(err)
		}
		i := mustCreate(t, m, Draft{Traits: traits("imp@example.org"), HashedPassword: ptr(string(imported))})
		if got := passwordHash(t, i); got != string(imported) {
			t.Errorf("stored hash %q; want the imported one unchanged", got)
		}
	})
}

func TestCreateRejectsBadDrafts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		cases := map[string]Draft{
			"no traits":            {},
			"null traits":          {Traits: json.RawMessage("null")},
			"broken traits":        {Traits: json.RawMessage(`{"email":`)},
			"schema violation":     {Traits: json.RawMessage(`{"name": {"first": "x"}}`)},
			"not an email":         {Traits: traits("not-an-email")},
			"unknown trait":        {Traits: json.RawMessage(`{"email": "a@example.org", "age": 3}`)},
			"unknown schema":       {SchemaID: "nope", Traits: traits("a@example.org")},
			"bad state":            {State: "banned", Traits: traits("a@example.org")},
			"metadata not object":  {Traits: traits("a@example.org"), MetadataPublic: json.RawMessage(`[1]`)},
			"admin meta string":    {Traits: traits("a@example.org"), MetadataAdmin: json.RawMessage(`"x"`)},
			"empty password":       {Traits: traits("a@example.org"), Password: ptr("")},
			"password too long":    {Traits: traits("a@example.org"), Password: ptr(strings.Repeat("p", 73))},
			"both passwords":       {Traits: traits("a@example.org"), Password: ptr("x"), HashedPassword: ptr("$2a$04$abc")},
			"unknown hash format":  {Traits: traits("a@example.org"), HashedPassword: ptr("plaintext")},
			"malformed bcrypt":     {Traits: traits("a@example.org"), HashedPassword: ptr("$2a$04$short")},
			"traits not an object": {Traits: json.RawMessage(`"a@example.org"`)},
		}
		for name, d := range cases {
			_, err := m.Create(ctx, d)
			if code(err) != 400 {
				t.Errorf("%s: Create = %v; want 400", name, err)
			}
		}
		if n, _ := m.Count(ctx); n != 0 {
			t.Errorf("%d identities stored by rejected drafts", n)
		}
		_, err := m.Create(ctx, Draft{Traits: json.RawMessage(`{}`)})
		var we *wire.Error
		if !errors.As(err, &we) || !strings.Contains(we.Reason, "email") {
			t.Errorf("schema violation reason = %v; want it to name the missing property", err)
		}
	})
}

func TestConflictsAreErrConflict(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		first := mustCreate(t, m, Draft{Traits: traits("taken@example.org"), Password: ptr("pw-12345678"), ExternalID: ptr("ext")})
		second := mustCreate(t, m, Draft{Traits: traits("free@example.org"), Password: ptr("pw-12345678")})

		for name, d := range map[string]Draft{
			"same identifier, other case": {Traits: traits("TAKEN@example.org"), Password: ptr("pw-12345678")},
			"same address, no password":   {Traits: traits("taken@example.org")},
			"same external id":            {Traits: traits("other@example.org"), ExternalID: ptr("ext")},
		} {
			_, err := m.Create(ctx, d)
			if code(err) != 409 || !IsConflict(err) {
				t.Errorf("%s: Create = %v; want 409 ErrConflict", name, err)
			}
			if err != nil && wire.From(err).Reason != ErrConflict.Reason {
				t.Errorf("%s: reason %q; want ErrConflict's", name, wire.From(err).Reason)
			}
		}
		_, err := m.Replace(ctx, second.ID, Draft{Traits: traits("taken@example.org"), State: StateActive})
		if code(err) != 409 || !IsConflict(err) {
			t.Errorf("Replace onto a taken email = %v; want 409", err)
		}
		// The failed replace left the identity as it was.
		got, err := m.Get(ctx, second.ID)
		if err != nil || !strings.Contains(string(got.Traits), "free@example.org") {
			t.Errorf("after a failed Replace: %s, %v", got.Traits, err)
		}
		if n, _ := m.Count(ctx); n != 2 {
			t.Errorf("Count = %d; want 2", n)
		}
		_ = first
	})
}

func TestReplace(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		orig := mustCreate(t, m, Draft{Traits: traits("old@example.org"), Password: ptr("pw-12345678"), MetadataAdmin: json.RawMessage(`{"a":1}`)})
		oldHash := passwordHash(t, orig)
		time.Sleep(2 * time.Millisecond) // so that updated_at must move

		got, err := m.Replace(ctx, orig.ID, Draft{Traits: traits("New@example.org"), State: StateActive})
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(orig.CreatedAt) || !got.UpdatedAt.After(orig.UpdatedAt) {
			t.Errorf("created %v→%v, updated %v→%v; want created kept and updated moved", orig.CreatedAt, got.CreatedAt, orig.UpdatedAt, got.UpdatedAt)
		}
		if got.StateChangedAt == nil || !got.StateChangedAt.Equal(*orig.StateChangedAt) {
			t.Errorf("state_changed_at moved although the state did not")
		}
		if got.MetadataAdmin != nil {
			t.Errorf("metadata_admin = %s; PUT replaces, so it must be gone", got.MetadataAdmin)
		}
		stored, err := m.Get(ctx, orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		c := stored.Credentials[CredentialsPassword]
		if c == nil || c.ID != orig.Credentials[CredentialsPassword].ID {
			t.Fatalf("password credential %+v; want the original credential kept", c)
		}
		if len(c.Identifiers) != 1 || c.Identifiers[0] != "new@example.org" {
			t.Errorf("identifiers = %v; want them re-derived from the new traits", c.Identifiers)
		}
		if passwordHash(t, stored) != oldHash {
			t.Error("the password hash changed although no password was sent")
		}
		if _, err := m.FindByIdentifier(ctx, CredentialsPassword, "old@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("old identifier still found: %v", err)
		}
		if i, err := m.FindByIdentifier(ctx, CredentialsPassword, "new@example.org"); err != nil || i.ID != orig.ID {
			t.Errorf("new identifier not found: %v", err)
		}

		// A state change moves state_changed_at; a new password replaces the hash.
		time.Sleep(2 * time.Millisecond)
		got, err = m.Replace(ctx, orig.ID, Draft{Traits: traits("new@example.org"), State: StateInactive, Password: ptr("another-pw-1")})
		if err != nil {
			t.Fatal(err)
		}
		if got.StateChangedAt == nil || !got.StateChangedAt.After(*orig.StateChangedAt) {
			t.Errorf("state_changed_at = %v; want it moved by the state change", got.StateChangedAt)
		}
		stored, _ = m.Get(ctx, orig.ID)
		if h := passwordHash(t, stored); testHasher(t).Compare(ctx, []byte("another-pw-1"), []byte(h)) != nil {
			t.Error("the new password does not verify")
		}

		if _, err := m.Replace(ctx, uuid.New(), Draft{Traits: traits("x@example.org")}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Replace(unknown) = %v; want ErrNotFound", err)
		}
		if _, err := m.Replace(ctx, orig.ID, Draft{Traits: json.RawMessage(`{}`)}); code(err) != 400 {
			t.Errorf("Replace with invalid traits = %v; want 400", err)
		}
	})
}

func TestChangeRederivesOnConcurrentUpdate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("race@example.org")})
		calls := 0
		got, err := m.Change(ctx, i.ID, func(cur *Identity) (Draft, error) {
			calls++
			if calls == 1 {
				// Somebody else updates the identity between the snapshot
				// and the transaction.
				if _, err := m.Replace(ctx, i.ID, Draft{Traits: traits("race@example.org"), State: StateActive, MetadataPublic: json.RawMessage(`{"by":"other"}`)}); err != nil {
					t.Fatal(err)
				}
			}
			d := DraftOf(cur)
			d.MetadataAdmin = json.RawMessage(`{"by":"me"}`)
			return d, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 2 {
			t.Errorf("derive ran %d times; want again on the current state", calls)
		}
		if !jsonEqual(got.MetadataPublic, `{"by":"other"}`) || !jsonEqual(got.MetadataAdmin, `{"by":"me"}`) {
			t.Errorf("metadata = %s / %s; want both changes kept", got.MetadataPublic, got.MetadataAdmin)
		}
		boom := errors.New("boom")
		if _, err := m.Change(ctx, i.ID, func(*Identity) (Draft, error) { return Draft{}, boom }); !errors.Is(err, boom) {
			t.Errorf("Change with a failing derive = %v", err)
		}
	})
}

func TestDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("gone@example.org"), Password: ptr("pw-12345678")})
		if err := m.Delete(ctx, i.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Get(ctx, i.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete = %v", err)
		}
		if err := m.Delete(ctx, i.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete = %v; want ErrNotFound", err)
		}
		// Everything hanging off it went too: the email is free again.
		mustCreate(t, m, Draft{Traits: traits("gone@example.org"), Password: ptr("pw-12345678")})
	})
}

func TestListKeysetPagination(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		var want []string
		for k := 0; k < 7; k++ {
			i := mustCreate(t, m, Draft{Traits: traits("user" + string(rune('a'+k)) + "@example.org")})
			want = append(want, i.ID.String())
		}
		sort.Strings(want)

		for _, size := range []int{1, 3, 7, 10} {
			var got []string
			var after *uuid.UUID
			pages := 0
			for {
				page, more, err := m.List(ctx, ListOptions{PageSize: size, After: after})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page) > size {
					t.Fatalf("size %d: page of %d", size, len(page))
				}
				for _, i := range page {
					got = append(got, i.ID.String())
					if i.Credentials == nil || len(i.VerifiableAddresses) != 1 {
						t.Errorf("listed identity without its relations: %+v", i)
					}
				}
				if !more {
					break
				}
				if len(page) != size {
					t.Errorf("size %d: short page %d with more=true", size, len(page))
				}
				after = &page[len(page)-1].ID
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("size %d: listed %v; want every id once, in order %v", size, got, want)
			}
			if wantPages := (7 + size - 1) / size; pages != wantPages {
				t.Errorf("size %d: %d pages; want %d", size, pages, wantPages)
			}
		}

		last, _ := uuid.Parse(want[len(want)-1])
		page, more, err := m.List(ctx, ListOptions{PageSize: 5, After: &last})
		if err != nil || len(page) != 0 || more {
			t.Errorf("after the last id: %d, %v, %v; want an empty last page", len(page), more, err)
		}

		ids := []uuid.UUID{uuid.MustParse(want[5]), uuid.MustParse(want[1]), uuid.New()}
		page, _, err = m.List(ctx, ListOptions{PageSize: 10, IDs: ids})
		if err != nil || len(page) != 2 || page[0].ID.String() != want[1] || page[1].ID.String() != want[5] {
			t.Errorf("List(IDs) = %d identities, %v; want the two existing ones in id order", len(page), err)
		}

		// No password credential, but the code credential has the email
		// as identifier, and Kratos's filter matches code identifiers too.
		page, _, err = m.List(ctx, ListOptions{PageSize: 10, Identifier: " USERC@Example.org "})
		if err != nil || len(page) != 1 || !strings.Contains(string(page[0].Traits), "userc@example.org") {
			t.Errorf("identifier filter on a code identifier = %d, %v; want the one identity", len(page), err)
		}
	})
}

func TestFindByIdentifier(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("Find.Me@Example.org"), Password: ptr("pw-12345678")})
		mustCreate(t, m, Draft{Traits: traits("other@example.org"), Password: ptr("pw-12345678")})
		for _, q := range []string{"find.me@example.org", "FIND.ME@EXAMPLE.ORG", "  Find.Me@example.org\t"} {
			got, err := m.FindByIdentifier(ctx, CredentialsPassword, q)
			if err != nil || got.ID != i.ID {
				t.Errorf("FindByIdentifier(%q) = %v, %v", q, got, err)
			}
		}
		if _, err := m.FindByIdentifier(ctx, CredentialsPassword, "nobody@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown identifier: %v; want ErrNotFound", err)
		}
		if _, err := m.FindByIdentifier(ctx, "webauthn", "find.me@example.org"); !errors.Is(err, ErrNotFound) {
			t.Errorf("other credential type: %v; want ErrNotFound", err)
		}
		page, _, err := m.List(ctx, ListOptions{PageSize: 10, Identifier: "FIND.me@example.org"})
		if err != nil || len(page) != 1 || page[0].ID != i.ID {
			t.Errorf("List(Identifier) = %d, %v; want the one identity", len(page), err)
		}
	})
}

func TestGetVersionCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("cache@example.org")})
		v1, err := m.GetVersion(ctx, i.ID, i.Revision)
		if err != nil {
			t.Fatal(err)
		}
		again, err := m.GetVersion(ctx, i.ID, i.Revision)
		if err != nil || again != v1 {
			t.Errorf("second GetVersion of the same revision did not come from the cache")
		}
		// No pause: two changes in the same instant still differ, which
		// a timestamp alone could not promise.
		if _, err := m.Replace(ctx, i.ID, Draft{Traits: traits("cache2@example.org"), State: StateActive}); err != nil {
			t.Fatal(err)
		}
		cur, err := m.Get(ctx, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Revision != i.Revision+1 {
			t.Fatalf("revision after one change = %d; want %d", cur.Revision, i.Revision+1)
		}
		v2, err := m.GetVersion(ctx, i.ID, cur.Revision)
		if err != nil {
			t.Fatal(err)
		}
		if v2 == v1 || !strings.Contains(string(v2.Traits), "cache2@") || v2.Revision != cur.Revision {
			t.Errorf("GetVersion after an update = %s at %d; want a fresh copy", v2.Traits, v2.Revision)
		}
		if !strings.Contains(string(v1.Traits), "cache@") {
			t.Error("the earlier copy was changed in place")
		}
		// Asked for an older revision than the database holds (a whoami
		// row read just before a change) with nothing cached, it answers
		// the newer copy but does not keep it under the older revision.
		if _, err := m.Replace(ctx, i.ID, Draft{Traits: traits("cache3@example.org"), State: StateActive}); err != nil {
			t.Fatal(err)
		}
		cold := newManager(t, s)
		v3, err := cold.GetVersion(ctx, i.ID, cur.Revision)
		if err != nil || !strings.Contains(string(v3.Traits), "cache3@") {
			t.Fatalf("GetVersion(older revision) = %v, %v; want the current copy", v3, err)
		}
		if v4, err := cold.GetVersion(ctx, i.ID, cur.Revision); err != nil || v4 == v3 {
			t.Errorf("a copy newer than the revision asked for was cached under it")
		}
		if _, err := m.GetVersion(ctx, uuid.New(), 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetVersion(unknown) = %v", err)
		}
	})
}

func TestCreateManyPartialFailure(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		existing := mustCreate(t, m, Draft{Traits: traits("existing@example.org"), Password: ptr("pw-12345678")})
		drafts := []Draft{
			{Traits: traits("one@example.org"), Password: ptr("pw-12345678")},
			{Traits: traits("ONE@example.org"), Password: ptr("pw-12345678")},      // duplicate within the batch
			{Traits: json.RawMessage(`{}`)},                                        // invalid
			{Traits: traits("existing@example.org"), Password: ptr("pw-12345678")}, // taken already
			{Traits: traits("two@example.org"), Password: ptr("pw-12345678")},
		}
		out, errs := m.CreateMany(ctx, drafts)
		if len(out) != len(drafts) || len(errs) != len(drafts) {
			t.Fatalf("got %d results and %d errors for %d drafts", len(out), len(errs), len(drafts))
		}
		wantCode := []int{0, 409, 400, 409, 0}
		for k, c := range wantCode {
			if code(errs[k]) != c {
				t.Errorf("draft %d: error %v; want status %d", k, errs[k], c)
			}
			if (c == 0) != (out[k] != nil) {
				t.Errorf("draft %d: identity %v with error %v", k, out[k], errs[k])
			}
		}
		if n, _ := m.Count(ctx); n != 3 {
			t.Errorf("Count = %d; want the existing identity and the two good drafts", n)
		}
		for _, k := range []int{0, 4} {
			got, err := m.Get(ctx, out[k].ID)
			if err != nil || len(got.Credentials[CredentialsPassword].Identifiers) != 1 {
				t.Errorf("draft %d not stored completely: %v", k, err)
			}
		}
		if _, err := m.Get(ctx, existing.ID); err != nil {
			t.Error(err)
		}
		out, errs = m.CreateMany(ctx, nil)
		if len(out) != 0 || len(errs) != 0 {
			t.Errorf("empty batch: %v, %v", out, errs)
		}
	})
}

func TestAddressSyncOnUpdate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newTwoAddressManager(t, s)
		verifiedAt := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
		orig := mustCreate(t, m, Draft{
			Traits:            json.RawMessage(`{"email": "Main@example.org", "backup": "old-backup@example.org"}`),
			VerifiedAddresses: map[string]*time.Time{"email:main@example.org": &verifiedAt, "email:old-backup@example.org": nil},
		})
		if len(orig.VerifiableAddresses) != 2 {
			t.Fatalf("verifiable addresses: %+v", orig.VerifiableAddresses)
		}
		for _, a := range orig.VerifiableAddresses {
			if !a.Verified || a.Status != AddressStatusCompleted || a.VerifiedAt == nil {
				t.Errorf("address %s not created verified: %+v", a.Value, a)
			}
		}
		mainV, mainR := orig.VerifiableAddresses[0], orig.RecoveryAddresses[0]
		if mainV.Value != "main@example.org" || !mainV.VerifiedAt.Equal(verifiedAt) {
			t.Fatalf("main address = %+v; want verified at the given time", mainV)
		}

		time.Sleep(2 * time.Millisecond)
		if _, err := m.Replace(ctx, orig.ID, Draft{State: StateActive,
			Traits: json.RawMessage(`{"email": "main@example.org", "backup": "new-backup@example.org"}`)}); err != nil {
			t.Fatal(err)
		}
		got, err := m.Get(ctx, orig.ID)
		if err != nil {
			t.Fatal(err)
		}
		byValue := map[string]VerifiableAddress{}
		for _, a := range got.VerifiableAddresses {
			byValue[a.Value] = a
		}
		if len(byValue) != 2 {
			t.Fatalf("verifiable addresses after update: %+v", got.VerifiableAddresses)
		}
		kept := byValue["main@example.org"]
		if kept.ID != mainV.ID || !kept.Verified || kept.Status != AddressStatusCompleted || kept.VerifiedAt == nil || !kept.VerifiedAt.Equal(verifiedAt) {
			t.Errorf("unchanged address = %+v; want it kept with its id and verified state (%+v)", kept, mainV)
		}
		added := byValue["new-backup@example.org"]
		if added.Verified || added.Status != AddressStatusPending || added.VerifiedAt != nil {
			t.Errorf("new address = %+v; want pending and unverified", added)
		}
		if _, ok := byValue["old-backup@example.org"]; ok {
			t.Error("the removed address is still listed")
		}
		for _, table := range []string{"identity_verifiable_addresses", "identity_recovery_addresses"} {
			var n int
			if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE value = $1`, "old-backup@example.org").Scan(&n); err != nil || n != 0 {
				t.Errorf("%s still holds the removed address (%d, %v)", table, n, err)
			}
		}
		var keptR bool
		for _, a := range got.RecoveryAddresses {
			if a.Value == "main@example.org" && a.ID == mainR.ID {
				keptR = true
			}
		}
		if !keptR || len(got.RecoveryAddresses) != 2 {
			t.Errorf("recovery addresses = %+v; want main kept by id and the new backup added", got.RecoveryAddresses)
		}
		// The removed address is free for somebody else.
		mustCreate(t, m, Draft{Traits: json.RawMessage(`{"email": "old-backup@example.org"}`)})
	})
}

func TestViewShapes(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	i := &Identity{
		ID: uuid.New(), SchemaID: "default", State: StateActive, StateChangedAt: &now,
		Traits:        json.RawMessage(`{"email":"a@example.org"}`),
		MetadataAdmin: json.RawMessage(`{"secret":"admin-only"}`),
		VerifiableAddresses: []VerifiableAddress{{ID: uuid.New(), Via: "email", Value: "a@example.org", Status: AddressStatusPending,
			CreatedAt: now, UpdatedAt: now}},
		Credentials: map[string]*Credential{
			CredentialsPassword: {ID: uuid.New(), Type: CredentialsPassword, Identifiers: []string{"a@example.org"},
				Config: json.RawMessage(`{"hashed_password":"$2a$04$x"}`), CreatedAt: now, UpdatedAt: now},
			"oidc": {ID: uuid.New(), Type: "oidc", Config: json.RawMessage(`{"providers":[]}`), CreatedAt: now, UpdatedAt: now},
		},
		CreatedAt: now, UpdatedAt: now,
	}
	render := func(o ViewOptions) map[string]any {
		raw, err := json.Marshal(i.View(o))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}

	public := render(ViewOptions{SchemaURL: "http://public.test/schemas/ZGVmYXVsdA", IncludeConfig: []string{"password"}})
	for _, k := range []string{"credentials", "metadata_admin", "recovery_addresses", "external_id"} {
		if _, ok := public[k]; ok {
			t.Errorf("public view has %q", k)
		}
	}
	for _, k := range []string{"metadata_public", "organization_id"} {
		if v, ok := public[k]; !ok || v != nil {
			t.Errorf("public view %q = %v (present %v); want null", k, v, ok)
		}
	}
	if public["schema_url"] != "http://public.test/schemas/ZGVmYXVsdA" || public["state"] != "active" || public["created_at"] != "2024-01-02T03:04:05Z" {
		t.Errorf("public view = %v", public)
	}

	admin := render(ViewOptions{Admin: true})
	if md, _ := admin["metadata_admin"].(map[string]any); md["secret"] != "admin-only" {
		t.Errorf("admin view metadata_admin = %v", admin["metadata_admin"])
	}
	creds, _ := admin["credentials"].(map[string]any)
	pw, _ := creds["password"].(map[string]any)
	if pw == nil || pw["type"] != "password" || pw["identifiers"].([]any)[0] != "a@example.org" {
		t.Fatalf("admin credentials = %v", admin["credentials"])
	}
	if _, ok := pw["config"]; ok {
		t.Error("admin view reveals the password config without IncludeConfig")
	}
	oidc, _ := creds["oidc"].(map[string]any)
	if ids, ok := oidc["identifiers"].([]any); !ok || len(ids) != 0 {
		t.Errorf("credential without identifiers = %v; want []", oidc["identifiers"])
	}

	withConfig := render(ViewOptions{Admin: true, IncludeConfig: []string{"password"}})
	creds, _ = withConfig["credentials"].(map[string]any)
	pw, _ = creds["password"].(map[string]any)
	if cfg, _ := pw["config"].(map[string]any); cfg["hashed_password"] != "$2a$04$x" {
		t.Errorf("IncludeConfig password: config = %v", pw["config"])
	}
	if oidc, _ := creds["oidc"].(map[string]any); oidc["config"] != nil {
		t.Errorf("IncludeConfig password also revealed oidc's config")
	}
}

func TestSchemaURL(t *testing.T) {
	m := NewManager(nil, nil, nil, "https://id.example.com/base")
	if got := m.SchemaURL("default"); got != "https://id.example.com/base/schemas/ZGVmYXVsdA" {
		t.Errorf("SchemaURL = %q", got)
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
