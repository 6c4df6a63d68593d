package bodytemplate

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func b64(src string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(src)) }

func TestEvaluateCallsTheTemplateWithCtx(t *testing.T) {
	tpl, err := Load(context.Background(), nil, "t.jsonnet", b64(`function(ctx) { to: ctx.to, n: std.length(ctx.list) }`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := tpl.Evaluate(map[string]any{"to": "a@example.org", "list": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(string(out)), ""); got != `{"n":2,"to":"a@example.org"}` {
		t.Errorf("out = %s", out)
	}
}

func TestErrorCancelIsErrCancelled(t *testing.T) {
	tpl, err := Load(context.Background(), nil, "t.jsonnet", b64(`function(ctx) if ctx.skip then error "cancel" else error "other"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Evaluate(map[string]any{"skip": true}); !errors.Is(err, ErrCancelled) {
		t.Errorf("error \"cancel\": %v", err)
	}
	if _, err := tpl.Evaluate(map[string]any{"skip": false}); err == nil || errors.Is(err, ErrCancelled) {
		t.Errorf("another error is no cancel: %v", err)
	}
}

func TestTemplatesCannotImport(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"k":"v"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tpl, err := Load(context.Background(), nil, "t.jsonnet", b64(`function(ctx) import "`+secret+`"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tpl.Evaluate(nil); err == nil {
		t.Error("a template read a file")
	}
}

func TestLoadRejectsBadJsonnetAndFetchesEveryScheme(t *testing.T) {
	if _, err := Load(context.Background(), nil, "t.jsonnet", b64(`function(ctx) {`)); err == nil || !strings.Contains(err.Error(), "invalid Jsonnet") {
		t.Errorf("bad Jsonnet: %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "b.jsonnet")
	if err := os.WriteFile(file, []byte(`function(ctx) {}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write(make([]byte, MaxSize+1))
			return
		}
		_, _ = w.Write([]byte(`function(ctx) {}`))
	}))
	defer srv.Close()
	for _, u := range []string{"file://" + filepath.ToSlash(file), srv.URL + "/b.jsonnet"} {
		if _, err := Load(context.Background(), srv.Client(), "t.jsonnet", u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := Fetch(context.Background(), srv.Client(), srv.URL+"/big"); err == nil {
		t.Error("a template larger than the limit was read")
	}
	if _, err := Fetch(context.Background(), nil, "ftp://x/y"); err == nil {
		t.Error("an unknown scheme was read")
	}
}

func TestFormValues(t *testing.T) {
	form, err := FormValues([]byte(`{"s":"x y","n":1.5,"b":true,"o":{"k":1},"z":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := form.Encode(); got != "b=true&n=1.5&o=%7B%22k%22%3A1%7D&s=x+y" {
		t.Errorf("form = %s", got)
	}
	if _, err := FormValues([]byte(`[1]`)); err == nil {
		t.Error("a list became a form")
	}
}
