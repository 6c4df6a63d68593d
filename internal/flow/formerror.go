package flow

import (
	"strings"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
)

// FieldError is a user mistake a strategy reports: it becomes a message on
// the node named Field (or on the form when Field is ""), and the flow is
// shown again.
type FieldError struct {
	Field   string
	Message *text.Message
}

// FormError collects the mistakes of one submission.
type FormError []FieldError

func (e FormError) Error() string {
	parts := make([]string, 0, len(e))
	for _, f := range e {
		parts = append(parts, f.Field+": "+f.Message.Text)
	}
	return "form rejected: " + strings.Join(parts, "; ")
}

// FormMessage makes a FormError of one form-level message.
func FormMessage(m *text.Message) FormError { return FormError{{Message: m}} }

// FromSchema turns a schema violation into messages on the trait fields.
func FromSchema(v *schema.ValidationError) FormError {
	out := make(FormError, 0, len(v.Causes))
	for _, c := range v.Causes {
		m := &text.Message{ID: c.MessageID, Text: c.Text, Type: text.Error, Context: c.Context}
		out = append(out, FieldError{Field: c.Field, Message: m})
	}
	return out
}

// Apply puts the messages on the flow's nodes.
func (e FormError) Apply(f *Flow) {
	for _, fe := range e {
		f.UI.AddMessage(fe.Field, fe.Message)
	}
}
