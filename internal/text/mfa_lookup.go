package text

import (
	"strings"
	"time"
)

// Backup codes (the lookup_secret method).

func LoginLookupLabel() *Message { return info(1010007, "Backup code") }
func LoginWithLookup() *Message  { return info(1010010, "Sign in with a backup code") }

func LookupReveal() *Message     { return info(1050007, "Show backup codes") }
func LookupRegenerate() *Message { return info(1050008, "Create new backup codes") }
func LookupConfirm() *Message    { return info(1050011, "Save these backup codes") }
func LookupDisable() *Message    { return info(1050016, "Turn off backup codes") }
func LookupCodesLabel() *Message {
	return info(1050010, "Keep these backup codes somewhere safe. Each one signs you in once when your other second factor is out of reach.")
}

// LookupCode shows one unused backup code.
func LookupCode(code string) *Message {
	m := info(1050009, code)
	m.Context = map[string]any{"secret": code}
	return m
}

// LookupCodeUsed stands for a backup code spent at usedAt.
func LookupCodeUsed(usedAt time.Time) *Message {
	usedAt = usedAt.UTC()
	m := info(1050014, "Used at "+usedAt.Format(time.RFC3339))
	m.Context = map[string]any{"used_at": usedAt, "used_at_unix": usedAt.Unix()}
	return m
}

// LookupCodeList shows a set of backup codes: shown are the texts
// joined ("used" for spent codes), each is the message of one code
// (LookupCode or LookupCodeUsed), which UIs read from the
// context.
func LookupCodeList(shown []string, each []*Message) *Message {
	m := info(1050015, strings.Join(shown, ", "))
	m.Context = map[string]any{"secrets": each}
	return m
}

func LookupUsed() *Message {
	return errMsg(4000012, "This backup code was used already; each one works only once.")
}

func LookupNotSetUp() *Message {
	return errMsg(4000014, "This account has no backup codes set up.")
}

func LookupInvalid() *Message {
	return errMsg(4000016, "The backup code is not valid.")
}
