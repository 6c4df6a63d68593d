package main

import (
	"net/url"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
	"github.com/lanyard-id/lanyard/internal/ui"
	"github.com/lanyard-id/lanyard/internal/ui/i18n"
)

// builtInUI serves the pages under <public>/ui/, where browsers go for
// every flow whose ui_url is not configured. Its forms may be redirected
// to social sign-in providers and to the allowed return addresses, which
// the pages' form-action policy lists.
func builtInUI(cfg *config.Config, kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, social *oidc.Method, mail *courier.Courier) *ui.Handler {
	var origins []string
	if social != nil {
		origins = append(origins, social.AuthOrigins()...)
	}
	for _, raw := range append([]string{cfg.Selfservice.DefaultBrowserReturnURL}, cfg.Selfservice.AllowedReturnURLs...) {
		if u, err := url.Parse(raw); err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") {
			origins = append(origins, u.Scheme+"://"+u.Host)
		}
	}
	opts := ui.Options{Branding: cfg.UI.Branding, Translator: i18n.New(), FormActionOrigins: origins, Dev: cfg.Dev}
	if mail != nil {
		// The dev mailbox (only with --dev) shows what the courier keeps.
		opts.Mailbox = mail
	}
	return ui.New(kit, sessions, ids, opts)
}
