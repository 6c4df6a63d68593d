package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
	"github.com/lanyard-id/lanyard/internal/tokenexchange"
)

// providerTimeout bounds each request to a provider (discovery, keys,
// token, userinfo) and to a remote mapper.
const providerTimeout = 10 * time.Second

// retryIntervalEnv shortens the wait between attempts at setting up a
// provider that was down. It exists for tests only and is not part of
// the configuration.
const retryIntervalEnv = "LANYARD_TEST_OIDC_RETRY_INTERVAL"

// providerRetryInterval is the least time between two attempts at the
// providers that could not be set up (0: the oidc package's default).
func providerRetryInterval() time.Duration {
	raw := os.Getenv(retryIntervalEnv)
	if raw == "" {
		return 0
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		slog.Warn("ignoring "+retryIntervalEnv+": not a positive duration", "value", raw)
		return 0
	}
	return d
}

// socialSignIn wires the oidc method when it is on: every provider Lanyard
// can serve, set up at start and on each reload (discovery included). A
// provider that cannot be set up is logged and left out, so that one
// provider being down does not keep the others from signing people in;
// one whose discovery failed is tried again in the background, at most
// once per providerRetryInterval, and offered once it answers. Whenever
// secrets.cipher is set, the admin API shows stored provider tokens
// decrypted, as Kratos does, and native apps can redeem a session token
// exchange code.
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
	// Discovery, tokens, user info and mappers follow clients.http's private-IP rule.
	outbound, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	if err != nil {
		return nil, nil, err
	}
	hc := outbound.Client(providerTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), providerTimeout)
	defer cancel()
	setups := make([]oidc.ProviderSetup, 0, len(o.Providers))
	for _, pc := range o.Providers {
		setups = append(setups, oidc.ProviderSetup{Config: pc, RedirectURI: o.RedirectURI(pc)})
	}
	providers := oidc.SetUpProviders(ctx, setups, hc, providerTimeout, providerRetryInterval())
	m := oidc.New(kit, ids, c, oidc.NewMapper(hc), providers)
	m.Factors, m.Mitigate = factorRules(cfg), cfg.Security.AccountEnumerationMitigate
	return m, exchanges, nil
}
