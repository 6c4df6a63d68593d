package conformance

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// queueVerificationCodes asks for a verification code for each address
// (each an identity's) and answers nothing: the messages are queued.
func queueVerificationCodes(t *testing.T, s *Server, emails ...string) {
	t.Helper()
	for _, email := range emails {
		s.newVerifiable(t, email)
		f := s.nativeVerification(t)
		s.sdkSendCode(t, f.ID, email)
	}
}

// TestCourier_AdminListAndGet reads queued messages through the SDK's
// CourierAPI in dev mode (no SMTP: messages stay queued, bodies visible):
// filters by recipient and status, keyset paging, one message by id.
func TestCourier_AdminListAndGet(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := verificationServer(t, store, nil, nil)
		ctx := context.Background()
		var emails []string
		for i := 0; i < 5; i++ {
			emails = append(emails, uniqueEmail("courier-list"))
		}
		queueVerificationCodes(t, s, emails...)

		// By recipient: exactly that message, queued, unsent, readable.
		ms := s.courierMessages(t, emails[2])
		if len(ms) != 1 {
			t.Fatalf("messages to %s = %s, want one", emails[2], asJSON(ms))
		}
		m := ms[0]
		if m.Recipient != emails[2] || m.Status != "queued" || m.SendCount != 0 || m.Type != "email" || m.TemplateType != "verification_code_valid" {
			t.Errorf("message = %s, want a queued, unsent verification_code_valid email to %s", asJSON(m), emails[2])
		}
		if m.Subject == "" || !sixDigits.MatchString(m.Body) || strings.Contains(m.Body, "redacted") {
			t.Errorf("dev mode shows subject %q and body %q; want them readable with the code", m.Subject, m.Body)
		}
		if m.Id == "" || m.CreatedAt.IsZero() || m.UpdatedAt.IsZero() {
			t.Errorf("message lacks id or times: %s", asJSON(m))
		}

		got, res, err := s.Admin.CourierAPI.GetCourierMessage(ctx, m.Id).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got.Id != m.Id || got.Body != m.Body || got.Recipient != m.Recipient || got.Status != m.Status {
			t.Errorf("GetCourierMessage = %s, want the listed %s", asJSON(got), asJSON(m))
		}

		// By status.
		queued, res, err := s.Admin.CourierAPI.ListCourierMessages(ctx).Status(ory.COURIERMESSAGESTATUS_QUEUED).PageSize(100).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(queued) != len(emails) {
			t.Errorf("queued messages = %d, want %d", len(queued), len(emails))
		}
		sent, res, err := s.Admin.CourierAPI.ListCourierMessages(ctx).Status(ory.COURIERMESSAGESTATUS_SENT).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(sent) != 0 {
			t.Errorf("sent messages = %s, want none without SMTP", asJSON(sent))
		}

		// Paging by page_token from the Link header, newest first.
		seen := map[string]bool{}
		token := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("paging does not end")
			}
			req := s.Admin.CourierAPI.ListCourierMessages(ctx).PageSize(2)
			if token != "" {
				req = req.PageToken(token)
			}
			items, res, err := req.Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(items) > 2 {
				t.Fatalf("page of %d messages, want at most 2", len(items))
			}
			for _, it := range items {
				if seen[it.Id] {
					t.Errorf("message %s listed twice", it.Id)
				}
				seen[it.Id] = true
			}
			next := parseLink(res.Header.Get("Link"))["next"]
			if next == nil {
				break
			}
			token = next.Query().Get("page_token")
			if token == "" {
				t.Fatalf("next link without page_token: %s", res.Header.Get("Link"))
			}
		}
		if len(seen) != len(emails) {
			t.Errorf("paging saw %d messages, want %d", len(seen), len(emails))
		}

		// Unknown and malformed ids.
		_, res, err = s.Admin.CourierAPI.GetCourierMessage(ctx, "00000000-0000-4000-8000-000000000000").Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
		bad := s.do(t, http.MethodGet, s.AdminURL+"/admin/courier/messages?status=lost", nil, nil)
		requireError(t, bad.status, bad.body, http.StatusBadRequest)
	})
}

// TestCourier_RedactsOutsideDevMode: outside dev mode the admin API hides
// subjects and bodies (they carry codes), as Kratos does.
func TestCourier_RedactsOutsideDevMode(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dir := t.TempDir()
		schemaPath := filepath.Join(dir, "identity.schema.json")
		src, err := os.ReadFile(filepath.Join(repoRoot, "test", "conformance", "testdata", "kratos-example", "identity.schema.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(schemaPath, src, 0o600); err != nil {
			t.Fatal(err)
		}
		s := verificationServer(t, store, nil, map[string]any{
			"dev": false,
			"identity": map[string]any{
				"default_schema_id": "default",
				"schemas":           []any{map[string]any{"id": "default", "url": "file://" + schemaPath}},
			},
		})
		email := uniqueEmail("redacted")
		queueVerificationCodes(t, s, email)
		ms := s.courierMessages(t, email)
		if len(ms) != 1 {
			t.Fatalf("messages to %s = %s, want one", email, asJSON(ms))
		}
		const redacted = "<redacted-unless-dev-mode>"
		if ms[0].Subject != redacted || ms[0].Body != redacted {
			t.Errorf("listed subject %q body %q, want both %s", ms[0].Subject, ms[0].Body, redacted)
		}
		got, res, err := s.Admin.CourierAPI.GetCourierMessage(context.Background(), ms[0].Id).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got.Subject != redacted || got.Body != redacted {
			t.Errorf("fetched subject %q body %q, want both %s", got.Subject, got.Body, redacted)
		}
		if got.Recipient != email || got.TemplateType != "verification_code_valid" {
			t.Errorf("message = %s, want recipient and template type shown", asJSON(got))
		}
	})
}
