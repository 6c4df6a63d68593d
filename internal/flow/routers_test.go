package flow

import (
	"context"
	"net/http"
	"testing"
)

type plainMethod struct{ id string }

func (m *plainMethod) ID() string                                            { return m.id }
func (m *plainMethod) Serves(Kind) bool                                      { return true }
func (m *plainMethod) AddNodes(context.Context, *Flow, NodeContext) error    { return nil }
func (m *plainMethod) Submit(context.Context, *Submission) (*Outcome, error) { return &Outcome{}, nil }

type routedMethod struct{ plainMethod }

func (m *routedMethod) Register(mux *http.ServeMux) {}

func TestRoutersAreTheMethodsWithEndpointsEachOnce(t *testing.T) {
	plain, routed := &plainMethod{"password"}, &routedMethod{plainMethod{"webauthn"}}
	got := Routers(Methods{plain, routed}, Methods{routed})
	if len(got) != 1 || got[0] != Router(routed) {
		t.Errorf("Routers = %v, want the routed method once", got)
	}
}
