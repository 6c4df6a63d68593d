package conformance

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
)

// A submission that fails with an error counts under the method it was
// for, once the flow knows it; only one that failed before its flow was
// loaded counts under method "none".
func TestMetricsMethod_FailedSubmissionCarriesTheMethod(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, _ := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusInternalServerError) })
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.password.hooks": []any{webHook(url, nil)},
		})
		email := uniqueEmail("metrics-method")
		s.registerNative(t, email)
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusBadGateway {
			t.Fatalf("login with a failing web hook: status %d, want 502: %s", res.status, res.body)
		}
		if res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", uuid.NewString()), map[string]any{
			"method": "password", "identifier": email, "password": testPassword,
		}, nil); res.status != http.StatusNotFound {
			t.Fatalf("a submission to no flow: status %d, want 404: %s", res.status, res.body)
		}

		families := scrapeMetrics(t, s.AdminURL+"/admin/metrics/prometheus")
		const name = "lanyard_selfservice_flow_submissions_total"
		if got := metricValue(families, name, map[string]string{"kind": "login", "method": "password", "outcome": "error"}); got != 1 {
			t.Errorf("failed password logins = %v, want 1", got)
		}
		if got := metricValue(families, name, map[string]string{"kind": "login", "method": "none", "outcome": "error"}); got != 1 {
			t.Errorf("failed logins without a method = %v, want 1 (the submission to no flow)", got)
		}
		if got := metricValue(families, name, map[string]string{"kind": "registration", "method": "password", "outcome": "success"}); got != 1 {
			t.Errorf("registrations = %v, want 1", got)
		}
	})
}
