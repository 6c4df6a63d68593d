package kratosimport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// DefaultBatchSize is how many identities or sessions one transaction
// writes.
const DefaultBatchSize = 500

// Importer copies a Kratos database into Lanyard's.
type Importer struct {
	From *Source
	To   *store.Store
	// Cipher seals TOTP keys, backup codes and social sign-in tokens as
	// Lanyard stores them, and opens what Kratos sealed with the same
	// secrets.cipher. Nil is fine for a database without such credentials.
	Cipher    cipher.Cipher
	BatchSize int
	// Progress, when set, hears after each batch.
	Progress func(Counts)
	now      func() time.Time
}

// Count is what happened to the rows of one kind.
type Count struct {
	Read    int // rows found in Kratos
	Written int // inserted or changed in Lanyard
	Skipped int // already the same in Lanyard, or not carried over
}

// Counts sums up an import per kind.
type Counts struct {
	Identities          Count
	Credentials         Count
	VerifiableAddresses Count
	RecoveryAddresses   Count
	Sessions            Count
}

// ErrNeedsMigrations refuses a Lanyard database whose schema is behind.
var ErrNeedsMigrations = errors.New("the Lanyard database needs migrations: run `lanyard migrate sql` first")

// Run imports everything, one transaction per batch. Running it again is
// safe: rows keep their ids, what is already the same is skipped, what
// changed in Kratos since is updated, and what changed in Lanyard since
// (a user who signed in there) is left as Lanyard has it.
func (im *Importer) Run(ctx context.Context) (Counts, error) {
	var counts Counts
	pending, err := im.To.Pending(ctx)
	if err != nil {
		return counts, err
	}
	if pending {
		return counts, ErrNeedsMigrations
	}
	n := im.BatchSize
	if n <= 0 {
		n = DefaultBatchSize
	}
	now := time.Now
	if im.now != nil {
		now = im.now
	}
	var after uuid.UUID
	for {
		page, err := im.From.identityPage(ctx, after, n)
		if err != nil {
			return counts, err
		}
		if len(page) == 0 {
			break
		}
		var batch Counts
		err = im.To.Write(ctx, func(q *store.Q) error {
			batch = Counts{}
			return importIdentities(ctx, q, im.Cipher, page, &batch)
		})
		if err != nil {
			return counts, err
		}
		counts.Identities.add(batch.Identities)
		counts.Credentials.add(batch.Credentials)
		counts.VerifiableAddresses.add(batch.VerifiableAddresses)
		counts.RecoveryAddresses.add(batch.RecoveryAddresses)
		after = page[len(page)-1].ID
		im.report(counts)
	}
	after = uuid.Nil
	for {
		page, err := im.From.sessionPage(ctx, after, n)
		if err != nil {
			return counts, err
		}
		if len(page) == 0 {
			break
		}
		at := now()
		var batch Count
		err = im.To.Write(ctx, func(q *store.Q) error {
			batch = Count{}
			for _, ks := range page {
				written, err := importSession(ctx, q, ks, at)
				if err != nil {
					return fmt.Errorf("session %s: %w", ks.ID, err)
				}
				batch.Read++
				if written {
					batch.Written++
				} else {
					batch.Skipped++
				}
			}
			return nil
		})
		if err != nil {
			return counts, err
		}
		counts.Sessions.add(batch)
		after = page[len(page)-1].ID
		im.report(counts)
	}
	return counts, nil
}

func (im *Importer) report(c Counts) {
	if im.Progress != nil {
		im.Progress(c)
	}
}

func (c *Count) add(o Count) {
	c.Read += o.Read
	c.Written += o.Written
	c.Skipped += o.Skipped
}

// importIdentities writes one batch in q's transaction, counting into
// batch (which the caller adds up only once the transaction committed).
func importIdentities(ctx context.Context, q *store.Q, c cipher.Cipher, page []*identity.Identity, batch *Counts) error {
	for _, read := range page {
		// A copy, converted: the transaction may run more than once.
		i := *read
		i.Credentials = make(map[string]*identity.Credential, len(read.Credentials))
		for typ, c := range read.Credentials {
			cc := *c
			i.Credentials[typ] = &cc
		}
		before, err := identity.Load(ctx, q, i.ID)
		if errors.Is(err, identity.ErrNotFound) {
			before = nil
		} else if err != nil {
			return fmt.Errorf("identity %s: %w", i.ID, err)
		}
		written := false
		if before == nil || !changedInLanyard(before, &i) {
			if err := convert(c, &i, before); err != nil {
				return err
			}
			if written, err = identity.Import(ctx, q, &i, before); err != nil {
				return fmt.Errorf("identity %s: %w", i.ID, err)
			}
		}
		tally(&batch.Identities, 1, written)
		tally(&batch.Credentials, len(i.Credentials), written)
		tally(&batch.VerifiableAddresses, len(i.VerifiableAddresses), written)
		tally(&batch.RecoveryAddresses, len(i.RecoveryAddresses), written)
	}
	return nil
}

// changedInLanyard reports whether stored, an earlier run's copy of k,
// changed in Lanyard since (a spent backup code, a new second factor, a
// rehashed password): every such write moves the identity's or the
// credential's updated_at past Kratos's. Lanyard's copy then wins, so that
// a late re-run never brings back a spent code or an old password.
func changedInLanyard(stored, k *identity.Identity) bool {
	if stored.UpdatedAt.After(k.UpdatedAt) {
		return true
	}
	for typ, c := range stored.Credentials {
		if kc, ok := k.Credentials[typ]; !ok || c.UpdatedAt.After(kc.UpdatedAt) {
			return true
		}
	}
	return false
}

func tally(c *Count, n int, written bool) {
	c.Read += n
	if written {
		c.Written += n
	} else {
		c.Skipped += n
	}
}
