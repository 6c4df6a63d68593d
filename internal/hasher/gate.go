package hasher

import "context"

// gateBudgetMiB is the memory that concurrent argon2 and scrypt derivations
// may hold together (Kratos's default hashers.argon2.dedicated_memory is
// 1 GB). With the 128 MiB default that is 8 logins hashing at once; the rest
// wait instead of driving the process out of memory.
const gateBudgetMiB = 1024

var gate = newMemoryGate(gateBudgetMiB)

// memoryGate is a weighted semaphore counted in MiB.
type memoryGate struct {
	turn   chan struct{} // held while gathering tokens, so two big requests never deadlock on halves
	tokens chan struct{}
}

func newMemoryGate(mib int) *memoryGate {
	g := &memoryGate{turn: make(chan struct{}, 1), tokens: make(chan struct{}, mib)}
	for range mib {
		g.tokens <- struct{}{}
	}
	return g
}

// acquire waits until n bytes (rounded up to MiB, capped at the whole
// budget) are free, or ctx ends.
func (g *memoryGate) acquire(ctx context.Context, n uint64) (release func(), err error) {
	want := int(min((n+(1<<20)-1)>>20, uint64(cap(g.tokens))))
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	got := 0
	for got < want {
		select {
		case <-g.tokens:
			got++
		case <-ctx.Done():
			g.put(got)
			<-g.turn
			return nil, ctx.Err()
		}
	}
	<-g.turn
	return func() { g.put(want) }, nil
}

func (g *memoryGate) put(n int) {
	for range n {
		g.tokens <- struct{}{}
	}
}
