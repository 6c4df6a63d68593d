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

// observing is what a request's context carries for its observer. Fail
// is not handed the flow, so the flow a submission was loaded for is kept
// here: by the time an error is answered, the handler has set its Active
// method (or the flow still has the one it was left with).
type observing struct {
	o    Observer
	flow *Flow
}

type observerKey struct{}

// WithObserver returns ctx whose flow submissions report to o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, &observing{o: o})
}

func observingOf(r *http.Request) *observing {
	ob, _ := r.Context().Value(observerKey{}).(*observing)
	return ob
}

// Submitting notes that request r submits to f, so that an error answered
// to it reports f's method. Receive notes the flows it loads; handlers that
// load their flow themselves call it.
func (k *Kit) Submitting(r *http.Request, f *Flow) {
	if ob := observingOf(r); ob != nil {
		ob.flow = f
	}
}

// Completed reports that the submission r completed f.
func (k *Kit) Completed(r *http.Request, f *Flow) {
	if ob := observingOf(r); ob != nil {
		ob.o.Completed(string(f.Kind), f.Active)
	}
}

func (k *Kit) rejected(r *http.Request, f *Flow) {
	if ob := observingOf(r); ob != nil {
		ob.o.Rejected(string(f.Kind), f.Active)
	}
}

// failed reports an error answered to a submission (POST
// /self-service/<kind>); errors of other requests are not outcomes of a
// flow. The method is that of the flow noted by Submitting, when it is of
// the kind submitted to; "" when the submission failed before its flow was
// loaded.
func (k *Kit) failed(r *http.Request) {
	ob := observingOf(r)
	if ob == nil || r.Method != http.MethodPost {
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/self-service/")
	if !ok {
		return
	}
	switch kind := Kind(rest); kind {
	case Login, Registration, Settings, Recovery, Verification:
		method := ""
		if ob.flow != nil && ob.flow.Kind == kind {
			method = ob.flow.Active
		}
		ob.o.Failed(string(kind), method)
	}
}
