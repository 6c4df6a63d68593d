package config

import (
	"strings"
	"testing"
)

func TestLookupSecretKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 || c.Selfservice.Methods.LookupSecret.Enabled {
		t.Errorf("defaults: %+v, warnings %v; want off, quietly", c.Selfservice.Methods.LookupSecret, w)
	}

	on := writeFile(t, dir, "on.yml", prodBase+`
selfservice:
  methods:
    lookup_secret:
      enabled: true
`)
	c, w = mustLoad(t, LoadOptions{Files: []string{on}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("the key is warned about: %v", w)
	}
	if !c.Selfservice.Methods.LookupSecret.Enabled {
		t.Error("enabled: true is not read")
	}

	c, _ = mustLoad(t, LoadOptions{Files: []string{on}, WorkDir: dir, LookupEnv: env{"SELFSERVICE_METHODS_LOOKUP_SECRET_ENABLED": "false"}.lookup})
	if c.Selfservice.Methods.LookupSecret.Enabled {
		t.Error("the environment does not override the file")
	}

	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+`
selfservice: {methods: {lookup_secret: {enabled: sometimes}}}
`)}, WorkDir: dir})
	if err == nil || !strings.Contains(err.Error(), `"selfservice.methods.lookup_secret.enabled"`) {
		t.Errorf("a non-boolean gives %v; want an error naming the key", err)
	}
}
