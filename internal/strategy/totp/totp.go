// Package totp is the TOTP method: codes from an authenticator app as a
// second factor. Settings sets an app up (a QR code and the key, confirmed
// with a first code) or removes it; a login at aal2 asks for a code. Keys
// are kept encrypted with the configured cipher, in the credential and in
// the settings flow that shows a new one, and a code is accepted once per
// time step per identity.
package totp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// ID is the method name in submissions, node groups and the session's
// authentication methods; it is also the credential type.
const ID = identity.CredentialsTOTP

// Names of the method's nodes and payload fields, as Kratos's.
const (
	fieldCode   = "totp_code"
	fieldUnlink = "totp_unlink"
	nodeQR      = "totp_qr"
	nodeSecret  = "totp_secret_key"
)

// Method is the TOTP method.
type Method struct {
	ids    *identity.Manager
	cipher cipher.Cipher
	issuer string
	// now is the clock codes are checked against (tests move it).
	now func() time.Time
}

// New wires the method. c seals keys at rest; issuer names the service in
// authenticator apps.
func New(ids *identity.Manager, c cipher.Cipher, issuer string) *Method {
	return &Method{ids: ids, cipher: c, issuer: issuer, now: time.Now}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method: second-factor sign-in and the settings
// that set the app up or remove it.
func (m *Method) Serves(kind flow.Kind) bool { return kind == flow.Login || kind == flow.Settings }

// AddNodes implements flow.Method. A login gets the code input only when
// it asks for the second factor of an identity that has an app; settings
// offer to remove the app, or show a new key to set one up.
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, c flow.NodeContext) error {
	switch {
	case c.Identity == nil:
		return nil
	case f.Kind == flow.Login:
		if f.RequestedAAL == identity.AAL2 && hasTOTP(c.Identity) {
			f.UI.Add(
				flow.Input(ID, fieldCode, "text", "", text.LabelTOTPCode()).Required(),
				flow.Submit(ID, "method", ID, text.LoginWithTOTP()),
			)
		}
	case f.Kind == flow.Settings:
		if hasTOTP(c.Identity) {
			f.UI.Add(flow.Submit(ID, fieldUnlink, "true", text.TOTPUnlink()).Required())
			return nil
		}
		k, err := m.pendingKey(f, c)
		if err != nil {
			return err
		}
		qr, err := qrDataURI(k)
		if err != nil {
			return err
		}
		f.UI.Add(
			flow.Image(ID, nodeQR, qr, qrSize, qrSize, text.TOTPQRCode()),
			flow.Text(ID, nodeSecret, text.TOTPSecret(k.Secret()), text.TOTPSecretLabel()),
			flow.Input(ID, fieldCode, "text", nil, text.LabelVerifyCode()).Required(),
			flow.Submit(ID, "method", ID, text.LabelSave()),
		)
	}
	return nil
}

// Submit implements flow.Method.
func (m *Method) Submit(_ context.Context, sub *flow.Submission) (*flow.Outcome, error) {
	switch sub.Flow.Kind {
	case flow.Login:
		return m.login(sub)
	case flow.Settings:
		return m.settings(sub)
	}
	return nil, fmt.Errorf("totp: flows of kind %s are not served", sub.Flow.Kind)
}

// login checks the second factor of the signed-in identity. The code's
// time step is claimed inside the login's transaction, so that a code
// used once, even by two racing submissions, signs in once.
func (m *Method) login(sub *flow.Submission) (*flow.Outcome, error) {
	i := sub.Identity
	if sub.Flow.RequestedAAL != identity.AAL2 || i == nil {
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	if !hasTOTP(i) {
		return nil, flow.FormMessage(text.NoTOTPDevice())
	}
	k, err := m.credentialKey(i)
	if err != nil {
		return nil, err
	}
	code := codeOf(sub.Payload)
	if code == "" {
		return nil, flow.FormError{{Field: fieldCode, Message: text.ValidationRequired(fieldCode)}}
	}
	step, ok := match(k, code, m.now())
	if !ok {
		return nil, flow.FormMessage(text.TOTPCodeInvalid())
	}
	return &flow.Outcome{Identity: i, AAL: identity.AAL2, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		if err := claimStep(ctx, q, i.ID, step, ""); err != nil {
			return nil, err
		}
		return nil, nil
	}}, nil
}

// settings sets an app up with the key the flow showed, or removes it.
// Either needs a recent sign-in.
func (m *Method) settings(sub *flow.Submission) (*flow.Outcome, error) {
	if !sub.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	i := sub.Identity
	if hasTOTP(i) {
		if !unlinkAsked(sub.Payload) {
			// Kratos answers a submission that neither unlinks nor can
			// set up (the app is there already) with the unchanged
			// identity.
			return &flow.Outcome{Identity: i}, nil
		}
		return &flow.Outcome{Identity: i, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
			if err := m.ids.DeleteCredential(ctx, q, i.ID, ID); err != nil {
				return nil, err
			}
			// The next app's codes start afresh.
			if err := forgetSteps(ctx, q, i.ID); err != nil {
				return nil, err
			}
			return i.WithCredential(ID, nil, store.Now()), nil
		}}, nil
	}

	code := codeOf(sub.Payload)
	if code == "" {
		return nil, flow.FormError{{Field: fieldCode, Message: text.ValidationRequired(fieldCode)}}
	}
	k, ok := m.pending(sub.Flow)
	if !ok {
		// The flow showed no key (it began before TOTP was on); showing
		// it again shows one.
		return nil, flow.FormError{{Field: fieldCode, Message: text.TOTPCodeInvalid()}}
	}
	step, ok := match(k, code, m.now())
	if !ok {
		return nil, flow.FormError{{Field: fieldCode, Message: text.TOTPCodeInvalid()}}
	}
	config, err := m.sealConfig(k.URL())
	if err != nil {
		return nil, err
	}
	f := sub.Flow
	return &flow.Outcome{Identity: i, AAL: identity.AAL2, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		c := &identity.Credential{Type: ID, Identifiers: []string{i.ID.String()}, Config: config}
		if err := m.ids.PutCredential(ctx, q, i.ID, c); err != nil {
			return nil, err
		}
		// The code that confirmed the app cannot sign in afterwards.
		if err := claimStep(ctx, q, i.ID, step, fieldCode); err != nil {
			return nil, err
		}
		delete(f.Internal, pendingKeyName)
		return i.WithCredential(ID, c, c.UpdatedAt), nil
	}}, nil
}

// codeOf is the submitted code; apps show it in groups of three, which
// users may copy with the space.
func codeOf(p flow.Payload) string {
	return strings.ReplaceAll(strings.TrimSpace(p.String(fieldCode)), " ", "")
}

// unlinkAsked reports whether the payload asks to remove the app: true in
// JSON, "true" from the form's button.
func unlinkAsked(p flow.Payload) bool {
	v, _ := p[fieldUnlink].(bool)
	return v || p.String(fieldUnlink) == "true"
}

// errReplayed is the FormError for a code whose time step was already
// accepted: as wrong as a wrong code.
func errReplayed(field string) flow.FormError {
	return flow.FormError{{Field: field, Message: text.TOTPCodeInvalid()}}
}

// claimStep records step as identityID's newest accepted one, in one
// conditional upsert that changes nothing when an equal or later step was
// accepted already; that is errReplayed on field.
func claimStep(ctx context.Context, q *store.Q, identityID uuid.UUID, step int64, field string) error {
	res, err := q.Exec(ctx, `INSERT INTO totp_accepted_steps (identity_id, step) VALUES ($1, $2)
		ON CONFLICT (identity_id) DO UPDATE SET step = excluded.step WHERE totp_accepted_steps.step < excluded.step`,
		identityID, step)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errReplayed(field)
	}
	return nil
}

func forgetSteps(ctx context.Context, q *store.Q, identityID uuid.UUID) error {
	_, err := q.Exec(ctx, `DELETE FROM totp_accepted_steps WHERE identity_id = $1`, identityID)
	return err
}
