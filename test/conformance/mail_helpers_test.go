package conformance

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// mailSink is a real SMTP server on loopback that keeps what it receives.
// Lanyard reaches it through courier.smtp.connection_uri (see URI).
type mailSink struct {
	t    *testing.T
	addr string
	srv  *smtp.Server
	ln   net.Listener

	mu       sync.Mutex
	received []receivedMail
	arrived  chan struct{}
}

// receivedMail is one delivered message, decoded.
type receivedMail struct {
	From    string
	To      []string
	Subject string
	// Text is the plain-text part (or the whole body of a single-part mail).
	Text string
	HTML string
}

// startMailSink starts a sink on a free loopback port; it stops when the
// test ends.
func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	s := &mailSink{t: t, arrived: make(chan struct{}, 1)}
	s.listen(t, "127.0.0.1:0")
	t.Cleanup(s.Stop)
	return s
}

func (s *mailSink) listen(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a stopped sink can take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("SMTP sink: %v", err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	s.mu.Lock()
	s.ln, s.srv, s.addr = ln, srv, ln.Addr().String()
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URI is the courier.smtp.connection_uri that reaches the sink (plain SMTP
// on loopback, as Kratos's disable_starttls option allows).
func (s *mailSink) URI() string {
	return "smtp://" + s.addr + "/?disable_starttls=true"
}

// Stop shuts the sink down; Restart brings it back on the same port.
func (s *mailSink) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (s *mailSink) Restart(t *testing.T) {
	t.Helper()
	s.listen(t, s.addr)
}

// Received returns a copy of everything delivered so far.
func (s *mailSink) Received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.received...)
}

// WaitFor waits until a message to recipient arrives whose subject or text
// contains contains ("" matches any) and returns it.
func (s *mailSink) WaitFor(t *testing.T, recipient, contains string, timeout time.Duration) receivedMail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range s.Received() {
			if m.sentTo(recipient) && (contains == "" || strings.Contains(m.Subject+"\n"+m.Text, contains)) {
				return m
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no mail to %s containing %q within %s; received: %+v", recipient, contains, timeout, s.Received())
		}
		select {
		case <-s.arrived:
		case <-time.After(min(left, 200*time.Millisecond)):
		}
	}
}

// CountTo is how many messages recipient has received.
func (s *mailSink) CountTo(recipient string) int {
	n := 0
	for _, m := range s.Received() {
		if m.sentTo(recipient) {
			n++
		}
	}
	return n
}

func (m receivedMail) sentTo(recipient string) bool {
	for _, to := range m.To {
		if strings.EqualFold(to, recipient) {
			return true
		}
	}
	return false
}

var (
	sixDigits = regexp.MustCompile(`\b\d{6}\b`)
	anyURL    = regexp.MustCompile(`https?://[^\s"'<>]+`)
)

// Code is the first six-digit code in the plain-text body.
func (m receivedMail) Code(t *testing.T) string {
	t.Helper()
	c := sixDigits.FindString(m.Text)
	if c == "" {
		t.Fatalf("no six-digit code in the mail %q: %s", m.Subject, m.Text)
	}
	return c
}

// Link is the first URL in the plain-text body that contains part.
func (m receivedMail) Link(t *testing.T, part string) string {
	t.Helper()
	for _, u := range anyURL.FindAllString(m.Text, -1) {
		if strings.Contains(u, part) {
			return u
		}
	}
	t.Fatalf("no link containing %q in the mail %q: %s", part, m.Subject, m.Text)
	return ""
}

// The go-smtp backend: each connection gets a session that collects one
// message at a time.

func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *mailSink
	from string
	to   []string
}

func (x *sinkSession) AuthMechanisms() []string                    { return nil }
func (x *sinkSession) Auth(string) (any, error)                    { return nil, errors.New("no auth") }
func (x *sinkSession) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error   { x.to = append(x.to, to); return nil }
func (x *sinkSession) Reset()                                      { x.from, x.to = "", nil }
func (x *sinkSession) Logout() error                               { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decodeMail(raw)
	if err != nil {
		return fmt.Errorf("undecodable mail: %w", err)
	}
	m.From, m.To = x.from, append([]string(nil), x.to...)
	x.sink.mu.Lock()
	x.sink.received = append(x.sink.received, m)
	x.sink.mu.Unlock()
	select {
	case x.sink.arrived <- struct{}{}:
	default:
	}
	return nil
}

// decodeMail reads the subject and the text and HTML parts of a MIME mail.
func decodeMail(raw []byte) (receivedMail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return receivedMail{}, err
	}
	var out receivedMail
	dec := new(mime.WordDecoder)
	if out.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		out.Subject = msg.Header.Get("Subject")
	}
	err = readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &out)
	return out, err
}

func readPart(contentType, encoding string, body io.Reader, out *receivedMail) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, out); err != nil {
				return err
			}
		}
	}
	data, err := io.ReadAll(transferDecoder(encoding, body))
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/html":
		out.HTML = string(data)
	default:
		out.Text = string(data)
	}
	return nil
}

func transferDecoder(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	}
	return r
}

// newlineStripper drops the line breaks base64 bodies are wrapped with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	j := 0
	for _, c := range p[:k] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	return j, err
}
