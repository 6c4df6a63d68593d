package password

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

var ctx = context.Background()

type fixture struct {
	ids *identity.Manager
	h   *hasher.Hasher
	st  *Strategy
	sch *schema.Schema
}

func newFixture(t *testing.T, s *store.Store, p Policy) *fixture {
	t.Helper()
	ids, h := identitytest.NewManager(t, s, "https://auth.example.com/")
	return &fixture{ids: ids, h: h, st: New(ids, h, p), sch: ids.Schemas().Default()}
}

// only returns the single message of a FormError on field.
func only(t *testing.T, err error, field string) *text.Message {
	t.Helper()
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != field {
		t.Fatalf("error %v; want one message on %q", err, field)
	}
	return fe[0].Message
}

func TestPolicy(t *testing.T) {
	f := newFixture(t, nil, Policy{MinLength: 8, IdentifierSimilarity: true})

	m := f.st.checkLocally("short", nil)
	if m == nil || m.ID != 4000032 || m.Type != text.Error || m.Context["min_length"] != 8 || m.Context["actual_length"] != 5 {
		t.Errorf("too short: %+v", m)
	}
	// Length counts characters, not bytes.
	if m := f.st.checkLocally("äöüßäöüß", nil); m != nil {
		t.Errorf("8 non-ASCII characters: %+v", m)
	}
	if m := f.st.checkLocally("ääää", nil); m == nil || m.Context["actual_length"] != 4 {
		t.Errorf("4 non-ASCII characters: %+v", m)
	}
	long := strings.Repeat("x", f.h.MaxPasswordBytes()+1)
	if m := f.st.checkLocally(long, nil); m == nil || m.ID != 4000033 || m.Context["max_length"] != 72 || m.Context["actual_length"] != 73 {
		t.Errorf("too long: %+v", m)
	}
	if m := f.st.checkLocally(strings.Repeat("x", 72), nil); m != nil {
		t.Errorf("72 bytes: %+v", m)
	}
	if m := f.st.checkLocally("Example.org1", []string{"alice@example.org"}); m == nil || m.ID != 4000031 {
		t.Errorf("similar to the identifier: %+v", m)
	}
	if m := f.st.checkLocally("correct horse battery staple", []string{"alice@example.org"}); m != nil {
		t.Errorf("unrelated password: %+v", m)
	}

	lax := New(f.ids, f.h, Policy{})
	if lax.policy.MinLength != 8 {
		t.Errorf("default minimum length %d", lax.policy.MinLength)
	}
	if m := lax.checkLocally("alice@example.org", []string{"alice@example.org"}); m != nil {
		t.Errorf("similarity checked although disabled: %+v", m)
	}
}

func TestTooSimilar(t *testing.T) {
	cases := []struct {
		identifier, password string
		want                 bool
	}{
		{"alice@example.org", "Example.org1", true},
		{"alice@example.org", "alice@example.org", true},
		{"alice@example.org", "ALICE@EXAMPLE.ORG", true},
		{"alice@example.org", "alice123", true},
		{"bob", "bob", true},
		{"jo@x.io", "jo@x.io!!", true},
		{"alice@example.org", "correct horse battery staple", false},
		{"alice@example.org", "mypassword-alic", false},
		{"alice@example.org", "zq8#Lm2!vR", false},
		{"bob", "bobby-tables-drop-everything", false},
		{"", "anything", false},
		{"ab", "ab-long-password", false},
	}
	for _, c := range cases {
		if got := tooSimilar(c.identifier, c.password); got != c.want {
			t.Errorf("tooSimilar(%q, %q) = %v; want %v", c.identifier, c.password, got, c.want)
		}
	}
	if l := longestCommonSubstring("abcdef", "xxcdeyy"); l != 3 {
		t.Errorf("longestCommonSubstring = %d", l)
	}
	if l := longestCommonSubstring(strings.Repeat("a", 2000), "a"); l != 0 {
		t.Errorf("long inputs are not bounded: %d", l)
	}
}

func TestRegister(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s, Policy{MinLength: 10, IdentifierSimilarity: true})
		traits := map[string]any{"email": "Reg@Example.org"}

		m := only(t, f.register(traits, "short"), "password")
		if m.ID != 4000032 || m.Context["min_length"] != 10 || m.Context["actual_length"] != 5 {
			t.Errorf("short password: %+v", m)
		}
		if m := only(t, f.register(traits, ""), "password"); m.ID != 4000002 {
			t.Errorf("missing password: %+v", m)
		}
		if m := only(t, f.register(traits, "reg@example.org!"), "password"); m.ID != 4000031 {
			t.Errorf("password like the identifier: %+v", m)
		}
		_, err := f.st.Register(ctx, f.sch, map[string]any{"email": "nope"}, "correct horse battery")
		if m := only(t, err, "traits.email"); m.ID == 0 || m.Type != text.Error {
			t.Errorf("schema violation: %+v", m)
		}

		p, err := f.st.Register(ctx, f.sch, traits, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		var i *identity.Identity
		if err := s.Write(ctx, func(q *store.Q) (err error) { i, err = p.Insert(ctx, q); return err }); err != nil {
			t.Fatal(err)
		}
		got, err := f.st.Login(ctx, flow.Payload{"identifier": "reg@example.org", "password": "correct horse battery"})
		if err != nil || got.ID != i.ID {
			t.Errorf("Login after Register: %v", err)
		}
	})
}

// register runs Register with the default schema and keeps the error.
func (f *fixture) register(traits map[string]any, password string) error {
	_, err := f.st.Register(ctx, f.sch, traits, password)
	return err
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestLogin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s, Policy{})
		pw := "the right password"
		i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"Login@Example.org"}`), Password: &pw})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"login@example.org", "LOGIN@example.org", " login@example.org "} {
			got, err := f.st.Login(ctx, flow.Payload{"identifier": id, "password": pw})
			if err != nil || got.ID != i.ID {
				t.Errorf("Login(%q) = %v", id, err)
			}
		}
		if got, err := f.st.Login(ctx, flow.Payload{"password_identifier": "login@example.org", "password": pw}); err != nil || got.ID != i.ID {
			t.Errorf("Login with the legacy password_identifier: %v", err)
		}

		_, wrong := f.st.Login(ctx, flow.Payload{"identifier": "login@example.org", "password": "the wrong password"})
		_, unknown := f.st.Login(ctx, flow.Payload{"identifier": "nobody@example.org", "password": pw})
		if m := only(t, wrong, ""); m.ID != 4000006 {
			t.Errorf("wrong password: %+v", m)
		}
		// An unknown identifier must look exactly like a wrong password.
		if !reflect.DeepEqual(wrong, unknown) {
			t.Errorf("unknown identifier %#v differs from wrong password %#v", unknown, wrong)
		}
		a, _ := json.Marshal(wrong)
		b, _ := json.Marshal(unknown)
		if string(a) != string(b) {
			t.Errorf("JSON differs: %s vs %s", a, b)
		}

		var fe flow.FormError
		_, err = f.st.Login(ctx, flow.Payload{})
		if !errors.As(err, &fe) || len(fe) != 2 || fe[0].Field != "identifier" || fe[1].Field != "password" || fe[0].Message.ID != 4000002 {
			t.Errorf("empty submission: %v", err)
		}
		_, err = f.st.Login(ctx, flow.Payload{"identifier": 5, "password": pw})
		if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Field != "identifier" {
			t.Errorf("identifier of the wrong type: %v", err)
		}

		// A deactivated identity cannot sign in, and says so no differently.
		if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: i.Traits, State: identity.StateInactive}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Login(ctx, flow.Payload{"identifier": "login@example.org", "password": pw}); !reflect.DeepEqual(err, wrong) {
			t.Errorf("inactive identity: %v", err)
		}

		// An identity without a password credential.
		if _, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"nopw@example.org"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Login(ctx, flow.Payload{"identifier": "nopw@example.org", "password": "x"}); !reflect.DeepEqual(err, wrong) {
			t.Errorf("identity without a password: %v", err)
		}
	})
}

func TestLoginUpgradesImportedHash(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s, Policy{})
		imported := "{SSHA}JFZFs0oHzxbMwkSJmYVeI8MnTDy/276a" // "test123"
		i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"import@example.org"}`), HashedPassword: &imported})
		if err != nil {
			t.Fatal(err)
		}
		if !f.h.NeedsRehash([]byte(imported)) {
			t.Fatal("the imported hash does not need a rehash; the test proves nothing")
		}
		if _, err := f.st.Login(ctx, flow.Payload{"identifier": "import@example.org", "password": "wrong"}); err == nil {
			t.Fatal("a wrong password signed in")
		}
		if h := storedHash(t, f, i); h != imported {
			t.Errorf("a failed login changed the hash to %q", h)
		}
		if _, err := f.st.Login(ctx, flow.Payload{"identifier": "import@example.org", "password": "test123"}); err != nil {
			t.Fatal(err)
		}
		upgraded := storedHash(t, f, i)
		if upgraded == imported || !strings.HasPrefix(upgraded, "$2a$04$") || f.h.NeedsRehash([]byte(upgraded)) {
			t.Errorf("hash after login = %q; want a fresh bcrypt cost 4 hash", upgraded)
		}
		if err := f.h.Compare(ctx, []byte("test123"), []byte(upgraded)); err != nil {
			t.Errorf("the upgraded hash does not verify: %v", err)
		}
		if _, err := f.st.Login(ctx, flow.Payload{"identifier": "import@example.org", "password": "test123"}); err != nil {
			t.Errorf("login with the upgraded hash: %v", err)
		}
		if h := storedHash(t, f, i); h != upgraded {
			t.Error("a current hash was rehashed again")
		}
	})
}

func storedHash(t *testing.T, f *fixture, i *identity.Identity) string {
	t.Helper()
	got, err := f.ids.Get(ctx, i.ID)
	if err != nil {
		t.Fatal(err)
	}
	var cfg identity.PasswordConfig
	if err := json.Unmarshal(got.Credentials[identity.CredentialsPassword].Config, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.HashedPassword
}

func TestCheckNew(t *testing.T) {
	f := newFixture(t, nil, Policy{MinLength: 8, IdentifierSimilarity: true})
	withPassword := &identity.Identity{SchemaID: "default", Traits: json.RawMessage(`{"email":"new@example.org"}`),
		Credentials: map[string]*identity.Credential{identity.CredentialsPassword: {Identifiers: []string{"new@example.org"}}}}
	withoutPassword := &identity.Identity{SchemaID: "default", Traits: json.RawMessage(`{"email":"new@example.org"}`),
		Credentials: map[string]*identity.Credential{}}
	for name, i := range map[string]*identity.Identity{"with password": withPassword, "without password": withoutPassword} {
		if m := only(t, f.st.CheckNew(ctx, i, "new@example.org1"), "password"); m.ID != 4000031 {
			t.Errorf("%s: similar password: %+v", name, m)
		}
		if m := only(t, f.st.CheckNew(ctx, i, ""), "password"); m.ID != 4000002 {
			t.Errorf("%s: empty password: %+v", name, m)
		}
		if err := f.st.CheckNew(ctx, i, "correct horse battery"); err != nil {
			t.Errorf("%s: good password: %v", name, err)
		}
	}
}

func TestNodes(t *testing.T) {
	f := newFixture(t, nil, Policy{})
	lf := flow.New(flow.Login, flow.TypeBrowser, httptest.NewRequest("GET", "/", nil), "https://auth.example.com/", time.Hour)
	f.st.LoginNodes(lf, f.sch, nil)
	id, pw, submit := lf.UI.Find("identifier"), lf.UI.Find("password"), lf.UI.Find("method")
	if id == nil || pw == nil || submit == nil {
		t.Fatalf("login nodes: %+v", lf.UI.Nodes)
	}
	if id.Attributes.Type != "text" || !id.Attributes.Required || id.Meta.Label.Text != "E-Mail" || id.Group != flow.GroupDefault {
		t.Errorf("identifier node = %+v, label %+v", id.Attributes, id.Meta.Label)
	}
	if pw.Attributes.Type != "password" || pw.Attributes.Autocomplete != "current-password" || pw.Group != ID {
		t.Errorf("password node = %+v", pw.Attributes)
	}
	if submit.Attributes.Type != "submit" || submit.Attributes.Value != "password" || submit.Meta.Label.ID != 1010022 {
		t.Errorf("submit node = %+v", submit.Attributes)
	}

	// Refreshing fixes the identifier to the signed-in identity's.
	rf := flow.New(flow.Login, flow.TypeBrowser, httptest.NewRequest("GET", "/", nil), "https://auth.example.com/", time.Hour)
	f.st.LoginNodes(rf, f.sch, &identity.Identity{Credentials: map[string]*identity.Credential{
		identity.CredentialsPassword: {Identifiers: []string{"me@example.org"}}}})
	if n := rf.UI.Find("identifier"); n.Attributes.Type != "hidden" || n.Attributes.Value != "me@example.org" {
		t.Errorf("refresh identifier node = %+v", n.Attributes)
	}
	// A second strategy does not add a second identifier.
	f.st.LoginNodes(rf, f.sch, nil)
	count := 0
	for _, n := range rf.UI.Nodes {
		if n.Attributes.Name == "identifier" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d identifier nodes", count)
	}

	regf := flow.New(flow.Registration, flow.TypeBrowser, httptest.NewRequest("GET", "/", nil), "https://auth.example.com/", time.Hour)
	f.st.RegistrationNodes(regf)
	if n := regf.UI.Find("password"); n == nil || n.Attributes.Autocomplete != "new-password" {
		t.Errorf("registration password node = %+v", n)
	}
	if n := regf.UI.Find("method"); n == nil || n.Meta.Label.ID != 1040001 {
		t.Errorf("registration submit = %+v", n)
	}
	sf := flow.New(flow.Settings, flow.TypeBrowser, httptest.NewRequest("GET", "/", nil), "https://auth.example.com/", time.Hour)
	f.st.SettingsNodes(sf)
	if n := sf.UI.Find("method"); n == nil || n.Meta.Label.ID != 1070003 {
		t.Errorf("settings submit = %+v", n)
	}
	if f.st.ID() != "password" {
		t.Errorf("ID = %q", f.st.ID())
	}
}

func TestIdentifierLabel(t *testing.T) {
	f := newFixture(t, nil, Policy{})
	if m := flow.IdentifierLabel(f.sch); m.ID != 1070002 || m.Text != "E-Mail" {
		t.Errorf("one titled identifier: %+v", m)
	}
	two := `{"type":"object","properties":{"traits":{"type":"object","properties":{
		"email":{"type":"string","title":"Email","ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}},
		"username":{"type":"string","title":"Username","ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}}}}}}`
	untitled := `{"type":"object","properties":{"traits":{"type":"object","properties":{
		"username":{"type":"string","ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}}}}}}`
	for name, raw := range map[string]string{"two identifiers": two, "untitled": untitled} {
		reg, err := schema.Load(ctx, []schema.Source{{ID: "x", URL: "base64://" + b64(raw)}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if m := flow.IdentifierLabel(reg.Default()); m.ID != 1070004 {
			t.Errorf("%s: label %+v; want the generic ID label", name, m)
		}
	}
}
