package ui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
)

// mailboxSize is how many of the newest messages the dev mailbox shows.
const mailboxSize = 50

// mailboxView is the dev mailbox's content.
type mailboxView struct {
	Recipient string
	Messages  []mailView
	More      bool
	Action    string
}

// mailView is one message. Its body is the plain text cut into lines and
// the lines into runs, so that the template escapes every character and
// only links it made itself are links.
type mailView struct {
	ID, Recipient, Subject, Status, Type, Template string
	Created                                        time.Time
	Lines                                          []mailLine
}

type mailLine struct {
	// Code is set when the line is a one-time code on its own.
	Code string
	Runs []mailRun
}

type mailRun struct{ Text, Href string }

func (h *Handler) mailbox(w http.ResponseWriter, r *http.Request) {
	p, _, err := h.newPage(r, "title.mailbox")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recipient := strings.TrimSpace(r.URL.Query().Get("recipient"))
	msgs, more, err := h.opts.Mailbox.Recent(r.Context(), recipient, mailboxSize)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := &mailboxView{Recipient: recipient, More: more, Action: h.kit.PublicURL + "ui/mailbox"}
	for _, m := range msgs {
		v.Messages = append(v.Messages, mailView{
			ID: m.ID.String(), Recipient: m.Recipient, Subject: m.Subject, Status: m.Status, Type: m.Type,
			Template: m.TemplateType, Created: m.CreatedAt, Lines: bodyLines(m.Body),
		})
	}
	p.Content = v
	h.render(w, r, http.StatusOK, "mailbox", p)
}

var (
	codeLine = regexp.MustCompile(`^[0-9]{6,8}$`)
	// linkCandidate finds what may be a link; linkOf decides.
	linkCandidate = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'` + "`" + `]+`)
)

// bodyLines cuts a plain-text body into lines: a line that is only a code
// is marked as one, and http(s) URLs in the others become links.
func bodyLines(body string) []mailLine {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.TrimRight(body, "\n")
	var out []mailLine
	for _, line := range strings.Split(body, "\n") {
		if t := strings.TrimSpace(line); codeLine.MatchString(t) {
			out = append(out, mailLine{Code: t})
			continue
		}
		out = append(out, mailLine{Runs: linkRuns(line)})
	}
	return out
}

// linkRuns splits a line into text and links.
func linkRuns(line string) []mailRun {
	var runs []mailRun
	rest := 0
	for _, loc := range linkCandidate.FindAllStringIndex(line, -1) {
		raw := strings.TrimRight(line[loc[0]:loc[1]], ".,;:!?)]}")
		href := linkOf(raw)
		if href == "" {
			continue
		}
		if loc[0] > rest {
			runs = append(runs, mailRun{Text: line[rest:loc[0]]})
		}
		runs = append(runs, mailRun{Text: raw, Href: href})
		rest = loc[0] + len(raw)
	}
	if rest < len(line) {
		runs = append(runs, mailRun{Text: line[rest:]})
	}
	return runs
}

// linkOf is raw as a link target when it is an absolute http(s) URL with
// a host, else "".
func linkOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return ""
	}
	return u.String()
}

// Mailbox is what the dev mailbox reads: the courier's stored messages
// (*courier.Courier).
type Mailbox interface {
	Recent(ctx context.Context, recipient string, limit int) ([]courier.Stored, bool, error)
}

// hasMailbox reports whether the dev mailbox is served: only on a
// development server, whose messages go nowhere else.
func (h *Handler) hasMailbox() bool { return h.opts.Dev && h.opts.Mailbox != nil }
