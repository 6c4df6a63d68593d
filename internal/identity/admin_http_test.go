package identity

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

type adminAPI struct {
	t   *testing.T
	m   *Manager
	mux *http.ServeMux
}

func newAdminAPI(t *testing.T, s *store.Store) *adminAPI {
	m := newManager(t, s)
	mux := http.NewServeMux()
	NewAdminHandler(m, "http://admin.test/").Register(mux, "/admin")
	return &adminAPI{t: t, m: m, mux: mux}
}

type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v\n%s", a.code, err, a.body)
	}
}

// errorOf checks the generic error shape and returns its fields.
func (a answer) errorOf(t *testing.T) map[string]any {
	t.Helper()
	var e struct {
		Error map[string]any `json:"error"`
	}
	a.json(t, &e)
	if e.Error == nil || e.Error["code"] != float64(a.code) || e.Error["status"] != http.StatusText(a.code) || e.Error["message"] == "" {
		t.Errorf("error body %s does not have the error shape for %d", a.body, a.code)
	}
	return e.Error
}

func (api *adminAPI) do(method, path string, body io.Reader) answer {
	api.t.Helper()
	r := httptest.NewRequest(method, path, body)
	w := httptest.NewRecorder()
	api.mux.ServeHTTP(w, r)
	return answer{code: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func (api *adminAPI) doString(method, path, body string) answer {
	api.t.Helper()
	return api.do(method, path, strings.NewReader(body))
}

func (api *adminAPI) create(email string) map[string]any {
	api.t.Helper()
	a := api.doString("POST", "/admin/identities", `{"schema_id":"default","traits":{"email":"`+email+`"},
		"credentials":{"password":{"config":{"password":"pw-12345678"}}}}`)
	if a.code != http.StatusCreated {
		api.t.Fatalf("create %s: %d %s", email, a.code, a.body)
	}
	var v map[string]any
	a.json(api.t, &v)
	return v
}

func TestAdminCreateAndGet(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		api := newAdminAPI(t, s)
		a := api.doString("POST", "/admin/identities", `{"traits":{"email":"Admin@Example.org"},
			"metadata_public":{"p":1},"metadata_admin":{"a":2},"external_id":"ext-9",
			"credentials":{"password":{"config":{"password":"pw-12345678"}}},
			"verifiable_addresses":[{"value":"ADMIN@example.org","via":"email","verified":true,"verified_at":"2024-01-01T00:00:00Z"}]}`)
		if a.code != http.StatusCreated {
			t.Fatalf("create: %d %s", a.code, a.body)
		}
		var v map[string]any
		a.json(t, &v)
		id, _ := v["id"].(string)
		if a.header.Get("Location") != "http://admin.test/admin/identities/"+id {
			t.Errorf("Location = %q", a.header.Get("Location"))
		}
		if !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type = %q", a.header.Get("Content-Type"))
		}
		if v["schema_url"] != "http://public.test/schemas/ZGVmYXVsdA" || v["state"] != "active" || v["external_id"] != "ext-9" {
			t.Errorf("created identity = %s", a.body)
		}
		creds, _ := v["credentials"].(map[string]any)
		pw, _ := creds["password"].(map[string]any)
		if pw == nil || pw["config"] != nil {
			t.Errorf("credentials = %v; want the password listed without its config", v["credentials"])
		}
		addrs, _ := v["verifiable_addresses"].([]any)
		if len(addrs) != 1 || addrs[0].(map[string]any)["verified"] != true || addrs[0].(map[string]any)["verified_at"] != "2024-01-01T00:00:00Z" {
			t.Errorf("verifiable_addresses = %v; want the admin-verified address", v["verifiable_addresses"])
		}

		a = api.do("GET", "/admin/identities/"+id+"?include_credential=password", nil)
		if a.code != http.StatusOK {
			t.Fatalf("get: %d %s", a.code, a.body)
		}
		a.json(t, &v)
		creds, _ = v["credentials"].(map[string]any)
		pw, _ = creds["password"].(map[string]any)
		cfg, _ := pw["config"].(map[string]any)
		if h, _ := cfg["hashed_password"].(string); !strings.HasPrefix(h, "$2a$") {
			t.Errorf("include_credential=password: config = %v", pw["config"])
		}

		a = api.do("GET", "/admin/identities/by/external/ext-9", nil)
		if a.code != http.StatusOK || !strings.Contains(string(a.body), id) {
			t.Errorf("by external id: %d %s", a.code, a.body)
		}
		a = api.do("GET", "/admin/identities/by/external/nope", nil)
		if a.code != http.StatusNotFound {
			t.Errorf("unknown external id: %d", a.code)
		}
	})
}

func TestAdminErrors(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		api := newAdminAPI(t, s)
		existing := api.create("taken@example.org")
		id := existing["id"].(string)
		huge := `{"traits":{"email":"a@example.org","pad":"` + strings.Repeat("x", 1<<20) + `"}}`
		cases := []struct {
			name, method, path, body string
			code                     int
		}{
			{"malformed JSON", "POST", "/admin/identities", `{"traits":`, 400},
			{"empty body", "POST", "/admin/identities", ``, 400},
			{"trailing data", "POST", "/admin/identities", `{"traits":{"email":"x@example.org"}} {}`, 400},
			{"wrong type", "POST", "/admin/identities", `{"traits":{"email":"x@example.org"},"state":7}`, 400},
			{"schema violation", "POST", "/admin/identities", `{"traits":{"email":"not an email"}}`, 400},
			{"unknown schema", "POST", "/admin/identities", `{"schema_id":"nope","traits":{"email":"x@example.org"}}`, 400},
			{"duplicate", "POST", "/admin/identities", `{"traits":{"email":"TAKEN@example.org"},"credentials":{"password":{"config":{"password":"pw-12345678"}}}}`, 409},
			{"oversized", "POST", "/admin/identities", huge, 413},
			{"unknown id", "GET", "/admin/identities/8a1b4c1e-0000-4000-8000-000000000000", ``, 404},
			{"malformed id", "GET", "/admin/identities/not-a-uuid", ``, 404},
			{"delete unknown", "DELETE", "/admin/identities/8a1b4c1e-0000-4000-8000-000000000000", ``, 404},
			{"delete malformed", "DELETE", "/admin/identities/xyz", ``, 404},
			{"put unknown", "PUT", "/admin/identities/8a1b4c1e-0000-4000-8000-000000000000", `{"state":"active","traits":{"email":"x@example.org"}}`, 404},
			{"put without state", "PUT", "/admin/identities/" + id, `{"traits":{"email":"x@example.org"}}`, 400},
			{"put malformed", "PUT", "/admin/identities/" + id, `[`, 400},
			{"patch not a patch", "PATCH", "/admin/identities/" + id, `[{"op":"jump","path":"/x"}]`, 400},
			{"patch not an array", "PATCH", "/admin/identities/" + id, `{"op":"replace"}`, 400},
			{"patch the id", "PATCH", "/admin/identities/" + id, `[{"op":"replace","path":"/id","value":"8a1b4c1e-0000-4000-8000-000000000000"}]`, 400},
			{"patch created_at", "PATCH", "/admin/identities/" + id, `[{"op":"replace","path":"/created_at","value":"2000-01-01T00:00:00Z"}]`, 400},
			{"patch missing path", "PATCH", "/admin/identities/" + id, `[{"op":"remove","path":"/nothing/here"}]`, 400},
			{"patch unknown", "PATCH", "/admin/identities/8a1b4c1e-0000-4000-8000-000000000000", `[]`, 404},
			{"bad page_token", "GET", "/admin/identities?page_token=!!!", ``, 400},
			{"page_token not json", "GET", "/admin/identities?page_token=bm90LWpzb24", ``, 400},
			{"page_size zero", "GET", "/admin/identities?page_size=0", ``, 400},
			{"page_size text", "GET", "/admin/identities?page_size=ten", ``, 400},
			{"batch without create", "PATCH", "/admin/identities", `{"identities":[{"patch_id":"x"}]}`, 400},
		}
		for _, c := range cases {
			a := api.doString(c.method, c.path, c.body)
			if a.code != c.code {
				t.Errorf("%s: %s %s = %d %s; want %d", c.name, c.method, c.path, a.code, a.body, c.code)
				continue
			}
			e := a.errorOf(t)
			if c.code < 500 && e["reason"] == nil && c.code != 404 {
				t.Errorf("%s: no reason in %s", c.name, a.body)
			}
		}
		if n, _ := api.m.Count(ctx); n != 1 {
			t.Errorf("%d identities after rejected requests; want 1", n)
		}
	})
}

var linkRE = regexp.MustCompile(`<([^>]*)>; rel="(\w+)"`)

func links(t *testing.T, h http.Header) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h.Get("Link"), -1) {
		out[m[2]] = m[1]
	}
	if out["first"] == "" {
		t.Errorf("Link %q has no rel=first", h.Get("Link"))
	}
	return out
}

func TestAdminListPagination(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		api := newAdminAPI(t, s)
		var want []string
		for _, e := range []string{"a@example.org", "b@example.org", "c@example.org", "d@example.org", "e@example.org"} {
			want = append(want, api.create(e)["id"].(string))
		}
		sort.Strings(want)

		var got []string
		path := "/admin/identities?page_size=2&include_credential=password"
		for pages := 0; path != ""; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			a := api.do("GET", path, nil)
			if a.code != http.StatusOK {
				t.Fatalf("%s: %d %s", path, a.code, a.body)
			}
			var page []map[string]any
			a.json(t, &page)
			for _, v := range page {
				got = append(got, v["id"].(string))
				creds, _ := v["credentials"].(map[string]any)
				if pw, _ := creds["password"].(map[string]any); pw["config"] == nil {
					t.Errorf("include_credential lost between pages: %v", v["credentials"])
				}
			}
			l := links(t, a.header)
			first, _ := url.Parse(l["first"])
			if first.Host != "admin.test" || first.Path != "/admin/identities" || first.Query().Get("page_size") != "2" ||
				first.Query().Get("page_token") != "" || first.Query().Get("include_credential") != "password" {
				t.Errorf("rel=first = %q", l["first"])
			}
			path = ""
			if next := l["next"]; next != "" {
				u, _ := url.Parse(next)
				if u.Query().Get("page_token") == "" || u.Query().Get("include_credential") != "password" {
					t.Errorf("rel=next = %q", next)
				}
				path = u.RequestURI()
			} else if len(page) != 1 {
				t.Errorf("last page has %d entries; want 1", len(page))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("listed %v; want %v, each once", got, want)
		}

		// An exact page boundary: no rel=next after the last full page.
		a := api.do("GET", "/admin/identities?page_size=5", nil)
		var page []map[string]any
		a.json(t, &page)
		if l := links(t, a.header); len(page) != 5 || l["next"] != "" {
			t.Errorf("page_size=5 of 5: %d entries, next %q; want all and no next", len(page), l["next"])
		}

		a = api.do("GET", "/admin/identities?credentials_identifier=C@EXAMPLE.ORG", nil)
		a.json(t, &page)
		if len(page) != 1 {
			t.Errorf("credentials_identifier filter: %d identities; want 1", len(page))
		}
		a = api.do("GET", "/admin/identities?ids="+want[0]+"&ids=garbage&ids="+want[3], nil)
		a.json(t, &page)
		if len(page) != 2 {
			t.Errorf("ids filter: %d identities; want 2", len(page))
		}
		a = api.do("GET", "/admin/identities?ids=garbage", nil)
		if a.code != 200 || strings.TrimSpace(string(a.body)) != "[]" {
			t.Errorf("ids filter with no valid id: %d %s; want []", a.code, a.body)
		}
	})
}

func TestAdminReplacePatchDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		api := newAdminAPI(t, s)
		id := api.create("put@example.org")["id"].(string)
		other := api.create("other@example.org")["id"].(string)

		a := api.doString("PUT", "/admin/identities/"+id, `{"state":"inactive","traits":{"email":"put2@example.org"},"metadata_public":{"x":1}}`)
		if a.code != http.StatusOK {
			t.Fatalf("PUT: %d %s", a.code, a.body)
		}
		var v map[string]any
		a.json(t, &v)
		if v["state"] != "inactive" || !strings.Contains(string(a.body), "put2@example.org") {
			t.Errorf("PUT answer = %s", a.body)
		}
		a = api.doString("PUT", "/admin/identities/"+id, `{"state":"active","traits":{"email":"other@example.org"}}`)
		if a.code != http.StatusConflict {
			t.Errorf("PUT onto a taken email: %d %s; want 409", a.code, a.body)
		}

		a = api.doString("PATCH", "/admin/identities/"+id, `[
			{"op":"replace","path":"/traits/email","value":"Patched@example.org"},
			{"op":"add","path":"/metadata_admin","value":{"k":"v"}},
			{"op":"replace","path":"/state","value":"active"}]`)
		if a.code != http.StatusOK {
			t.Fatalf("PATCH: %d %s", a.code, a.body)
		}
		i, err := api.m.Get(ctx, mustUUID(t, id))
		if err != nil {
			t.Fatal(err)
		}
		if i.State != StateActive || !jsonEqual(i.MetadataAdmin, `{"k":"v"}`) || !jsonEqual(i.MetadataPublic, `{"x":1}`) {
			t.Errorf("after PATCH: state %s, metadata %s / %s", i.State, i.MetadataPublic, i.MetadataAdmin)
		}
		if ids := i.Credentials[CredentialsPassword].Identifiers; len(ids) != 1 || ids[0] != "patched@example.org" {
			t.Errorf("identifiers after PATCH = %v", ids)
		}
		a = api.doString("PATCH", "/admin/identities/"+id, `[{"op":"replace","path":"/traits/email","value":"other@example.org"}]`)
		if a.code != http.StatusConflict {
			t.Errorf("PATCH onto a taken email: %d %s; want 409", a.code, a.body)
		}
		a = api.doString("PATCH", "/admin/identities/"+id, `[{"op":"remove","path":"/traits/email"}]`)
		if a.code != http.StatusBadRequest {
			t.Errorf("PATCH that breaks the schema: %d %s; want 400", a.code, a.body)
		}
		a = api.doString("PATCH", "/admin/identities/"+id, `[{"op":"add","path":"/credentials/password/config","value":{"password":"a-new-password-42"}}]`)
		if a.code != http.StatusBadRequest {
			t.Errorf("PATCH that sets a password: %d %s; want 400", a.code, a.body)
		}

		a = api.do("DELETE", "/admin/identities/"+other, nil)
		if a.code != http.StatusNoContent || len(a.body) != 0 {
			t.Errorf("DELETE: %d %s", a.code, a.body)
		}
		if a = api.do("GET", "/admin/identities/"+other, nil); a.code != http.StatusNotFound {
			t.Errorf("GET after DELETE: %d", a.code)
		}
	})
}

func TestAdminBatch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		api := newAdminAPI(t, s)
		api.create("exists@example.org")
		a := api.doString("PATCH", "/admin/identities", `{"identities":[
			{"patch_id":"p1","create":{"traits":{"email":"new1@example.org"}}},
			{"patch_id":"p2","create":{"traits":{"email":"EXISTS@example.org"},"credentials":{"password":{"config":{"password":"pw-12345678"}}}}},
			{"patch_id":"p3","create":{"traits":{}}},
			{"create":{"traits":{"email":"new2@example.org"}}}]}`)
		if a.code != http.StatusOK {
			t.Fatalf("batch: %d %s", a.code, a.body)
		}
		var out struct {
			Identities []struct {
				Action   string         `json:"action"`
				Identity string         `json:"identity"`
				PatchID  string         `json:"patch_id"`
				Error    map[string]any `json:"error"`
			} `json:"identities"`
		}
		a.json(t, &out)
		if len(out.Identities) != 4 {
			t.Fatalf("batch results: %s", a.body)
		}
		want := []struct {
			action, patchID string
			code            float64
		}{{"create", "p1", 0}, {"error", "p2", 409}, {"error", "p3", 400}, {"create", "", 0}}
		for k, w := range want {
			r := out.Identities[k]
			if r.Action != w.action || r.PatchID != w.patchID {
				t.Errorf("result %d = %+v; want %s %s", k, r, w.action, w.patchID)
			}
			if w.code != 0 && (r.Error == nil || r.Error["code"] != w.code) {
				t.Errorf("result %d error = %v; want code %v", k, r.Error, w.code)
			}
			if w.action == "create" && r.Identity == "" {
				t.Errorf("result %d has no identity id", k)
			}
		}
		if n, _ := api.m.Count(ctx); n != 3 {
			t.Errorf("Count = %d; want 3", n)
		}
	})
}

// A batch that waits for the database past the server's write timeout
// still gets its answer: the client must learn what was committed.
func TestAdminBatchAnswersAfterTheWriteTimeout(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	api := newAdminAPI(t, s)
	srv := httptest.NewUnstartedServer(api.mux)
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()

	// SQLite has one writer: holding it makes the batch wait.
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Write(context.Background(), func(*store.Q) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	time.AfterFunc(4*srv.Config.WriteTimeout, func() { close(release) })

	req, err := http.NewRequest("PATCH", srv.URL+"/admin/identities",
		strings.NewReader(`{"identities":[{"create":{"traits":{"email":"late@example.org"}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("batch after the write timeout: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"action":"create"`) {
		t.Errorf("batch: %d %s", res.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
