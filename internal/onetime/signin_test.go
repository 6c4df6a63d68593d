package onetime_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// newFlowOf stores an API flow of kind for codes to belong to.
func newFlowOf(t *testing.T, s *store.Store, kind flow.Kind) uuid.UUID {
	t.Helper()
	f := flow.New(kind, flow.TypeAPI, httptest.NewRequest("GET", "/self-service/"+string(kind)+"/api", nil), publicURL, time.Hour)
	if err := s.Write(context.Background(), func(q *store.Q) error { return flow.Save(context.Background(), q, f) }); err != nil {
		t.Fatal(err)
	}
	return f.ID
}

func signInCode(purpose string, flowID uuid.UUID, identityID *uuid.UUID, value string) onetime.Code {
	return onetime.Code{
		Purpose: purpose, Method: onetime.MethodCode, FlowID: flowID, IdentityID: identityID,
		Via: "email", Value: value, ExpiresAt: store.Now().Add(time.Hour),
	}
}

// resend retires the flow's codes and issues a new one, in one
// transaction, as sending a code again does.
func resend(t *testing.T, s *store.Store, c *onetime.Codes, code onetime.Code) string {
	t.Helper()
	var plain string
	err := s.Write(context.Background(), func(q *store.Q) error {
		if err := c.InvalidateFlow(context.Background(), q, code.FlowID); err != nil {
			return err
		}
		var err error
		plain, err = c.Issue(context.Background(), q, code)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func liveAddresses(t *testing.T, s *store.Store, c *onetime.Codes, flowID uuid.UUID, purpose string) []onetime.Code {
	t.Helper()
	live, err := c.LiveAddresses(context.Background(), s.Read(), flowID, purpose)
	if err != nil {
		t.Fatal(err)
	}
	return live
}

func TestLoginCodes_IssueAndRedeemOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlowOf(t, s, flow.Login)
		owner := newIdentity(t, s)
		plain := issue(t, s, c, signInCode(onetime.Login, flowID, &owner, "ada@example.org"))
		if !sixDigits.MatchString(plain) {
			t.Fatalf("login code %q is not six digits", plain)
		}
		// A login code is not a registration, recovery or verification code.
		for _, other := range []string{onetime.Registration, onetime.Recovery, onetime.Verification} {
			if _, err := redeem(t, s, c, other, flowID, plain); !errors.Is(err, onetime.ErrInvalid) {
				t.Errorf("login code redeemed as %s: %v, want ErrInvalid", other, err)
			}
		}
		got, err := redeem(t, s, c, onetime.Login, flowID, plain)
		if err != nil {
			t.Fatalf("redeeming the login code: %v", err)
		}
		if got.Purpose != onetime.Login || got.IdentityID == nil || *got.IdentityID != owner || got.Value != "ada@example.org" {
			t.Errorf("redeemed %+v, want the issued login code", got)
		}
		if _, err := redeem(t, s, c, onetime.Login, flowID, plain); !errors.Is(err, onetime.ErrUsed) {
			t.Errorf("second redemption: %v, want ErrUsed", err)
		}
	})
}

// A registration code belongs to no identity yet.
func TestRegistrationCodes_WithoutIdentity(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		flowID := newFlowOf(t, s, flow.Registration)
		plain := issue(t, s, c, signInCode(onetime.Registration, flowID, nil, "new@example.org"))
		if _, err := redeem(t, s, c, onetime.Login, flowID, plain); !errors.Is(err, onetime.ErrInvalid) {
			t.Errorf("registration code redeemed as a login code: %v, want ErrInvalid", err)
		}
		got, err := redeem(t, s, c, onetime.Registration, flowID, plain)
		if err != nil {
			t.Fatalf("redeeming the registration code: %v", err)
		}
		if got.Purpose != onetime.Registration || got.IdentityID != nil || got.Value != "new@example.org" || got.FlowID != flowID {
			t.Errorf("redeemed %+v, want the issued registration code without identity", got)
		}
	})
}

// Two submissions of one login code race: one signs in, the other is told
// the code is used, on both stores.
func TestLoginCodes_RacingRedemptions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		owner := newIdentity(t, s)
		for round := 0; round < 5; round++ {
			flowID := newFlowOf(t, s, flow.Login)
			plain := issue(t, s, c, signInCode(onetime.Login, flowID, &owner, "ada@example.org"))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for k := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[k] = s.Write(context.Background(), func(q *store.Q) error {
						_, err := c.RedeemCode(context.Background(), q, onetime.Login, flowID, plain, 5, nil)
						return err
					})
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, onetime.ErrUsed):
				default:
					t.Errorf("round %d: a racing redemption failed with %v, want success or ErrUsed", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d redemptions succeeded, want exactly one", round, wins)
			}
		}
	})
}

// Sending the code again makes the earlier one worthless; the new one
// works.
func TestSignInCodes_ResendRetiresTheEarlierCode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		owner := newIdentity(t, s)
		for _, purpose := range []string{onetime.Login, onetime.Registration} {
			t.Run(purpose, func(t *testing.T) {
				kind := flow.Login
				var identityID *uuid.UUID = &owner
				if purpose == onetime.Registration {
					kind, identityID = flow.Registration, nil
				}
				flowID := newFlowOf(t, s, kind)
				code := signInCode(purpose, flowID, identityID, "ada@example.org")
				first := issue(t, s, c, code)
				second := resend(t, s, c, code)
				for second == first {
					// One in a million: the same six digits again.
					second = resend(t, s, c, code)
				}
				if _, err := redeem(t, s, c, purpose, flowID, first); !errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrUsed) {
					t.Errorf("the earlier code after a resend: %v, want plain ErrInvalid", err)
				}
				if live := liveAddresses(t, s, c, flowID, purpose); len(live) != 1 {
					t.Errorf("%d live codes after a resend, want 1", len(live))
				}
				if _, err := redeem(t, s, c, purpose, flowID, second); err != nil {
					t.Errorf("the code sent again: %v", err)
				}
			})
		}
	})
}

func TestLiveAddresses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := onetime.New("secret")
		owner := newIdentity(t, s)
		flowID := newFlowOf(t, s, flow.Login)
		if live := liveAddresses(t, s, c, flowID, onetime.Login); len(live) != 0 {
			t.Fatalf("a flow without codes has live codes: %+v", live)
		}
		older := signInCode(onetime.Login, flowID, &owner, "ada@example.org")
		issue(t, s, c, older)
		time.Sleep(2 * time.Millisecond) // created_at orders them
		newer := signInCode(onetime.Login, flowID, &owner, "+4915112345678")
		newer.Via = "sms"
		plain := issue(t, s, c, newer)
		// Codes of another purpose on the same flow are not the flow's
		// login codes.
		issue(t, s, c, signInCode(onetime.Verification, flowID, &owner, "other@example.org"))

		live := liveAddresses(t, s, c, flowID, onetime.Login)
		if len(live) != 2 || live[0].Value != newer.Value || live[0].Via != "sms" || live[1].Value != older.Value || live[1].Via != "email" {
			t.Fatalf("live codes = %+v, want the sms code, then the email one", live)
		}
		for _, l := range live {
			if l.IdentityID == nil || *l.IdentityID != owner || l.FlowID != flowID || l.Purpose != onetime.Login || l.ExpiresAt.IsZero() {
				t.Errorf("live code %+v lacks what was issued", l)
			}
		}
		if _, err := redeem(t, s, c, onetime.Login, flowID, plain); err != nil {
			t.Fatal(err)
		}
		if live := liveAddresses(t, s, c, flowID, onetime.Login); len(live) != 1 || live[0].Value != older.Value {
			t.Errorf("after the sms code was used: %+v, want only the email code", live)
		}
		if err := s.Write(context.Background(), func(q *store.Q) error { return c.InvalidateFlow(context.Background(), q, flowID) }); err != nil {
			t.Fatal(err)
		}
		if live := liveAddresses(t, s, c, flowID, onetime.Login); len(live) != 0 {
			t.Errorf("after the flow's codes were retired: %+v, want none", live)
		}
	})
}
