package text

import (
	"fmt"
	"time"
)

// Messages of Lanyard's brute-force protection. Kratos has none, so their
// ids come from a range of Lanyard's own (49xxxxx) that Kratos's catalogue
// does not use; UIs that translate by id can add them.

// AttemptsDelayed refuses an attempt that came too soon after several
// failures from the same client.
func AttemptsDelayed(retryAfterSeconds int) *Message {
	m := errMsg(4900001, fmt.Sprintf("Too many failed attempts. Please wait %d seconds before you try again.", retryAfterSeconds))
	m.Context = map[string]any{"retry_after_seconds": retryAfterSeconds}
	return m
}

// IdentifierLocked refuses every attempt for an identifier, on every
// client and with the right password too, until the lock ends.
func IdentifierLocked(until time.Time, retryAfterSeconds int) *Message {
	m := errMsg(4900002, "Too many failed attempts. Attempts with this identifier are refused until "+until.UTC().Format(time.RFC3339)+".")
	m.Context = map[string]any{"locked_until_unix": until.Unix(), "retry_after_seconds": retryAfterSeconds}
	return m
}
