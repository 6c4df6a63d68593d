package recovery

import (
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/strategy/code"
	"github.com/lanyard-id/lanyard/internal/strategy/link"
)

// methods are the code and link methods as the wiring makes them from
// the flow's options.
func methods(kit *flow.Kit, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox, opts Options) flow.Methods {
	return flow.Methods{
		code.New(kit.Config, ids, codes, mail, code.Options{Lifespan: opts.CodeLifespan, MaxAttempts: opts.MaxAttempts, NotifyUnknownRecipients: opts.NotifyUnknownRecipients, Guard: opts.Guard}),
		link.New(kit.Config, ids, codes, mail, link.Options{Lifespan: opts.LinkLifespan, NotifyUnknownRecipients: opts.NotifyUnknownRecipients}),
	}
}
