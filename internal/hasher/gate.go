package hasher

import (
	"context"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// defaultDedicatedMemory is Kratos's default hashers.argon2.dedicated_memory
// (1 GB, which Kratos's byte sizes read as 1 GiB). With the 128 MiB default
// that lets 8 derivations run at once.
const defaultDedicatedMemory = 1 << 30

// collectFromKiB is the smallest derivation whose garbage is worth a
// collection before the next one may start.
const collectFromKiB = 1 << 10

// memoryGate bounds the memory that concurrent argon2 and scrypt
// derivations hold together: requests beyond the budget wait for their turn
// instead of driving the process out of memory. Weights are KiB, argon2's
// own unit.
type memoryGate struct {
	sem       *semaphore.Weighted
	budgetKiB int64

	// Kept for the tests, which check what was held rather than timings.
	held, peak, waiting atomic.Int64
}

func newMemoryGate(budgetBytes uint64) *memoryGate {
	kib := max(int64(min(budgetBytes, 1<<62)>>10), 1)
	return &memoryGate{sem: semaphore.NewWeighted(kib), budgetKiB: kib}
}

// weight is the share of the budget a derivation of n bytes takes. One that
// needs more than the whole budget takes all of it: it runs alone, where
// asking the semaphore for more than it has would wait forever.
func (g *memoryGate) weight(n uint64) int64 {
	kib := n >> 10
	if n&1023 != 0 {
		kib++
	}
	if kib >= uint64(g.budgetKiB) {
		return g.budgetKiB
	}
	return max(int64(kib), 1)
}

// acquire waits until n bytes of the budget are free. It gives up with
// ctx's error when ctx ends first (the client went away), leaving the
// budget untouched. release must be called exactly once.
func (g *memoryGate) acquire(ctx context.Context, n uint64) (release func(), err error) {
	w := g.weight(n)
	g.waiting.Add(1)
	err = g.sem.Acquire(ctx, w)
	g.waiting.Add(-1)
	if err != nil {
		return nil, err
	}
	now := g.held.Add(w)
	for {
		p := g.peak.Load()
		if now <= p || g.peak.CompareAndSwap(p, now) {
			break
		}
	}
	return func() {
		// The derivation's buffers are garbage now but stay resident until
		// the collector runs, and under GOGC's pacing a heap whose live part
		// is the whole budget grows to twice the budget first (measured:
		// 1.2 GiB peak RSS for a 512 MiB budget). Collecting before handing
		// the share on keeps what the process holds near what the gate
		// admits; concurrent calls share cycles, and the heap outside
		// the derivations is small, so a cycle is cheap next to a hash.
		if w >= collectFromKiB {
			runtime.GC()
		}
		g.held.Add(-w)
		g.sem.Release(w)
	}, nil
}
