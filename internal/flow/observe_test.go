package flow

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

type outcomes []string

func (o *outcomes) Completed(kind, method string) { *o = append(*o, "success "+kind+" "+method) }
func (o *outcomes) Rejected(kind, method string)  { *o = append(*o, "form_error "+kind+" "+method) }
func (o *outcomes) Failed(kind, method string)    { *o = append(*o, "error "+kind+" "+method) }

func TestObserverHearsOutcomes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		k := testKit(s)
		var seen outcomes
		request := func(method, target string) *http.Request {
			r := httptest.NewRequest(method, target, nil)
			r.Header.Set("Accept", "application/json")
			return r.WithContext(WithObserver(context.Background(), &seen))
		}
		f := New(Login, TypeAPI, httptest.NewRequest("GET", "/self-service/login/api", nil), publicURL, 0)
		f.Active = "password"
		if err := k.Save(context.Background(), f); err != nil {
			t.Fatal(err)
		}

		k.Reject(httptest.NewRecorder(), request("POST", "/self-service/login?flow="+f.ID.String()), f, FormMessage(text.InvalidCredentials()))
		k.Reject(httptest.NewRecorder(), request("POST", "/self-service/login?flow="+f.ID.String()), f, nil) // the form moved on
		k.Completed(request("POST", "/self-service/login"), f)
		k.Fail(httptest.NewRecorder(), request("POST", "/self-service/registration"), wire.BadRequest)
		k.Fail(httptest.NewRecorder(), request("GET", "/self-service/login/api"), wire.BadRequest)   // not a submission
		k.Fail(httptest.NewRecorder(), request("POST", "/self-service/logout/api"), wire.BadRequest) // not a flow kind

		// A failure after the flow was noted reports the method the
		// handler set on it, even when set after the noting.
		noted := request("POST", "/self-service/login?flow="+f.ID.String())
		f.Active = ""
		k.Submitting(noted, f)
		f.Active = "code"
		k.Fail(httptest.NewRecorder(), noted, wire.BadRequest)
		// A flow of another kind than the one submitted to names no method.
		other := request("POST", "/self-service/registration")
		k.Submitting(other, f)
		k.Fail(httptest.NewRecorder(), other, wire.BadRequest)

		want := outcomes{"form_error login password", "success login password", "error registration ", "error login code", "error registration "}
		if len(seen) != len(want) {
			t.Fatalf("outcomes = %q, want %q", seen, want)
		}
		for i := range want {
			if seen[i] != want[i] {
				t.Errorf("outcome %d = %q, want %q", i, seen[i], want[i])
			}
		}

		// Without an observer nothing happens.
		k.Completed(httptest.NewRequest("POST", "/self-service/login", nil), f)
		k.Submitting(httptest.NewRequest("POST", "/self-service/login", nil), f)
	})
}
