package onetime_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

const publicURL = "http://127.0.0.1:4433/"

// newFlow stores a recovery flow for codes to belong to.
func newFlow(t *testing.T, s *store.Store) uuid.UUID {
	t.Helper()
	f := flow.New(flow.Recovery, flow.TypeAPI, httptest.NewRequest("GET", "/self-service/recovery/api", nil), publicURL, time.Hour)
	f.AddCSRF(nil)
	if err := s.Write(context.Background(), func(q *store.Q) error { return flow.Save(context.Background(), q, f) }); err != nil {
		t.Fatal(err)
	}
	return f.ID
}

// newIdentity stores a bare identity row for codes to point at.
func newIdentity(t *testing.T, s *store.Store) uuid.UUID {
	t.Helper()
	id := uuid.New()
	now := store.Now()
	err := s.Write(context.Background(), func(q *store.Q) error {
		_, err := q.Exec(context.Background(), `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, "default", "active", `{}`, now, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func issue(t *testing.T, s *store.Store, c *onetime.Codes, code onetime.Code) string {
	t.Helper()
	var plain string
	err := s.Write(context.Background(), func(q *store.Q) error {
		var err error
		plain, err = c.Issue(context.Background(), q, code)
		return err
	})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return plain
}

// redeem runs RedeemCode in its own transaction, committed whatever the
// outcome (as the flows do, so that attempts count).
func redeem(t *testing.T, s *store.Store, c *onetime.Codes, purpose string, flowID uuid.UUID, plain string) (*onetime.Code, error) {
	t.Helper()
	var code *onetime.Code
	var redeemErr error
	err := s.Write(context.Background(), func(q *store.Q) error {
		code, redeemErr = c.RedeemCode(context.Background(), q, purpose, flowID, plain, 5, nil)
		if redeemErr != nil && (errors.Is(redeemErr, onetime.ErrInvalid) || errors.Is(redeemErr, onetime.ErrTooManyAttempts)) {
			return nil
		}
		return redeemErr
	})
	if err != nil {
		t.Fatalf("redeem: %v", err)
	}
	return code, redeemErr
}

func redeemToken(t *testing.T, s *store.Store, c *onetime.Codes, purpose, plain string) (*onetime.Code, error) {
	t.Helper()
	var code *onetime.Code
	var redeemErr error
	err := s.Write(context.Background(), func(q *store.Q) error {
		code, redeemErr = c.RedeemToken(context.Background(), q, purpose, plain)
		if errors.Is(redeemErr, onetime.ErrInvalid) {
			return nil
		}
		return redeemErr
	})
	if err != nil {
		t.Fatalf("redeem token: %v", err)
	}
	return code, redeemErr
}

// wrongCode is a six-digit code other than plain.
func wrongCode(plain string) string {
	if plain == "000000" {
		return "000001"
	}
	return "000000"
}

func codeFor(flowID uuid.UUID) onetime.Code {
	return onetime.Code{
		Purpose: onetime.Recovery, Method: onetime.MethodCode, FlowID: flowID,
		Via: "email", Value: "ada@example.org", ExpiresAt: store.Now().Add(time.Hour),
	}
}

var (
	sixDigits = regexp.MustCompile(`^[0-9]{6}$`)
	linkToken = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
)

func TestRecoveryCodes_IssueAndRedeemOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlow(t, s)
		owner := newIdentity(t, s)
		want := codeFor(flowID)
		want.IdentityID = &owner
		plain := issue(t, s, c, want)
		if !sixDigits.MatchString(plain) {
			t.Fatalf("code %q is not six digits", plain)
		}

		var stored string
		if err := s.Read().QueryRow(context.Background(), `SELECT code_hash FROM selfservice_codes WHERE flow_id = $1`, flowID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == plain || len(stored) != 64 {
			t.Errorf("stored code_hash %q, want a hex HMAC and never the code", stored)
		}

		got, err := redeem(t, s, c, onetime.Recovery, flowID, plain)
		if err != nil {
			t.Fatalf("redeeming the right code: %v", err)
		}
		if got.FlowID != flowID || got.IdentityID == nil || *got.IdentityID != owner || got.Via != "email" ||
			got.Value != "ada@example.org" || got.Method != onetime.MethodCode || got.Purpose != onetime.Recovery {
			t.Errorf("redeemed code = %+v, want the issued one", got)
		}
		if _, err := redeem(t, s, c, onetime.Recovery, flowID, plain); !errors.Is(err, onetime.ErrUsed) || !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("second redemption: %v, want ErrUsed (an ErrInvalid)", err)
		}
	})
}

func TestRecoveryCodes_WrongCodeAndIsolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlow(t, s)
		plain := issue(t, s, c, codeFor(flowID))

		if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(plain)); !errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrUsed) || errors.Is(err, onetime.ErrExpired) {
			t.Errorf("wrong code: %v, want plain ErrInvalid", err)
		}
		// The right code of another flow, purpose or secret does not match.
		if _, err := redeem(t, s, c, onetime.Recovery, newFlow(t, s), plain); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("code on another flow: %v, want ErrInvalid", err)
		}
		if _, err := redeem(t, s, c, onetime.Verification, flowID, plain); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("recovery code as a verification code: %v, want ErrInvalid", err)
		}
		if _, err := redeem(t, s, onetime.New("other secret"), onetime.Recovery, flowID, plain); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("code checked with another secret: %v, want ErrInvalid", err)
		}
		if _, err := redeem(t, s, c, onetime.Recovery, flowID, plain); err != nil {
			t.Errorf("the right code after wrong ones: %v", err)
		}
	})
}

func TestRecoveryCodes_SubmissionLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")

		t.Run("fifth submission may be right", func(t *testing.T) {
			flowID := newFlow(t, s)
			plain := issue(t, s, c, codeFor(flowID))
			for i := 1; i <= 4; i++ {
				if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(plain)); !errors.Is(err, onetime.ErrInvalid) {
					t.Fatalf("wrong code %d: %v, want ErrInvalid", i, err)
				}
			}
			if _, err := redeem(t, s, c, onetime.Recovery, flowID, plain); err != nil {
				t.Fatalf("the right code as fifth submission: %v", err)
			}
		})

		t.Run("sixth submission is refused even when right", func(t *testing.T) {
			flowID := newFlow(t, s)
			plain := issue(t, s, c, codeFor(flowID))
			for i := 1; i <= 5; i++ {
				if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(plain)); !errors.Is(err, onetime.ErrInvalid) {
					t.Fatalf("wrong code %d: %v, want ErrInvalid", i, err)
				}
			}
			if _, err := redeem(t, s, c, onetime.Recovery, flowID, plain); !errors.Is(err, onetime.ErrTooManyAttempts) {
				t.Fatalf("sixth submission: %v, want ErrTooManyAttempts", err)
			}
			// The flow's codes are retired for good.
			if _, err := redeem(t, s, c, onetime.Recovery, flowID, plain); err == nil || errors.Is(err, onetime.ErrTooManyAttempts) {
				t.Fatalf("after the limit: %v, want the code to be gone", err)
			}
		})

		t.Run("a new code does not reset the budget", func(t *testing.T) {
			flowID := newFlow(t, s)
			first := issue(t, s, c, codeFor(flowID))
			for i := 1; i <= 3; i++ {
				if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(first)); !errors.Is(err, onetime.ErrInvalid) {
					t.Fatalf("wrong code %d: %v", i, err)
				}
			}
			var second string
			err := s.Write(context.Background(), func(q *store.Q) error {
				if err := c.InvalidateFlow(context.Background(), q, flowID); err != nil {
					return err
				}
				var err error
				second, err = c.Issue(context.Background(), q, codeFor(flowID))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if first != second {
				// A retired code reads as a wrong one, not as a used one.
				if _, err := redeem(t, s, c, onetime.Recovery, flowID, first); !errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrUsed) {
					t.Fatalf("retired code: %v, want plain ErrInvalid", err)
				}
			} else if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(second)); !errors.Is(err, onetime.ErrInvalid) {
				t.Fatalf("wrong code 4: %v", err)
			}
			if _, err := redeem(t, s, c, onetime.Recovery, flowID, wrongCode(second)); !errors.Is(err, onetime.ErrInvalid) {
				t.Fatalf("wrong code 5: %v", err)
			}
			if _, err := redeem(t, s, c, onetime.Recovery, flowID, second); !errors.Is(err, onetime.ErrTooManyAttempts) {
				t.Fatalf("sixth submission on the flow: %v, want ErrTooManyAttempts", err)
			}
		})
	})
}

func TestRecoveryCodes_Expired(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlow(t, s)
		code := codeFor(flowID)
		code.ExpiresAt = store.Now().Add(-time.Second)
		plain := issue(t, s, c, code)
		got, err := redeem(t, s, c, onetime.Recovery, flowID, plain)
		if !errors.Is(err, onetime.ErrExpired) || !errors.Is(err, onetime.ErrInvalid) {
			t.Fatalf("expired code: %v, want ErrExpired (an ErrInvalid)", err)
		}
		if got == nil || got.FlowID != flowID {
			t.Errorf("an expired code comes with the code, got %+v", got)
		}

		link := onetime.Code{Purpose: onetime.Recovery, Method: onetime.MethodLink, FlowID: flowID, ExpiresAt: store.Now().Add(-time.Second)}
		token := issue(t, s, c, link)
		if _, err := redeemToken(t, s, c, onetime.Recovery, token); !errors.Is(err, onetime.ErrExpired) {
			t.Fatalf("expired link: %v, want ErrExpired", err)
		}
	})
}

func TestRecoveryLinks_RedeemOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlow(t, s)
		owner := newIdentity(t, s)
		token := issue(t, s, c, onetime.Code{
			Purpose: onetime.Recovery, Method: onetime.MethodLink, FlowID: flowID, IdentityID: &owner,
			Via: "email", Value: "ada@example.org", ExpiresAt: store.Now().Add(time.Hour),
		})
		if !linkToken.MatchString(token) {
			t.Fatalf("link token %q is not 32 letters and digits", token)
		}
		if _, err := redeemToken(t, s, c, onetime.Verification, token); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("recovery token as a verification token: %v, want ErrInvalid", err)
		}
		other := "x"
		if token[31] == 'x' {
			other = "y"
		}
		if _, err := redeemToken(t, s, c, onetime.Recovery, token[:31]+other); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("unknown token: %v, want ErrInvalid", err)
		}
		// A link token is no code: it cannot be typed into the flow.
		if _, err := redeem(t, s, c, onetime.Recovery, flowID, token); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("token typed as a code: %v, want ErrInvalid", err)
		}
		got, err := redeemToken(t, s, c, onetime.Recovery, token)
		if err != nil {
			t.Fatalf("redeeming the link: %v", err)
		}
		if got.FlowID != flowID || got.IdentityID == nil || *got.IdentityID != owner || got.Method != onetime.MethodLink {
			t.Errorf("redeemed link = %+v", got)
		}
		if _, err := redeemToken(t, s, c, onetime.Recovery, token); !errors.Is(err, onetime.ErrUsed) {
			t.Errorf("second use of the link: %v, want ErrUsed", err)
		}
	})
}

// TestRecoveryCodes_Race redeems one code from many transactions at once:
// exactly one wins, on both stores.
func TestRecoveryCodes_Race(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		for round := 0; round < 3; round++ {
			flowID := newFlow(t, s)
			plain := issue(t, s, c, codeFor(flowID))
			token := issue(t, s, c, onetime.Code{Purpose: onetime.Recovery, Method: onetime.MethodLink, FlowID: flowID, ExpiresAt: store.Now().Add(time.Hour)})

			const racers = 8
			var wg sync.WaitGroup
			codeErrs, linkErrs := make(chan error, racers), make(chan error, racers)
			start := make(chan struct{})
			for i := 0; i < racers; i++ {
				wg.Add(2)
				go func() {
					defer wg.Done()
					<-start
					codeErrs <- s.Write(context.Background(), func(q *store.Q) error {
						_, err := c.RedeemCode(context.Background(), q, onetime.Recovery, flowID, plain, 0, nil)
						return err
					})
				}()
				go func() {
					defer wg.Done()
					<-start
					linkErrs <- s.Write(context.Background(), func(q *store.Q) error {
						_, err := c.RedeemToken(context.Background(), q, onetime.Recovery, token)
						return err
					})
				}()
			}
			close(start)
			wg.Wait()
			close(codeErrs)
			close(linkErrs)
			for what, errs := range map[string]chan error{"code": codeErrs, "link": linkErrs} {
				wins := 0
				for err := range errs {
					switch {
					case err == nil:
						wins++
					case errors.Is(err, onetime.ErrUsed):
					default:
						t.Errorf("racing redemption of the %s failed with %v, want success or ErrUsed", what, err)
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d redemptions of the %s succeeded, want exactly one", round, wins, what)
				}
			}
		}
	})
}
