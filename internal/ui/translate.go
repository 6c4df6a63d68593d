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
