package main

import (
	"errors"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/strategy/lookup"
	"github.com/lanyard-id/lanyard/internal/strategy/totp"
)

// secondFactors puts TOTP, the security keys and backup codes in the login
// and settings flows when they are on, in Kratos's order. Both keep their secrets encrypted
// with secrets.cipher, and so then do the stored forms of every flow, which
// can show them. Whenever secrets.cipher is set, the admin API shows stored
// second factors decrypted, as Kratos shows them, even with the methods off.
func secondFactors(cfg *config.Config, ids *identity.Manager, login, settings *flow.Methods, keys flow.Methods) error {
	methods := cfg.Selfservice.Methods
	if len(cfg.Secrets.Cipher) == 0 {
		*login, *settings = append(*login, keys...), append(*settings, keys...)
		switch {
		case methods.TOTP.Enabled:
			return errors.New(`config key "selfservice.methods.totp.enabled" needs "secrets.cipher": TOTP keys are stored encrypted with it`)
		case methods.LookupSecret.Enabled:
			return errors.New(`config key "selfservice.methods.lookup_secret.enabled" needs "secrets.cipher": backup codes are stored encrypted with it`)
		}
		return nil
	}
	c, err := cipher.New(cfg.Ciphers.Algorithm, cfg.Secrets.Cipher)
	if err != nil {
		return err
	}
	if methods.TOTP.Enabled || methods.LookupSecret.Enabled {
		// Their settings forms show a key or codes.
		flow.SealForms(c)
	}
	t := totp.New(ids, c, cfg.TOTPIssuer())
	ids.SetDeclassifier(totp.ID, t.Declassify)
	l := lookup.New(ids, c)
	ids.SetDeclassifier(lookup.ID, l.Declassify)
	if methods.TOTP.Enabled {
		*login, *settings = append(*login, t), append(*settings, t)
	}
	// Security keys come between them, as Kratos orders its strategies.
	*login, *settings = append(*login, keys...), append(*settings, keys...)
	if methods.LookupSecret.Enabled {
		*login, *settings = append(*login, l), append(*settings, l)
	}
	return nil
}
