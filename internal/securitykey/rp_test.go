package securitykey

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/lanyard-id/lanyard/internal/securitykey/keytest"
)

const (
	testRPID   = "example.org"
	testOrigin = "https://example.org"
)

// device is a software authenticator holding one credential.
type device struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newDevice(handle []byte) *device {
	d := &device{
		rp:   virtualwebauthn.RelyingParty{ID: testRPID, Name: "Example", Origin: testOrigin},
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: handle}),
		cred: keytest.NewCredential(),
	}
	d.auth.AddCredential(d.cred)
	return d
}

func (d *device) create(t *testing.T, options json.RawMessage) json.RawMessage {
	t.Helper()
	o, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		t.Fatalf("options the browser cannot use: %v\n%s", err, options)
	}
	return json.RawMessage(virtualwebauthn.CreateAttestationResponse(d.rp, d.auth, d.cred, *o))
}

// get answers options with the next sign count.
func (d *device) get(t *testing.T, options json.RawMessage) json.RawMessage {
	t.Helper()
	o, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		t.Fatalf("options the browser cannot use: %v\n%s", err, options)
	}
	d.cred.Counter++
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(d.rp, d.auth, d.cred, *o))
}

func newRP(t *testing.T, mode Mode) *RP {
	t.Helper()
	rp, err := New(Config{RPID: testRPID, RPDisplayName: "Example", Origins: []string{testOrigin}}, "https://auth.example.org", mode)
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// register adds a key for u through rp and d, and returns u with it.
func register(t *testing.T, rp *RP, d *device, u User, passwordless bool) User {
	t.Helper()
	options, session, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	k, err := rp.FinishRegistration(u, session, d.create(t, options), passwordless, "my key")
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	u.Keys = append(u.Keys, k)
	return u
}

// enrolled is a security-key relying party, and a user whose device's
// key it registered as a second factor.
func enrolled(t *testing.T) (*RP, *device, User) {
	t.Helper()
	rp := newRP(t, WebAuthn)
	u := User{Handle: []byte("0123456789abcdef")}
	d := newDevice(u.Handle)
	return rp, d, register(t, rp, d, u, false)
}

func TestRegisterThenLogIn(t *testing.T) {
	rp := newRP(t, WebAuthn)
	u := User{Handle: []byte("0123456789abcdef"), Name: "alice"}
	d := newDevice(u.Handle)
	u = register(t, rp, d, u, false)

	k := u.Keys[0]
	if !bytes.Equal(k.ID, d.cred.ID) || len(k.PublicKey) == 0 {
		t.Fatalf("key = %+v, want the device's credential", k)
	}
	if k.DisplayName != "my key" || k.IsPasswordless || k.AttestationType == "" {
		t.Errorf("key = %+v", k)
	}
	if k.AddedAt.Location() != time.UTC || k.AddedAt.Nanosecond() != 0 {
		t.Errorf("added_at = %v, want UTC whole seconds", k.AddedAt)
	}
	if k.Flags == nil || !k.Flags.UserPresent || k.Authenticator == nil || len(k.Authenticator.AAGUID) != 16 {
		t.Errorf("flags %+v authenticator %+v", k.Flags, k.Authenticator)
	}

	options, session, err := rp.BeginLogin(u)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Challenge        string `json:"challenge"`
			Timeout          int    `json:"timeout"`
			UserVerification string `json:"userVerification"`
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	if o.PublicKey.Timeout != 120000 || o.PublicKey.UserVerification != "discouraged" ||
		len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != base64.RawURLEncoding.EncodeToString(k.ID) {
		t.Errorf("login options = %s", options)
	}

	got, err := rp.FinishLogin(u, session, d.get(t, options))
	if err != nil {
		t.Fatalf("login refused: %v", err)
	}
	if got.Authenticator.SignCount != 1 || got.DisplayName != "my key" || !got.AddedAt.Equal(k.AddedAt) {
		t.Errorf("used key = %+v, want sign count 1 and the stored entry's fields", got)
	}
	if u.Keys[0].Authenticator.SignCount != 0 {
		t.Error("FinishLogin changed the stored key in place")
	}
	if upd := UpdateKey(u.Keys, got); upd[0].Authenticator.SignCount != 1 || u.Keys[0].Authenticator.SignCount != 0 {
		t.Errorf("UpdateKey: %+v", upd[0].Authenticator)
	}
}

func TestPasskeyDiscoverableLogin(t *testing.T) {
	rp := newRP(t, Passkey)
	alice := User{Handle: []byte("alice-handle-0123456789"), Name: "alice"}
	bob := User{Handle: []byte("bob-handle-0123456789"), Name: "bob"}
	da, db := newDevice(alice.Handle), newDevice(bob.Handle)

	options, _, err := rp.BeginRegistration(alice)
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		PublicKey struct {
			Timeout int `json:"timeout"`
			User    struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"user"`
			AuthenticatorSelection struct {
				AuthenticatorAttachment string `json:"authenticatorAttachment"`
				RequireResidentKey      bool   `json:"requireResidentKey"`
				ResidentKey             string `json:"residentKey"`
				UserVerification        string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation *string `json:"attestation"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &reg); err != nil {
		t.Fatal(err)
	}
	sel := reg.PublicKey.AuthenticatorSelection
	if reg.PublicKey.Timeout != 300000 || sel.AuthenticatorAttachment != "platform" || !sel.RequireResidentKey ||
		sel.ResidentKey != "required" || sel.UserVerification != "required" || reg.PublicKey.Attestation != nil ||
		reg.PublicKey.User.ID != base64.RawURLEncoding.EncodeToString(alice.Handle) || reg.PublicKey.User.Name != "alice" {
		t.Errorf("passkey registration options = %s", options)
	}

	alice = register(t, rp, da, alice, true)
	bob = register(t, rp, db, bob, true)
	users := map[string]User{string(alice.Handle): alice, string(bob.Handle): bob}
	find := func(handle []byte) (User, error) {
		u, ok := users[string(handle)]
		if !ok {
			return User{}, errors.New("no such user")
		}
		return u, nil
	}

	options, session, err := rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(options, []byte("allowCredentials")) {
		t.Errorf("discoverable options name credentials: %s", options)
	}
	u, k, err := rp.FinishDiscoverableLogin(session, db.get(t, options), find)
	if err != nil {
		t.Fatalf("login refused: %v", err)
	}
	if u.Name != "bob" || !bytes.Equal(k.ID, db.cred.ID) || !k.IsPasswordless || k.Authenticator.SignCount != 1 {
		t.Errorf("found %q with %+v, want bob's key", u.Name, k)
	}

	// A handle no one has: the lookup's error comes back, as ErrInvalid.
	stranger := newDevice([]byte("nobody"))
	_, session, _ = rp.BeginDiscoverableLogin()
	if _, _, err := rp.FinishDiscoverableLogin(session, stranger.get(t, options), find); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown user handle: %v, want ErrInvalid", err)
	}
}

func TestRefusedAssertions(t *testing.T) {
	rp, d, u := enrolled(t)

	t.Run("wrong origin", func(t *testing.T) {
		options, session, _ := rp.BeginLogin(u)
		phish := *d
		phish.rp.Origin = "https://example.org.evil.test"
		if _, err := rp.FinishLogin(u, session, phish.get(t, options)); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})

	t.Run("challenge of another session", func(t *testing.T) {
		options, _, _ := rp.BeginLogin(u)
		_, other, _ := rp.BeginLogin(u)
		if _, err := rp.FinishLogin(u, other, d.get(t, options)); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})

	t.Run("tampered signature", func(t *testing.T) {
		options, session, _ := rp.BeginLogin(u)
		answer := tamper(t, d.get(t, options), "signature")
		if _, err := rp.FinishLogin(u, session, answer); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})

	t.Run("another user's key", func(t *testing.T) {
		mallory := User{Handle: []byte("mallory-handle")}
		md := newDevice(mallory.Handle)
		mallory = register(t, rp, md, mallory, false)
		options, session, _ := rp.BeginLogin(u)
		if _, err := rp.FinishLogin(u, session, md.get(t, options)); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		_, session, _ := rp.BeginLogin(u)
		for _, answer := range []string{``, `null`, `{}`, `"x"`, `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`} {
			if _, err := rp.FinishLogin(u, session, json.RawMessage(answer)); !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err = %v, want ErrInvalid", answer, err)
			}
		}
		if _, err := rp.FinishLogin(u, nil, json.RawMessage(`{}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("no session: err = %v, want ErrInvalid", err)
		}
		if _, err := rp.FinishLogin(u, json.RawMessage(`{"challenge":`), json.RawMessage(`{}`)); !errors.Is(err, ErrInvalid) {
			t.Errorf("broken session: err = %v, want ErrInvalid", err)
		}
	})

	t.Run("registration answer for a login", func(t *testing.T) {
		regOptions, _, _ := rp.BeginRegistration(User{Handle: []byte("someone")})
		_, session, _ := rp.BeginLogin(u)
		if _, err := rp.FinishLogin(u, session, newDevice(nil).create(t, regOptions)); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}

// TestReplayedAssertion: an assertion sent twice. Within the ceremony it
// was made for, its sign count is no longer above the stored one and the
// library raises a clone warning: ErrCloned. In any later ceremony the
// challenge differs: ErrInvalid. (The methods also clear the session after
// one use, so the first case only arises if that is bypassed.)
func TestReplayedAssertion(t *testing.T) {
	rp, d, u := enrolled(t)

	options, session, _ := rp.BeginLogin(u)
	answer := d.get(t, options)
	k, err := rp.FinishLogin(u, session, answer)
	if err != nil {
		t.Fatal(err)
	}
	u.Keys = UpdateKey(u.Keys, k)

	cloned, err := rp.FinishLogin(u, session, answer)
	if !errors.Is(err, ErrCloned) {
		t.Fatalf("same ceremony: err = %v, want ErrCloned", err)
	}
	if !cloned.Authenticator.CloneWarning || cloned.Authenticator.SignCount != 1 {
		t.Errorf("cloned key = %+v, want clone_warning and the old sign count", cloned.Authenticator)
	}

	_, later, _ := rp.BeginLogin(u)
	if _, err := rp.FinishLogin(u, later, answer); !errors.Is(err, ErrInvalid) {
		t.Errorf("later ceremony: err = %v, want ErrInvalid", err)
	}

	// A key once flagged (e.g. imported from Kratos, which keeps flagged
	// keys usable) still logs in when its count goes up.
	u.Keys[0].Authenticator.CloneWarning = true
	options, session, _ = rp.BeginLogin(u)
	if k, err := rp.FinishLogin(u, session, d.get(t, options)); err != nil || k.Authenticator.SignCount != 2 {
		t.Errorf("flagged key with a rising count: %+v, %v", k.Authenticator, err)
	}
}

func TestSessionSurvivesStorage(t *testing.T) {
	rp := newRP(t, WebAuthn)
	u := User{Handle: []byte("0123456789abcdef")}
	d := newDevice(u.Handle)

	options, session, err := rp.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	stored := reencode(t, session)
	k, err := rp.FinishRegistration(u, stored, d.create(t, options), true, "")
	if err != nil {
		t.Fatalf("registration after storage: %v", err)
	}
	u.Keys = []Key{k}

	options, session, _ = rp.BeginLogin(u)
	if _, err := rp.FinishLogin(u, reencode(t, session), d.get(t, options)); err != nil {
		t.Fatalf("login after storage: %v", err)
	}

	// The key, too, survives its JSON.
	raw, _ := json.Marshal(Credentials{Keys: u.Keys, UserHandle: u.Handle})
	c, err := Read(reencode(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	u.Keys = c.Keys
	options, session, _ = rp.BeginLogin(u)
	if _, err := rp.FinishLogin(u, session, d.get(t, options)); err != nil {
		t.Fatalf("login with a stored key: %v", err)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	rp := newRP(t, WebAuthn)
	u := User{Handle: []byte("0123456789abcdef")}
	d := newDevice(u.Handle)

	options, session, _ := rp.BeginRegistration(u)
	phish := *d
	phish.rp.Origin = "https://evil.test"
	if _, err := rp.FinishRegistration(u, session, phish.create(t, options), false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong origin: %v, want ErrInvalid", err)
	}
	if _, err := rp.FinishRegistration(User{Handle: []byte("other")}, session, d.create(t, options), false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("another user's session: %v, want ErrInvalid", err)
	}
	if _, err := rp.FinishRegistration(u, session, tamper(t, d.create(t, options), "attestationObject"), false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered attestation: %v, want ErrInvalid", err)
	}

	u = register(t, rp, d, u, false)
	options, session, _ = rp.BeginRegistration(u)
	if !bytes.Contains(options, []byte(base64.RawURLEncoding.EncodeToString(d.cred.ID))) {
		t.Errorf("present key not excluded: %s", options)
	}
	if _, err := rp.FinishRegistration(u, session, d.create(t, options), false, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("the same key again: %v, want ErrInvalid", err)
	}
}

func TestKeyJSON(t *testing.T) {
	raw := `{"credentials":[{"id":"AQID","public_key":"BAU=","attestation_type":"none",
		"authenticator":{"aaguid":"AAAAAAAAAAAAAAAAAAAAAA==","sign_count":7,"clone_warning":false},
		"display_name":"key","added_at":"2024-01-02T03:04:05Z","is_passwordless":true,
		"flags":{"user_present":true,"user_verified":false,"backup_eligible":true,"backup_state":false},
		"transport":["usb"]}],"user_handle":"aGFuZGxl"}`
	c, err := Read(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Keys[0]
	if string(c.UserHandle) != "handle" || !bytes.Equal(k.ID, []byte{1, 2, 3}) || k.HexID() != "010203" ||
		k.Authenticator.SignCount != 7 || !k.IsPasswordless || !k.Flags.BackupEligible || k.Transport[0] != "usb" {
		t.Errorf("read %+v", c)
	}
	out, _ := json.Marshal(c)
	var a, b any
	_ = json.Unmarshal([]byte(raw), &a)
	_ = json.Unmarshal(out, &b)
	if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
		t.Errorf("round trip:\n got %s\nwant %s", jb, ja)
	}

	for _, empty := range []string{"", "null"} {
		if c, err := Read(json.RawMessage(empty)); err != nil || c.Keys != nil {
			t.Errorf("Read(%q) = %+v, %v", empty, c, err)
		}
	}
	if _, err := Read(json.RawMessage(`{"credentials":5}`)); err == nil {
		t.Error("Read of a broken config succeeded")
	}
}

// TestLegacyKeyWithoutFlags: entries Kratos wrote before it kept flags
// take the backup flags of their first assertion.
func TestLegacyKeyWithoutFlags(t *testing.T) {
	rp := newRP(t, WebAuthn)
	u := User{Handle: []byte("0123456789abcdef")}
	d := newDevice(u.Handle)
	d.auth.Options.BackupEligible = true
	u = register(t, rp, d, u, false)
	u.Keys[0].Flags = nil

	options, session, _ := rp.BeginLogin(u)
	k, err := rp.FinishLogin(u, session, d.get(t, options))
	if err != nil {
		t.Fatalf("legacy key refused: %v", err)
	}
	if k.Flags == nil || !k.Flags.BackupEligible {
		t.Errorf("flags = %+v, want backup_eligible from the assertion", k.Flags)
	}
}

func TestNew(t *testing.T) {
	rp, err := New(Config{RPID: "example.org", RPDisplayName: "Example"}, "https://auth.example.org/", WebAuthn)
	if err != nil {
		t.Fatal(err)
	}
	if got := rp.lib.Config.RPOrigins; len(got) != 1 || got[0] != "https://example.org" {
		t.Errorf("default origins = %v", got)
	}
	for _, c := range []Config{
		{RPDisplayName: "Example"},
		{RPID: "example.org"},
		{RPID: "127.0.0.1", RPDisplayName: "Example"}, // an RP id is a domain
	} {
		if _, err := New(c, "https://example.org", WebAuthn); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
	if _, err := New(Config{RPID: "example.org", RPDisplayName: "x"}, "https://example.org", Mode(9)); err == nil {
		t.Error("unknown mode accepted")
	}
}

// tamper flips a bit of a base64url field of response in an answer.
func tamper(t *testing.T, answer json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var a map[string]any
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatal(err)
	}
	resp := a["response"].(map[string]any)
	b, err := base64.RawURLEncoding.DecodeString(resp[name].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	resp[name] = base64.RawURLEncoding.EncodeToString(b)
	return json.RawMessage(mustJSON(a))
}

// reencode is raw after a trip through generic JSON, as a database's JSON
// column may return it (keys reordered, whitespace changed).
func reencode(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestPasskeyNeedsUserVerification: a passkey is a whole sign-in, so an
// authenticator that only saw someone present, not who, is refused.
func TestPasskeyNeedsUserVerification(t *testing.T) {
	rp := newRP(t, Passkey)
	handle := []byte("passkey-user-handle-uv")
	d := newDevice(handle)
	u := register(t, rp, d, User{Handle: handle, Name: "uv", DisplayName: "uv"}, true)
	options, session, err := rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	d.auth.Options.UserNotVerified = true
	find := func([]byte) (User, error) { return u, nil }
	if _, _, err := rp.FinishDiscoverableLogin(session, d.get(t, options), find); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an assertion without user verification: %v, want ErrInvalid", err)
	}
	d.auth.Options.UserNotVerified = false
	options, session, err = rp.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rp.FinishDiscoverableLogin(session, d.get(t, options), find); err != nil {
		t.Fatalf("a verified assertion: %v", err)
	}
}
