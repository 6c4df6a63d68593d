package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lanyard-id/lanyard/internal/api"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/egress"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/flow/login"
	"github.com/lanyard-id/lanyard/internal/flow/recovery"
	"github.com/lanyard-id/lanyard/internal/flow/registration"
	"github.com/lanyard-id/lanyard/internal/flow/settings"
	"github.com/lanyard-id/lanyard/internal/flow/verification"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/strategy/code"
	"github.com/lanyard-id/lanyard/internal/strategy/link"
	"github.com/lanyard-id/lanyard/internal/strategy/lookup"
	"github.com/lanyard-id/lanyard/internal/strategy/oidc"
	"github.com/lanyard-id/lanyard/internal/strategy/passkey"
	"github.com/lanyard-id/lanyard/internal/strategy/password"
	"github.com/lanyard-id/lanyard/internal/strategy/password/breach"
	"github.com/lanyard-id/lanyard/internal/strategy/profile"
	"github.com/lanyard-id/lanyard/internal/strategy/totp"
	"github.com/lanyard-id/lanyard/internal/strategy/webauthn"
	"github.com/lanyard-id/lanyard/internal/tokenexchange"
)

// selfService wires sessions and the self-service flows from the config.
// zeroConfig (no config file at all) turns on the session hook after
// registration, recovery and verification, so that `serve --dev` shows
// them all.
func selfService(cfg *config.Config, db *store.Store, whoami *session.WhoamiCache, ids *identity.Manager, schemas *schema.Registry, h *hasher.Hasher, mail *courier.Courier, guards *guard.Guard, zeroConfig bool) ([]api.Routes, []api.PrefixedRoutes, error) {
	ss := cfg.Selfservice
	public := cfg.Serve.Public.BaseURL.String()
	secure := !cfg.Dev

	sessionSameSite := cfg.Session.Cookie.SameSite
	if sessionSameSite == "" {
		sessionSameSite = cfg.Cookies.SameSite
	}
	sessionPath := cfg.Session.Cookie.Path
	if sessionPath == "" {
		sessionPath = cfg.Cookies.Path
	}
	sessionDomain := cfg.Session.Cookie.Domain
	if sessionDomain == "" {
		sessionDomain = cfg.Cookies.Domain
	}
	sessions, err := session.NewManager(db, ids, session.Config{
		Lifespan:          cfg.Session.Lifespan,
		Secrets:           cfg.Secrets.Cookie,
		WhoamiRequiredAAL: cfg.Session.WhoamiRequiredAAL,
		Factors:           factorRules(cfg),
		WhoamiCache:       whoami,
		Cookie: session.CookieConfig{
			Name: cfg.Session.Cookie.Name, Domain: sessionDomain, Path: sessionPath,
			SameSite: sameSite(sessionSameSite), Persistent: cfg.Session.Cookie.Persistent, Secure: secure,
		},
	})
	if err != nil {
		return nil, nil, err
	}

	kit := &flow.Kit{
		Config: flow.Config{
			PublicURL: public,
			UIURL: map[flow.Kind]string{
				flow.Login:        ss.Flows.Login.UIURL,
				flow.Registration: ss.Flows.Registration.UIURL,
				flow.Settings:     ss.Flows.Settings.UIURL,
				flow.Recovery:     ss.Flows.Recovery.UIURL,
				flow.Verification: ss.Flows.Verification.UIURL,
			},
			ErrorUIURL: ss.Flows.Error.UIURL,
			Lifespan: map[flow.Kind]time.Duration{
				flow.Login:        ss.Flows.Login.Lifespan,
				flow.Registration: ss.Flows.Registration.Lifespan,
				flow.Settings:     ss.Flows.Settings.Lifespan,
				flow.Recovery:     ss.Flows.Recovery.Lifespan,
				flow.Verification: ss.Flows.Verification.Lifespan,
			},
			DefaultReturnTo: ss.DefaultBrowserReturnURL,
			AfterReturnTo: map[flow.Kind]string{
				flow.Login:        ss.Flows.Login.AfterReturnURL,
				flow.Registration: ss.Flows.Registration.AfterReturnURL,
				flow.Settings:     ss.Flows.Settings.AfterReturnURL,
				flow.Recovery:     ss.Flows.Recovery.AfterReturnURL,
				flow.Verification: ss.Flows.Verification.AfterReturnURL,
			},
			AfterLogout:       ss.Flows.Logout.AfterReturnURL,
			AllowedReturnURLs: ss.AllowedReturnURLs,
			LinkBaseURL:       ss.Methods.Link.BaseURL,
		},
		Store: db,
		CSRF:  flow.NewCSRF(public, secure, cfg.Cookies.Domain, cfg.Cookies.Path, sameSite(cfg.Cookies.SameSite)),
	}

	pwCfg := ss.Methods.Password
	policy := password.Policy{
		MinLength: pwCfg.MinPasswordLength, IdentifierSimilarity: pwCfg.IdentifierSimilarityCheck,
		MaxBreaches: pwCfg.MaxBreaches, IgnoreBreachErrors: pwCfg.IgnoreNetworkErrors,
	}
	if pwCfg.Enabled && pwCfg.HaveIBeenPwnedEnabled {
		breachEgress, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
		if err != nil {
			return nil, nil, err
		}
		breaches, err := breach.New(pwCfg.HaveIBeenPwnedHost, breach.Options{Guard: breachEgress})
		if err != nil {
			return nil, nil, fmt.Errorf("selfservice.methods.password.config.haveibeenpwned_host: %w", err)
		}
		policy.Breaches = breaches
	}
	// The methods, each in the order its flows show them (as Kratos:
	// the profile before the password in settings; in registration the
	// profile step's back button comes last).
	var loginMethods, registrationMethods, settingsMethods flow.Methods
	oneStep := ss.Flows.Registration.OneStep()
	prof := profile.New(ids, !oneStep, ss.Methods.Profile.Enabled)
	settingsMethods = append(settingsMethods, prof)
	if pwCfg.Enabled {
		pw := password.New(ids, h, policy)
		loginMethods = append(loginMethods, pw)
		registrationMethods = append(registrationMethods, pw)
		settingsMethods = append(settingsMethods, pw)
	}
	social, exchanges, err := socialSignIn(cfg, kit, ids, sessions)
	if err != nil {
		return nil, nil, err
	}
	if social != nil {
		loginMethods = append(loginMethods, social)
		registrationMethods = append(registrationMethods, social)
		settingsMethods = append(settingsMethods, social)
	}
	codes := onetime.New(cfg.Secrets.Cookie[0])
	// Every code and link message counts toward the guard's cap per
	// address, known or not.
	mailer := mail.Mailer().WithLimit(guards)
	codeCfg := ss.Methods.Code
	if codeCfg.PasswordlessEnabled || codeCfg.MFAEnabled {
		// Passwordless codes turn the method on whatever its enabled says, as in Kratos.
		signIn := code.NewSignIn(db, ids, codes, mailer, code.SignInOptions{
			Passwordless: codeCfg.PasswordlessEnabled, MFA: codeCfg.MFAEnabled,
			Fallback: codeCfg.MissingCredentialFallback, Mitigate: cfg.Security.AccountEnumerationMitigate,
			TwoStep: !oneStep, Lifespan: codeCfg.Lifespan, MaxAttempts: codeCfg.MaxSubmissions, Guard: guards,
		})
		if codeCfg.Enabled || codeCfg.PasswordlessEnabled {
			loginMethods = append(loginMethods, signIn)
			registrationMethods = append(registrationMethods, signIn)
		}
	}
	keys, keyScript := securityKeys(cfg, db, ids, factorRules(cfg))
	registrationMethods = append(registrationMethods, keys...)
	registrationMethods = append(registrationMethods, prof)
	if err := secondFactors(cfg, ids, &loginMethods, &settingsMethods, keys); err != nil {
		return nil, nil, err
	}

	// One hook runner per flow: a method's own list replaces the flow's.
	sessionHooks := hook.Sessions{M: sessions}
	regAfter := ss.Flows.Registration.AfterHooks
	if zeroConfig && regAfter == nil && ss.Flows.Registration.AfterPasswordHooks == nil {
		regAfter = []config.Hook{{Name: hook.Session}} // serve --dev signs new users in
	}
	outbound, err := egress.New(cfg.Clients.HTTP.DisallowPrivateIPRanges, cfg.Clients.HTTP.PrivateIPExceptionURLs)
	if err != nil {
		return nil, nil, err
	}
	webHooks := &hook.WebHooks{Sessions: sessions, Identities: ids, Egress: outbound, HeaderAllowlist: cfg.Clients.WebHook.HeaderAllowlist}
	registrationHooks, err := hook.NewRunnerWithWebHooks("registration", regAfter,
		map[string][]config.Hook{
			password.ID: ss.Flows.Registration.AfterPasswordHooks, code.ID: ss.Flows.Registration.AfterCodeHooks,
			passkey.ID: ss.Flows.Registration.AfterPasskeyHooks, webauthn.ID: ss.Flows.Registration.AfterWebAuthnHooks,
			oidc.ID: ss.Flows.Registration.AfterOIDCHooks,
		},
		map[string]hook.Hook{hook.Session: hook.Func(sessionHooks.Issue), hook.ShowVerificationUI: hook.Func(hook.ShowVerification)}, webHooks)
	if err != nil {
		return nil, nil, err
	}
	loginHooks, err := hook.NewRunnerWithWebHooks("login", ss.Flows.Login.AfterHooks,
		map[string][]config.Hook{
			password.ID: ss.Flows.Login.AfterPasswordHooks, code.ID: ss.Flows.Login.AfterCodeHooks,
			totp.ID: ss.Flows.Login.AfterTOTPHooks, lookup.ID: ss.Flows.Login.AfterLookupSecretHooks,
			passkey.ID: ss.Flows.Login.AfterPasskeyHooks, webauthn.ID: ss.Flows.Login.AfterWebAuthnHooks,
			oidc.ID: ss.Flows.Login.AfterOIDCHooks,
		},
		map[string]hook.Hook{hook.RequireVerifiedAddress: nil, hook.RevokeActiveSessions: hook.Func(sessionHooks.RevokeOthers)}, webHooks)
	if err != nil {
		return nil, nil, err
	}
	settingsHooks, err := hook.NewRunnerWithWebHooks("settings", ss.Flows.Settings.AfterHooks,
		map[string][]config.Hook{
			password.ID: ss.Flows.Settings.AfterPasswordHooks, profile.ID: ss.Flows.Settings.AfterProfileHooks,
			passkey.ID: ss.Flows.Settings.AfterPasskeyHooks, webauthn.ID: ss.Flows.Settings.AfterWebAuthnHooks,
			oidc.ID: ss.Flows.Settings.AfterOIDCHooks,
		},
		map[string]hook.Hook{hook.RevokeActiveSessions: hook.Func(sessionHooks.RevokeOthers)}, webHooks)
	if err != nil {
		return nil, nil, err
	}

	rec, ver := ss.Flows.Recovery, ss.Flows.Verification
	recoveryHooks, err := hook.NewRunnerWithWebHooks("recovery", rec.AfterHooks, nil,
		map[string]hook.Hook{hook.RevokeActiveSessions: hook.Func(sessionHooks.RevokeOthers)}, webHooks)
	if err != nil {
		return nil, nil, err
	}
	verificationHooks, err := hook.NewRunnerWithWebHooks("verification", ver.AfterHooks, nil, nil, webHooks)
	if err != nil {
		return nil, nil, err
	}
	before := map[string]*hook.Before{}
	for name, hooks := range map[string][]config.Hook{
		"login": ss.Flows.Login.BeforeHooks, "registration": ss.Flows.Registration.BeforeHooks,
		"settings": ss.Flows.Settings.BeforeHooks, "recovery": rec.BeforeHooks, "verification": ver.BeforeHooks,
	} {
		if before[name], err = hook.NewBefore(name, hooks, webHooks); err != nil {
			return nil, nil, err
		}
	}
	for name, f := range map[string]*config.AddressFlow{"recovery": &rec, "verification": &ver} {
		methodOn := ss.Methods.Code.Enabled
		if f.Use == onetime.MethodLink {
			methodOn = ss.Methods.Link.Enabled
		}
		if f.Enabled && !methodOn {
			slog.Warn("selfservice.flows."+name+".use names a method that selfservice.methods turns off, so "+name+" is off", "method", f.Use)
			f.Enabled = false
		}
	}
	if zeroConfig {
		// serve --dev without a config file shows every flow there is;
		// the messages wait in the database for the admin courier API.
		rec.Enabled, ver.Enabled = true, true
	}
	// The code and link methods of each flow; a flow uses the one its
	// `use` names (recovery's admin API makes flows of either).
	addressMethods := func(notify bool) flow.Methods {
		return flow.Methods{
			code.New(kit.Config, ids, codes, mailer, code.Options{
				Lifespan: ss.Methods.Code.Lifespan, MaxAttempts: ss.Methods.Code.MaxSubmissions,
				NotifyUnknownRecipients: notify, Guard: guards,
			}),
			link.New(kit.Config, ids, codes, mailer, link.Options{Lifespan: ss.Methods.Link.Lifespan, NotifyUnknownRecipients: notify}),
		}
	}
	verifier := verification.NewHandler(kit, ids, addressMethods(ver.NotifyUnknownRecipients), verification.Options{
		Enabled: ver.Enabled, Method: ver.Use, NotifyUnknownRecipients: ver.NotifyUnknownRecipients,
		CodeLifespan: ss.Methods.Code.Lifespan, LinkLifespan: ss.Methods.Link.Lifespan,
		MaxAttempts: ss.Methods.Code.MaxSubmissions, Guard: guards, Hooks: verificationHooks,
		Before: before["verification"],
	})

	settingsHandler := settings.NewHandler(kit, sessions, ids, schemas, settingsMethods, settings.Options{
		PrivilegedMaxAge: ss.Flows.Settings.PrivilegedSessionMaxAge,
		Hooks:            settingsHooks,
		Before:           before["settings"],
		RequiredAAL:      ss.Flows.Settings.RequiredAAL,
	})
	recoverer := recovery.NewHandler(kit, sessions, ids, codes, settingsHandler, addressMethods(rec.NotifyUnknownRecipients), recovery.Options{
		Enabled: rec.Enabled, Method: rec.Use, NotifyUnknownRecipients: rec.NotifyUnknownRecipients,
		CodeLifespan: ss.Methods.Code.Lifespan, LinkLifespan: ss.Methods.Link.Lifespan,
		MaxAttempts:      ss.Methods.Code.MaxSubmissions,
		ContinueWith:     cfg.FeatureFlags.UseContinueWithTransitions,
		PrivilegedMaxAge: ss.Flows.Settings.PrivilegedSessionMaxAge,
		Guard:            guards,
		Hooks:            recoveryHooks,
		Before:           before["recovery"],
	})

	routes := []api.Routes{
		settingsHandler,
		recoverer,
		verifier,
		session.NewPublicHandler(sessions, kit, public),
		session.NewMySessionsHandler(sessions, public),
		routeFunc(func(mux *http.ServeMux) { mux.HandleFunc("GET /self-service/errors", kit.ServeError) }),
		// The flows exist whatever methods are on, as in Kratos.
		login.NewHandler(kit, sessions, schemas, login.Options{
			Hooks: loginHooks, Verifier: loginVerifier(cfg, verifier), Guard: guards, RequiredAAL: cfg.Session.WhoamiRequiredAAL,
			IdentifierFirst: ss.Flows.Login.Style == config.LoginStyleIdentifierFirst, Mitigate: cfg.Security.AccountEnumerationMitigate, Identities: ids,
			Exchanges: exchanger(exchanges), Before: before["login"],
		}, loginMethods),
		registration.NewHandler(kit, sessions, schemas, registrationMethods, registration.Options{
			Enabled: ss.Flows.Registration.Enabled, OneStep: oneStep, Hooks: registrationHooks,
			Verification: verifierIfEnabled(verifier), Exchanges: exchanger(exchanges),
			Before: before["registration"],
		}),
	}
	if exchanges != nil {
		routes = append(routes, exchanges) // GET /sessions/token-exchange
	}
	routes = append(routes, builtInUI(cfg, kit, sessions, ids, social, mail))
	if keyScript != nil {
		routes = append(routes, keyScript) // /.well-known/ory/webauthn.js
	}
	// Methods with endpoints of their own mount them beside the flows.
	for _, r := range flow.Routers(loginMethods, registrationMethods, settingsMethods) {
		routes = append(routes, r)
	}
	admin := []api.PrefixedRoutes{
		session.NewAdminHandler(sessions, ids, cfg.Serve.Admin.BaseURL.String(), cfg.Session.EarliestPossibleExtend),
		recoverer.Admin(),
		mail.Admin(cfg.Serve.Admin.BaseURL.String()),
	}
	return routes, admin, nil
}

// verifierIfEnabled keeps registration from sending verification messages
// when the verification flow is off, as Kratos does.
func verifierIfEnabled(v *verification.Handler) registration.Verifier {
	if !v.Enabled() {
		return nil
	}
	return v
}

// loginVerifier is what require_verified_address hands a refused login
// to: nothing with verification off or the legacy error asked for.
func loginVerifier(cfg *config.Config, v *verification.Handler) login.Verifier {
	if !v.Enabled() || cfg.FeatureFlags.LegacyRequireVerifiedLoginError {
		return nil
	}
	return v
}

// exchanger keeps a nil *Exchanges a nil interface.
func exchanger(e *tokenexchange.Exchanges) flow.Exchanger {
	if e == nil {
		return nil
	}
	return e
}

type routeFunc func(*http.ServeMux)

func (f routeFunc) Register(mux *http.ServeMux) { f(mux) }

func sameSite(s string) http.SameSite {
	switch s {
	case "Strict":
		return http.SameSiteStrictMode
	case "None":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}
