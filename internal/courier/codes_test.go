package courier

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
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

// codeMessages are a sign-in and a sign-up code by email and by SMS, as
// the code method sends them: a sign-in for an identity, a sign-up for
// traits that have no identity yet.
func codeMessages() map[string]Message {
	ada := &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive,
		Traits: json.RawMessage(`{"email":"ada@example.com","phone":"+15550101","name":"Ada"}`)}
	traits := map[string]any{"email": "new@example.com", "phone": "+15550102", "name": "Nia"}
	common := func(typ, via, to, code string) Message {
		m := Message{Template: typ, Via: via, To: to, Code: code, RequestURL: "https://auth.example.com/self-service/login/api",
			TransientPayload: map[string]any{"campaign": "spring"}, ExpiresIn: 15 * time.Minute}
		if typ == LoginCodeValid {
			m.Identity = ada
		} else {
			m.Traits = traits
		}
		return m
	}
	return map[string]Message{
		"login/email":        common(LoginCodeValid, ViaEmail, "ada@example.com", "314159"),
		"login/sms":          common(LoginCodeValid, ViaSMS, "+15550101", "271828"),
		"registration/email": common(RegistrationCodeValid, ViaEmail, "new@example.com", "161803"),
		"registration/sms":   common(RegistrationCodeValid, ViaSMS, "+15550102", "141421"),
	}
}

// TestCodeTemplatesBuiltIn: the built-in texts of sign-in and sign-up
// codes, by email (subject, plain text with the code alone on a line, HTML)
// and by SMS (a body, no subject), stored as Kratos's message types.
func TestCodeTemplatesBuiltIn(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	c := newCourier(t, config.Courier{MessageRetries: 5}, true, s)
	subjects := map[string]string{"login/email": "Your sign-in code", "registration/email": "Your sign-up code"}
	sms := map[string]string{"login/sms": "Your sign-in code is 271828", "registration/sms": "Your sign-up code is 141421"}
	for name, msg := range codeMessages() {
		m := load(t, c, enqueue(t, c, msg))
		if m.TemplateType != msg.Template || m.Recipient != msg.To {
			t.Errorf("%s: stored as %s to %s", name, m.TemplateType, m.Recipient)
		}
		if want, ok := sms[name]; ok {
			if m.Type != TypeSMS || m.Channel != "sms" || m.Subject != "" || m.Body != want {
				t.Errorf("%s: %s on %s, subject %q, body %q; want an SMS %q", name, m.Type, m.Channel, m.Subject, m.Body, want)
			}
			continue
		}
		if m.Type != TypeEmail || m.Subject != subjects[name] {
			t.Errorf("%s: %s with subject %q", name, m.Type, m.Subject)
		}
		if !strings.Contains(m.Body, "\n"+msg.Code+"\n") {
			t.Errorf("%s: the code is not alone on a line of the body:\n%s", name, m.Body)
		}
		goData, _ := msg.data()
		html, err := c.templates[msg.Template].renderHTML(goData)
		if err != nil || !strings.Contains(html, ">"+msg.Code+"</p>") {
			t.Errorf("%s: HTML body (%v):\n%s", name, err, html)
		}
	}
}

// writeOverride writes one template file under dir.
func writeOverride(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCodeTemplatesSeeKratosFields: overrides in template_override_path
// read exactly the fields of Kratos's models, by Go name: the identity for
// a sign-in, the traits for a sign-up (under Identity in its SMS model),
// and nothing of an identity in a sign-up email.
func TestCodeTemplatesSeeKratosFields(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	const rest = "|{{ .RequestURL }}|{{ .TransientPayload.campaign }}|{{ .ExpiresInMinutes }}"
	writeOverride(t, dir, "login_code/valid/email.subject.gotmpl", "Hi {{ .Identity.traits.name }}")
	writeOverride(t, dir, "login_code/valid/email.body.plaintext.gotmpl", "{{ .To }}|{{ .LoginCode }}|{{ .Identity.traits.name }}|{{ .Identity.schema_id }}"+rest)
	writeOverride(t, dir, "login_code/valid/sms.body.gotmpl", "{{ .To }}|{{ .LoginCode }}|{{ .Identity.traits.phone }}"+rest)
	writeOverride(t, dir, "registration_code/valid/email.subject.gotmpl", "Welcome {{ .Traits.name }}")
	writeOverride(t, dir, "registration_code/valid/email.body.plaintext.gotmpl", "{{ .To }}|{{ .RegistrationCode }}|{{ .Traits.name }}|{{ .Identity }}|{{ .LoginCode }}"+rest)
	writeOverride(t, dir, "registration_code/valid/sms.body.gotmpl", "{{ .To }}|{{ .RegistrationCode }}|{{ .Identity.name }}|{{ .Traits }}"+rest)
	c := newCourier(t, config.Courier{TemplateOverridePath: dir, MessageRetries: 5}, true, s)
	const tail = "|https://auth.example.com/self-service/login/api|spring|15"
	for name, want := range map[string]struct{ subject, body string }{
		"login/email":        {"Hi Ada", "ada@example.com|314159|Ada|default" + tail},
		"login/sms":          {"", "+15550101|271828|+15550101" + tail},
		"registration/email": {"Welcome Nia", "new@example.com|161803|Nia|<no value>|<no value>" + tail},
		"registration/sms":   {"", "+15550102|141421|Nia|<no value>" + tail},
	} {
		m := load(t, c, enqueue(t, c, codeMessages()[name]))
		if m.Subject != want.subject || m.Body != want.body {
			t.Errorf("%s: %q / %q, want %q / %q", name, m.Subject, m.Body, want.subject, want.body)
		}
	}
}

// TestCodeTemplatesOverriddenByConfig: every part of both types can be
// replaced through courier.templates, which wins over
// template_override_path.
func TestCodeTemplatesOverriddenByConfig(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	writeOverride(t, dir, "login_code/valid/email.subject.gotmpl", "from the directory")
	b64 := func(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }
	file := filepath.Join(t.TempDir(), "sms.gotmpl")
	if err := os.WriteFile(file, []byte("file: {{ .RegistrationCode }}"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Courier{TemplateOverridePath: dir, MessageRetries: 5, Templates: map[string]string{
		"login_code.valid.email.subject":               b64("Sign in, {{ .Identity.traits.name }}"),
		"login_code.valid.email.body.plaintext":        b64("text {{ .LoginCode }}"),
		"login_code.valid.email.body.html":             b64("<b>{{ .LoginCode }}</b>"),
		"login_code.valid.sms.body.plaintext":          b64("sms {{ .LoginCode }}"),
		"registration_code.valid.email.subject":        b64("Sign up, {{ .Traits.name }}"),
		"registration_code.valid.email.body.plaintext": b64("text {{ .RegistrationCode }}"),
		"registration_code.valid.email.body.html":      b64("<b>{{ .RegistrationCode }}</b>"),
		"registration_code.valid.sms.body.plaintext":   "file://" + file,
	}}
	c := newCourier(t, cfg, true, s)
	for name, want := range map[string]struct{ subject, body, html string }{
		"login/email":        {"Sign in, Ada", "text 314159", "<b>314159</b>"},
		"login/sms":          {"", "sms 271828", ""},
		"registration/email": {"Sign up, Nia", "text 161803", "<b>161803</b>"},
		"registration/sms":   {"", "file: 141421", ""},
	} {
		msg := codeMessages()[name]
		m := load(t, c, enqueue(t, c, msg))
		if m.Subject != want.subject || m.Body != want.body {
			t.Errorf("%s: %q / %q, want %q / %q", name, m.Subject, m.Body, want.subject, want.body)
		}
		if want.html != "" {
			goData, _ := msg.data()
			if html, err := c.templates[msg.Template].renderHTML(goData); err != nil || html != want.html {
				t.Errorf("%s: HTML %q (%v), want %q", name, html, err, want.html)
			}
		}
	}

	cfg.Templates = map[string]string{"registration_code.valid.email.body.html": b64("{{ if }")}
	if _, err := New(cfg, true, s); err == nil || !strings.Contains(err.Error(), "courier.templates.registration_code.valid.email.body.html") {
		t.Errorf("a broken override: %v", err)
	}
}

// TestCodeMessagesOverHTTP: sign-in and sign-up codes leave over HTTP with
// Kratos's template_data, by JSON names, emails to the email endpoint and
// SMS messages to the sms channel, stored rows and sent bodies alike.
func TestCodeMessagesOverHTTP(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		got := map[string][]map[string]any{} // by path
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
			}
			mu.Lock()
			got[r.URL.Path] = append(got[r.URL.Path], body)
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		forward := "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) ctx`))
		c := newCourier(t, config.Courier{
			DeliveryStrategy: "http",
			HTTP:             &config.HTTPRequest{URL: srv.URL + "/mail", Method: "POST", Body: forward},
			Channels:         []config.CourierChannel{{ID: "sms", Type: "http", Request: config.HTTPRequest{URL: srv.URL + "/sms", Method: "POST", Body: forward}}},
			MessageRetries:   3,
			Worker:           config.CourierWorker{PullCount: 10, PullWait: 50 * time.Millisecond},
		}, false, s)
		msgs := codeMessages()
		ids := map[string]uuid.UUID{}
		for name, msg := range msgs {
			ids[name] = enqueue(t, c, msg)
		}
		traits := msgs["registration/email"].Traits
		common := map[string]any{"request_url": "https://auth.example.com/self-service/login/api", "transient_payload": map[string]any{"campaign": "spring"}, "expires_in_minutes": float64(15)}
		want := map[string]map[string]any{
			"login/email":        {"to": "ada@example.com", "login_code": "314159"},
			"login/sms":          {"to": "+15550101", "login_code": "271828"},
			"registration/email": {"to": "new@example.com", "registration_code": "161803", "traits": traits},
			"registration/sms":   {"to": "+15550102", "registration_code": "141421", "identity": traits},
		}
		for name, w := range want {
			for k, v := range common {
				w[k] = v
			}
			if strings.HasPrefix(name, "login/") {
				w["identity"] = "(an identity)"
			}
		}
		check := func(where, name string, data map[string]any) {
			t.Helper()
			w := want[name]
			if len(data) != len(w) {
				t.Errorf("%s %s: template_data %v, want the keys of %v", where, name, data, w)
			}
			for k, v := range w {
				if v == "(an identity)" {
					if id, _ := data[k].(map[string]any); id["schema_id"] != "default" || id["traits"] == nil {
						t.Errorf("%s %s: identity %v", where, name, data[k])
					}
					continue
				}
				if !reflect.DeepEqual(data[k], v) {
					t.Errorf("%s %s: %s = %#v, want %#v", where, name, k, data[k], v)
				}
			}
		}
		stored := storedTemplateData(t, s)
		for name, id := range ids {
			var data map[string]any
			if err := json.Unmarshal([]byte(stored[id]), &data); err != nil {
				t.Fatal(err)
			}
			check("stored", name, data)
		}

		run(t, c)
		eventually(t, "four requests", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got["/mail"])+len(got["/sms"]) >= 4
		})
		mu.Lock()
		defer mu.Unlock()
		if len(got["/mail"]) != 2 || len(got["/sms"]) != 2 {
			t.Fatalf("requests: %d to /mail, %d to /sms; want 2 each", len(got["/mail"]), len(got["/sms"]))
		}
		for path, bodies := range got {
			for _, body := range bodies {
				typ, _ := body["template_type"].(string)
				kind := map[string]string{LoginCodeValid: "login", RegistrationCodeValid: "registration"}[typ]
				channel := map[string]string{"/mail": "email", "/sms": "sms"}[path]
				if body["message_type"] != channel {
					t.Errorf("%s: message_type %v", path, body["message_type"])
				}
				data, _ := body["template_data"].(map[string]any)
				check("sent", kind+"/"+channel, data)
				raw, _ := json.Marshal(body)
				requireNoSecrets(t, "a request to "+path, string(raw))
			}
		}
	})
}

// TestStoredCodeRowsAreCutDown: whatever else a stored row of the new
// types holds is dropped on delivery, and traits that are not an object
// are not passed on.
func TestStoredCodeRowsAreCutDown(t *testing.T) {
	goData, jsonData := storedData(RegistrationCodeValid, ViaEmail, map[string]any{
		"to": "new@example.com", "registration_code": "161803", "traits": "not an object",
		"identity": map[string]any{"id": "x", "metadata_admin": leakAdminValue}, "Extra": leakAdminValue,
	})
	if want := map[string]any{"to": "new@example.com", "registration_code": "161803", "traits": map[string]any{}}; !reflect.DeepEqual(jsonData, want) {
		t.Errorf("registration email: %v, want %v", jsonData, want)
	}
	if _, ok := goData["Identity"]; ok || goData["RegistrationCode"] != "161803" {
		t.Errorf("registration email, by Go names: %v", goData)
	}

	_, jsonData = storedData(LoginCodeValid, ViaSMS, map[string]any{
		"to": "+15550101", "login_code": "271828", "traits": map[string]any{"email": "x"},
		"identity": map[string]any{"id": "x", "traits": map[string]any{}, "metadata_admin": map[string]any{"note": leakAdminValue}, "credentials": map[string]any{"password": leakHash}},
	})
	raw, _ := json.Marshal(jsonData)
	requireNoSecrets(t, "a stored login code row", string(raw))
	if _, ok := jsonData["traits"]; ok || jsonData["login_code"] != "271828" {
		t.Errorf("login sms: %s", raw)
	}
}

// TestRehearsedCodesRender: a sign-up or sign-in code rehearsed without
// traits or identity renders from stand-ins and stores nothing.
func TestRehearsedCodesRender(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	dir := t.TempDir()
	writeOverride(t, dir, "registration_code/valid/sms.body.gotmpl", "{{ .Identity.sms | upper }} {{ .RegistrationCode }}")
	c := newCourier(t, config.Courier{TemplateOverridePath: dir, MessageRetries: 5}, true, s)
	for _, msg := range []Message{
		{Template: RegistrationCodeValid, Via: ViaSMS, To: "+15550103", Code: "000111"},
		{Template: LoginCodeValid, To: "ghost@example.com", Code: "000222"},
	} {
		row, err := c.prepare(msg.withStandIns())
		if err != nil || !strings.Contains(row.body, msg.Code) {
			t.Errorf("%s with stand-ins: %q (%v)", msg.Template, row.body, err)
		}
		if err := s.Write(context.Background(), func(q *store.Q) error { return c.Rehearse(context.Background(), q, msg, nil) }); err != nil {
			t.Errorf("rehearsing %s: %v", msg.Template, err)
		}
	}
	if n := countMessages(t, s); n != 0 {
		t.Errorf("rehearsals stored %d messages", n)
	}
}
