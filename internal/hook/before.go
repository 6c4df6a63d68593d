package hook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Before runs one flow's before-hooks (selfservice.flows.<flow>.before.hooks)
// when a flow is created: after it is built, before it is stored or
// answered, outside any transaction. Only web_hook runs there.
type Before struct {
	hooks []*webHook
}

// NewBefore builds the before-runner of flowName from its configured list;
// hooks other than web_hook are skipped with a warning. A nil web skips
// every hook. A web_hook whose body cannot be loaded is an error.
func NewBefore(flowName string, hooks []config.Hook, web *WebHooks) (*Before, error) {
	key := "selfservice.flows." + flowName + ".before.hooks"
	b := &Before{}
	for _, h := range hooks {
		if h.Name != WebHook || web == nil {
			slog.Warn(key+" hook is not supported by Lanyard and is skipped", "hook", h.Name)
			continue
		}
		if h.WebHook == nil {
			return nil, errors.New("config key \"" + key + "\": a web_hook needs a config")
		}
		// build warns that parse does nothing after recovery and
		// verification complete; before a flow it can always stop it.
		cfg := *h.WebHook
		parse := cfg.Parse
		cfg.Parse = false
		wh, err := web.build(flowName, key, &cfg)
		if err != nil {
			return nil, err
		}
		wh.cfg.Parse = parse
		b.hooks = append(b.hooks, wh)
	}
	return b, nil
}

// Runs reports whether any before-hook is configured.
func (b *Before) Runs() bool { return b != nil && len(b.hooks) > 0 }

// Run calls the hooks, in order, for the new flow f created by r; s is the
// session a settings flow is created for (nil for the other flows, whose
// before-hooks see no identity). The first failure is the creation's
// answer: a 502 or 504 error, or, when an interrupting hook answered with
// messages, a 400 error carrying them.
func (b *Before) Run(ctx context.Context, r *http.Request, f *flow.Flow, s *session.Session) error {
	if !b.Runs() {
		return nil
	}
	e := &Event{Flow: f, Request: r, Session: s}
	for _, h := range b.hooks {
		if err := h.before(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// before makes one before-hook's call.
func (h *webHook) before(ctx context.Context, e *Event) error {
	res, err := h.send(ctx, h.vars(e))
	if err != nil || res == nil {
		return err
	}
	if !h.cfg.Parse {
		if res.status >= 300 {
			return failedStatus(res.status)
		}
		return nil
	}
	// No identity exists yet, so an answer's identity changes nothing.
	_, err = h.interpret(res)
	var fe flow.FormError
	if errors.As(err, &fe) {
		return interrupted(fe)
	}
	return err
}

// interrupted is the creation's answer when a hook stopped it with
// messages: there is no flow yet to show them on, so they are the reason.
func interrupted(fe flow.FormError) *wire.Error {
	texts := make([]string, 0, len(fe))
	for _, m := range fe {
		texts = append(texts, m.Message.Text)
	}
	return wire.BadRequest.WithReason("%s", strings.Join(texts, "; "))
}
