// Package i18n holds the built-in UI's words in English and German: the
// flow messages by Kratos's numeric id, the pages' own phrases, and dates
// and numbers in each language's usual form.
package i18n

import (
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/lanyard-id/lanyard/internal/text"
)

// Tags are the supported languages, the default first.
var Tags = []string{"en", "de"}

var (
	matcher = language.NewMatcher([]language.Tag{language.English, language.German})
	german  = language.German.String()
)

// Catalogue translates the UI. Its zero value is not usable; call New.
type Catalogue struct {
	printers map[string]*message.Printer
	messages map[string]map[int]string
	phrases  map[string]map[string]string
}

// New returns the catalogue of every supported language.
func New() *Catalogue {
	return &Catalogue{
		printers: map[string]*message.Printer{
			"en": message.NewPrinter(language.English),
			"de": message.NewPrinter(language.German),
		},
		messages: map[string]map[int]string{"de": germanMessages},
		phrases:  map[string]map[string]string{"en": englishPhrases, "de": germanPhrases},
	}
}

// Match picks the supported language an Accept-Language header prefers
// most; "en" when the header names none of them or does not parse.
func (c *Catalogue) Match(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Tags[0]
	}
	_, i, confidence := matcher.Match(tags...)
	if confidence == language.No {
		return Tags[0]
	}
	return Tags[i]
}

// Text is m in the language tag with its context values filled in. It is
// m.Text for English, for ids without a translation, and for messages
// whose context lacks a value the translation needs.
func (c *Catalogue) Text(tag string, m *text.Message) string {
	if m == nil {
		return ""
	}
	tag = supported(tag)
	if compose, ok := composed[m.ID]; ok && tag != "en" {
		if s, ok := compose(c, tag, m); ok {
			return s
		}
		return m.Text
	}
	tmpl, ok := c.messages[tag][m.ID]
	if !ok {
		return m.Text
	}
	s, ok := c.fill(tag, tmpl, m.Context)
	if !ok {
		return m.Text
	}
	return s
}

// Phrase is one of the pages' own words (see Phrases) in the language tag;
// the key itself when it is unknown.
func (c *Catalogue) Phrase(tag, key string) string {
	if s, ok := c.phrases[supported(tag)][key]; ok {
		return s
	}
	return key
}

// Date is t in UTC (the server does not know the reader's zone) as the
// language usually writes a date and time. The layouts are fixed rather
// than taken from CLDR: two languages do not need it.
func (c *Catalogue) Date(tag string, t time.Time) string {
	t = t.UTC()
	if supported(tag) == german {
		return t.Format("2.1.2006, 15:04 MST")
	}
	return t.Format("Jan 2, 2006, 3:04 PM MST")
}

// supported maps a tag such as "de-CH" to the supported language it
// belongs to, English when none.
func supported(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return Tags[0]
	}
	if base, _ := t.Base(); base.String() == german {
		return german
	}
	return Tags[0]
}
