package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
	"github.com/lanyard-id/lanyard/internal/tokenexchange"
)

// providerTimeout bounds each request to a provider (discovery, keys,
// token, userinfo) and to a remote mapper.
const providerTimeout = 10 * time.Second

// socialSignIn wires the oidc method when it is on: every provider Lanyard
// can serve, set up at start (discovery included). A provider that cannot
// be set up is logged and left out, so that one provider being down does
// not keep the others from signing people in. Whenever secrets.cipher is
// set, the admin API shows stored provider tokens decrypted, as Kratos
// does, and native apps can redeem a session token exchange code.
func socialSignIn(cfg *config.Config, kit *flow.Kit, ids *identity.Manager, sessions *session.Manager) (*oidc.Method, *tokenexchange.Exchanges, error) {
	o := cfg.Selfservice.Methods.OIDC
	if len(cfg.Secrets.Cipher) == 0 {
		if o.Enabled {
			return nil, nil, errors.New(`config key "selfservice.methods.oidc.enabled" needs "secrets.cipher": the tokens providers issue are stored encrypted with it`)
		}
		return nil, nil, nil
	}
	c, err := cipher.New(cfg.Ciphers.Algorithm, cfg.Secrets.Cipher)
	if err != nil {
		return nil, nil, err
	}
	ids.SetDeclassifier(oidc.ID, oidc.Declassify(c))
	exchanges := tokenexchange.New(kit.Store, c, sessions, cfg.Selfservice.Flows.Login.Lifespan)
	if !o.Enabled {
		return nil, exchanges, nil
	}
	hc := &http.Client{Timeout: providerTimeout}
	ctx, cancel := context.WithTimeout(context.Background(), providerTimeout)
	defer cancel()
	var providers []*oidc.Provider
	for _, pc := range o.Providers {
		p, err := oidc.NewProvider(ctx, pc, o.RedirectURI(pc), hc)
		if err != nil {
			slog.Error("selfservice.methods.oidc: a provider cannot be used and is not offered", "provider", pc.ID, "error", err)
			continue
		}
		providers = append(providers, p)
	}
	m := oidc.New(kit, ids, c, oidc.NewMapper(hc), providers)
	m.Factors, m.Mitigate = factorRules(cfg), cfg.Security.AccountEnumerationMitigate
	return m, exchanges, nil
}
