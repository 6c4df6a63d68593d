package config

import (
	"regexp"
	"testing"
)

func TestEffectiveRevision(t *testing.T) {
	withRevision, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, t.TempDir(), "c.yml", prodBase+"revision: v42\n")}})
	if got := withRevision.EffectiveRevision(); got != "v42" {
		t.Errorf("with revision v42: %q", got)
	}

	a, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, t.TempDir(), "c.yml", prodBase)}})
	b, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, t.TempDir(), "c.yml", prodBase)}})
	a.Dir, b.Dir, a.DataDir, b.DataDir = "", "", "", "" // the temp dirs differ; nothing else does
	ha := a.EffectiveRevision()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(ha) {
		t.Fatalf("without revision: %q, want 64 hex digits", ha)
	}
	if hb := b.EffectiveRevision(); ha != hb {
		t.Errorf("the same config hashes differently: %s and %s", ha, hb)
	}
	for i := 0; i < 20; i++ { // maps inside are marshalled in key order
		if again := a.EffectiveRevision(); again != ha {
			t.Fatalf("hash %d of the same config: %s, first %s", i, again, ha)
		}
	}

	b.Selfservice.Flows.Login.Lifespan++
	if b.EffectiveRevision() == ha {
		t.Error("changing a key did not change the hash")
	}
	b.Selfservice.Flows.Login.Lifespan--

	// Keyed: the same config under another cookie secret hashes differently.
	b.Secrets.Cookie = []string{"another-cookie-secret-0123"}
	if b.EffectiveRevision() == ha {
		t.Error("the hash does not depend on the cookie secret")
	}
}
