package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"

	ory "github.com/ory/client-go"
)

// codeCredentialSchema signs in by password with a username, and by code
// with an email and a phone number; only the code credential holds the
// addresses, so a taken address is the code credential's conflict.
const codeCredentialSchema = `{
  "$id": "https://example.org/code-credential.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "username": {
          "type": "string", "minLength": 3,
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        },
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "email"}}}
        },
        "phone": {
          "type": "string", "format": "tel",
          "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "sms"}}}
        }
      },
      "required": ["username"],
      "additionalProperties": false
    }
  }
}`

func codeCredentialServer(t *testing.T, store string) *Server {
	t.Helper()
	return startServer(t, serverSpec{store: store, set: map[string]any{
		"identity.default_schema_id": "code-credential",
		"identity.schemas": []any{
			map[string]any{"id": "code-credential", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(codeCredentialSchema))},
			// Lanyard's built-in default schema, as the file it is built from.
			map[string]any{"id": "default", "url": "file://" + filepath.Join(repoRoot, "internal", "schema", "default.schema.json")},
		},
	}})
}

func codeIdentityBody(traits map[string]any) ory.CreateIdentityBody {
	return ory.CreateIdentityBody{SchemaId: "code-credential", Traits: traits}
}

// codeCredentialOf answers the identity's code credential as the SDK reads
// it, failing when it has none.
func codeCredentialOf(t *testing.T, i *ory.Identity) ory.IdentityCredentials {
	t.Helper()
	c, ok := i.GetCredentials()["code"]
	if !ok {
		t.Fatalf("identity %s has no code credential: %s", i.Id, asJSON(i.Credentials))
	}
	return c
}

func TestCodeCredential_FromTraitsThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := codeCredentialServer(t, store)

		created := s.createIdentity(t, withPassword(codeIdentityBody(map[string]any{
			"username": "ada", "email": "Ada@Example.org", "phone": "+49 151 1234 5678",
		}), testPassword))
		c := codeCredentialOf(t, created)
		wantIDs := []string{"+4915112345678", "ada@example.org"}
		if c.GetType() != "code" || !reflect.DeepEqual(c.Identifiers, wantIDs) || c.GetVersion() != 1 ||
			c.CreatedAt == nil || c.UpdatedAt == nil || c.Config != nil {
			t.Errorf("created code credential = %s; want type code, identifiers %v, version 1, times, no config", asJSON(c), wantIDs)
		}
		if pw := created.GetCredentials()["password"]; !reflect.DeepEqual(pw.Identifiers, []string{"ada"}) {
			t.Errorf("password identifiers = %v; want only the username", pw.Identifiers)
		}

		// Without include_credential the config stays hidden ...
		raw := s.rawIdentity(t, created.Id, "")
		creds, _ := raw["credentials"].(map[string]any)
		code, _ := creds["code"].(map[string]any)
		if code == nil {
			t.Fatalf("GET: no credentials.code in %s", asJSON(raw))
		}
		if _, shown := code["config"]; shown {
			t.Errorf("GET without include_credential shows the code config: %s", asJSON(code))
		}
		// ... and with include_credential=code it is the addresses, sorted
		// by address, as Kratos stores them.
		got := s.getIdentity(t, created.Id, "code")
		wantConfig := map[string]any{"addresses": []any{
			map[string]any{"channel": "sms", "address": "+4915112345678"},
			map[string]any{"channel": "email", "address": "ada@example.org"},
		}}
		if gc := codeCredentialOf(t, got); !sameJSON(gc.Config, wantConfig) {
			t.Errorf("include_credential=code: config %s; want %s", asJSON(gc.Config), asJSON(wantConfig))
		}
		if pw := got.GetCredentials()["password"]; pw.Config != nil {
			t.Errorf("include_credential=code shows the password config too: %s", asJSON(pw.Config))
		}

		// The credentials_identifier filter finds code identifiers, as in
		// Kratos.
		for _, ident := range []string{"ADA@example.org", "+4915112345678"} {
			list, res, err := s.Admin.IdentityAPI.ListIdentities(context.Background()).CredentialsIdentifier(ident).Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(list) != 1 || list[0].Id != created.Id {
				t.Errorf("credentials_identifier=%s: %s; want the identity", ident, asJSON(list))
			}
		}

		// Replacing the traits re-derives the credential, which keeps its
		// id and creation time.
		updated, res, err := s.Admin.IdentityAPI.UpdateIdentity(context.Background(), created.Id).UpdateIdentityBody(ory.UpdateIdentityBody{
			SchemaId: "code-credential", State: "active", Traits: map[string]any{"username": "ada", "phone": "+1 555 010 0123"},
		}).Execute()
		requireOK(t, res, err, http.StatusOK)
		uc := codeCredentialOf(t, updated)
		if !reflect.DeepEqual(uc.Identifiers, []string{"+15550100123"}) || uc.Config != nil {
			t.Errorf("after PUT: %s; want only the new number, no config", asJSON(uc))
		}
		got = s.getIdentity(t, created.Id, "code")
		gc := codeCredentialOf(t, got)
		if !gc.CreatedAt.Equal(*c.CreatedAt) || gc.UpdatedAt.Before(*c.UpdatedAt) {
			t.Errorf("after PUT: created_at %v, updated_at %v; want created_at %v kept", gc.CreatedAt, gc.UpdatedAt, c.CreatedAt)
		}
		if want := map[string]any{"addresses": []any{map[string]any{"channel": "sms", "address": "+15550100123"}}}; !sameJSON(gc.Config, want) {
			t.Errorf("after PUT: config %s; want %s", asJSON(gc.Config), asJSON(want))
		}
		if _, ok := got.GetCredentials()["password"]; !ok {
			t.Errorf("after PUT the password credential went: %s", asJSON(got.Credentials))
		}

		// Without any code address the credential goes.
		patched, res, err := s.Admin.IdentityAPI.PatchIdentity(context.Background(), created.Id).
			JsonPatch([]ory.JsonPatch{{Op: "remove", Path: "/traits/phone"}}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if _, ok := patched.GetCredentials()["code"]; ok {
			t.Errorf("after removing every code address: %s; want no code credential", asJSON(patched.Credentials))
		}
		if _, ok := s.getIdentity(t, created.Id, "code").GetCredentials()["code"]; ok {
			t.Error("GET after removing every code address still shows a code credential")
		}
		// Its identifiers went with it: the addresses are free again.
		again := s.createIdentity(t, codeIdentityBody(map[string]any{"username": "grace", "email": "ada@example.org", "phone": "+15550100123"}))
		if ac := codeCredentialOf(t, again); !reflect.DeepEqual(ac.Identifiers, []string{"+15550100123", "ada@example.org"}) {
			t.Errorf("a new identity with the freed addresses: %s", asJSON(ac))
		}
	})
}

func TestCodeCredential_TakenAddressIsConflict(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := codeCredentialServer(t, store)
		first := s.createIdentity(t, codeIdentityBody(map[string]any{"username": "first", "email": "taken@example.org", "phone": "+15550100999"}))

		for name, traits := range map[string]map[string]any{
			"same email, other case": {"username": "second", "email": "TAKEN@example.org"},
			"same number, spaced":    {"username": "third", "phone": "+1 555 010 0999"},
		} {
			t.Run(name, func(t *testing.T) {
				status, body := createFailure(t, s, codeIdentityBody(traits))
				requireError(t, status, body, http.StatusConflict)
			})
		}
		s.requireCount(t, 1, "after creates with taken code addresses")

		// An update taking an address conflicts too and changes nothing.
		other := s.createIdentity(t, codeIdentityBody(map[string]any{"username": "other", "email": "other@example.org"}))
		_, res, err := s.Admin.IdentityAPI.UpdateIdentity(context.Background(), other.Id).UpdateIdentityBody(ory.UpdateIdentityBody{
			SchemaId: "code-credential", State: "active", Traits: map[string]any{"username": "other", "email": "taken@example.org"},
		}).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusConflict)
		if oc := codeCredentialOf(t, s.getIdentity(t, other.Id)); !reflect.DeepEqual(oc.Identifiers, []string{"other@example.org"}) {
			t.Errorf("after the refused update: %s; want the address it had", asJSON(oc))
		}
		if fc := codeCredentialOf(t, s.getIdentity(t, first.Id)); !reflect.DeepEqual(fc.Identifiers, []string{"+15550100999", "taken@example.org"}) {
			t.Errorf("the first identity's code credential changed: %s", asJSON(fc))
		}

		// The batch API reports the conflict per identity.
		res2 := s.do(t, http.MethodPatch, s.AdminURL+"/admin/identities", map[string]any{"identities": []any{
			map[string]any{"create": map[string]any{"schema_id": "code-credential", "traits": map[string]any{"username": "batch-1", "phone": "+15550100999"}}},
			map[string]any{"create": map[string]any{"schema_id": "code-credential", "traits": map[string]any{"username": "batch-2", "phone": "+15550100998"}}},
		}}, nil)
		if res2.status != http.StatusOK {
			t.Fatalf("batch: %d %s", res2.status, res2.body)
		}
		var batch struct {
			Identities []struct {
				Action string `json:"action"`
				Error  *struct {
					Code int `json:"code"`
				} `json:"error"`
			} `json:"identities"`
		}
		if err := json.Unmarshal(res2.body, &batch); err != nil || len(batch.Identities) != 2 {
			t.Fatalf("batch answer %s: %v", res2.body, err)
		}
		if r := batch.Identities[0]; r.Action != "error" || r.Error == nil || r.Error.Code != http.StatusConflict {
			t.Errorf("batch entry with the taken number: %s; want a 409 error", res2.body)
		}
		if r := batch.Identities[1]; r.Action != "create" {
			t.Errorf("batch entry with a free number: %s; want it created", res2.body)
		}
		s.requireCount(t, 3, "after a batch with one taken code address")
	})
}

// The default schema's email is a code identifier (as in Kratos's
// quickstart schema), so identities made with it have a code credential
// beside the password.
func TestCodeCredential_DefaultSchemaShape(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := codeCredentialServer(t, store)
		created := s.createIdentity(t, withPassword(identityBody("Default@Example.org"), testPassword))
		c := codeCredentialOf(t, created)
		if !reflect.DeepEqual(c.Identifiers, []string{"default@example.org"}) || c.GetVersion() != 1 {
			t.Errorf("code credential = %s; want the email, version 1", asJSON(c))
		}
		q := url.Values{"include_credential": {"code", "password"}}
		raw := s.rawIdentity(t, created.Id, q.Encode())
		creds, _ := raw["credentials"].(map[string]any)
		code, _ := creds["code"].(map[string]any)
		want := map[string]any{"addresses": []any{map[string]any{"channel": "email", "address": "default@example.org"}}}
		if code == nil || !sameJSON(code["config"], want) {
			t.Errorf("include_credential=code: %s; want config %s", asJSON(code), asJSON(want))
		}
		if pw, _ := creds["password"].(map[string]any); pw == nil || pw["config"] == nil {
			t.Errorf("include_credential=password too: %s; want the password config", asJSON(creds["password"]))
		}
	})
}
