package courier

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// --- an SMTP sink on loopback ---------------------------------------------

type received struct {
	From, To, Subject, FromName, Text, HTML string
	Header                                  mail.Header
	// Raw is the message as it arrived.
	Raw string
}

type sink struct {
	mu   sync.Mutex
	got  []received
	addr string
	srv  *smtp.Server
	ln   net.Listener
	t    *testing.T
	// user and pass, when set, are required through AUTH PLAIN.
	user, pass string
}

// newSink starts an SMTP server that accepts everything except recipients
// starting with "tempfail" (451) or "reject" (550).
func newSink(t *testing.T) *sink {
	s := &sink{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *sink) serve(ln net.Listener) {
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (s *sink) stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// Closing the listener too: Close alone misses a listener that
		// Serve has not registered yet.
		_ = ln.Close()
		_ = srv.Close()
	}
}

func (s *sink) start() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("restarting the SMTP sink: %v", err)
	}
	s.serve(ln)
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s        *sink
	from, to string
	authed   bool
}

func (x *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.user || pass != x.s.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.user != "" && !x.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "tempfail"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case strings.HasPrefix(to, "reject"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	x.to = to
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	rc := received{From: x.from, To: x.to, Subject: msg.Header.Get("Subject"), Header: msg.Header, Raw: string(raw)}
	if a, err := mail.ParseAddress(msg.Header.Get("From")); err == nil {
		rc.FromName = a.Name
	}
	mt, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
			case "text/plain":
				rc.Text = string(b)
			case "text/html":
				rc.HTML = string(b)
			}
		}
	} else {
		b, _ := io.ReadAll(msg.Body)
		rc.Text = string(b)
	}
	x.s.mu.Lock()
	x.s.got = append(x.s.got, rc)
	x.s.mu.Unlock()
	return nil
}

// --- helpers ----------------------------------------------------------------

func smtpConfig(addr string) config.Courier {
	return config.Courier{
		SMTP: config.CourierSMTP{
			ConnectionURI: "smtp://" + addr + "/?disable_starttls=true",
			FromAddress:   "no-reply@example.org",
			FromName:      "Example Team",
			LocalName:     "localhost",
			Headers:       map[string]string{"X-Lanyard-Test": "yes"},
		},
		DeliveryStrategy: "smtp",
		MessageRetries:   5,
		Worker:           config.CourierWorker{PullCount: 10, PullWait: 100 * time.Millisecond},
	}
}

func newCourier(t *testing.T, cfg config.Courier, dev bool, s *store.Store) *Courier {
	t.Helper()
	c, err := New(cfg, dev, s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.backoff = func(int) time.Duration { return 200 * time.Millisecond }
	return c
}

func run(t *testing.T, c *Courier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func enqueue(t *testing.T, c *Courier, m Message) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	err := c.store.Write(context.Background(), func(q *store.Q) error {
		var err error
		id, err = c.Enqueue(context.Background(), q, m)
		return err
	})
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func load(t *testing.T, c *Courier, id uuid.UUID) *message {
	t.Helper()
	m, err := c.message(context.Background(), id)
	if err != nil {
		t.Fatalf("loading message %s: %v", id, err)
	}
	return m
}

// --- tests ------------------------------------------------------------------

func TestSMTPDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		sk := newSink(t)
		c := newCourier(t, smtpConfig(sk.addr), false, s)
		run(t, c)
		id := enqueue(t, c, Message{Template: RecoveryCodeValid, To: "alice@example.com", Code: "493817", Identity: &identity.Identity{Traits: json.RawMessage(`{"email":"alice@example.com"}`)}})
		eventually(t, "the email", func() bool { return len(sk.messages()) == 1 })
		got := sk.messages()[0]
		if got.To != "alice@example.com" || got.From != "no-reply@example.org" || got.FromName != "Example Team" {
			t.Errorf("envelope/from: %+v", got)
		}
		if got.Subject != "Your account recovery code" {
			t.Errorf("subject %q", got.Subject)
		}
		if !strings.Contains(got.Text, "493817") || !strings.Contains(got.HTML, "493817") || !strings.Contains(got.HTML, "<p") {
			t.Errorf("bodies: text %q html %q", got.Text, got.HTML)
		}
		if got.Header.Get("X-Lanyard-Test") != "yes" {
			t.Errorf("custom header missing: %v", got.Header)
		}
		eventually(t, "status sent", func() bool { return load(t, c, id).Status == StatusSent })
		m := load(t, c, id)
		if m.SendCount != 1 || len(m.Dispatches) != 1 || m.Dispatches[0].Status != "success" || m.Dispatches[0].Error != nil {
			t.Errorf("message after delivery: %+v", m)
		}
		if m.Type != TypeEmail || m.TemplateType != "recovery_code_valid" || m.Channel != "email" {
			t.Errorf("stored message: %+v", m)
		}
	})
}

func TestSMTPAuthAndTLSPolicy(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	sk := newSink(t)
	sk.user, sk.pass = "mailer", "pa55word"
	cfg := smtpConfig(sk.addr)
	cfg.SMTP.ConnectionURI = "smtp://mailer:pa55word@" + sk.addr + "/?disable_starttls=true"
	c := newCourier(t, cfg, false, s)
	run(t, c)
	id := enqueue(t, c, Message{Template: VerificationCodeValid, To: "jo@example.com", Code: "424242"})
	eventually(t, "an authenticated delivery", func() bool { return load(t, c, id).Status == StatusSent })

	// Without disable_starttls, STARTTLS is mandatory: this server has none.
	cfg.SMTP.ConnectionURI = "smtp://mailer:pa55word@" + sk.addr + "/"
	strict := newCourier(t, cfg, false, s)
	m := &message{ID: uuid.New(), Type: TypeEmail, Recipient: "jo@example.com", Subject: "x", Body: "y"}
	err := strict.senders[TypeEmail].send(context.Background(), m)
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("cleartext server with mandatory STARTTLS: %v", err)
	}
	if n := len(sk.messages()); n != 1 {
		t.Errorf("%d emails arrived", n)
	}
}

func TestRetryBackoffAndAbandon(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		sk := newSink(t)
		cfg := smtpConfig(sk.addr)
		cfg.MessageRetries = 2
		c := newCourier(t, cfg, false, s)
		sk.stop()
		run(t, c)

		later := enqueue(t, c, Message{Template: VerificationCodeValid, To: "bob@example.com", Code: "111222"})
		eventually(t, "a failed attempt", func() bool { return len(load(t, c, later).Dispatches) >= 1 })
		if m := load(t, c, later); m.Status != StatusQueued && m.Status != StatusProcessing {
			t.Fatalf("after one failure the message is %s", m.Status)
		}
		sk.start()
		eventually(t, "delivery after the server came back", func() bool { return load(t, c, later).Status == StatusSent })
		m := load(t, c, later)
		last := m.Dispatches[len(m.Dispatches)-1]
		if last.Status != "success" || m.Dispatches[0].Status != "failed" || m.SendCount != len(m.Dispatches) {
			t.Errorf("dispatches: %+v", m.Dispatches)
		}
		var e map[string]any
		if err := json.Unmarshal(m.Dispatches[0].Error, &e); err != nil || e["message"] == "" {
			t.Errorf("failed dispatch error: %s", m.Dispatches[0].Error)
		}
		if n := len(sk.messages()); n != 1 {
			t.Errorf("%d emails arrived", n)
		}

		// Temporary failures forever: 1 attempt + message_retries retries.
		doomed := enqueue(t, c, Message{Template: VerificationCodeValid, To: "tempfail@example.com", Code: "333444"})
		eventually(t, "abandonment", func() bool { return load(t, c, doomed).Status == StatusAbandoned })
		m = load(t, c, doomed)
		if m.SendCount != 3 || len(m.Dispatches) != 3 {
			t.Errorf("abandoned after %d sends, %d dispatches", m.SendCount, len(m.Dispatches))
		}
		for _, d := range m.Dispatches {
			if d.Status != "failed" || !strings.Contains(string(d.Error), "451") {
				t.Errorf("dispatch %+v %s", d, d.Error)
			}
		}

		// A permanent (5xx) refusal is not retried.
		refused := enqueue(t, c, Message{Template: VerificationCodeValid, To: "reject@example.com", Code: "555666"})
		eventually(t, "abandonment of a refused message", func() bool { return load(t, c, refused).Status == StatusAbandoned })
		if m := load(t, c, refused); m.SendCount != 1 || len(m.Dispatches) != 1 {
			t.Errorf("refused: %d sends", m.SendCount)
		}
	})
}

func TestTwoWorkersSendEachMessageOnce(t *testing.T) {
	ctx := context.Background()
	s1, s2 := storetest.OpenTwice(t, store.Postgres)
	sk := newSink(t)
	cfg := smtpConfig(sk.addr)
	cfg.Worker.PullCount = 4
	c1, c2 := newCourier(t, cfg, false, s1), newCourier(t, cfg, false, s2)
	const n = 50
	for i := range n {
		enqueue(t, c1, Message{Template: RecoveryCodeValid, To: fmt.Sprintf("user%02d@example.com", i), Code: fmt.Sprintf("%06d", i)})
	}
	run(t, c1)
	run(t, c2)
	eventually(t, "50 deliveries", func() bool { return len(sk.messages()) >= n })
	time.Sleep(300 * time.Millisecond) // a duplicate would show up now
	seen := map[string]int{}
	for _, m := range sk.messages() {
		seen[m.To]++
	}
	for i := range n {
		if k := seen[fmt.Sprintf("user%02d@example.com", i)]; k != 1 {
			t.Errorf("user%02d got %d emails", i, k)
		}
	}
	var sent int
	if err := s1.Read().QueryRow(ctx, "SELECT count(*) FROM courier_messages WHERE status = 'sent' AND send_count = 1").Scan(&sent); err != nil || sent != n {
		t.Errorf("%d messages sent once (%v)", sent, err)
	}
}

func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		sk := newSink(t)
		c := newCourier(t, smtpConfig(sk.addr), false, s)
		id := enqueue(t, c, Message{Template: RecoveryValid, To: "carol@example.com", URL: "https://example.com/recover?token=abc"})
		// As if a worker had claimed it and died.
		past := store.Now().Add(-time.Minute)
		err := s.Write(context.Background(), func(q *store.Q) error {
			_, err := q.Exec(context.Background(), "UPDATE courier_messages SET status = 'processing', lease_until = $1, next_attempt_at = $1 WHERE id = $2", past, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		run(t, c)
		eventually(t, "redelivery", func() bool { return load(t, c, id).Status == StatusSent })
		if got := sk.messages(); len(got) != 1 || !strings.Contains(got[0].Text, "https://example.com/recover?token=abc") {
			t.Errorf("got %+v", got)
		}
	})
}

func TestHTTPDelivery(t *testing.T) {
	type request struct {
		header http.Header
		body   string
	}
	var mu sync.Mutex
	var reqs []request
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		reqs = append(reqs, request{r.Header.Clone(), string(b)})
		if r.URL.Path == "/flaky" && fail {
			fail = false
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	snapshot := func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), reqs...)
	}

	s := storetest.Open(t, store.SQLite)
	smsBody := base64.StdEncoding.EncodeToString([]byte(`function(ctx) { To: ctx.recipient, Body: ctx.body, Kind: ctx.template_type }`))
	cfg := config.Courier{
		DeliveryStrategy: "http",
		HTTP: &config.HTTPRequest{URL: srv.URL + "/flaky", Method: "POST",
			Auth: config.HTTPAuth{Type: "basic_auth", User: "mailer", Password: "s3cret"}},
		Channels: []config.CourierChannel{{ID: "sms", Type: "http", Request: config.HTTPRequest{
			URL: srv.URL + "/sms", Method: "POST", Body: "base64://" + smsBody,
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Auth:    config.HTTPAuth{Type: "api_key", Name: "X-Api-Key", Value: "k3y", In: "header"},
		}}},
		MessageRetries: 3,
		Worker:         config.CourierWorker{PullCount: 10, PullWait: 100 * time.Millisecond},
	}
	c := newCourier(t, cfg, false, s)
	run(t, c)
	mail1 := enqueue(t, c, Message{Template: VerificationValid, To: "dave@example.com", URL: "https://example.com/verify?flow=1"})
	sms := enqueue(t, c, Message{Template: VerificationCodeValid, To: "+15550100", Via: ViaSMS, Code: "246810"})
	eventually(t, "both messages sent", func() bool {
		return load(t, c, mail1).Status == StatusSent && load(t, c, sms).Status == StatusSent
	})
	var email, retried, text *request
	for i, r := range snapshot() {
		switch {
		case strings.Contains(r.body, "dave@example.com") && email == nil:
			email = &snapshot()[i]
		case strings.Contains(r.body, "dave@example.com"):
			retried = &snapshot()[i]
		default:
			text = &snapshot()[i]
		}
	}
	if email == nil || retried == nil || text == nil {
		t.Fatalf("requests: %+v", snapshot())
	}
	if u, p, ok := (&http.Request{Header: retried.header}).BasicAuth(); !ok || u != "mailer" || p != "s3cret" {
		t.Errorf("basic auth: %q %q", u, p)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(retried.body), &got); err != nil {
		t.Fatalf("email body %q: %v", retried.body, err)
	}
	if got["recipient"] != "dave@example.com" || got["to"] != "dave@example.com" || got["template_type"] != "verification_valid" ||
		got["verification_url"] != "https://example.com/verify?flow=1" || got["subject"] != "Confirm your address" ||
		!strings.Contains(got["body"].(string), "https://example.com/verify?flow=1") {
		t.Errorf("email body %v", got)
	}
	if _, ok := got["recovery_code"]; !ok {
		t.Errorf("the default body has every field, null when absent: %v", got)
	}
	if text.header.Get("X-Api-Key") != "k3y" || !strings.HasPrefix(text.header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Errorf("sms headers %v", text.header)
	}
	form, err := url.ParseQuery(text.body)
	if err != nil || form.Get("To") != "+15550100" || form.Get("Kind") != "verification_code_valid" || !strings.Contains(form.Get("Body"), "246810") {
		t.Errorf("sms form %q", text.body)
	}
	m := load(t, c, mail1)
	if len(m.Dispatches) != 2 || m.Dispatches[0].Status != "failed" || strings.Contains(string(m.Dispatches[0].Error), "s3cret") {
		t.Errorf("email dispatches %+v", m.Dispatches)
	}
	if !strings.Contains(string(m.Dispatches[0].Error), "503") {
		t.Errorf("dispatch error %s", m.Dispatches[0].Error)
	}
}

func TestTemplateOverrides(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("recovery_code/valid/email.subject.gotmpl", "Code for {{ .Identity.traits.name | upper }}")
	write("recovery_code/valid/email.body.plaintext.gotmpl", `{{ template "email.body.plaintext.greeting.gotmpl" . }} your code: {{ .RecoveryCode }}`)
	write("recovery_code/valid/email.body.plaintext.greeting.gotmpl", "Hi {{ .Identity.traits.name }},")
	write("recovery_code/valid/sms.body.gotmpl", "code={{ .RecoveryCode }}")
	cfg := config.Courier{
		TemplateOverridePath: dir,
		Templates: map[string]string{
			"verification_code.valid.email.subject": "base64://" + base64.StdEncoding.EncodeToString([]byte("Verify with {{ .VerificationCode }}")),
		},
		MessageRetries: 5,
	}
	c := newCourier(t, cfg, true, s)
	erin := &identity.Identity{Traits: json.RawMessage(`{"name":"erin"}`)}
	m := load(t, c, enqueue(t, c, Message{Template: RecoveryCodeValid, To: "erin@example.com", Code: "777888", Identity: erin}))
	if m.Subject != "Code for ERIN" || m.Body != "Hi erin, your code: 777888" {
		t.Errorf("directory override: %q / %q", m.Subject, m.Body)
	}
	m = load(t, c, enqueue(t, c, Message{Template: RecoveryCodeValid, To: "+15550123", Via: ViaSMS, Code: "777888"}))
	if m.Type != TypeSMS || m.Subject != "" || m.Body != "code=777888" {
		t.Errorf("sms override: %+v", m)
	}
	m = load(t, c, enqueue(t, c, Message{Template: VerificationCodeValid, To: "erin@example.com", Code: "121212"}))
	if m.Subject != "Verify with 121212" || !strings.Contains(m.Body, "121212") {
		t.Errorf("base64 override: %q / %q", m.Subject, m.Body)
	}
	// Parts without an override keep the built-in text.
	m = load(t, c, enqueue(t, c, Message{Template: RecoveryCodeInvalid, To: "frank@example.com"}))
	if m.Subject != "Account recovery request" {
		t.Errorf("built-in subject %q", m.Subject)
	}

	write("verification/valid/email.body.gotmpl", "{{ if }")
	if _, err := New(cfg, true, s); err == nil || !strings.Contains(err.Error(), "verification/valid/email.body.gotmpl") {
		t.Errorf("a broken template: %v", err)
	}
	cfg.TemplateOverridePath = filepath.Join(dir, "missing")
	if _, err := New(cfg, true, s); err == nil || !strings.Contains(err.Error(), "template_override_path") {
		t.Errorf("a missing directory: %v", err)
	}
}

func TestAdminAPI(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		sk := newSink(t)
		dev := newCourier(t, smtpConfig(sk.addr), true, s)
		prod := newCourier(t, smtpConfig(sk.addr), false, s)
		var ids []uuid.UUID
		for i := range 3 {
			ids = append(ids, enqueue(t, dev, Message{Template: RecoveryCodeValid, To: "gina@example.com", Code: fmt.Sprintf("90000%d", i)}))
			time.Sleep(2 * time.Millisecond) // distinct created_at
		}
		other := enqueue(t, dev, Message{Template: RecoveryCodeInvalid, To: "hank@example.com"})
		run(t, dev)
		// The worker delivers a pull in parallel, so the last message sent need not be the last queued.
		all := append(slices.Clip(ids), other)
		eventually(t, "deliveries", func() bool {
			for _, id := range all {
				if load(t, dev, id).Status != StatusSent {
					return false
				}
			}
			return true
		})

		serve := func(c *Courier) *httptest.Server {
			mux := http.NewServeMux()
			c.Admin("http://admin.example/").Register(mux, "/admin")
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			return srv
		}
		devSrv, prodSrv := serve(dev), serve(prod)
		get := func(srv *httptest.Server, path string, into any) *http.Response {
			t.Helper()
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if into != nil {
				if err := json.NewDecoder(res.Body).Decode(into); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
			}
			return res
		}

		var list []messageView
		res := get(devSrv, "/admin/courier/messages?recipient=gina@example.com&page_size=2", &list)
		if res.StatusCode != 200 || len(list) != 2 || res.Header.Get("X-Total-Count") != "3" {
			t.Fatalf("list: %d %d %v", res.StatusCode, len(list), res.Header)
		}
		if list[0].ID != ids[2] || list[1].ID != ids[1] || list[0].Body == redacted || !strings.Contains(list[0].Body, "900002") {
			t.Errorf("newest first, unredacted in dev mode: %+v", list)
		}
		link := res.Header.Get("Link")
		if !strings.Contains(link, `rel="next"`) || !strings.HasPrefix(link, "<http://admin.example/admin/courier/messages?") {
			t.Fatalf("link %q", link)
		}
		next := link[strings.LastIndex(link, "<")+1 : strings.LastIndex(link, ">")]
		u, _ := url.Parse(next)
		var page2 []messageView
		res = get(devSrv, "/admin/courier/messages?"+u.RawQuery, &page2)
		if len(page2) != 1 || page2[0].ID != ids[0] || strings.Contains(res.Header.Get("Link"), `rel="next"`) {
			t.Errorf("page 2: %+v %s", page2, res.Header.Get("Link"))
		}

		get(prodSrv, "/admin/courier/messages?status=sent", &list)
		if len(list) != 4 {
			t.Fatalf("status filter: %d", len(list))
		}
		for _, m := range list {
			if m.Subject != redacted || m.Body != redacted || m.Status != StatusSent || m.Type != TypeEmail || m.SendCount != 1 {
				t.Errorf("outside dev mode: %+v", m)
			}
		}
		get(prodSrv, "/admin/courier/messages?status=queued", &list)
		if len(list) != 0 {
			t.Errorf("queued: %+v", list)
		}

		var one messageView
		res = get(prodSrv, "/admin/courier/messages/"+other.String(), &one)
		if res.StatusCode != 200 || one.ID != other || one.Body != redacted || len(one.Dispatches) != 1 || one.Dispatches[0].Status != "success" {
			t.Errorf("get: %d %+v", res.StatusCode, one)
		}
		var raw map[string]any
		get(devSrv, "/admin/courier/messages/"+other.String(), &raw)
		for _, k := range []string{"id", "type", "status", "channel", "recipient", "subject", "body", "template_type", "send_count", "created_at", "updated_at", "dispatches"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("field %s missing: %v", k, raw)
			}
		}

		var e struct {
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		for path, want := range map[string]int{
			"/admin/courier/messages?status=bogus":                 400,
			"/admin/courier/messages?page_token=x":                 400,
			"/admin/courier/messages/not-a-uuid":                   400,
			"/admin/courier/messages/" + uuid.NewString():          404,
			"/admin/courier/messages?recipient=nobody@example.com": 200,
		} {
			res := get(prodSrv, path, nil)
			if res.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
			}
			if want != 200 {
				res2, _ := http.Get(prodSrv.URL + path)
				_ = json.NewDecoder(res2.Body).Decode(&e)
				res2.Body.Close()
				if e.Error.Code != want {
					t.Errorf("%s: error body code %d", path, e.Error.Code)
				}
			}
		}
	})
}

func TestDevModeWithoutDeliveryKeepsMessages(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	c := newCourier(t, config.Courier{MessageRetries: 5, Worker: config.CourierWorker{PullCount: 10, PullWait: 50 * time.Millisecond}}, true, s)
	run(t, c)
	id := enqueue(t, c, Message{Template: VerificationCodeValid, To: "ivy@example.com", Code: "135790"})
	time.Sleep(300 * time.Millisecond)
	if m := load(t, c, id); m.Status != StatusQueued || m.SendCount != 0 || len(m.Dispatches) != 0 || !strings.Contains(m.Body, "135790") {
		t.Errorf("kept message: %+v", m)
	}
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	c := newCourier(t, config.Courier{}, true, s)
	err := s.Write(context.Background(), func(q *store.Q) error {
		_, err := c.Enqueue(context.Background(), q, Message{Template: RecoveryCodeValid, To: "  ", Code: "1"})
		return err
	})
	if err == nil {
		t.Error("empty recipient accepted")
	}
}
