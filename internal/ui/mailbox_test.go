package ui

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func newCourier(t *testing.T, s *store.Store, dev bool) *courier.Courier {
	t.Helper()
	c, err := courier.New(config.Courier{}, dev, s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// storeMessage writes a message row as the courier keeps it, with a body
// no template would make.
func storeMessage(t *testing.T, s *store.Store, to, subject, body string, at time.Time) uuid.UUID {
	t.Helper()
	id := uuid.New()
	ctx := context.Background()
	err := s.Write(ctx, func(q *store.Q) error {
		_, err := q.Exec(ctx, `INSERT INTO courier_messages
			(id, type, status, channel, recipient, subject, body, template_type, template_data, send_count, next_attempt_at, created_at, updated_at)
			VALUES ($1, 'email', 'queued', 'email', $2, $3, $4, 'recovery_code_valid', '{}', 0, $5, $5, $5)`,
			id, to, subject, body, at.UTC())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestMailboxOnlyInDevMode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for name, opts := range map[string]Options{
			"not dev":         {Mailbox: newCourier(t, s, false)},
			"dev, no courier": {Dev: true},
		} {
			e := newEnv(t, s, opts)
			if got := e.get(t, nil, "ui/mailbox").status; got != http.StatusNotFound {
				t.Errorf("%s: /ui/mailbox answers %d, want 404", name, got)
			}
			if strings.Contains(e.get(t, nil, "ui/").body, "ui/mailbox") {
				t.Errorf("%s: the welcome page links the mailbox", name)
			}
		}
		e := newEnv(t, s, Options{Dev: true, Mailbox: newCourier(t, s, true)})
		welcome := e.get(t, nil, "ui/")
		mustContain(t, "dev welcome", welcome.body,
			`<a href="`+e.public+`ui/mailbox">Mailbox</a>`, // the header
			`<p class="dev-note"><a href="`+e.public+`ui/mailbox">`)
	})
}

func TestMailboxShowsMessagesNewestFirst(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		c := newCourier(t, s, true)
		e := newEnv(t, s, Options{Dev: true, Mailbox: c})
		if p := e.get(t, nil, "ui/mailbox"); !strings.Contains(p.body, "No messages yet.") {
			t.Errorf("empty mailbox: %s", p.body)
		}
		// A message as a flow queues it.
		ctx := context.Background()
		err := s.Write(ctx, func(q *store.Q) error {
			_, err := c.Enqueue(ctx, q, courier.Message{Template: courier.RecoveryCodeValid, To: "ada@example.org", Code: "739201", ExpiresIn: time.Hour})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		old := storeMessage(t, s, "bob@example.org", "Older", "Hello Bob", time.Now().Add(-time.Hour))
		p := e.get(t, nil, "ui/mailbox")
		if p.status != http.StatusOK {
			t.Fatalf("status %d: %s", p.status, p.body)
		}
		checkPage(t, "mailbox", p)
		dump(t, "mailbox", p)
		mustContain(t, "mailbox", p.body,
			"<title>Dev mailbox · Lanyard</title>",
			`<dt>To</dt><dd class="mail-to">ada@example.org</dd>`,
			`<span class="badge status-queued">queued</span> email`,
			`<mark class="mail-code">739201</mark>`,
			`<label for="mailbox-recipient">Recipient</label>`,
			`id="mail-`+old.String()+`"`,
		)
		if strings.Index(p.body, "ada@example.org") > strings.Index(p.body, "bob@example.org") {
			t.Error("not newest first")
		}
		if strings.Contains(p.body, "mailbox-more") {
			t.Error("a note about more messages with two")
		}
		// The recipient filter.
		p = e.get(t, nil, "ui/mailbox?"+query("recipient", "bob@example.org"))
		if strings.Contains(p.body, "ada@example.org") || !strings.Contains(p.body, "Hello Bob") {
			t.Errorf("filtered: %s", p.body)
		}
		mustContain(t, "filtered", p.body, `value="bob@example.org"`, `<a href="`+e.public+`ui/mailbox">Show all messages</a>`)
		if p := e.get(t, nil, "ui/mailbox?"+query("recipient", "nobody@example.org")); !strings.Contains(p.body, "No messages yet.") {
			t.Error("a filter that matches nothing shows messages")
		}
	})
}

func TestMailboxEscapesBodies(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{Dev: true, Mailbox: newCourier(t, s, true)})
		body := "<script>alert(1)</script><b>bold</b>\n" +
			"Open https://app.example.org/recover?flow=1&token=a<b \"x\" now.\n" +
			"Or http://localhost:4455/verify.\n" +
			"Not javascript:alert(2) nor data:text/html,<i>x</i> nor ftp://files.example.org/\n" +
			"  48213377  \n" +
			"12345 is too short, 123456789 too long\n" +
			"123456789\n"
		storeMessage(t, s, "<i>eve</i>@example.org", "<img src=x> subject", body, time.Now())
		p := e.get(t, nil, "ui/mailbox")
		checkPage(t, "mailbox", p)
		mustContain(t, "mailbox", p.body,
			`&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;`,
			`<h2 class="mail-subject">&lt;img src=x&gt; subject</h2>`,
			`<dd class="mail-to">&lt;i&gt;eve&lt;/i&gt;@example.org</dd>`,
			`Open <a href="https://app.example.org/recover?flow=1&amp;token=a" rel="noreferrer">https://app.example.org/recover?flow=1&amp;token=a</a>&lt;b &#34;x&#34; now.`,
			`Or <a href="http://localhost:4455/verify" rel="noreferrer">http://localhost:4455/verify</a>.`,
			`Not javascript:alert(2) nor data:text/html,&lt;i&gt;x&lt;/i&gt; nor ftp://files.example.org/`,
			`<mark class="mail-code">48213377</mark>`,
			"12345 is too short, 123456789 too long\n123456789\n</pre>",
		)
		for _, banned := range []string{"<script>alert", "<b>bold", "<img src=x>", "<i>", `href="javascript`, `href="data`, `href="ftp`, "<mark class=\"mail-code\">123456789"} {
			if strings.Contains(p.body, banned) {
				t.Errorf("page contains %q", banned)
			}
		}
	})
}

func TestMailboxShowsTheNewestFifty(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{Dev: true, Mailbox: newCourier(t, s, true)})
		start := time.Now().Add(-time.Hour)
		for i := 0; i <= mailboxSize; i++ {
			storeMessage(t, s, "ada@example.org", "Message "+strconv.Itoa(i), "Body", start.Add(time.Duration(i)*time.Second))
		}
		p := e.get(t, nil, "ui/mailbox")
		if n := strings.Count(p.body, `<article class="mail"`); n != mailboxSize {
			t.Errorf("%d messages shown, want %d", n, mailboxSize)
		}
		mustContain(t, "mailbox", p.body, "Message 50</h2>", "Message 1</h2>", `<p class="note" id="mailbox-more">Only the newest 50 messages are shown.</p>`)
		if strings.Contains(p.body, "Message 0</h2>") {
			t.Error("the oldest message is shown")
		}
	})
}

func TestBodyLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []mailLine
	}{
		{"", []mailLine{{}}},
		{"123456\r\nx", []mailLine{{Code: "123456"}, {Runs: []mailRun{{Text: "x"}}}}},
		{"(see https://a.example/b).", []mailLine{{Runs: []mailRun{{Text: "(see "}, {Text: "https://a.example/b", Href: "https://a.example/b"}, {Text: ")."}}}}},
		{"HTTPS://A.example x", []mailLine{{Runs: []mailRun{{Text: "HTTPS://A.example", Href: "https://A.example"}, {Text: " x"}}}}},
		{"http:// and https://[::1 and mailto:a@b", []mailLine{{Runs: []mailRun{{Text: "http:// and https://[::1 and mailto:a@b"}}}}},
	} {
		if got := bodyLines(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bodyLines(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
