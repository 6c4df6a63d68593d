package securitykey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Mode picks the ceremony options of a method.
type Mode int

const (
	// WebAuthn is a security key as a second factor or a passwordless
	// first factor: user verification discouraged, 120 s, any attachment.
	WebAuthn Mode = iota
	// Passkey is a discoverable credential on the user's device: platform
	// attachment, resident key required, user verification preferred, 300 s.
	Passkey
)

// Config is a method's relying party config.
type Config struct {
	RPID, RPDisplayName string
	// Origins are the page origins ceremonies may come from; empty means
	// ["<public scheme>://<RPID>"], as Kratos defaults them.
	Origins []string
}

// RP is a relying party for one mode.
type RP struct {
	lib  *webauthn.WebAuthn
	mode Mode
	uv   protocol.UserVerificationRequirement // asked of every ceremony
}

// ErrInvalid is any failed ceremony: bad signature, wrong origin, wrong
// challenge, expired, malformed. The error returned wraps it and the
// library's reason, which is safe to log (it carries no key material).
var ErrInvalid = errors.New("securitykey: the security key's answer is not valid")

// ErrCloned is an assertion whose sign count did not go up past the stored
// one: the key may have been cloned, so the login is refused.
var ErrCloned = errors.New("securitykey: the security key's sign count did not increase")

// User is who a ceremony is for.
type User struct {
	// Handle is the WebAuthn user handle (user.id), at most 64 bytes.
	Handle []byte
	// Name and DisplayName are shown by the authenticator; empty means the
	// RP display name.
	Name, DisplayName string
	Keys              []Key
}

// New makes the relying party of cfg for mode; publicURL gives the scheme
// of the default origin.
func New(cfg Config, publicURL string, mode Mode) (*RP, error) {
	if cfg.RPID == "" {
		return nil, errors.New("securitykey: the relying party id is empty")
	}
	if cfg.RPDisplayName == "" {
		return nil, errors.New("securitykey: the relying party display name is empty")
	}
	origins := cfg.Origins
	if len(origins) == 0 {
		pub, err := url.Parse(publicURL)
		if err != nil || pub.Scheme == "" {
			return nil, fmt.Errorf("securitykey: public URL %q has no scheme for the default origin", publicURL)
		}
		origins = []string{pub.Scheme + "://" + cfg.RPID}
	}
	c := &webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     origins,
		// Attestation is left unset, as Kratos leaves it: clients then
		// default to "none".
	}
	var timeout time.Duration
	switch mode {
	case WebAuthn:
		timeout = 120 * time.Second
		c.AuthenticatorSelection = protocol.AuthenticatorSelection{UserVerification: protocol.VerificationDiscouraged}
	case Passkey:
		timeout = 300 * time.Second
		c.AuthenticatorSelection = protocol.AuthenticatorSelection{
			AuthenticatorAttachment: protocol.Platform,
			RequireResidentKey:      protocol.ResidentKeyRequired(),
			ResidentKey:             protocol.ResidentKeyRequirementRequired,
			// A passkey is the only factor of its sign-in: the person must be
			// verified (PIN, biometrics), not just present. Kratos only
			// prefers it.
			UserVerification: protocol.VerificationRequired,
		}
	default:
		return nil, fmt.Errorf("securitykey: unknown mode %d", mode)
	}
	// Not enforced by the server: a ceremony lives as long as its flow.
	t := webauthn.TimeoutConfig{Timeout: timeout, TimeoutUVD: timeout}
	c.Timeouts = webauthn.TimeoutsConfig{Login: t, Registration: t}
	lib, err := webauthn.New(c)
	if err != nil {
		return nil, fmt.Errorf("securitykey: %w", err)
	}
	return &RP{lib: lib, mode: mode, uv: c.AuthenticatorSelection.UserVerification}, nil
}

// BeginRegistration starts adding a key for u; u's present keys are
// excluded so the same authenticator is not added twice.
func (rp *RP) BeginRegistration(u User) (options, session json.RawMessage, err error) {
	var exclude []protocol.CredentialDescriptor
	for _, k := range u.Keys {
		c := k.credential()
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := rp.lib.BeginRegistration(rp.user(u, nil), webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, fmt.Errorf("securitykey: begin registration: %w", err)
	}
	return marshalCeremony(creation, sd)
}

// FinishRegistration checks the browser's answer to the options of session
// and returns the new key, marked passwordless or not and named
// displayName.
func (rp *RP) FinishRegistration(u User, session, response json.RawMessage, passwordless bool, displayName string) (Key, error) {
	sd, err := readSession(session)
	if err != nil {
		return Key{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Key{}, invalid(err)
	}
	cred, err := rp.lib.CreateCredential(rp.user(u, nil), sd, parsed)
	if err != nil {
		return Key{}, invalid(err)
	}
	for _, k := range u.Keys {
		if bytes.Equal(k.ID, cred.ID) {
			return Key{}, invalid(errors.New("the key is already registered"))
		}
	}
	k := keyOf(cred)
	k.DisplayName = displayName
	k.IsPasswordless = passwordless
	k.AddedAt = time.Now().UTC().Round(time.Second)
	return k, nil
}

// BeginLogin starts a login with one of u's keys (allowCredentials).
func (rp *RP) BeginLogin(u User) (options, session json.RawMessage, err error) {
	if len(u.Keys) == 0 {
		return nil, nil, fmt.Errorf("%w: the user has no keys", ErrInvalid)
	}
	assertion, sd, err := rp.lib.BeginLogin(rp.user(u, nil), webauthn.WithUserVerification(rp.uv))
	if err != nil {
		return nil, nil, fmt.Errorf("securitykey: begin login: %w", err)
	}
	return marshalCeremony(assertion, sd)
}

// FinishLogin checks the assertion against u's keys and returns the used
// key with its sign count and flags updated. On ErrCloned the key comes
// back too, with clone_warning set, for the caller to record.
func (rp *RP) FinishLogin(u User, session, response json.RawMessage) (Key, error) {
	sd, err := readSession(session)
	if err != nil {
		return Key{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Key{}, invalid(err)
	}
	wu := rp.user(u, parsed)
	cred, err := rp.lib.ValidateLogin(wu, sd, parsed)
	if err != nil {
		return Key{}, invalid(err)
	}
	return used(u.Keys, cred)
}

// BeginDiscoverableLogin starts a login for whoever the authenticator
// names (no allowCredentials).
func (rp *RP) BeginDiscoverableLogin() (options, session json.RawMessage, err error) {
	assertion, sd, err := rp.lib.BeginDiscoverableLogin(webauthn.WithUserVerification(rp.uv))
	if err != nil {
		return nil, nil, fmt.Errorf("securitykey: begin login: %w", err)
	}
	return marshalCeremony(assertion, sd)
}

// FinishDiscoverableLogin checks the assertion against the user find
// returns for the user handle the authenticator sent. An error of find
// comes back wrapped in ErrInvalid (errors.Is finds both).
func (rp *RP) FinishDiscoverableLogin(session, response json.RawMessage, find func(userHandle []byte) (User, error)) (User, Key, error) {
	sd, err := readSession(session)
	if err != nil {
		return User{}, Key{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return User{}, Key{}, invalid(err)
	}
	var (
		found   User
		findErr error
	)
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		found, findErr = find(userHandle)
		if findErr != nil {
			return nil, findErr
		}
		return rp.user(found, parsed), nil
	}
	_, cred, err := rp.lib.ValidatePasskeyLogin(handler, sd, parsed)
	if findErr != nil {
		return User{}, Key{}, fmt.Errorf("%w: finding the user: %w", ErrInvalid, findErr)
	}
	if err != nil {
		return User{}, Key{}, invalid(err)
	}
	k, err := used(found.Keys, cred)
	return found, k, err
}

// UpdateKey returns keys with the entry of used's ID replaced by used.
func UpdateKey(keys []Key, used Key) []Key {
	out := make([]Key, len(keys))
	copy(out, keys)
	for i := range out {
		if bytes.Equal(out[i].ID, used.ID) {
			out[i] = used
		}
	}
	return out
}

// used merges what the library learnt from an assertion (sign count,
// flags, clone warning) into the stored entry the assertion was made with.
func used(keys []Key, cred *webauthn.Credential) (Key, error) {
	var k Key
	for _, stored := range keys {
		if bytes.Equal(stored.ID, cred.ID) {
			k = stored.clone()
			break
		}
	}
	if k.ID == nil {
		// The library only validates against keys it was given.
		return Key{}, invalid(errors.New("the assertion names no stored key"))
	}
	if k.Authenticator == nil {
		k.Authenticator = &Authenticator{}
	}
	k.Authenticator.SignCount = cred.Authenticator.SignCount
	k.Flags = &Flags{
		UserPresent:    cred.Flags.UserPresent,
		UserVerified:   cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible,
		BackupState:    cred.Flags.BackupState,
	}
	if cred.Authenticator.CloneWarning {
		k.Authenticator.CloneWarning = true
		return k, ErrCloned
	}
	return k, nil
}

// invalid wraps a library error as ErrInvalid, keeping its reason for logs.
func invalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalid, err) }

func marshalCeremony(options any, sd *webauthn.SessionData) (json.RawMessage, json.RawMessage, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("securitykey: options: %w", err)
	}
	s, err := json.Marshal(sd)
	if err != nil {
		return nil, nil, fmt.Errorf("securitykey: session: %w", err)
	}
	return o, s, nil
}

func readSession(raw json.RawMessage) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if len(raw) == 0 || string(raw) == "null" {
		return sd, fmt.Errorf("%w: no ceremony was begun", ErrInvalid)
	}
	if err := json.Unmarshal(raw, &sd); err != nil {
		return sd, fmt.Errorf("%w: the stored ceremony is unreadable: %w", ErrInvalid, err)
	}
	if sd.Challenge == "" {
		return sd, fmt.Errorf("%w: the stored ceremony has no challenge", ErrInvalid)
	}
	return sd, nil
}
