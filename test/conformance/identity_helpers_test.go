package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	ory "github.com/ory/client-go"
)

const testPassword = "conformance-Password-7"

// Hashes of testPassword in the encodings Kratos imports.
var importedHashes = map[string]string{
	"bcrypt":   "$2a$04$7F6DYVBiifz4.x3qMeTY5uNNVchjG.9Oyg89zxHQhboqLaqqaWtny",
	"argon2id": "$argon2id$v=19$m=16384,t=1,p=1$bGFueWFyZC1zYWx0LTE2Yg$OTrbeNqdO8FdxoWz/+Jcajmbry4jcMmt29s0tQ3TBYQ",
	"pbkdf2":   "$pbkdf2-sha256$i=1000,l=32$bGFueWFyZC1zYWx0LTE2Yg$kJHMVHryMqx1/MQu3HTLTojjsy00/+IfZcAGVInYOsA",
	"scrypt":   "$scrypt$ln=16384,r=8,p=1$bGFueWFyZC1zYWx0LTE2Yg$kDflmn5+4RAzxyOm2fhWesEk0Vb8sGyKgLybuoqCHEw",
}

func identityBody(email string) ory.CreateIdentityBody {
	return ory.CreateIdentityBody{
		SchemaId: "default",
		Traits:   map[string]any{"email": email},
	}
}

func withPassword(b ory.CreateIdentityBody, password string) ory.CreateIdentityBody {
	b.Credentials = &ory.IdentityWithCredentials{
		Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString(password)},
		},
	}
	return b
}

func withHashedPassword(b ory.CreateIdentityBody, hash string) ory.CreateIdentityBody {
	b.Credentials = &ory.IdentityWithCredentials{
		Password: &ory.IdentityWithCredentialsPassword{
			Config: &ory.IdentityWithCredentialsPasswordConfig{HashedPassword: ory.PtrString(hash)},
		},
	}
	return b
}

// createIdentity creates an identity through the SDK and requires 201.
func (s *Server) createIdentity(t *testing.T, body ory.CreateIdentityBody) *ory.Identity {
	t.Helper()
	id, res, err := s.Admin.IdentityAPI.CreateIdentity(context.Background()).CreateIdentityBody(body).Execute()
	requireOK(t, res, err, http.StatusCreated)
	if id.Id == "" {
		t.Fatal("created identity has no id")
	}
	return id
}

func (s *Server) getIdentity(t *testing.T, id string, includeCredential ...string) *ory.Identity {
	t.Helper()
	req := s.Admin.IdentityAPI.GetIdentity(context.Background(), id)
	if len(includeCredential) > 0 {
		req = req.IncludeCredential(includeCredential)
	}
	got, res, err := req.Execute()
	requireOK(t, res, err, http.StatusOK)
	return got
}

// listAllIdentities walks every page by the Link header.
func (s *Server) listAllIdentities(t *testing.T) []ory.Identity {
	t.Helper()
	var all []ory.Identity
	token := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatal("more than 100 pages: pagination does not end")
		}
		req := s.Admin.IdentityAPI.ListIdentities(context.Background()).PageSize(500)
		if token != "" {
			req = req.PageToken(token)
		}
		ids, res, err := req.Execute()
		requireOK(t, res, err, http.StatusOK)
		all = append(all, ids...)
		next := parseLink(res.Header.Get("Link"))["next"]
		if next == nil || len(ids) == 0 {
			return all
		}
		token = next.Query().Get("page_token")
		if token == "" {
			t.Fatalf("Link rel=next has no page_token: %s", res.Header.Get("Link"))
		}
	}
}

func (s *Server) countIdentities(t *testing.T) int {
	t.Helper()
	return len(s.listAllIdentities(t))
}

// requireCount asserts how many identities are stored; failing requests
// must not write anything.
func (s *Server) requireCount(t *testing.T, want int, after string) {
	t.Helper()
	if got := s.countIdentities(t); got != want {
		t.Fatalf("%s: %d identities stored, want %d", after, got, want)
	}
}

// rawIdentity fetches an identity as generic JSON, for wire-level checks.
func (s *Server) rawIdentity(t *testing.T, id string, query string) map[string]any {
	t.Helper()
	u := s.AdminURL + "/admin/identities/" + id
	if query != "" {
		u += "?" + query
	}
	res := s.do(t, http.MethodGet, u, nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", u, res.status, res.body)
	}
	var m map[string]any
	if err := json.Unmarshal(res.body, &m); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return m
}

func traitsOf(t *testing.T, id *ory.Identity) map[string]any {
	t.Helper()
	m, ok := id.Traits.(map[string]any)
	if !ok {
		t.Fatalf("traits is %T, want an object", id.Traits)
	}
	return m
}

// sameJSON compares two values by their JSON form.
func sameJSON(a, b any) bool {
	var x, y any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
