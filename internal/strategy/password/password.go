// Package password is the password method: its form inputs, sign-in by
// identifier and password, and sign-up with a password under the policy.
package password

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// ID is the method name in submissions and node groups.
const ID = "password"

// Policy is what a new password must satisfy.
type Policy struct {
	MinLength            int
	IdentifierSimilarity bool
	// Breaches, when set, is asked about passwords that pass every other
	// check; more than MaxBreaches appearances refuse the password.
	Breaches    Breaches
	MaxBreaches int
	// IgnoreBreachErrors accepts passwords that Breaches could not check.
	IgnoreBreachErrors bool
}

// Breaches tells how many times a password appears in known data
// breaches (breach.Client).
type Breaches interface {
	Check(ctx context.Context, password string) (int, error)
}

// ErrBreachCheckUnavailable answers a new password that could not be
// checked for breaches while such failures are not to be ignored: the
// range API, not the request, is at fault, hence 502 as in Kratos.
var ErrBreachCheckUnavailable = &wire.Error{
	Code: http.StatusBadGateway, Status: http.StatusText(http.StatusBadGateway),
	Message: "The password could not be checked against known data breaches. Please try again later.",
	Reason:  "Leaked password server unavailable",
}

// Strategy signs identities in and up with passwords.
type Strategy struct {
	ids    *identity.Manager
	hasher *hasher.Hasher
	policy Policy
}

// New wires the strategy.
func New(ids *identity.Manager, h *hasher.Hasher, p Policy) *Strategy {
	if p.MinLength <= 0 {
		p.MinLength = 8
	}
	return &Strategy{ids: ids, hasher: h, policy: p}
}

// ID names the method.
func (s *Strategy) ID() string { return ID }

// LoginNodes adds the identifier, password and submit inputs. When
// refreshing, the identifier is fixed to the signed-in identity's.
func (s *Strategy) LoginNodes(f *flow.Flow, sch *schema.Schema, refresh *identity.Identity) {
	if f.UI.Find("identifier") == nil {
		n := flow.Input(flow.GroupDefault, "identifier", "text", nil, flow.IdentifierLabel(sch)).Required().Autocomplete("username")
		if refresh != nil {
			if c := refresh.Credentials[identity.CredentialsPassword]; c != nil && len(c.Identifiers) > 0 {
				n.Attributes.Type, n.Attributes.Value = "hidden", c.Identifiers[0]
			}
		}
		f.UI.Add(n)
	}
	f.UI.Add(
		flow.Input(ID, "password", "password", nil, text.LabelPassword()).Required().Autocomplete("current-password"),
		flow.Submit(ID, "method", ID, text.LoginWithPassword()),
	)
}

// Login checks identifier and password. Unknown identifiers cost a hash
// comparison too, so that timing does not tell which accounts exist.
func (s *Strategy) Login(ctx context.Context, p flow.Payload) (*identity.Identity, error) {
	identifier := p.String("identifier")
	if identifier == "" {
		identifier = p.String("password_identifier") // the pre-v0.10 field name
	}
	password := p.String("password")
	var missing flow.FormError
	if identifier == "" {
		missing = append(missing, flow.FieldError{Field: "identifier", Message: text.ValidationRequired("identifier")})
	}
	if password == "" {
		missing = append(missing, flow.FieldError{Field: "password", Message: text.ValidationRequired("password")})
	}
	if missing != nil {
		return nil, missing
	}

	i, err := s.ids.FindByIdentifier(ctx, identity.CredentialsPassword, identifier)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	var hash string
	var cred *identity.Credential
	if i != nil {
		cred = i.Credentials[identity.CredentialsPassword]
		if cred != nil {
			var cfg identity.PasswordConfig
			if err := json.Unmarshal(cred.Config, &cfg); err != nil {
				// Never "no password": a corrupt credential is the operator's to fix.
				return nil, fmt.Errorf("password: the stored credential %s is corrupt: %w", cred.ID, err)
			}
			hash = cfg.HashedPassword
		}
	}
	if hash == "" {
		_ = s.hasher.Compare(ctx, []byte(password), s.hasher.Dummy())
		return nil, flow.FormMessage(text.InvalidCredentials())
	}
	if err := s.hasher.Compare(ctx, []byte(password), []byte(hash)); err != nil {
		if !errors.Is(err, hasher.ErrMismatch) {
			slog.WarnContext(ctx, "stored password hash could not be checked", "identity", i.ID, "error", err)
		}
		return nil, flow.FormMessage(text.InvalidCredentials())
	}
	if i.State != identity.StateActive {
		return nil, flow.FormMessage(text.InvalidCredentials())
	}
	if s.hasher.NeedsRehash([]byte(hash)) {
		s.upgrade(ctx, cred, password)
	}
	return i, nil
}

// upgrade re-hashes an imported or outdated hash with the configured
// hasher; a failure only delays the upgrade to the next login.
func (s *Strategy) upgrade(ctx context.Context, cred *identity.Credential, password string) {
	h, err := s.hasher.Hash(ctx, []byte(password))
	if err == nil {
		cfg, _ := json.Marshal(identity.PasswordConfig{HashedPassword: string(h)})
		err = s.ids.SetCredentialConfig(ctx, cred.ID, cfg)
	}
	if err != nil {
		slog.WarnContext(ctx, "could not upgrade a password hash", "credential", cred.ID, "error", err)
	}
}

// RegistrationNodes adds the password input and submit button.
func (s *Strategy) RegistrationNodes(f *flow.Flow) {
	f.UI.Add(
		flow.Input(ID, "password", "password", nil, text.LabelPassword()).Required().Autocomplete("new-password"),
		flow.Submit(ID, "method", ID, text.RegistrationSignUp()),
	)
}

// Register validates the traits and the password and prepares the new
// identity (hashing the password); the caller inserts it.
func (s *Strategy) Register(ctx context.Context, sch *schema.Schema, traits map[string]any, password string) (*identity.Prepared, error) {
	extracted, err := flow.ValidateTraits(sch, traits)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return nil, flow.FormError{{Field: "password", Message: text.ValidationRequired("password")}}
	}
	if err := s.check(ctx, password, extracted.Identifiers[ID]); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	return s.ids.Prepare(ctx, identity.Draft{SchemaID: sch.ID, Traits: raw, Password: &password})
}

// check applies the password policy: a FormError on the password field
// when the password may not be used, another error when it could not be
// checked.
func (s *Strategy) check(ctx context.Context, password string, identifiers []string) error {
	if m := s.checkLocally(password, identifiers); m != nil {
		return flow.FormError{{Field: "password", Message: m}}
	}
	if s.policy.Breaches == nil {
		return nil
	}
	n, err := s.policy.Breaches.Check(ctx, password)
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && s.policy.IgnoreBreachErrors:
		slog.WarnContext(ctx, "the breached-password check failed; the password is accepted unchecked (ignore_network_errors)", "error", err)
		return nil
	case err != nil:
		return ErrBreachCheckUnavailable.WithCause(err)
	case n > s.policy.MaxBreaches:
		return flow.FormError{{Field: "password", Message: text.PasswordBreached(n)}}
	}
	return nil
}

// checkLocally applies the checks that need nothing but the password;
// nil means it passes them.
func (s *Strategy) checkLocally(password string, identifiers []string) *text.Message {
	n := utf8.RuneCountInString(password)
	if n < s.policy.MinLength {
		return text.PasswordTooShort(s.policy.MinLength, n)
	}
	if max := s.hasher.MaxPasswordBytes(); len(password) > max {
		return text.PasswordTooLong(max, len(password))
	}
	if s.policy.IdentifierSimilarity {
		for _, id := range identifiers {
			if tooSimilar(id, password) {
				return text.PasswordTooSimilar()
			}
		}
	}
	return nil
}

// tooSimilar reports whether password and identifier share a run of
// characters that makes up half of either (case-insensitively), e.g.
// "alice@example.org" and "Example.org1".
func tooSimilar(identifier, password string) bool {
	a, b := strings.ToLower(identifier), strings.ToLower(password)
	if a == "" {
		return false
	}
	l := longestCommonSubstring(a, b)
	return l >= 4 && (2*l >= len(b) || 2*l >= len(a)) || a == b
}

func longestCommonSubstring(a, b string) int {
	if len(a) > 1024 || len(b) > 1024 {
		return 0 // bounded work; such inputs fail other checks first
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	best := 0
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
				best = max(best, cur[j])
			} else {
				cur[j] = 0
			}
		}
		prev, cur = cur, prev
	}
	return best
}

// SettingsNodes adds the new-password input and its save button.
func (s *Strategy) SettingsNodes(f *flow.Flow) {
	f.UI.Add(
		flow.Input(ID, "password", "password", nil, text.LabelPassword()).Required().Autocomplete("new-password"),
		flow.Submit(ID, "method", ID, text.LabelSave()),
	)
}

// CheckNew applies the password policy to a new password for identity i.
func (s *Strategy) CheckNew(ctx context.Context, i *identity.Identity, password string) error {
	if password == "" {
		return flow.FormError{{Field: "password", Message: text.ValidationRequired("password")}}
	}
	var identifiers []string
	if c := i.Credentials[identity.CredentialsPassword]; c != nil {
		identifiers = c.Identifiers
	}
	if len(identifiers) == 0 {
		// An identity without a password yet: its identifiers come from its traits.
		identifiers = s.ids.Identifiers(i, identity.CredentialsPassword)
	}
	return s.check(ctx, password, identifiers)
}
