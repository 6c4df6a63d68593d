package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestWebHookConfig(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  flows:
    registration:
      after:
        password:
          hooks:
            - hook: web_hook
              config:
                id: crm
                url: https://hooks.example.com/signup
                method: POST
                body: file://./hook.jsonnet
                auth: {type: api_key, config: {name: X-Key, value: v, in: cookie}}
                response: {parse: true}
            - hook: web_hook
              config:
                url: https://hooks.example.com/audit
                method: PUT
                body: base64://ZnVuY3Rpb24oY3R4KSB7fQ==
                can_interrupt: false
                response: {ignore: true}
            - hook: session
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	hooks := c.Selfservice.Flows.Registration.AfterPasswordHooks
	if len(hooks) != 3 || hooks[2].WebHook != nil {
		t.Fatalf("hooks: %+v", hooks)
	}
	crm := hooks[0].WebHook
	if crm == nil || crm.ID != "crm" || !crm.Parse || crm.Ignore || crm.Request.Method != "POST" ||
		crm.Request.Body != "file://"+filepath.ToSlash(filepath.Join(dir, "hook.jsonnet")) ||
		crm.Request.Auth.Type != "api_key" || crm.Request.Auth.In != "cookie" {
		t.Errorf("crm: %+v", crm)
	}
	if audit := hooks[1].WebHook; audit == nil || !audit.Ignore || audit.Parse || audit.Request.Method != "PUT" {
		t.Errorf("audit: %+v", audit)
	}
}

func TestWebHookConfigMistakes(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{url: "not a url", method: POST, body: "base64://e30="}`, `"url" must be an absolute`},
		{`{url: "https://h.example.com", body: "base64://e30="}`, `"method" is required`},
		{`{url: "https://h.example.com", method: POST, body: "base64://e30=", auth: {type: oauth}}`, `auth type must be`},
		{`{url: "https://h.example.com", method: POST, body: "base64://e30=", response: {ignore: true, parse: true}}`, `cannot be combined`},
		{`{url: "https://h.example.com", method: POST, body: "base64://e30=", can_interrupt: true, response: {ignore: true}}`, `cannot be combined`},
	} {
		dir := t.TempDir()
		f := writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  flows:
    login:
      after:
        hooks:
          - hook: web_hook
            config: `+tc.config+`
`)
		_, _, err := load(t, LoadOptions{Files: []string{f}, WorkDir: dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "selfservice.flows.login.after.hooks") {
			t.Errorf("%s: err = %v, want %q at the key", tc.config, err, tc.want)
		}
	}
}
