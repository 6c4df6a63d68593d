package conformance

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

func TestCreateIdentity_AppliesDefaultsAndDerivesAddresses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})

		body := identityBody("Alice.Liddell@Example.org")
		body.SchemaId = "" // what the SDK sends when the caller leaves it out
		body.Traits["name"] = map[string]any{"first": "Alice", "last": "Liddell"}
		created := s.createIdentity(t, body)

		if created.SchemaId != "default" {
			t.Errorf("schema_id = %q, want the default schema %q", created.SchemaId, "default")
		}
		if created.State == nil || *created.State != "active" {
			t.Errorf("state = %v, want active", created.State)
		}
		if created.StateChangedAt == nil || created.CreatedAt == nil || created.UpdatedAt == nil {
			t.Errorf("state_changed_at, created_at and updated_at must be set: %s", asJSON(created))
		}
		if !sameJSON(created.Traits, body.Traits) {
			t.Errorf("traits = %s, want them as sent: %s", asJSON(created.Traits), asJSON(body.Traits))
		}
		if !strings.HasPrefix(created.SchemaUrl, s.PublicURL+"/schemas/") {
			t.Errorf("schema_url = %q, want it under %s/schemas/", created.SchemaUrl, s.PublicURL)
		} else {
			// The schema URL must resolve to the schema itself.
			res := s.do(t, http.MethodGet, created.SchemaUrl, nil, nil)
			if res.status != http.StatusOK || !strings.Contains(string(res.body), `"traits"`) {
				t.Errorf("GET schema_url %s: %d %s", created.SchemaUrl, res.status, res.body)
			}
		}

		const lower = "alice.liddell@example.org"
		if len(created.VerifiableAddresses) != 1 {
			t.Fatalf("verifiable_addresses = %s, want one derived from traits.email", asJSON(created.VerifiableAddresses))
		}
		va := created.VerifiableAddresses[0]
		if va.Value != lower || va.Via != "email" || va.Status != "pending" || va.Verified {
			t.Errorf("verifiable address = %s, want value %q via email, status pending, not verified", asJSON(va), lower)
		}
		if len(created.RecoveryAddresses) != 1 {
			t.Fatalf("recovery_addresses = %s, want one derived from traits.email", asJSON(created.RecoveryAddresses))
		}
		if ra := created.RecoveryAddresses[0]; ra.Value != lower || ra.Via != "email" {
			t.Errorf("recovery address = %s, want value %q via email", asJSON(ra), lower)
		}

		got := s.getIdentity(t, created.Id)
		if got.Id != created.Id || !sameJSON(got.Traits, created.Traits) || got.SchemaId != "default" {
			t.Errorf("GET returned %s, want the created identity %s", asJSON(got), asJSON(created))
		}
		if len(got.VerifiableAddresses) != 1 || len(got.RecoveryAddresses) != 1 {
			t.Errorf("GET lost the addresses: %s", asJSON(got))
		}

		// A raw body without schema_id at all defaults the same way.
		res := s.do(t, http.MethodPost, s.AdminURL+"/admin/identities",
			`{"traits":{"email":"bob@example.org"}}`, nil)
		if res.status != http.StatusCreated || !strings.Contains(string(res.body), `"schema_id":"default"`) {
			t.Errorf("create without schema_id: %d %s", res.status, res.body)
		}
	})
}

func TestCreateIdentity_StoresStateAndMetadata(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})

		body := identityBody("meta@example.org")
		body.State = ory.PtrString("inactive")
		body.MetadataPublic = map[string]any{"plan": "pro", "seats": 3}
		body.MetadataAdmin = map[string]any{"crm_id": "c-42"}
		created := s.createIdentity(t, body)
		if created.State == nil || *created.State != "inactive" {
			t.Errorf("state = %v, want inactive", created.State)
		}

		got := s.getIdentity(t, created.Id)
		if !sameJSON(got.MetadataPublic, body.MetadataPublic) {
			t.Errorf("metadata_public = %s, want %s", asJSON(got.MetadataPublic), asJSON(body.MetadataPublic))
		}
		if !sameJSON(got.MetadataAdmin, body.MetadataAdmin) {
			t.Errorf("metadata_admin = %s, want %s", asJSON(got.MetadataAdmin), asJSON(body.MetadataAdmin))
		}

		before := s.countIdentities(t)
		bad := identityBody("state@example.org")
		bad.State = ory.PtrString("sleeping")
		status, errBody := createFailure(t, s, bad)
		requireError(t, status, errBody, http.StatusBadRequest)
		s.requireCount(t, before, "after an invalid state")
	})
}

// createFailure sends a create that must fail and returns status and body.
func createFailure(t *testing.T, s *Server, body ory.CreateIdentityBody) (int, []byte) {
	t.Helper()
	_, res, err := s.Admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(body).Execute()
	return sdkFailure(t, res, err)
}

func TestCreateIdentity_HashesPlaintextPassword(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})

		res := s.do(t, http.MethodPost, s.AdminURL+"/admin/identities",
			withPassword(identityBody("Carol@Example.org"), testPassword), nil)
		if res.status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.status, res.body)
		}
		// Secrets never travel unless asked for.
		for _, leak := range []string{testPassword, "hashed_password", "$2a$"} {
			if strings.Contains(string(res.body), leak) {
				t.Errorf("create response contains %q: %s", leak, res.body)
			}
		}
		var created ory.Identity
		if err := created.UnmarshalJSON(res.body); err != nil {
			t.Fatal(err)
		}

		plain := s.rawIdentity(t, created.Id, "")
		if strings.Contains(asJSON(plain), "hashed_password") {
			t.Errorf("GET without include_credential shows the hash: %s", asJSON(plain))
		}

		got := s.getIdentity(t, created.Id, "password")
		if got.Credentials == nil {
			t.Fatalf("include_credential=password: no credentials in %s", asJSON(got))
		}
		pw, ok := (*got.Credentials)["password"]
		if !ok {
			t.Fatalf("include_credential=password: no password credential in %s", asJSON(got.Credentials))
		}
		if !sameJSON(pw.Identifiers, []string{"carol@example.org"}) {
			t.Errorf("password identifiers = %v, want [carol@example.org] (lower-cased)", pw.Identifiers)
		}
		hash, _ := pw.Config["hashed_password"].(string)
		if !strings.HasPrefix(hash, "$2") {
			t.Errorf("hashed_password = %q, want a bcrypt hash", hash)
		}
		if strings.Contains(asJSON(pw.Config), testPassword) {
			t.Errorf("the plaintext password is stored: %s", asJSON(pw.Config))
		}
	})
}

func TestCreateIdentity_ImportsHashedPasswords(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		for algo, hash := range importedHashes {
			email := "import-" + algo + "@example.org"
			created := s.createIdentity(t, withHashedPassword(identityBody(email), hash))
			got := s.getIdentity(t, created.Id, "password")
			if got.Credentials == nil {
				t.Errorf("%s: no credentials returned", algo)
				continue
			}
			pw := (*got.Credentials)["password"]
			if stored, _ := pw.Config["hashed_password"].(string); stored != hash {
				t.Errorf("%s: hashed_password = %q, want the imported hash %q kept as is", algo, stored, hash)
			}
			if !sameJSON(pw.Identifiers, []string{email}) {
				t.Errorf("%s: identifiers = %v, want [%s]", algo, pw.Identifiers, email)
			}
		}
	})
}

func TestCreateIdentity_UnknownHashFormatIsRejected(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		for _, hash := range []string{"$md9$v=1$c2FsdA$aGFzaA", "not-a-hash-at-all"} {
			status, body := createFailure(t, s, withHashedPassword(identityBody("hash@example.org"), hash))
			requireError(t, status, body, http.StatusBadRequest)
		}
		s.requireCount(t, 0, "after rejected hashes")
	})
}

func TestCreateIdentity_SchemaViolationsAreRejected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		traits map[string]any
		field  string // must appear in error.reason
	}{
		{"missing email", map[string]any{"name": map[string]any{"first": "No"}}, "email"},
		{"email not an email", map[string]any{"email": "not-an-email"}, "email"},
		{"email not a string", map[string]any{"email": 42}, "email"},
		{"unknown trait", map[string]any{"email": "x@example.org", "nickname": "x"}, "nickname"},
		{"first name not a string", map[string]any{"email": "y@example.org", "name": map[string]any{"first": true}}, "first"},
	}
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		for _, c := range cases {
			body := ory.CreateIdentityBody{SchemaId: "default", Traits: c.traits}
			status, errBody := createFailure(t, s, body)
			e := requireError(t, status, errBody, http.StatusBadRequest)
			if !strings.Contains(e.Error.Reason, c.field) {
				t.Errorf("%s: error.reason %q does not name the field %q", c.name, e.Error.Reason, c.field)
			}
		}
		status, errBody := createFailure(t, s, ory.CreateIdentityBody{SchemaId: "no-such-schema", Traits: map[string]any{"email": "z@example.org"}})
		requireError(t, status, errBody, http.StatusBadRequest)
		s.requireCount(t, 0, "after schema violations")
	})
}

func TestCreateIdentity_DuplicateEmailConflicts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		s.createIdentity(t, withPassword(identityBody("dup@example.org"), testPassword))

		for _, email := range []string{"dup@example.org", "DUP@Example.ORG"} {
			status, body := createFailure(t, s, withPassword(identityBody(email), testPassword))
			requireError(t, status, body, http.StatusConflict)
		}
		s.requireCount(t, 1, "after duplicate creates")
	})
}

func TestCreateIdentity_MalformedJSONIsRejected(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		for _, body := range []string{`{`, `not json`, `[1,2]`, `{"traits":{"email":"a@example.org"}} trailing`, `{"traits":"a string"}`} {
			res := s.do(t, http.MethodPost, s.AdminURL+"/admin/identities", body, nil)
			requireError(t, res.status, res.body, http.StatusBadRequest)
		}
		res := s.do(t, http.MethodPost, s.AdminURL+"/admin/identities", []byte{}, nil)
		requireError(t, res.status, res.body, http.StatusBadRequest)
		s.requireCount(t, 0, "after malformed bodies")
	})
}

func TestCreateIdentity_OversizedBodyIsRejected(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		blob := strings.Repeat("a", 2<<20)
		body := `{"schema_id":"default","traits":{"email":"big@example.org"},"metadata_public":{"blob":"` + blob + `"}}`
		res := s.do(t, http.MethodPost, s.AdminURL+"/admin/identities", body, nil)
		requireError(t, res.status, res.body, 0)
		s.requireCount(t, 0, "after an oversized body")
	})
}

func TestGetIdentity_UnknownIDIsNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		_, res, err := s.Admin.IdentityAPI.GetIdentity(context.Background(), "6b8f4a43-4a4c-4b1e-9a43-0d6f8e0c1b2a").Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		r := s.do(t, http.MethodGet, s.AdminURL+"/admin/identities/not-a-uuid", nil, nil)
		requireError(t, r.status, r.body, 0)
	})
}

func TestListIdentities_PaginatesWithLinkHeader(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		want := map[string]bool{}
		for i := 0; i < 25; i++ {
			want[s.createIdentity(t, identityBody("page"+string(rune('a'+i))+"@example.org")).Id] = true
		}

		seen := map[string]int{}
		token := ""
		pages := 0
		for {
			pages++
			if pages > 10 {
				t.Fatal("pagination did not end after 10 pages of 10 for 25 identities")
			}
			req := s.Admin.IdentityAPI.ListIdentities(context.Background()).PageSize(10)
			if token != "" {
				req = req.PageToken(token)
			}
			ids, res, err := req.Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(ids) > 10 {
				t.Fatalf("page %d has %d identities, want at most 10", pages, len(ids))
			}
			for _, id := range ids {
				seen[id.Id]++
			}
			link := res.Header.Get("Link")
			rels := parseLink(link)
			if pages == 1 && rels["first"] == nil {
				t.Errorf(`first page: Link header %q has no rel="first"`, link)
			}
			next := rels["next"]
			if next == nil {
				break
			}
			if next.Query().Get("page_size") != "10" {
				t.Errorf("next link %s does not keep page_size=10", next)
			}
			token = next.Query().Get("page_token")
			if token == "" {
				t.Fatalf("next link %s has no page_token", next)
			}
		}
		if pages < 3 {
			t.Errorf("walked %d pages, want at least 3 for 25 identities at 10 per page", pages)
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("identity %s appeared %d times across pages, want exactly once", id, seen[id])
			}
		}
		if len(seen) != len(want) {
			t.Errorf("pages held %d distinct identities, want %d", len(seen), len(want))
		}
	})
}

func TestListIdentities_FiltersByCredentialsIdentifierAndIDs(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		a := s.createIdentity(t, withPassword(identityBody("ann@example.org"), testPassword))
		b := s.createIdentity(t, withPassword(identityBody("ben@example.org"), testPassword))
		c := s.createIdentity(t, withPassword(identityBody("cat@example.org"), testPassword))

		for _, ident := range []string{"ben@example.org", "BEN@Example.org"} {
			ids, res, err := s.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(ident).Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(ids) != 1 || ids[0].Id != b.Id {
				t.Errorf("credentials_identifier=%s returned %s, want only %s", ident, asJSON(ids), b.Id)
			}
		}

		ids, res, err := s.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier("nobody@example.org").Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(ids) != 0 {
			t.Errorf("unknown credentials_identifier returned %d identities, want none", len(ids))
		}

		ids, res, err = s.Admin.IdentityAPI.ListIdentities(context.Background()).Ids([]string{a.Id, c.Id}).Execute()
		requireOK(t, res, err, http.StatusOK)
		got := map[string]bool{}
		for _, id := range ids {
			got[id.Id] = true
		}
		if len(ids) != 2 || !got[a.Id] || !got[c.Id] {
			t.Errorf("ids=[%s %s] returned %s", a.Id, c.Id, asJSON(ids))
		}
	})
}

func TestUpdateIdentity_ReplacesTraitsAndState(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		body := identityBody("old@example.org")
		body.Traits["name"] = map[string]any{"first": "Old", "last": "Name"}
		created := s.createIdentity(t, body)
		// Over a second, so a new state_changed_at shows even at second precision.
		time.Sleep(1100 * time.Millisecond)

		newTraits := map[string]any{"email": "new@example.org"}
		updated, res, err := s.Admin.IdentityAPI.UpdateIdentity(context.Background(), created.Id).
			UpdateIdentityBody(ory.UpdateIdentityBody{SchemaId: "default", State: "inactive", Traits: newTraits}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if !sameJSON(updated.Traits, newTraits) {
			t.Errorf("traits = %s, want them replaced by %s", asJSON(updated.Traits), asJSON(newTraits))
		}
		if updated.State == nil || *updated.State != "inactive" {
			t.Errorf("state = %v, want inactive", updated.State)
		}
		if updated.StateChangedAt == nil || created.StateChangedAt == nil || !updated.StateChangedAt.After(*created.StateChangedAt) {
			t.Errorf("state_changed_at did not advance: before %v, after %v", created.StateChangedAt, updated.StateChangedAt)
		}

		got := s.getIdentity(t, created.Id)
		if !sameJSON(got.Traits, newTraits) || got.State == nil || *got.State != "inactive" {
			t.Errorf("GET after update = %s", asJSON(got))
		}
		if len(got.VerifiableAddresses) != 1 || got.VerifiableAddresses[0].Value != "new@example.org" {
			t.Errorf("verifiable_addresses = %s, want them to follow the new email", asJSON(got.VerifiableAddresses))
		}

		// Invalid traits are refused and change nothing.
		_, res, err = s.Admin.IdentityAPI.UpdateIdentity(context.Background(), created.Id).
			UpdateIdentityBody(ory.UpdateIdentityBody{SchemaId: "default", State: "active", Traits: map[string]any{"name": map[string]any{"first": "x"}}}).Execute()
		status, errBody := sdkFailure(t, res, err)
		e := requireError(t, status, errBody, http.StatusBadRequest)
		if !strings.Contains(e.Error.Reason, "email") {
			t.Errorf("error.reason %q does not name the missing field email", e.Error.Reason)
		}
		after := s.getIdentity(t, created.Id)
		if !sameJSON(after.Traits, newTraits) || *after.State != "inactive" {
			t.Errorf("a rejected update changed the identity: %s", asJSON(after))
		}

		// Unknown identities are 404.
		_, res, err = s.Admin.IdentityAPI.UpdateIdentity(context.Background(), "6b8f4a43-4a4c-4b1e-9a43-0d6f8e0c1b2a").
			UpdateIdentityBody(ory.UpdateIdentityBody{SchemaId: "default", State: "active", Traits: newTraits}).Execute()
		status, errBody = sdkFailure(t, res, err)
		requireError(t, status, errBody, http.StatusNotFound)
		s.requireCount(t, 1, "after updates")
	})
}

func TestUpdateIdentity_DuplicateEmailConflicts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		s.createIdentity(t, withPassword(identityBody("taken@example.org"), testPassword))
		other := s.createIdentity(t, withPassword(identityBody("free@example.org"), testPassword))

		_, res, err := s.Admin.IdentityAPI.UpdateIdentity(context.Background(), other.Id).
			UpdateIdentityBody(ory.UpdateIdentityBody{SchemaId: "default", State: "active", Traits: map[string]any{"email": "Taken@example.org"}}).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusConflict)
		if got := s.getIdentity(t, other.Id); traitsOf(t, got)["email"] != "free@example.org" {
			t.Errorf("a conflicting update changed the identity: %s", asJSON(got))
		}
	})
}

func TestPatchIdentity_AppliesJSONPatch(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		body := identityBody("patch@example.org")
		body.MetadataPublic = map[string]any{"a": 1}
		created := s.createIdentity(t, body)

		patched, res, err := s.Admin.IdentityAPI.PatchIdentity(context.Background(), created.Id).JsonPatch([]ory.JsonPatch{
			{Op: "replace", Path: "/traits/email", Value: "patched@example.org"},
			{Op: "add", Path: "/metadata_public/x", Value: "y"},
		}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if traitsOf(t, patched)["email"] != "patched@example.org" {
			t.Errorf("traits.email = %v, want patched@example.org", traitsOf(t, patched)["email"])
		}
		wantMeta := map[string]any{"a": 1, "x": "y"}
		if !sameJSON(patched.MetadataPublic, wantMeta) {
			t.Errorf("metadata_public = %s, want %s", asJSON(patched.MetadataPublic), asJSON(wantMeta))
		}
		got := s.getIdentity(t, created.Id)
		if traitsOf(t, got)["email"] != "patched@example.org" || !sameJSON(got.MetadataPublic, wantMeta) {
			t.Errorf("GET after patch = %s", asJSON(got))
		}
		if len(got.VerifiableAddresses) != 1 || got.VerifiableAddresses[0].Value != "patched@example.org" {
			t.Errorf("verifiable_addresses = %s, want them to follow the patched email", asJSON(got.VerifiableAddresses))
		}
	})
}

func TestPatchIdentity_RejectedPatchChangesNothing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		created := s.createIdentity(t, identityBody("keep@example.org"))
		before := s.rawIdentity(t, created.Id, "")

		patches := map[string][]ory.JsonPatch{
			"invalid result":   {{Op: "remove", Path: "/traits/email"}},
			"invalid email":    {{Op: "replace", Path: "/traits/email", Value: "nope"}},
			"change id":        {{Op: "replace", Path: "/id", Value: "6b8f4a43-4a4c-4b1e-9a43-0d6f8e0c1b2a"}},
			"unknown op":       {{Op: "frobnicate", Path: "/traits/email", Value: "x@example.org"}},
			"missing path":     {{Op: "replace", Path: "/traits/does/not/exist", Value: "x"}},
			"partly valid set": {{Op: "add", Path: "/metadata_public", Value: map[string]any{"k": "v"}}, {Op: "remove", Path: "/traits/email"}},
		}
		for name, p := range patches {
			_, res, err := s.Admin.IdentityAPI.PatchIdentity(context.Background(), created.Id).JsonPatch(p).Execute()
			status, body := sdkFailure(t, res, err)
			if status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400: %s", name, status, body)
				continue
			}
			requireError(t, status, body, http.StatusBadRequest)
		}
		// A non-array body is not a JSON Patch.
		res := s.do(t, http.MethodPatch, s.AdminURL+"/admin/identities/"+created.Id, `{"op":"replace"}`, nil)
		requireError(t, res.status, res.body, http.StatusBadRequest)

		after := s.rawIdentity(t, created.Id, "")
		if !sameJSON(before, after) {
			t.Errorf("rejected patches changed the identity:\nbefore %s\nafter  %s", asJSON(before), asJSON(after))
		}
		s.requireCount(t, 1, "after rejected patches")
	})
}

func TestDeleteIdentity_RemovesIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		gone := s.createIdentity(t, withPassword(identityBody("gone@example.org"), testPassword))
		kept := s.createIdentity(t, identityBody("kept@example.org"))

		res, err := s.Admin.IdentityAPI.DeleteIdentity(context.Background(), gone.Id).Execute()
		requireOK(t, res, err, http.StatusNoContent)

		_, res, err = s.Admin.IdentityAPI.GetIdentity(context.Background(), gone.Id).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		res, err = s.Admin.IdentityAPI.DeleteIdentity(context.Background(), gone.Id).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		all := s.listAllIdentities(t)
		if len(all) != 1 || all[0].Id != kept.Id {
			t.Errorf("after delete the list is %s, want only %s", asJSON(all), kept.Id)
		}
		// The identifier is free again.
		s.createIdentity(t, withPassword(identityBody("gone@example.org"), testPassword))
	})
}

func TestBatchPatchIdentities_CreatesValidAndReportsFailures(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		s.createIdentity(t, withPassword(identityBody("existing@example.org"), testPassword))

		one, two := identityBody("batch-1@example.org"), withPassword(identityBody("batch-2@example.org"), testPassword)
		dup := withPassword(identityBody("Existing@example.org"), testPassword)
		invalid := ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": "not-an-email"}}
		patches := []ory.IdentityPatch{
			{Create: &one, PatchId: ory.PtrString("p-one")},
			{Create: &dup, PatchId: ory.PtrString("p-dup")},
			{Create: &two, PatchId: ory.PtrString("p-two")},
			{Create: &invalid, PatchId: ory.PtrString("p-invalid")},
		}
		out, res, err := s.Admin.IdentityAPI.BatchPatchIdentities(context.Background()).
			PatchIdentitiesBody(ory.PatchIdentitiesBody{Identities: patches}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(out.Identities) != len(patches) {
			t.Fatalf("%d results for %d patches: %s", len(out.Identities), len(patches), asJSON(out))
		}

		wantAction := map[string]string{"p-one": "create", "p-dup": "error", "p-two": "create", "p-invalid": "error"}
		for i, r := range out.Identities {
			pid := patches[i].GetPatchId()
			if r.GetPatchId() != pid {
				t.Errorf("result %d has patch_id %q, want %q (results keep the request order)", i, r.GetPatchId(), pid)
				continue
			}
			if r.GetAction() != wantAction[pid] {
				t.Errorf("%s: action %q, want %q: %s", pid, r.GetAction(), wantAction[pid], asJSON(r))
			}
			switch wantAction[pid] {
			case "create":
				if r.GetIdentity() == "" {
					t.Errorf("%s: no identity id in %s", pid, asJSON(r))
					continue
				}
				got := s.getIdentity(t, r.GetIdentity())
				if traitsOf(t, got)["email"] != patches[i].Create.Traits["email"] {
					t.Errorf("%s: stored %s", pid, asJSON(got))
				}
			case "error":
				if r.Error == nil {
					t.Errorf("%s: no error details in %s", pid, asJSON(r))
				}
			}
		}
		s.requireCount(t, 3, "after the batch")
	})
}

func TestIdentitySchemas_DefaultSchemaIsServed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})

		list, res, err := s.Public.IdentityAPI.ListIdentitySchemas(context.Background()).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(list) != 1 || list[0].Id != "default" {
			t.Fatalf("schemas = %s, want only the built-in default", asJSON(list))
		}
		if _, ok := list[0].Schema["properties"]; !ok {
			t.Errorf("the listed schema has no properties: %s", asJSON(list[0].Schema))
		}

		schema, res, err := s.Public.IdentityAPI.GetIdentitySchema(context.Background(), "default").Execute()
		requireOK(t, res, err, http.StatusOK)
		if !strings.Contains(asJSON(schema), `"email"`) || !strings.Contains(asJSON(schema), "ory.sh/kratos") {
			t.Errorf("default schema lacks traits.email or its ory.sh/kratos extension: %s", asJSON(schema))
		}

		_, res, err = s.Public.IdentityAPI.GetIdentitySchema(context.Background(), "no-such-schema").Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
	})
}

func TestIdentitySchemas_ConfiguredSchemasAreUsed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dir := t.TempDir()
		person := writeFile(t, dir, "person.json", personSchema)
		device := writeFile(t, dir, "device.json", deviceSchema)
		s := startServer(t, serverSpec{store: store, set: map[string]any{
			"identity": map[string]any{
				"default_schema_id": "person",
				"schemas": []any{
					map[string]any{"id": "person", "url": "file://" + person},
					map[string]any{"id": "device", "url": "file://" + device},
				},
			},
		}})

		list, res, err := s.Public.IdentityAPI.ListIdentitySchemas(context.Background()).Execute()
		requireOK(t, res, err, http.StatusOK)
		ids := map[string]bool{}
		for _, c := range list {
			ids[c.Id] = true
		}
		if len(list) != 2 || !ids["person"] || !ids["device"] {
			t.Errorf("schemas = %s, want person and device", asJSON(list))
		}

		p := identityBody("person@example.org")
		p.SchemaId = ""
		if got := s.createIdentity(t, p); got.SchemaId != "person" {
			t.Errorf("schema_id = %q, want the configured default person", got.SchemaId)
		}
		d := s.createIdentity(t, ory.CreateIdentityBody{SchemaId: "device", Traits: map[string]any{"serial": "SN-1"}})
		if d.SchemaId != "device" {
			t.Errorf("schema_id = %q, want device", d.SchemaId)
		}
		// device has no email trait, so the person traits fail it.
		status, body := createFailure(t, s, ory.CreateIdentityBody{SchemaId: "device", Traits: map[string]any{"email": "d@example.org"}})
		requireError(t, status, body, http.StatusBadRequest)
		s.requireCount(t, 2, "after schema checks")
	})
}

const personSchema = `{
  "$id": "https://example.org/person.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Person",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "ory.sh/kratos": {
            "credentials": {"password": {"identifier": true}},
            "verification": {"via": "email"},
            "recovery": {"via": "email"}
          }
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}`

const deviceSchema = `{
  "$id": "https://example.org/device.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Device",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "serial": {
          "type": "string",
          "minLength": 3,
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        }
      },
      "required": ["serial"],
      "additionalProperties": false
    }
  }
}`
