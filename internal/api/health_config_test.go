package api

import (
	"net/http"
	"testing"
)

func TestHealthConfigAnswersTheRevisionOnTheAdminListener(t *testing.T) {
	d := deps(t, nil)
	d.ConfigRevision = "2026-12-01.3"
	for _, path := range []string{"/admin/health/config", "/health/config"} {
		w := serve(Admin(d), http.MethodGet, path)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/plain" || w.Body.String() != "2026-12-01.3" {
			t.Errorf("GET %s: %d %q %q", path, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
	}
	if w := serve(Public(d), http.MethodGet, "/health/config"); w.Code != http.StatusNotFound {
		t.Errorf("the public listener answers /health/config with %d, want 404", w.Code)
	}
}
