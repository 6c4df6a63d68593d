package ui

import (
	"time"

	"github.com/lanyard-id/lanyard/internal/text"
)

// Translator words messages in a language: tag is the best match of
// Accept-Language; m.Text is the English fallback.
type Translator interface {
	Match(acceptLanguage string) (tag string) // e.g. "en", "de"
	Text(tag string, m *text.Message) string
	// Phrase is the UI's own words: "Sign in", "Sign up", page titles.
	Phrase(tag, key string) string
	// Date writes t in the user's locale.
	Date(tag string, t time.Time) string
}

// English is the Translator used until a catalogue is configured: the
// messages' own texts and the UI's phrases as they are keyed.
type English struct{}

// Match implements Translator.
func (English) Match(string) string { return "en" }

// Text implements Translator.
func (English) Text(_ string, m *text.Message) string {
	if m == nil {
		return ""
	}
	return m.Text
}

// Phrase implements Translator; an unknown key reads as itself.
func (English) Phrase(_ string, key string) string {
	if p, ok := englishPhrases[key]; ok {
		return p
	}
	return key
}

// Date implements Translator.
func (English) Date(_ string, t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 MST") }

// englishPhrases are every phrase key the pages use, in English: the
// list a catalogue translates.
var englishPhrases = map[string]string{
	"nav.home":                  "Home",
	"nav.sign_in":               "Sign in",
	"nav.sign_up":               "Sign up",
	"nav.recover":               "Forgot your password?",
	"nav.settings":              "Settings",
	"nav.sessions":              "Your devices",
	"nav.sign_out":              "Sign out",
	"nav.skip":                  "Skip to content",
	"welcome.signed_in":         "You are signed in as",
	"welcome.signed_out":        "You are not signed in.",
	"error.status":              "Error",
	"error.back":                "Back to the start page",
	"flow.expires":              "This form is valid until",
	"group.default":             "",
	"group.password":            "Password",
	"group.profile":             "Profile",
	"group.code":                "One-time code",
	"group.link":                "Email link",
	"group.totp":                "Authenticator app",
	"group.lookup_secret":       "Backup codes",
	"group.webauthn":            "Security key",
	"group.passkey":             "Passkey",
	"group.oidc":                "Sign in with another account",
	"group.identifier_first":    "",
	"title.login":               "Sign in",
	"title.registration":        "Sign up",
	"title.settings":            "Account settings",
	"title.recovery":            "Recover your account",
	"title.verification":        "Verify your address",
	"title.error":               "Something went wrong",
	"title.welcome":             "Welcome",
	"nav.mailbox":               "Mailbox",
	"welcome.mailbox":           "Open the dev mailbox: the messages this server has queued",
	"title.sessions":            "Your devices",
	"title.mailbox":             "Dev mailbox",
	"sessions.this_device":      "This device",
	"sessions.unknown_device":   "Unknown device",
	"sessions.ip":               "IP address",
	"sessions.authenticated_at": "Signed in",
	"sessions.expires_at":       "Expires",
	"sessions.aal":              "Assurance",
	"sessions.aal1":             "One factor",
	"sessions.aal2":             "Two factors",
	"sessions.methods":          "Signed in with",
	"sessions.revoke":           "End this session",
	"sessions.revoke_others":    "Sign out all other devices",
	"sessions.revoked_one":      "The device was signed out.",
	"sessions.revoked_others":   "All other devices were signed out.",
	"sessions.none_other":       "No other device is signed in.",
	"sessions.more":             "Not every device is listed here; signing out all other devices ends them all.",
	"mailbox.note":              "The messages this server has queued, newest first. Only a development server has this page.",
	"mailbox.recipient":         "Recipient",
	"mailbox.filter":            "Show messages to this recipient",
	"mailbox.all":               "Show all messages",
	"mailbox.empty":             "No messages yet.",
	"mailbox.more":              "Only the newest 50 messages are shown.",
	"mailbox.no_subject":        "(no subject)",
	"mailbox.to":                "To",
	"mailbox.status":            "Status",
	"mailbox.date":              "Date",
}
