package main

import (
	"log/slog"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/strategy/passkey"
	"github.com/lanyard-id/lanyard/internal/strategy/webauthn"
)

// securityKeys makes the passkey and WebAuthn methods that are on, in
// Kratos's order, and the script their forms load (nil when both are off).
// A relying party the browsers would refuse (an IP address as rp.id) turns
// its method off with an error logged, as Kratos starts with it too.
func securityKeys(cfg *config.Config, db *store.Store, ids *identity.Manager, factors identity.FactorRules) (flow.Methods, *securitykey.Script) {
	methods := cfg.Selfservice.Methods
	public := cfg.Serve.Public.BaseURL.String()
	if !methods.Passkey.Enabled && !methods.WebAuthn.Enabled {
		return nil, nil
	}
	script := securitykey.NewScript(public)
	rp := func(key string, c config.RelyingParty, mode securitykey.Mode) *securitykey.RP {
		r, err := securitykey.New(securitykey.Config{RPID: c.RPID, RPDisplayName: c.RPDisplayName, Origins: c.Origins}, public, mode)
		if err != nil {
			slog.Error("selfservice.methods."+key+".config.rp cannot be used, so the method is off", "error", err)
			return nil
		}
		return r
	}
	var out flow.Methods
	if methods.Passkey.Enabled {
		if r := rp("passkey", methods.Passkey.RelyingParty, securitykey.Passkey); r != nil {
			m := passkey.New(ids, r, script)
			m.Factors, m.Store = factors, db
			out = append(out, m)
		}
	}
	if methods.WebAuthn.Enabled {
		if r := rp("webauthn", methods.WebAuthn.RelyingParty, securitykey.WebAuthn); r != nil {
			m := webauthn.New(ids, r, script, methods.WebAuthn.Passwordless)
			m.Factors = factors
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, script
}

// factorRules are the settings that decide which credentials count as
// factors, for the sessions' AAL and for removing a last way in.
func factorRules(cfg *config.Config) identity.FactorRules {
	return identity.FactorRules{
		CodePasswordless: cfg.Selfservice.Methods.Code.PasswordlessEnabled,
		CodeMFA:          cfg.Selfservice.Methods.Code.MFAEnabled,
	}
}
