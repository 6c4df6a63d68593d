package flow

import (
	"context"
	"net/http"
	"strings"
)

// Observer learns how flow submissions end (for metrics): completed,
// shown again with form errors, or failed with an error. Methods are the
// ids the flows use ("password", "code", ...); "" when the submission
// failed before a method was known.
type Observer interface {
	Completed(kind, method string)
	Rejected(kind, method string)
	Failed(kind, method string)
}

type observerKey struct{}

// WithObserver returns ctx whose flow submissions report to o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

func observerOf(r *http.Request) Observer {
	o, _ := r.Context().Value(observerKey{}).(Observer)
	return o
}

// Completed reports that the submission r completed f.
func (k *Kit) Completed(r *http.Request, f *Flow) {
	if o := observerOf(r); o != nil {
		o.Completed(string(f.Kind), f.Active)
	}
}

func (k *Kit) rejected(r *http.Request, f *Flow) {
	if o := observerOf(r); o != nil {
		o.Rejected(string(f.Kind), f.Active)
	}
}

// failed reports an error answered to a submission (POST
// /self-service/<kind>); errors of other requests are not outcomes of a
// flow. The flow, and so its method, is unknown here.
func (k *Kit) failed(r *http.Request) {
	o := observerOf(r)
	if o == nil || r.Method != http.MethodPost {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/self-service/")
	if !ok {
		return
	}
	switch kind := Kind(rest); kind {
	case Login, Registration, Settings, Recovery, Verification:
		o.Failed(string(kind), "")
	}
}
