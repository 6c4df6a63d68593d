package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCourierKeys(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
courier:
  smtp:
    connection_uri: smtps://mailer:hunter2@smtp.example.com:465/?server_name=mail.example.com
    from_address: no-reply@example.org
    from_name: Example
    headers: {X-SES-SOURCE-ARN: "arn:x"}
  template_override_path: ./templates
  message_retries: 3
  worker: {pull_count: 20, pull_wait: 2s}
  delivery_strategy: http
  http:
    request_config:
      url: https://mail.example.com/send
      body: file://./body.jsonnet
      auth: {type: basic_auth, config: {user: u, password: p}}
  channels:
    - id: sms
      type: http
      request_config:
        url: https://sms.example.com/send
        method: post
        headers: {Content-Type: application/x-www-form-urlencoded}
        auth: {type: api_key, config: {name: X-Key, value: v, in: header}}
  templates:
    recovery_code:
      valid:
        email:
          subject: base64://e3sgLlJlY292ZXJ5Q29kZSB9fQ==
          body: {plaintext: file://./plain.gotmpl}
        sms: {body: {plaintext: https://example.com/sms.gotmpl}}
    verification:
      valid:
        email: {colour: blue}
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir})
	cc := c.Courier
	if cc.SMTP.ConnectionURI == "" || cc.SMTP.FromName != "Example" || cc.SMTP.LocalName != "localhost" || cc.SMTP.Headers["X-SES-SOURCE-ARN"] != "arn:x" {
		t.Errorf("smtp %+v", cc.SMTP)
	}
	if cc.TemplateOverridePath != dir+"/templates" || cc.MessageRetries != 3 || cc.Worker != (CourierWorker{20, 2 * time.Second}) || cc.DeliveryStrategy != "http" {
		t.Errorf("courier %+v", cc)
	}
	if cc.HTTP == nil || cc.HTTP.Method != "POST" || cc.HTTP.Body != "file://"+dir+"/body.jsonnet" || cc.HTTP.Auth.Password != "p" {
		t.Errorf("http %+v", cc.HTTP)
	}
	if len(cc.Channels) != 1 || cc.Channels[0].Request.Method != "POST" || cc.Channels[0].Request.Auth.In != "header" {
		t.Errorf("channels %+v", cc.Channels)
	}
	want := map[string]string{
		"recovery_code.valid.email.subject":        "base64://e3sgLlJlY292ZXJ5Q29kZSB9fQ==",
		"recovery_code.valid.email.body.plaintext": "file://" + dir + "/plain.gotmpl",
		"recovery_code.valid.sms.body.plaintext":   "https://example.com/sms.gotmpl",
	}
	if !reflect.DeepEqual(cc.Templates, want) {
		t.Errorf("templates %v", cc.Templates)
	}
	if len(w) != 1 || !strings.Contains(w[0], "courier.templates.verification.valid.email.colour") {
		t.Errorf("warnings %v", w)
	}
	for _, s := range []string{cc.SMTP.String(), cc.HTTP.Auth.String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "p}") {
			t.Errorf("secret in %q", s)
		}
	}

	// Defaults, and the environment override Kratos documents.
	c, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "d.yml", prodBase)}, LookupEnv: env{"COURIER_SMTP_CONNECTION_URI": "smtp://127.0.0.1:1025/?disable_starttls=true"}.lookup})
	if err != nil {
		t.Fatal(err)
	}
	if c.Courier.SMTP.ConnectionURI != "smtp://127.0.0.1:1025/?disable_starttls=true" || c.Courier.SMTP.FromAddress != "no-reply@ory.kratos.sh" ||
		c.Courier.MessageRetries != 5 || c.Courier.DeliveryStrategy != "smtp" || c.Courier.Worker.PullWait != time.Second {
		t.Errorf("defaults %+v", c.Courier)
	}
}

func TestCourierKeyErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ yml, want string }{
		"scheme":   {"courier: {smtp: {connection_uri: 'ftp://u:hunter2@h/'}}", "courier.smtp.connection_uri"},
		"port":     {"courier: {smtp: {connection_uri: 'smtp://u:hunter2@h:99999/'}}", "invalid port"},
		"from":     {"courier: {smtp: {from_address: 'not an address'}}", "courier.smtp.from_address"},
		"strategy": {"courier: {delivery_strategy: pigeon}", "courier.delivery_strategy"},
		"http url": {"courier: {http: {request_config: {url: 'ftp://x', auth: {type: basic_auth, config: {user: u, password: hunter2}}}}}", "\"url\""},
		"auth":     {"courier: {http: {request_config: {url: 'https://x', auth: {type: oauth, config: {}}}}}", "basic_auth"},
		"channel":  {"courier: {channels: [{id: fax, request_config: {url: 'https://x'}}]}", "\"sms\""},
		"template": {"courier: {templates: {recovery: {valid: {email: {subject: 'gopher://x'}}}}}", "recovery.valid.email.subject"},
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "e.yml", prodBase+tc.yml)}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
