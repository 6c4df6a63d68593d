package hasher

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/lanyard-id/lanyard/internal/config"
)

func TestGateWeight(t *testing.T) {
	t.Parallel()
	g := newMemoryGate(1 << 20) // 1024 KiB
	for _, c := range []struct {
		bytes uint64
		want  int64
	}{
		{0, 1}, {1, 1}, {1024, 1}, {1025, 2}, {64 << 10, 64},
		{1 << 20, 1024}, {1<<20 + 1, 1024}, {100 << 30, 1024}, {1<<64 - 1, 1024},
	} {
		if got := g.weight(c.bytes); got != c.want {
			t.Errorf("weight(%d) = %d KiB, want %d", c.bytes, got, c.want)
		}
	}
	if g := newMemoryGate(100); g.budgetKiB != 1 {
		t.Errorf("a budget below 1 KiB is %d KiB, want 1 so that the gate still serialises", g.budgetKiB)
	}
	if g := newMemoryGate(1<<64 - 1); g.budgetKiB <= 0 {
		t.Errorf("a huge budget overflowed to %d KiB", g.budgetKiB)
	}
}

// holdAll fills g and returns the release.
func holdAll(t *testing.T, g *memoryGate) func() {
	t.Helper()
	release, err := g.acquire(context.Background(), uint64(g.budgetKiB)<<10)
	if err != nil {
		t.Fatal(err)
	}
	return release
}

// waitForWaiters blocks until n acquisitions wait on g.
func waitForWaiters(g *memoryGate, n int64) {
	for g.waiting.Load() < n {
		runtime.Gosched()
	}
}

// assertFree checks that nothing holds any of g's budget any more.
func assertFree(t *testing.T, g *memoryGate) {
	t.Helper()
	if held := g.held.Load(); held != 0 {
		t.Errorf("%d KiB still held", held)
	}
	if !g.sem.TryAcquire(g.budgetKiB) {
		t.Fatal("the whole budget cannot be acquired after every release")
	}
	g.sem.Release(g.budgetKiB)
}

func TestGateNeverExceedsBudget(t *testing.T) {
	t.Parallel()
	const budget = 256 // KiB
	g := newMemoryGate(budget << 10)
	var inside, worst atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for range 50 {
				n := uint64(r.IntN(2*budget)+1) << 10 // some more than the budget
				release, err := g.acquire(context.Background(), n)
				if err != nil {
					t.Error(err)
					return
				}
				w := g.weight(n)
				now := inside.Add(w)
				for {
					p := worst.Load()
					if now <= p || worst.CompareAndSwap(p, now) {
						break
					}
				}
				runtime.Gosched()
				inside.Add(-w)
				release()
			}
		})
	}
	wg.Wait()
	if worst.Load() > budget || g.peak.Load() > budget {
		t.Errorf("held %d KiB at once (gate saw %d), budget %d", worst.Load(), g.peak.Load(), budget)
	}
	assertFree(t, g)
}

func TestGateOversizedRunsAlone(t *testing.T) {
	t.Parallel()
	g := newMemoryGate(4 << 10)
	small, err := g.acquire(context.Background(), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		release, err := g.acquire(context.Background(), 100<<30)
		if err != nil {
			t.Error(err)
		}
		got <- release
	}()
	waitForWaiters(g, 1)
	small()
	release := <-got // waits for the whole budget, and gets it
	if release == nil {
		t.FailNow()
	}
	if g.held.Load() != 4 || g.sem.TryAcquire(1) {
		t.Errorf("an oversized derivation holds %d KiB and leaves room for others", g.held.Load())
	}
	release()
	assertFree(t, g)
}

func TestGateCancelReleasesWaiter(t *testing.T) {
	t.Parallel()
	g := newMemoryGate(8 << 10)
	all := holdAll(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := g.acquire(ctx, 2<<10)
		errc <- err
	}()
	waitForWaiters(g, 1)
	cancel() // the client went away while its login waited
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire after cancel = %v, want context.Canceled", err)
	}
	if g.waiting.Load() != 0 {
		t.Error("the cancelled acquisition still waits")
	}
	all()
	assertFree(t, g)
}

// argon2Import is an imported argon2id hash of pw with memory KiB.
func argon2Import(pw string, memory uint32) []byte {
	p := argon2Params{id: true, memory: memory, time: 1, threads: 1}
	salt := []byte("imported-salt-16")
	return p.encode(salt, p.derive([]byte(pw), salt, 32))
}

// scryptImport is an imported scrypt hash of pw taking about 128 × n bytes.
func scryptImport(pw string, n int) []byte {
	salt := []byte("imported-salt")
	key, err := scrypt.Key([]byte(pw), salt, n, 1, 1, 32)
	if err != nil {
		panic(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, "$scrypt$ln=%d,r=1,p=1$%s$%s", n, b64(salt), b64(key))
}

func TestHasherStaysWithinDedicatedMemory(t *testing.T) {
	t.Parallel()
	const memory, dedicated = 256, 1024 // KiB: four of our own hashes at a time
	h := mustNew(t, config.Hashers{Algorithm: "argon2", Argon2: config.Argon2{
		Memory: memory, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32, DedicatedMemory: dedicated << 10,
	}})
	imports := [][]byte{
		argon2Import("pw", 512),        // imported, other parameters
		argon2Import("pw", 4096),       // larger than the whole budget
		scryptImport("pw", 1<<12),      // 512 KiB
		[]byte(literalVectors[0].hash), // bcrypt: not memory-hard
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			pw := fmt.Appendf(nil, "password-%d", i)
			enc, err := h.Hash(ctx, pw)
			if err == nil {
				err = h.Compare(ctx, pw, enc)
			}
			if err != nil {
				t.Error(err)
			}
			if err := h.Compare(ctx, []byte("pw"), imports[i%len(imports)]); err != nil && !errors.Is(err, ErrMismatch) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak := h.gate.peak.Load(); peak > dedicated || peak < memory {
		t.Errorf("the gate held at most %d KiB; want between %d and the budget %d", peak, memory, dedicated)
	}
	assertFree(t, h.gate)
}

func TestCompareOfImportsPassesTheGate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		hash []byte
		want int64 // KiB
	}{
		{"argon2 import", argon2Import("pw", 512), 512},
		{"argon2 import over budget", argon2Import("pw", 4096), 1024},
		{"scrypt import", scryptImport("pw", 1<<12), 513}, // 128 × r × (N + p) bytes, rounded up
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := mustNew(t, config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}, Argon2: config.Argon2{DedicatedMemory: 1 << 20}})
			if err := h.Compare(context.Background(), []byte("pw"), c.hash); err != nil {
				t.Fatal(err)
			}
			if got := h.gate.peak.Load(); got != c.want {
				t.Errorf("verification held %d KiB of the gate, want %d", got, c.want)
			}
		})
	}
}

func TestCompareCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	h := mustNew(t, config.Hashers{Algorithm: "argon2", Argon2: config.Argon2{
		Memory: 64, Parallelism: 1, DedicatedMemory: 64 << 10,
	}})
	own, err := h.Hash(context.Background(), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	all := holdAll(t, h.gate)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 3)
	go func() { errc <- h.Compare(ctx, []byte("pw"), own) }()
	go func() { errc <- h.Compare(ctx, []byte("pw"), argon2Import("pw", 32)) }()
	go func() { _, err := h.Hash(ctx, []byte("pw")); errc <- err }()
	waitForWaiters(h.gate, 3)
	cancel()
	for range 3 {
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("hashing after the client left = %v, want context.Canceled", err)
		}
	}
	all()
	assertFree(t, h.gate)
	if err := h.Compare(context.Background(), []byte("pw"), own); err != nil {
		t.Errorf("Compare after the waiters left = %v", err)
	}
}

func TestNewSizesTheGate(t *testing.T) {
	t.Parallel()
	if h := mustNew(t, config.Hashers{}); h.gate.budgetKiB != 1<<20 {
		t.Errorf("default budget %d KiB, want Kratos's 1 GiB", h.gate.budgetKiB)
	}
	if h := mustNew(t, config.Hashers{Argon2: config.Argon2{DedicatedMemory: 3 << 30}}); h.gate.budgetKiB != 3<<20 {
		t.Errorf("budget %d KiB, want 3 GiB", h.gate.budgetKiB)
	}
	// Exactly one hash's worth is allowed: logins then hash one at a time.
	if _, err := New(config.Hashers{Algorithm: "argon2", Argon2: config.Argon2{Memory: 64 << 10, DedicatedMemory: 64 << 20}}); err != nil {
		t.Errorf("memory = dedicated_memory refused: %v", err)
	}
	_, err := New(config.Hashers{Algorithm: "argon2", Argon2: config.Argon2{Memory: 256 << 10, DedicatedMemory: 128 << 20}})
	if err == nil {
		t.Fatal("argon2 memory above dedicated_memory accepted")
	}
	for _, key := range []string{"hashers.argon2.memory", "hashers.argon2.dedicated_memory"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	// bcrypt hashes without the gate; a small budget only serialises imports.
	if _, err := New(config.Hashers{Algorithm: "bcrypt", Argon2: config.Argon2{DedicatedMemory: 1 << 20}}); err != nil {
		t.Errorf("bcrypt with a small dedicated_memory refused: %v", err)
	}
}

// Hashes beyond the cores wait their turn instead of sharing the cores;
// a waiter whose client goes away gives up without hashing.
func TestHashesWaitForACore(t *testing.T) {
	for _, cfg := range []config.Hashers{
		{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}},
		{Algorithm: "argon2", Argon2: config.Argon2{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}},
	} {
		h, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		hash, err := h.Hash(context.Background(), []byte("a password"))
		if err != nil {
			t.Fatal(err)
		}
		cores := int64(runtime.GOMAXPROCS(0))
		if !h.cpu.TryAcquire(cores) {
			t.Fatal("the core gate was not free at rest")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		if _, err := h.Hash(ctx, []byte("a password")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Hash with every core taken = %v; want it to wait until its context ends", cfg.Algorithm, err)
		}
		if err := h.Compare(ctx, []byte("a password"), hash); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: Compare with every core taken = %v; want it to wait until its context ends", cfg.Algorithm, err)
		}
		cancel()
		h.cpu.Release(cores)
		if err := h.Compare(context.Background(), []byte("a password"), hash); err != nil {
			t.Errorf("%s: Compare after the cores came free: %v", cfg.Algorithm, err)
		}
	}
}
