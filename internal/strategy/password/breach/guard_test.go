package breach

import (
	"errors"
	"testing"

	"github.com/lanyard-id/lanyard/internal/egress"
)

func TestGuardRefusesPrivateRangeAPI(t *testing.T) {
	rs := newRangeServer(t, map[string]string{"hunter2": ":7"})

	on, err := egress.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newClient(t, rs.URL, Options{Guard: on}).Check(ctx, "hunter2")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, egress.ErrPrivateAddress) {
		t.Errorf("a range API on 127.0.0.1 with the rule on: %v; want ErrUnavailable and ErrPrivateAddress", err)
	}
	if got := rs.requests(); len(got) != 0 {
		t.Errorf("the refused server was asked %v", got)
	}

	excepted, err := egress.New(true, []string{rs.URL + "/range/*"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := newClient(t, rs.URL, Options{Guard: excepted}).Check(ctx, "hunter2"); err != nil || n != 7 {
		t.Errorf("an excepted range API: %d, %v; want 7", n, err)
	}

	if n, err := newClient(t, rs.URL, Options{}).Check(ctx, "hunter2"); err != nil || n != 7 {
		t.Errorf("no guard: %d, %v; want 7", n, err)
	}
}
