package lookup

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// loginNodes asks for a code in second-factor sign-ins of identities that
// have backup codes.
func (m *Method) loginNodes(f *flow.Flow, i *identity.Identity) {
	if f.RequestedAAL != identity.AAL2 || credential(i) == nil {
		return
	}
	f.UI.Add(
		flow.Input(group, nodeCode, "text", "", text.LoginLookupLabel()).Required(),
		flow.Submit(group, "method", ID, text.LoginWithLookup()),
	)
}

// login checks a code against the signed-in identity's backup codes. The
// code is spent by the outcome's Commit, inside the transaction that
// completes the sign-in, so that of two sign-ins racing with one code only
// one gets through.
func (m *Method) login(sub *flow.Submission) (*flow.Outcome, error) {
	if sub.Flow.RequestedAAL != identity.AAL2 || sub.Identity == nil || sub.Payload.String("method") != ID {
		// Backup codes are a second factor only.
		return nil, flow.FormMessage(text.NoLoginStrategy())
	}
	given := sub.Payload.String(nodeCode)
	if given == "" {
		return nil, flow.FormError{{Field: nodeCode, Message: text.ValidationRequired(nodeCode)}}
	}
	c := credential(sub.Identity)
	if c == nil {
		return nil, flow.FormMessage(text.LookupNotSetUp())
	}
	// A first look at the codes as the session knows them spares the
	// database's writer the wrong guesses; Commit decides.
	cfg, err := decode(c.Config)
	if err != nil {
		return nil, err
	}
	if _, err := m.find(cfg, given); err != nil {
		return nil, err
	}
	id := sub.Identity.ID
	return &flow.Outcome{Identity: sub.Identity, AAL: identity.AAL2, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		return nil, m.spend(ctx, q, id, given)
	}}, nil
}

// find answers the index of the unused code equal to given: 4000016 when
// none is, 4000012 when it was used already.
func (m *Method) find(cfg storedConfig, given string) (int, error) {
	set, err := open(m.cipher, cfg)
	if err != nil {
		return 0, err
	}
	k := match(set, given)
	switch {
	case k < 0:
		return 0, flow.FormMessage(text.LookupInvalid())
	case set[k].UsedAt != nil:
		return 0, flow.FormMessage(text.LookupUsed())
	}
	return k, nil
}

// spend marks the code given of identity identityID used, in q's
// transaction. The identity's row is locked first, in the order every
// credential write takes (identity.Manager.PutCredential), and its
// updated_at moves so that cached copies learn of the spent code; the
// credential is read again under that lock and written back only if it is
// still what was read. Of racing sign-ins with one code, the first to
// commit spends it and the others get 4000012.
func (m *Method) spend(ctx context.Context, q *store.Q, identityID uuid.UUID, given string) error {
	now := store.Now()
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2, revision = revision + 1 WHERE id = $1`, identityID, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return identity.ErrNotFound
	}
	query := `SELECT id, config FROM identity_credentials WHERE identity_id = $1 AND type = $2`
	if q.Dialect() == store.Postgres {
		query += ` FOR UPDATE`
	}
	var credID uuid.UUID
	var read string
	err = q.QueryRow(ctx, query, identityID, ID).Scan(&credID, &read)
	if errors.Is(err, store.ErrNotFound) {
		return flow.FormMessage(text.LookupNotSetUp()) // disabled meanwhile
	}
	if err != nil {
		return err
	}
	cfg, err := decode([]byte(read))
	if err != nil {
		return err
	}
	k, err := m.find(cfg, given)
	if err != nil {
		return err
	}
	usedAt := time.Now().UTC().Round(time.Second)
	cfg.RecoveryCodes[k].UsedAt = &usedAt
	written, err := marshal(cfg)
	if err != nil {
		return err
	}
	res, err = q.Exec(ctx, `UPDATE identity_credentials SET config = $2, updated_at = $3 WHERE id = $1 AND config = $4`,
		credID, written, now, read)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return flow.FormMessage(text.LookupUsed())
	}
	return nil
}
