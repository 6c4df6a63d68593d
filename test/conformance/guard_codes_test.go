package conformance

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Guesses at one-time codes count per address, like sign-in attempts per
// identifier: a new flow (and a new code) for the same address does not
// start the count afresh, and past the free failures even the right code
// waits for the delay.
func TestGuardCodes_RecoveryGuessesCountPerAddressAcrossFlows(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		cfg := guardAttemptsConfig(1000, 2, "1h", "15m")
		cfg["protection.attempts.max_delay"] = "1m"
		s := recServer(t, store, sink, cfg)
		email, _ := recUser(t, s, "guard-codes")

		submit := func(flowID, code string) recFlow {
			t.Helper()
			res := recSubmit(t, s, plain(s), flowID, map[string]any{"method": "code", "code": code})
			if res.status != http.StatusOK {
				t.Fatalf("code submission: %d %s, want 200 with the flow", res.status, res.body)
			}
			return recDecode(t, res.body)
		}
		// Two flows, one wrong guess each: both free.
		for range 2 {
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			recMailCode(t, sink, email)
			got := submit(f.ID, "000000")
			if _, ok := recMessage(got, 4060006); !ok {
				t.Fatalf("a free wrong guess: %s, want message 4060006", asJSON(got.UI.Messages))
			}
		}
		// A third flow: its right code is held back by the delay the
		// earlier flows' guesses earned.
		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		code := newestRecoveryCode(t, sink, email, 3)
		got := submit(f.ID, code)
		m, ok := recMessage(got, msgAttemptsDelayed)
		if !ok {
			t.Fatalf("the right code after the free failures: %s, want message %d", asJSON(got.UI.Messages), msgAttemptsDelayed)
		}
		if retry, _ := m.Context["retry_after_seconds"].(float64); retry < 1 {
			t.Errorf("delay message %+v, want retry_after_seconds", m)
		}
		if len(got.ContinueWith) > 0 {
			t.Errorf("a delayed code recovered the account: %s", asJSON(got.ContinueWith))
		}
	})
}

// newestRecoveryCode waits until email has received n recovery code mails
// and answers the code of the last one.
func newestRecoveryCode(t *testing.T, sink *mailSink, email string, n int) string {
	t.Helper()
	deadline := time.Now().Add(recMailWait)
	for recCodeMails(sink, email) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d recovery code mails to %s within %s, want %d", recCodeMails(sink, email), email, recMailWait, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var last receivedMail
	for _, m := range sink.Received() {
		if m.sentTo(email) && strings.Contains(m.Subject, "recovery code") {
			last = m
		}
	}
	return last.Code(t)
}
