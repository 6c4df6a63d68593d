package courier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// What must never leave the process in a message, nor be stored with one.
const (
	leakHash       = "$2a$04$7F6DYVBiifz4.x3qMeTY5uNNVchjG.9Oyg89zxHQhboqLaqqaWtny"
	leakArgonHash  = "$argon2id$v=19$m=16384,t=1,p=1$c2FsdA$aGFzaA"
	leakAdminValue = "admin-only-4e1f9c"
)

// leakyIdentity has everything an identity can hold: a password hash (two
// kinds, for good measure), admin metadata, public metadata, addresses.
func leakyIdentity() *identity.Identity {
	now := time.Now().UTC().Truncate(time.Second)
	ext := "ext-42"
	return &identity.Identity{
		ID: uuid.New(), SchemaID: "default", State: identity.StateActive, StateChangedAt: &now,
		Traits:              json.RawMessage(`{"email":"leak@example.com","name":"Lee"}`),
		MetadataPublic:      json.RawMessage(`{"plan":"gold"}`),
		MetadataAdmin:       json.RawMessage(`{"note":"` + leakAdminValue + `"}`),
		ExternalID:          &ext,
		VerifiableAddresses: []identity.VerifiableAddress{{ID: uuid.New(), Via: "email", Value: "leak@example.com", Status: identity.AddressStatusPending, CreatedAt: now, UpdatedAt: now}},
		RecoveryAddresses:   []identity.RecoveryAddress{{ID: uuid.New(), Via: "email", Value: "leak@example.com", CreatedAt: now, UpdatedAt: now}},
		Credentials: map[string]*identity.Credential{
			"password": {ID: uuid.New(), Type: "password", Identifiers: []string{"leak@example.com"}, Config: json.RawMessage(`{"hashed_password":"` + leakHash + `"}`), Version: 1},
			"legacy":   {ID: uuid.New(), Type: "legacy", Config: json.RawMessage(`{"hashed_password":"` + leakArgonHash + `"}`)},
		},
		CreatedAt: now, UpdatedAt: now,
	}
}

// leakCase is one message of every template type and channel.
type leakCase struct {
	msg Message
	// keys are the template_data keys Kratos's model of the type has.
	keys []string
}

// traitsAsIdentity: Kratos's SMS model of a registration code holds the
// traits under identity.
func (lc leakCase) traitsAsIdentity() bool {
	return lc.msg.Template == RegistrationCodeValid && lc.msg.channel() == ViaSMS
}

// leakyTraits are the traits of a registration; an identity given along
// (which a registration has not) must not reach its messages.
func leakyTraits() map[string]any { return map[string]any{"email": "leak@example.com", "name": "Lee"} }

func leakCases() []leakCase {
	i := leakyIdentity()
	base := func(typ, via, to string) Message {
		return Message{Template: typ, Via: via, To: to, Identity: i, RequestURL: "https://auth.example.com/self-service/recovery/api",
			TransientPayload: map[string]any{"campaign": "spring"}, ExpiresIn: 15 * time.Minute}
	}
	withCode := func(m Message) Message { m.Code = "123456"; return m }
	withURL := func(m Message, u string) Message { m.URL = u; return m }
	withTraits := func(m Message) Message { m.Traits = leakyTraits(); return m }
	const rec, ver = "https://auth.example.com/self-service/recovery?flow=f&token=t", "https://auth.example.com/self-service/verification?flow=f&code=123456"
	notice := []string{"to", "request_url", "transient_payload"}
	var out []leakCase
	for _, via := range []string{ViaEmail, ViaSMS} {
		to := "leak@example.com"
		if via == ViaSMS {
			to = "+15550100"
		}
		out = append(out,
			leakCase{withURL(base(RecoveryValid, via, to), rec), []string{"to", "recovery_url", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
			leakCase{base(RecoveryInvalid, via, to), notice},
			leakCase{base(RecoveryCodeInvalid, via, to), notice},
			leakCase{withURL(base(VerificationValid, via, to), ver), []string{"to", "verification_url", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
			leakCase{base(VerificationInvalid, via, to), notice},
			leakCase{base(VerificationCodeInvalid, via, to), notice},
		)
	}
	out = append(out,
		leakCase{withCode(base(RecoveryCodeValid, ViaEmail, "leak@example.com")), []string{"to", "recovery_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
		// Kratos's SMS model names the recovery code verification_code.
		leakCase{withCode(base(RecoveryCodeValid, ViaSMS, "+15550100")), []string{"to", "verification_code", "identity", "request_url", "request_url_domain", "transient_payload", "expires_in_minutes"}},
		leakCase{withURL(withCode(base(VerificationCodeValid, ViaEmail, "leak@example.com")), ver), []string{"to", "verification_url", "verification_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
		leakCase{withCode(base(VerificationCodeValid, ViaSMS, "+15550100")), []string{"to", "verification_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
		leakCase{withCode(base(LoginCodeValid, ViaEmail, "leak@example.com")), []string{"to", "login_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
		leakCase{withCode(base(LoginCodeValid, ViaSMS, "+15550100")), []string{"to", "login_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
		leakCase{withTraits(withCode(base(RegistrationCodeValid, ViaEmail, "leak@example.com"))), []string{"to", "traits", "registration_code", "request_url", "transient_payload", "expires_in_minutes"}},
		leakCase{withTraits(withCode(base(RegistrationCodeValid, ViaSMS, "+15550100"))), []string{"to", "registration_code", "identity", "request_url", "transient_payload", "expires_in_minutes"}},
	)
	return out
}

// identityKeys are all the keys the identity in template data may have.
var identityKeys = map[string]bool{
	"id": true, "schema_id": true, "schema_url": true, "state": true, "state_changed_at": true, "traits": true,
	"verifiable_addresses": true, "recovery_addresses": true, "metadata_public": true, "external_id": true,
	"created_at": true, "updated_at": true, "organization_id": true,
}

var snakeCase = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// requireNoSecrets fails when b holds a password hash, a credential or
// admin metadata.
func requireNoSecrets(t *testing.T, where string, b string) {
	t.Helper()
	lower := strings.ToLower(b)
	for _, bad := range []string{"$2a$", "$argon2", leakAdminValue} {
		if strings.Contains(b, bad) {
			t.Errorf("%s holds %q: %s", where, bad, b)
		}
	}
	for _, bad := range []string{"hashed_password", "hashedpassword", "credential", "metadata_admin", "metadataadmin"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s mentions %q: %s", where, bad, b)
		}
	}
}

// requireKratosData checks template data as JSON: exactly the type's keys,
// by their JSON names, and an identity of public fields only (or, where
// Kratos puts them there, the traits and nothing else).
func requireKratosData(t *testing.T, where string, raw []byte, want []string, traitsAsIdentity bool) {
	t.Helper()
	requireNoSecrets(t, where, string(raw))
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatalf("%s: %v: %s", where, err, raw)
	}
	var got []string
	for k := range data {
		got = append(got, k)
	}
	sort.Strings(got)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: keys %v, want %v", where, got, want)
	}
	if tr, ok := data["traits"]; ok && !reflect.DeepEqual(tr, leakyTraits()) {
		t.Errorf("%s: traits %v, want %v", where, tr, leakyTraits())
	}
	if id, ok := data["identity"]; ok && traitsAsIdentity {
		if !reflect.DeepEqual(id, leakyTraits()) {
			t.Errorf("%s: identity %v, want the traits %v", where, id, leakyTraits())
		}
	} else if ok {
		m, _ := id.(map[string]any)
		if m["id"] == nil || m["traits"] == nil {
			t.Errorf("%s: identity %v lacks id or traits", where, id)
		}
		for k := range m {
			if !identityKeys[k] {
				t.Errorf("%s: identity has key %q", where, k)
			}
		}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				free := path == "transient_payload" || path == "identity.traits" || path == "identity.metadata_public" || path == "traits" || (traitsAsIdentity && path == "identity")
				if !free && !snakeCase.MatchString(k) {
					t.Errorf("%s: key %q in %s is no JSON name (a Go field name?)", where, k, path)
				}
				walk(strings.TrimPrefix(path+"."+k, "."), x)
			}
		case []any:
			for _, x := range v {
				walk(path, x)
			}
		}
	}
	walk("", data)
}

// dumpAllTemplates writes overrides for every part of every template type
// that print all the data a template sees, so that whatever is in it
// shows up in the message.
func dumpAllTemplates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range templateTypes {
		for _, p := range []part{partSubject, partHTML, partText, partSMS} {
			body := "{{ printf \"%v\" . }}"
			if p == partHTML {
				body = "<p>{{ . }}</p>"
			}
			if p == partSubject {
				body = "{{ printf \"%v\" .To }} {{ printf \"%v\" .Identity }}"
			}
			path := filepath.Join(dir, d, p.file)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// capture is an HTTP endpoint standing in for a mail or SMS service.
type capture struct {
	mu     sync.Mutex
	bodies []string
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, string(b))
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (c *capture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...)
}

// storedTemplateData is the template_data column of every message.
func storedTemplateData(t *testing.T, s *store.Store) map[uuid.UUID]string {
	t.Helper()
	rows, err := s.Read().Query(context.Background(), `SELECT id, template_data FROM courier_messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			t.Fatal(err)
		}
		out[id] = data
	}
	return out
}

// TestNoSecretLeavesInMessages: for every template type and channel, with
// built-in templates and with overrides that print everything they see,
// neither the stored message (template_data, subject, body) nor what goes
// out over SMTP or HTTP (a Jsonnet body that forwards the whole ctx) holds
// a password hash, a credential or admin metadata, and template_data holds
// exactly Kratos's fields by their JSON names.
func TestNoSecretLeavesInMessages(t *testing.T) {
	for _, templates := range []string{"built-in", "dump-everything"} {
		for _, email := range []string{"smtp", "http"} {
			t.Run(templates+"/email-over-"+email, func(t *testing.T) {
				storetest.Run(t, func(t *testing.T, s *store.Store) {
					overrides := ""
					if templates == "dump-everything" {
						overrides = dumpAllTemplates(t)
					}
					checkDeliveredWithoutSecrets(t, s, email, overrides)
				})
			})
		}
	}
}

func checkDeliveredWithoutSecrets(t *testing.T, s *store.Store, email, overrides string) {
	sk := newSink(t)
	gateway := &capture{}
	srv := httptest.NewServer(gateway)
	t.Cleanup(srv.Close)
	forward := "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) ctx`))
	cfg := smtpConfig(sk.addr)
	if email == "http" {
		cfg.DeliveryStrategy = "http"
		cfg.SMTP = config.CourierSMTP{}
		cfg.HTTP = &config.HTTPRequest{URL: srv.URL + "/mail", Method: "POST", Body: forward}
	}
	cfg.TemplateOverridePath = overrides
	cfg.Channels = []config.CourierChannel{{ID: "sms", Type: "http", Request: config.HTTPRequest{URL: srv.URL + "/sms", Method: "POST", Body: forward}}}
	c := newCourier(t, cfg, false, s)

	cases := leakCases()
	want := map[uuid.UUID]leakCase{}
	for _, lc := range cases {
		want[enqueue(t, c, lc.msg)] = lc
	}

	// Stored: template_data, subject and body.
	stored := storedTemplateData(t, s)
	for id, lc := range want {
		requireKratosData(t, "stored template_data of "+lc.msg.Template+" ("+lc.msg.channel()+")", []byte(stored[id]), lc.keys, lc.traitsAsIdentity())
		m := load(t, c, id)
		requireNoSecrets(t, "stored subject and body of "+lc.msg.Template, m.Subject+"\n"+m.Body)
	}

	run(t, c)
	mails := 0
	for _, lc := range cases {
		if lc.msg.channel() == ViaEmail {
			mails++
		}
	}
	requests := len(cases)
	if email == "smtp" {
		requests -= mails
		eventually(t, "every email over SMTP", func() bool { return len(sk.messages()) >= mails })
	}
	eventually(t, "every HTTP request", func() bool { return len(gateway.all()) >= requests })
	for _, m := range sk.messages() {
		requireNoSecrets(t, "an email sent over SMTP", m.Raw+"\n"+m.Subject+"\n"+m.Text+"\n"+m.HTML)
		if overrides != "" && !strings.Contains(m.Text, "traits") && !strings.Contains(m.Text, "RequestURL") {
			t.Errorf("the dumping template printed too little: %s", m.Text)
		}
	}
	for _, body := range gateway.all() {
		var ctx struct {
			TemplateType string          `json:"template_type"`
			TemplateData json.RawMessage `json:"template_data"`
			MessageType  string          `json:"message_type"`
			HTMLBody     string          `json:"html_body"`
		}
		if err := json.Unmarshal([]byte(body), &ctx); err != nil {
			t.Fatalf("HTTP body %q: %v", body, err)
		}
		requireNoSecrets(t, "an HTTP request", body)
		if ctx.MessageType == TypeEmail && ctx.HTMLBody == "" {
			t.Errorf("no html_body in %s", body)
		}
		for _, lc := range cases {
			if lc.msg.Template == ctx.TemplateType && lc.msg.channel() == ctx.MessageType {
				requireKratosData(t, "template_data sent over HTTP for "+ctx.TemplateType+" ("+ctx.MessageType+")", ctx.TemplateData, lc.keys, lc.traitsAsIdentity())
			}
		}
	}
}

// TestStoredRowsAreCutDownOnDelivery: a row queued by an older version,
// whose template_data holds the whole identity under Go field names, is
// sent with Kratos's fields only.
func TestStoredRowsAreCutDownOnDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		gateway := &capture{}
		srv := httptest.NewServer(gateway)
		t.Cleanup(srv.Close)
		forward := "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) ctx`))
		c := newCourier(t, config.Courier{
			DeliveryStrategy: "http",
			HTTP:             &config.HTTPRequest{URL: srv.URL, Method: "POST", Body: forward},
			MessageRetries:   3,
			Worker:           config.CourierWorker{PullCount: 10, PullWait: 50 * time.Millisecond},
		}, false, s)
		old, err := json.Marshal(map[string]any{"To": "old@example.com", "RecoveryCode": "654321", "Identity": leakyIdentity(), "Extra": leakAdminValue})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(context.Background(), func(q *store.Q) error {
			_, err := q.Exec(context.Background(), `INSERT INTO courier_messages
				(id, type, status, channel, recipient, subject, body, template_type, template_data, send_count, next_attempt_at, created_at, updated_at)
				VALUES ($1, 'email', 'queued', 'email', 'old@example.com', 's', 'b', 'recovery_code_valid', $2, 0, $3, $3, $3)`, uuid.New(), string(old), store.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		run(t, c)
		eventually(t, "the delivery", func() bool { return len(gateway.all()) == 1 })
		body := gateway.all()[0]
		requireNoSecrets(t, "the HTTP request", body)
		var ctx struct {
			TemplateData json.RawMessage `json:"template_data"`
			HTMLBody     string          `json:"html_body"`
		}
		if err := json.Unmarshal([]byte(body), &ctx); err != nil {
			t.Fatal(err)
		}
		requireKratosData(t, "template_data", ctx.TemplateData, []string{"to", "recovery_code", "identity"}, false)
		if !strings.Contains(ctx.HTMLBody, "654321") {
			t.Errorf("the HTML body lost the code: %s", ctx.HTMLBody)
		}
	})
}

func countMessages(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.Read().QueryRow(context.Background(), `SELECT count(*) FROM courier_messages`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRehearseQueuesNothing: a rehearsal renders and runs the INSERT
// statement but stores no row, except the notice it is given; a template
// the stand-in identity cannot fill is no error.
func TestRehearseQueuesNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		dir := t.TempDir()
		p := filepath.Join(dir, "recovery_code", "valid", "email.subject.gotmpl")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		// upper fails on a missing trait, as the stand-in has no name.
		if err := os.WriteFile(p, []byte("Code for {{ .Identity.traits.name | upper }}"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := newCourier(t, config.Courier{TemplateOverridePath: dir, MessageRetries: 5}, true, s)
		write := func(fn func(q *store.Q) error) {
			t.Helper()
			if err := s.Write(context.Background(), fn); err != nil {
				t.Fatal(err)
			}
		}
		msg := Message{Template: RecoveryCodeValid, To: "nobody@example.com", Code: "111111", ExpiresIn: time.Hour}
		write(func(q *store.Q) error { return c.Rehearse(context.Background(), q, msg, nil) })
		if n := countMessages(t, s); n != 0 {
			t.Fatalf("a rehearsal stored %d messages", n)
		}
		notice := Message{Template: RecoveryCodeInvalid, To: "nobody@example.com"}
		write(func(q *store.Q) error { return c.Rehearse(context.Background(), q, msg, &notice) })
		var typ, to string
		if err := s.Read().QueryRow(context.Background(), `SELECT template_type, recipient FROM courier_messages`).Scan(&typ, &to); err != nil {
			t.Fatal(err)
		}
		if typ != RecoveryCodeInvalid || to != "nobody@example.com" || countMessages(t, s) != 1 {
			t.Errorf("with a notice: %d messages, %s to %s", countMessages(t, s), typ, to)
		}
		// The same template renders for an owner with a name.
		msg.Identity = &identity.Identity{Traits: json.RawMessage(`{"name":"nia"}`)}
		if m := load(t, c, enqueue(t, c, msg)); m.Subject != "Code for NIA" {
			t.Errorf("subject %q", m.Subject)
		}
	})
}

// TestTemplatesSeeKratosFields: templates read the fields of Kratos's
// models by their Go names.
func TestTemplatesSeeKratosFields(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	p := filepath.Join(dir, "verification_code", "valid", "email.body.plaintext.gotmpl")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	body := "{{ .To }}|{{ .VerificationCode }}|{{ .VerificationURL }}|{{ .Identity.traits.name }}|{{ .Identity.metadata_public.plan }}|{{ .RequestURL }}|{{ .TransientPayload.campaign }}|{{ .ExpiresInMinutes }}"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCourier(t, config.Courier{TemplateOverridePath: dir, MessageRetries: 5}, true, s)
	var msg Message
	for _, lc := range leakCases() {
		if lc.msg.Template == VerificationCodeValid && lc.msg.channel() == ViaEmail {
			msg = lc.msg
		}
	}
	m := load(t, c, enqueue(t, c, msg))
	want := "leak@example.com|123456|https://auth.example.com/self-service/verification?flow=f&code=123456|Lee|gold|https://auth.example.com/self-service/recovery/api|spring|15"
	if m.Body != want {
		t.Errorf("body %q, want %q", m.Body, want)
	}
}

// capAt allows the first n messages per address.
type capAt struct {
	n    int
	seen map[string]int
}

func (c *capAt) AllowMessage(_ context.Context, _ *store.Q, address string) (bool, error) {
	c.seen[address]++
	return c.seen[address] <= c.n, nil
}

// TestMailerLimit: with a limiter, every message counts against its
// address, queued or rehearsed; over the limit nothing is queued.
func TestMailerLimit(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	c := newCourier(t, config.Courier{MessageRetries: 5}, true, s)
	limit := &capAt{n: 2, seen: map[string]int{}}
	m := c.Mailer().WithLimit(limit)
	known := Message{Template: RecoveryCodeValid, To: "capped@example.com", Code: "123456"}
	unknown := Message{Template: RecoveryCodeValid, To: "nobody@example.com", Code: "123456"}
	notice := Message{Template: RecoveryCodeInvalid, To: "nobody@example.com"}
	for range 5 {
		err := s.Write(context.Background(), func(q *store.Q) error {
			if err := m.Queue(context.Background(), q, known); err != nil {
				return err
			}
			return m.Rehearse(context.Background(), q, unknown, &notice)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if limit.seen[known.To] != 5 || limit.seen[unknown.To] != 5 {
		t.Errorf("counted %v, want 5 for each address", limit.seen)
	}
	for _, to := range []string{known.To, unknown.To} {
		var n int
		if err := s.Read().QueryRow(context.Background(), `SELECT count(*) FROM courier_messages WHERE recipient = $1`, to).Scan(&n); err != nil || n != 2 {
			t.Errorf("%s: %d messages (%v), want 2", to, n, err)
		}
	}
}
