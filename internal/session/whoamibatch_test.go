package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func sumOf(token string) *[sha256.Size]byte {
	sum := sha256.Sum256([]byte(token))
	return &sum
}

func hexDigest(token string) string { return hex.EncodeToString(sumOf(token)[:]) }

// postgresSession answers a fixture on PostgreSQL, its whoamiReads and a
// session of a new identity.
func postgresSession(t *testing.T, email string) (*fixture, *whoamiReads, *Session) {
	t.Helper()
	f := newFixture(t, storetest.Open(t, store.Postgres))
	sess := f.issue(t, f.identity(t, email), httptest.NewRequest("POST", "/self-service/login", nil))
	return f, f.m.whoamiReads, sess
}

// holdSlots takes every slot of b, so that reads queue up until release.
func holdSlots(b *whoamiReads) (release func()) {
	for range cap(b.slots) {
		b.slots <- struct{}{}
	}
	return func() {
		for range cap(b.slots) {
			<-b.slots
		}
	}
}

func waitPending(t *testing.T, b *whoamiReads, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		got := len(b.pending)
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads pending, want %d", got, n)
		}
	}
}

// Reads queued behind a busy query are answered together, each with its
// own session: duplicates, unknown tokens and more than one query's worth
// among them; with the cache (twice: read, then kept) and without.
func TestWhoamiReadsShareQueries(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	f := newFixture(t, s)
	if f.m.whoamiReads == nil || f.m.whoamiReads.cache == nil {
		t.Fatal("no whoamiReads with a cache on PostgreSQL")
	}
	var tokens []string
	want := map[string]string{} // digest -> session id
	for n := range 5 {
		i := f.identity(t, "batch"+string(rune('a'+n))+"@example.org")
		sess := f.issue(t, i, httptest.NewRequest("POST", "/self-service/login", nil))
		tokens = append(tokens, sess.Token)
		want[hexDigest(sess.Token)] = sess.ID.String()
	}
	var asked []string
	for n := range whoamiReadsPerQuery + 10 {
		switch n % 7 {
		case 6:
			asked = append(asked, "ory_st_unknown"+string(rune('a'+n%26)))
		default:
			asked = append(asked, tokens[n%len(tokens)])
		}
	}
	for _, b := range []*whoamiReads{newWhoamiReads(s, nil), f.m.whoamiReads, f.m.whoamiReads} {
		shareQueries(t, b, asked, want)
	}
	if n := f.m.whoamiReads.cache.slab.len(); n != len(tokens) {
		t.Errorf("the cache keeps %d sessions, want %d", n, len(tokens))
	}
}

func shareQueries(t *testing.T, b *whoamiReads, asked []string, want map[string]string) {
	t.Helper()
	release := holdSlots(b)
	type answer struct {
		row *whoamiRow
		err error
	}
	answers := make([]answer, len(asked))
	var wg sync.WaitGroup
	for n, token := range asked {
		wg.Go(func() {
			r, err := b.read(ctx, sumOf(token))
			answers[n] = answer{r, err}
		})
	}
	waitPending(t, b, len(asked))
	release()
	wg.Wait()

	for n, token := range asked {
		a := answers[n]
		id, known := want[hexDigest(token)]
		switch {
		case !known && !errors.Is(a.err, store.ErrNotFound):
			t.Errorf("read %d (unknown token): %v, %v; want ErrNotFound", n, a.row, a.err)
		case known && a.err != nil:
			t.Errorf("read %d: %v", n, a.err)
		case known && a.row.id.String() != id:
			t.Errorf("read %d: session %s, want %s", n, a.row.id, id)
		}
	}
	if len(b.pending) != 0 {
		t.Errorf("%d reads left pending", len(b.pending))
	}
}

// A read joins only a query not yet sent: one revoked while it waits is
// refused, whoever sends the query.
func TestWhoamiReadsAreTakenAfterTheyArrive(t *testing.T) {
	f, b, sess := postgresSession(t, "arrive@example.org")
	if _, err := f.m.Whoami(ctx, sess.Token); err != nil {
		t.Fatalf("whoami before the revocation: %v", err)
	}

	release := holdSlots(b)
	f.write(t, func(q *store.Q) error { return f.m.Revoke(ctx, q, sess.ID) })
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Whoami(ctx, sess.Token)
		done <- err
	}()
	waitPending(t, b, 1)
	release()
	if err := <-done; !errors.Is(err, ErrNoSession) {
		t.Fatalf("whoami after the revocation: %v, want ErrNoSession", err)
	}
}

// A request that gives up while its read waits returns at once; the
// others are still answered.
func TestWhoamiReadsCancelled(t *testing.T) {
	_, b, sess := postgresSession(t, "cancel@example.org")

	release := holdSlots(b)
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() {
		_, err := b.read(cctx, sumOf(sess.Token))
		gaveUp <- err
	}()
	answered := make(chan error, 1)
	go func() {
		_, err := b.read(ctx, sumOf(sess.Token))
		answered <- err
	}()
	waitPending(t, b, 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	release()
	if err := <-answered; err != nil {
		t.Fatalf("the other read: %v", err)
	}
}
