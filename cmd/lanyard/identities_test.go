package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// startCLIServer runs `serve` in this process on a fresh database of dialect
// d and answers the admin API's URL and the public one. It stops when the
// test ends.
func startCLIServer(t *testing.T, d store.Dialect) (admin, public string) {
	t.Helper()
	dir := t.TempDir()
	publicPort, adminPort := testserver.FreePort(t), testserver.FreePort(t)
	cfg := testserver.BaseConfig(storetest.DSN(t, d), publicPort, adminPort)
	path := filepath.Join(dir, "lanyard.yml")
	if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, io.Discard, config.LoadOptions{Files: []string{path}, LookupEnv: noEnv, WorkDir: dir})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	public = fmt.Sprintf("http://127.0.0.1:%d", publicPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("serve ended before it was ready: %v", err)
		default:
		}
		res, err := http.Get(admin + "/admin/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return admin, public
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runCLI runs one lanyard command in this process.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := rootCommand()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, "", args...)
	if err != nil {
		t.Fatalf("lanyard %v: %v\nstderr: %s", args, err, errOut)
	}
	return out
}

func TestIdentityCommands_ImportListGetDelete(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testImportListGetDelete(t, d) })
	}
}

func testImportListGetDelete(t *testing.T, d store.Dialect) {
	admin, public := startCLIServer(t, d)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct-horse-battery-staple"), 4)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "identities.json")
	body := fmt.Sprintf(`[
  {"schema_id": "default", "traits": {"email": "ada@example.org"},
   "credentials": {"password": {"config": {"hashed_password": %q}}}},
  {"schema_id": "no-such-schema", "traits": {"email": "bad@example.org"}},
  {"traits": {"email": "grace@example.org"}, "state": "inactive"}
]`, hash)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runCLI(t, "", "import", "identities", file, "-e", admin, "--batch-size", "2", "--parallel", "2")
	if err == nil || !strings.Contains(err.Error(), "1 identities failed") {
		t.Fatalf("import answered %v, want the failure counted", err)
	}
	if !strings.Contains(errOut, file+`[1]: The request was malformed or contained invalid parameters: Identity schema "no-such-schema" does not exist. (400)`) {
		t.Errorf("stderr does not name the bad identity and why:\n%s", errOut)
	}
	if strings.Contains(errOut, file+"[0]") || strings.Contains(errOut, file+"[2]") {
		t.Errorf("good identities reported as failed:\n%s", errOut)
	}
	ids := strings.Fields(out)
	if len(ids) != 2 {
		t.Fatalf("import printed %q, want two ids", out)
	}
	// The imported hash signs Ada in.
	if status := signInWithPassword(t, public, "ada@example.org", "correct-horse-battery-staple"); status != http.StatusOK {
		t.Errorf("signing in with the imported password answered %d", status)
	}

	// The environment names the endpoint as well as -e does.
	t.Setenv("LANYARD_ADMIN_URL", admin)
	table := mustCLI(t, "list", "identities")
	for _, want := range []string{"ID", "IDENTIFIER", ids[0], ids[1], "ada@example.org", "grace@example.org", "inactive"} {
		if !strings.Contains(table, want) {
			t.Errorf("list table lacks %q:\n%s", want, table)
		}
	}
	// Kratos's alias, and its old page arguments, accepted and ignored.
	if alias := mustCLI(t, "list", "ls", "1", "10"); alias != table {
		t.Errorf("list ls differs from list identities:\n%s", alias)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "list", "identities", "--format", "json")), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --format json: %v, %d identities", err, len(listed))
	}

	// Paging: the first page names the token of the second.
	page := mustCLI(t, "list", "identities", "--page-size", "1")
	_, token, ok := strings.Cut(page, "NEXT PAGE TOKEN\t")
	if !ok {
		t.Fatalf("a one-identity page has no next page token:\n%s", page)
	}
	second := mustCLI(t, "list", "identities", "--page-size", "1", "--page-token", strings.TrimSpace(token), "-q")
	first := mustCLI(t, "list", "identities", "--page-size", "1", "-q")
	if strings.TrimSpace(first) == strings.TrimSpace(second) || len(strings.Fields(first+second)) != 2 {
		t.Errorf("pages %q and %q are not the two identities", first, second)
	}

	// get: JSON as the API answers it, with no credential secrets.
	pretty := mustCLI(t, "get", "identity", ids[0], "--format", "json-pretty")
	var got map[string]any
	if err := json.Unmarshal([]byte(pretty), &got); err != nil || got["id"] != ids[0] {
		t.Fatalf("get --format json-pretty: %v, %v", err, got)
	}
	if !strings.Contains(pretty, "\n  \"") {
		t.Errorf("json-pretty is not indented:\n%s", pretty)
	}
	if strings.Contains(pretty, string(hash)) {
		t.Error("get printed the password hash")
	}
	both := mustCLI(t, "get", "identity", ids[0], ids[1], "-f", "json", "--include-credentials", "oidc")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(both), &arr); err != nil || len(arr) != 2 {
		t.Errorf("get of two ids in json: %v, %q", err, both)
	}
	if _, errOut, err := runCLI(t, "", "get", "identity", "00000000-0000-0000-0000-000000000000"); err == nil || !strings.Contains(errOut, "404") {
		t.Errorf("get of an unknown id: %v, stderr %q", err, errOut)
	}

	// delete: the id is printed, and the identity is gone.
	if out := mustCLI(t, "delete", "identity", ids[1]); strings.TrimSpace(out) != ids[1] {
		t.Errorf("delete printed %q", out)
	}
	if _, _, err := runCLI(t, "", "get", "identity", ids[1]); err == nil {
		t.Error("the deleted identity can still be read")
	}
	if out := strings.TrimSpace(mustCLI(t, "list", "identities", "-q")); out != ids[0] {
		t.Errorf("after delete the list is %q, want only %s", out, ids[0])
	}
	if _, errOut, err := runCLI(t, "", "delete", "identity", ids[1]); err == nil || !strings.Contains(errOut, ids[1]) {
		t.Errorf("deleting twice: %v, stderr %q", err, errOut)
	}
}

func TestImportIdentities_StdinObjectsAndBadJSON(t *testing.T) {
	admin, _ := startCLIServer(t, store.SQLite)
	// Objects one per line on stdin, and one that is not an identity.
	stdin := `{"traits": {"email": "one@example.org"}}
{"traits": {"email": "two@example.org"}}
42
`
	out, errOut, err := runCLI(t, stdin, "import", "identities", "-e", admin) // no file: stdin
	if err == nil || len(strings.Fields(out)) != 2 {
		t.Fatalf("import from stdin: %v, stdout %q, stderr %q", err, out, errOut)
	}
	if !strings.Contains(errOut, "stdin[2]: not an identity") {
		t.Errorf("stderr: %q", errOut)
	}
	// Broken JSON stops the import with an error naming the file.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`[{"traits": {"email": "x@example.org"}}, {`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "", "import", "identities", bad, "-e", admin)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken JSON: %v", err)
	}
	// The identity before the break was read whole, and is created.
	if len(strings.Fields(out)) != 1 {
		t.Errorf("broken JSON: printed %q, want the one id read before the break", out)
	}
}

func TestIdentityCommands_RefuseBadFlags(t *testing.T) {
	t.Setenv("LANYARD_ADMIN_URL", "")
	t.Setenv("KRATOS_ADMIN_URL", "")
	for _, args := range [][]string{
		{"list", "identities"}, // no endpoint
		{"list", "identities", "-e", "ftp://x"},
		{"list", "identities", "-e", "http://127.0.0.1:1", "--format", "yaml"},
		{"list", "identities", "-e", "http://127.0.0.1:1", "--page-size", "0"},
		{"import", "identities", "x.json", "-e", "http://127.0.0.1:1", "--batch-size", "2001"},
		{"import", "identities", "x.json", "-e", "http://127.0.0.1:1", "--parallel", "0"},
		{"get", "identity"},
	} {
		if _, _, err := runCLI(t, "", args...); err == nil {
			t.Errorf("lanyard %v succeeded", args)
		}
	}
	// KRATOS_ADMIN_URL names the endpoint too (nothing listens there).
	t.Setenv("KRATOS_ADMIN_URL", "http://127.0.0.1:1")
	if _, _, err := runCLI(t, "", "list", "identities"); err == nil || strings.Contains(err.Error(), "name the admin API") {
		t.Errorf("KRATOS_ADMIN_URL was not used: %v", err)
	}
}

func TestNextPageToken(t *testing.T) {
	links := []string{`<http://a/admin/identities?page_size=1>; rel="first",<http://a/admin/identities?page_size=1&page_token=abc>; rel="next"`}
	if got := nextPageToken(links); got != "abc" {
		t.Errorf("got %q", got)
	}
	if got := nextPageToken([]string{`<http://a/x?page_size=1>; rel="first"`}); got != "" {
		t.Errorf("got %q for a last page", got)
	}
}

// signInWithPassword submits a native password login and answers the status.
func signInWithPassword(t *testing.T, public, identifier, password string) int {
	t.Helper()
	res, err := http.Get(public + "/self-service/login/api")
	if err != nil {
		t.Fatal(err)
	}
	var flow struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(res.Body).Decode(&flow)
	res.Body.Close()
	if err != nil || flow.ID == "" {
		t.Fatalf("login flow: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"method": "password", "identifier": identifier, "password": password})
	res, err = http.Post(public+"/self-service/login?flow="+flow.ID, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// A fake admin API that records the batches it gets: batches keep to
// --batch-size, every identity arrives once, and a failed request fails
// each identity in it by name.
func TestImportIdentities_BatchesAndFailedRequests(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPatch || r.URL.Path != "/admin/identities" {
			http.NotFound(w, r)
			return
		}
		var body struct {
			Identities []struct {
				Create struct {
					Traits struct {
						Email string `json:"email"`
					} `json:"traits"`
				} `json:"create"`
			} `json:"identities"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		sizes = append(sizes, len(body.Identities))
		fail := false
		for _, it := range body.Identities {
			seen[it.Create.Traits.Email]++
			fail = fail || it.Create.Traits.Email == "boom@example.org"
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":500,"status":"Internal Server Error","message":"An internal server error occurred, please contact the system administrator"}}`))
			return
		}
		type result struct {
			Action   string `json:"action"`
			Identity string `json:"identity"`
		}
		out := make([]result, len(body.Identities))
		for k := range out {
			out[k] = result{"create", fmt.Sprintf("id-%d", k)}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"identities": out})
	}))
	defer srv.Close()

	var lines []string
	for i := range 23 {
		email := fmt.Sprintf("u%d@example.org", i)
		if i == 20 {
			email = "boom@example.org"
		}
		lines = append(lines, fmt.Sprintf(`{"traits":{"email":%q}}`, email))
	}
	file := filepath.Join(t.TempDir(), "many.json")
	if err := os.WriteFile(file, []byte("["+strings.Join(lines, ",")+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, "", "import", "identities", file, "-e", srv.URL+"/", "--batch-size", "5", "--parallel", "3")
	if err == nil || !strings.Contains(err.Error(), "3 identities failed to import, 20 were created") {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	if n := len(strings.Fields(out)); n != 20 {
		t.Errorf("%d ids printed, want 20", n)
	}
	// The last batch, 20 to 22, failed as a whole: each of its identities
	// is named, with the API's message.
	for _, k := range []int{20, 21, 22} {
		if !strings.Contains(errOut, fmt.Sprintf("%s[%d]: An internal server error", file, k)) {
			t.Errorf("stderr does not name %s[%d]:\n%s", file, k, errOut)
		}
	}
	for _, n := range sizes {
		if n > 5 {
			t.Errorf("a batch of %d exceeds --batch-size 5", n)
		}
	}
	if len(seen) != 23 {
		t.Errorf("%d distinct identities arrived, want 23", len(seen))
	}
	for email, n := range seen {
		if n != 1 {
			t.Errorf("%s arrived %d times", email, n)
		}
	}
}
