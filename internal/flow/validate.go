package flow

import (
	"errors"

	"github.com/lanyard-id/lanyard/internal/schema"
)

// ValidateTraits checks submitted traits against sch and answers what the
// schema picks out of them. Violations are a FormError on the trait
// fields; any other error is the schema's own failure.
func ValidateTraits(sch *schema.Schema, traits map[string]any) (*schema.Extracted, error) {
	x, err := sch.Validate(traits)
	var verr *schema.ValidationError
	if errors.As(err, &verr) {
		return nil, FromSchema(verr)
	}
	return x, err
}
