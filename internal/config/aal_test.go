package config

import (
	"strings"
	"testing"
)

func TestRequiredAAL(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}})
	if c.Session.WhoamiRequiredAAL != "highest_available" || c.Selfservice.Flows.Settings.RequiredAAL != "highest_available" {
		t.Errorf("defaults: whoami %q, settings %q; want highest_available", c.Session.WhoamiRequiredAAL, c.Selfservice.Flows.Settings.RequiredAAL)
	}
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}

	f := writeFile(t, dir, "aal.yml", prodBase+`
session: {whoami: {required_aal: aal1}}
selfservice: {flows: {settings: {required_aal: aal1}}}
`)
	c, w = mustLoad(t, LoadOptions{Files: []string{f}})
	if c.Session.WhoamiRequiredAAL != "aal1" || c.Selfservice.Flows.Settings.RequiredAAL != "aal1" {
		t.Errorf("from the file: whoami %q, settings %q; want aal1", c.Session.WhoamiRequiredAAL, c.Selfservice.Flows.Settings.RequiredAAL)
	}
	if len(w) != 0 {
		t.Errorf("the keys are warned about as unsupported: %v", w)
	}

	c, _ = mustLoad(t, LoadOptions{Files: []string{f}, LookupEnv: env{
		"SESSION_WHOAMI_REQUIRED_AAL":             "highest_available",
		"SELFSERVICE_FLOWS_SETTINGS_REQUIRED_AAL": "highest_available",
	}.lookup})
	if c.Session.WhoamiRequiredAAL != "highest_available" || c.Selfservice.Flows.Settings.RequiredAAL != "highest_available" {
		t.Errorf("the environment does not override: whoami %q, settings %q", c.Session.WhoamiRequiredAAL, c.Selfservice.Flows.Settings.RequiredAAL)
	}

	for key, yaml := range map[string]string{
		"session.whoami.required_aal":             "session: {whoami: {required_aal: aal2}}",
		"selfservice.flows.settings.required_aal": "selfservice: {flows: {settings: {required_aal: aal2}}}",
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+yaml)}})
		if err == nil || !strings.Contains(err.Error(), `"`+key+`"`) || !strings.Contains(err.Error(), `"aal2" is not one of aal1, highest_available`) {
			t.Errorf("%s: aal2 gives %v; want an error naming the key and the choices", key, err)
		}
	}
}
