package flow

import (
	"errors"
	"slices"
	"testing"
)

func TestValidateTraits(t *testing.T) {
	sch := defaultSchema(t)
	x, err := ValidateTraits(sch, map[string]any{"email": "Ada@Example.org"})
	if err != nil || !slices.Equal(x.Identifiers["password"], []string{"ada@example.org"}) {
		t.Fatalf("valid traits: %+v, %v", x, err)
	}
	for name, traits := range map[string]map[string]any{
		"bad address": {"email": "not-an-email"},
		"missing":     {},
		"nil":         nil,
	} {
		x, err := ValidateTraits(sch, traits)
		var fe FormError
		if x != nil || !errors.As(err, &fe) || len(fe) == 0 || fe[0].Field == "" || fe[0].Message.ID == 0 {
			t.Errorf("%s: %+v, %v; want a FormError on a trait field", name, x, err)
		}
	}
}
