package config

import (
	"path/filepath"
	"slices"
	"testing"
)

// Kratos opens relative files from its working directory, not from the
// directory of the config file that names them; so does Lanyard.
func TestRelativePathsResolveAgainstTheWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	base := writeFile(t, root, "etc/kratos/base.yml", prodBase)
	f := writeFile(t, root, "etc/kratos/kratos.yml", `
identity:
  default_schema_id: default
  schemas:
    - {id: default, url: "file://profiles/identity.schema.json"}
    - {id: dot, url: "file://./identity.schema.json"}
    - {id: up, url: "file://../shared/x.json"}
    - {id: abs, url: "file:///srv/z.json"}
courier:
  smtp:
    connection_uri: smtp://mail.example.com:25/
    client_cert_path: certs/client.pem
    client_key_path: ./certs/client.key
  template_override_path: templates/
  http:
    request_config:
      url: https://mail.example.com/send
      body: bodies/mail.jsonnet
  templates:
    recovery_code:
      valid:
        email:
          body: {plaintext: file://templates/plain.gotmpl}
`)
	c, _ := mustLoad(t, LoadOptions{Files: []string{base, f}, WorkDir: work})
	w := filepath.ToSlash(work)
	wantSchemas := []SchemaRef{
		{"default", "file://" + w + "/profiles/identity.schema.json"},
		{"dot", "file://" + w + "/identity.schema.json"},
		{"up", "file://" + filepath.ToSlash(root) + "/shared/x.json"},
		{"abs", "file:///srv/z.json"},
	}
	if !slices.Equal(c.Identity.Schemas, wantSchemas) {
		t.Errorf("schemas:\n%v\nwant\n%v", c.Identity.Schemas, wantSchemas)
	}
	for name, got := range map[string][2]string{
		"client_cert_path":       {c.Courier.SMTP.ClientCertPath, filepath.Join(work, "certs/client.pem")},
		"client_key_path":        {c.Courier.SMTP.ClientKeyPath, filepath.Join(work, "certs/client.key")},
		"template_override_path": {c.Courier.TemplateOverridePath, filepath.Join(work, "templates")},
		"request_config.body":    {c.Courier.HTTP.Body, "file://" + w + "/bodies/mail.jsonnet"},
		"templates":              {c.Courier.Templates["recovery_code.valid.email.body.plaintext"], "file://" + w + "/templates/plain.gotmpl"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	if c.Dir != work {
		t.Errorf("Dir = %q, want the working directory %q", c.Dir, work)
	}

	// Environment overrides resolve the same way.
	e := env{"IDENTITY_SCHEMAS": `[{"id":"default","url":"file://profiles/env.json"}]`}
	c, _ = mustLoad(t, LoadOptions{Files: []string{base, f}, WorkDir: work, LookupEnv: e.lookup})
	if want := "file://" + w + "/profiles/env.json"; len(c.Identity.Schemas) != 1 || c.Identity.Schemas[0].URL != want {
		t.Errorf("schemas from the environment = %v, want %s", c.Identity.Schemas, want)
	}
}
