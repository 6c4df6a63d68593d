package session

import (
	"bytes"
	"database/sql"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// A record decodes to the row it was written from.
func TestWhoamiRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 8, 9, 123456789, time.UTC)
	r := &whoamiRow{
		sessionRow: sessionRow{
			id: uuid.New(), identityID: uuid.New(), active: true,
			aal: "aal2", methods: `[{"method":"password"}]`, devices: `[]`, identityState: "active",
			issued: store.Time{Time: at}, authed: store.Time{Time: at.Add(time.Second)}, expires: store.Time{Time: at.Add(time.Hour)},
			created: store.Time{}, updated: store.Time{Time: at.Add(-time.Hour)}, identityRevision: 7,
		},
		digest: [32]byte{1, 2, 3}, schemaID: "default", view: sql.NullString{String: `{"id":"x","traits":{"é":"ü"}}`, Valid: true},
		factors: 3, viewOfRev: sql.NullInt64{Int64: 7, Valid: true}, keptAt: 1234,
	}
	rec := r.record(42)
	if recordKey(rec) != 42 || !bytes.Equal(recordDigest(rec), r.digest[:]) || recordIdentity(rec) != r.identityID || recordKeptAt(rec) != r.keptAt {
		t.Fatal("key, digest, identity or head kept at not where they are read")
	}
	got := whoamiRowOf(rec)
	if got.sessionRow.id != r.id || got.identityID != r.identityID || got.active != r.active || got.aal != r.aal ||
		got.methods != r.methods || got.devices != r.devices || got.identityState != r.identityState ||
		got.identityRevision != r.identityRevision || got.schemaID != r.schemaID || got.view != r.view ||
		got.factors != r.factors || got.viewOfRev != r.viewOfRev || got.digest != r.digest || got.keptAt != r.keptAt {
		t.Fatalf("decoded %+v, want %+v", got, r)
	}
	for i, tm := range r.times() {
		if !got.times()[i].Equal(*tm) || got.times()[i].IsZero() != tm.IsZero() {
			t.Errorf("time %d decoded %v, want %v", i, *got.times()[i], *tm)
		}
	}
}

// Whatever is put, removed, moved and trimmed, the slab answers what a
// plain map would hold, or nothing, and stays within its budget.
func TestWhoamiSlabAgreesWithAMap(t *testing.T) {
	const budget = 8 * whoamiMinChunk
	s := newWhoamiSlab(budget)
	want := map[int64][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40_000 {
		k := int64(rng.IntN(2000))
		switch op := rng.IntN(10); {
		case op < 6:
			rec := make([]byte, 13+rng.IntN(s.chunkSize/3))
			rec[0], rec[1], rec[2], rec[3] = byte(len(rec)), byte(len(rec)>>8), byte(len(rec)>>16), 0
			for j := range 8 {
				rec[4+j] = byte(uint64(k) >> (8 * j))
			}
			rec[len(rec)-1] = byte(i)
			s.put(rec)
			if len(rec) <= s.chunkSize/4 {
				want[k] = rec
			} else {
				delete(want, k)
			}
			s.check(t, i, "put")
			s.trim(budget)
			s.check(t, i, "trim")
		case op < 9:
			s.remove(k)
			s.check(t, i, "remove")
			delete(want, k)
		default:
			if i%1000 == 0 {
				s.clear()
				clear(want)
			}
		}
		if s.bytes > budget {
			t.Fatalf("step %d: %d bytes over the budget %d", i, s.bytes, budget)
		}
		if got := s.get(k); got != nil && !bytes.Equal(got, want[k]) {
			t.Fatalf("step %d: key %d answered a record it does not hold", i, k)
		}
	}
	for k, rec := range s.index {
		if !bytes.Equal(s.get(k), want[k]) {
			t.Fatalf("key %d (%+v) holds a stale record", k, rec)
		}
	}
	if s.len() == 0 {
		t.Fatal("test premise: the slab kept nothing")
	}
}

// check fails unless every index entry points at a record of its own key
// in a chunk the slab holds, and the chunks' live counts add up.
func (s *whoamiSlab) check(t *testing.T, step int, after string) {
	t.Helper()
	live := map[uint32]int{}
	for k, slot := range s.index {
		c := s.chunks[slot.chunk]
		if c == nil || recordKey(s.get(k)) != k {
			t.Fatalf("step %d, after %s: key %d points at %+v, which does not hold it", step, after, k, slot)
		}
		live[slot.chunk] += int(slot.size)
	}
	for n, c := range s.chunks {
		if c.live != live[n] {
			t.Fatalf("step %d, after %s: chunk %d counts %d live bytes, holds %d", step, after, n, c.live, live[n])
		}
	}
}
