package hook

import (
	"context"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
)

func TestRunnerRunsAMethodsOwnListInsteadOfTheFlows(t *testing.T) {
	var ran []string
	record := func(name string) Hook {
		return Func(func(context.Context, *store.Q, *Event) error { ran = append(ran, name); return nil })
	}
	r := NewRunner("test",
		[]config.Hook{{Name: "a"}, {Name: "web_hook"}, {Name: "checked"}},
		map[string][]config.Hook{"password": {{Name: "b"}}, "profile": nil},
		map[string]Hook{"a": record("a"), "b": record("b"), "checked": nil})

	for _, tc := range []struct {
		method string
		want   []string
	}{
		{"password", []string{"b"}}, // its own list replaces the flow's
		{"profile", []string{"a"}},  // nil means not configured: the flow's
		{"totp", []string{"a"}},
	} {
		ran = nil
		if err := r.Run(context.Background(), nil, &Event{Method: tc.method}); err != nil {
			t.Fatal(err)
		}
		if len(ran) != len(tc.want) || (len(ran) > 0 && ran[0] != tc.want[0]) {
			t.Errorf("%s: ran %v, want %v", tc.method, ran, tc.want)
		}
	}
	if !r.Has("totp", "checked") || r.Has("password", "checked") {
		t.Errorf("Has: a flow-checked hook follows the same lists")
	}
	if r.Has("totp", "web_hook") {
		t.Errorf("an unsupported hook is skipped, not run")
	}
	var none *Runner
	if none.Has("password", "a") || none.Run(context.Background(), nil, &Event{}) != nil {
		t.Errorf("a nil runner runs nothing")
	}
}
