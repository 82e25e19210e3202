package icmperr

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// distinct returns n addresses whose buckets are different slots of l.
func distinct(l *Limiter, n int) []netip.Addr {
	var out []netip.Addr
	used := map[*atomic.Int64]bool{}
	for i := 1; len(out) < n; i++ {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if w := l.slot(a.As16()); !used[w] {
			used[w] = true
			out = append(out, a)
		}
	}
	return out
}

func allowN(l *Limiter, a netip.Addr, now int64, n int) int {
	ok := 0
	for range n {
		if l.Allow(a, now) {
			ok++
		}
	}
	return ok
}

func TestLimiterBurstAndRefill(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerSource: 10, PerSourceBurst: 5, Global: -1})
	a := addr("198.18.0.1")
	now := 1000 * ms
	if got := allowN(l, a, now, 20); got != 5 {
		t.Fatalf("burst: %d allowed, want 5", got)
	}
	if s := l.Stats(); s.RefusedPerSource != 15 || s.RefusedGlobal != 0 {
		t.Errorf("stats %+v, want 15 per-source refusals", s)
	}
	// 10 per second: one token per 100 ms.
	if got := allowN(l, a, now+99*ms, 3); got != 0 {
		t.Errorf("after 99 ms: %d allowed, want 0", got)
	}
	if got := allowN(l, a, now+100*ms, 3); got != 1 {
		t.Errorf("after 100 ms: %d allowed, want 1", got)
	}
	if got := allowN(l, a, now+350*ms, 5); got != 2 {
		t.Errorf("after 350 ms: %d allowed, want 2", got)
	}
	// A long pause refills to the burst, not beyond.
	if got := allowN(l, a, now+time.Hour.Nanoseconds(), 20); got != 5 {
		t.Errorf("after an hour: %d allowed, want the burst 5", got)
	}
	// Sustained rate: one per interval forever.
	base := now + 2*time.Hour.Nanoseconds()
	allowN(l, a, base, 5)
	for i := int64(1); i <= 100; i++ {
		if !l.Allow(a, base+i*100*ms) {
			t.Fatalf("steady rate refused at step %d", i)
		}
	}
}

func TestLimiterPerSourceIsolation(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerSource: 1, PerSourceBurst: 3, Global: -1, Slots: 1 << 12})
	src := distinct(l, 3)
	if got := allowN(l, src[0], 0, 100); got != 3 {
		t.Fatalf("flooder: %d allowed, want 3", got)
	}
	for _, a := range src[1:] {
		if got := allowN(l, a, 0, 3); got != 3 {
			t.Errorf("%v: %d allowed while another source floods, want 3", a, got)
		}
	}
	// IPv4 and IPv4-mapped IPv6 are one source.
	mapped := netip.AddrFrom16(src[1].As16())
	if l.Allow(mapped, 0) {
		t.Error("IPv4-mapped form of an exhausted source allowed")
	}
	// IPv6 sources work the same.
	v6 := addr("2001:db8:1::1")
	if got := allowN(l, v6, 0, 10); got != 3 {
		t.Errorf("IPv6 source: %d allowed, want 3", got)
	}
}

func TestLimiterGlobalCap(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerSource: 100, PerSourceBurst: 10, Global: 1000, GlobalBurst: 50})
	src := distinct(l, 100)
	ok := 0
	for _, a := range src {
		ok += allowN(l, a, 0, 1)
	}
	if ok != 50 {
		t.Fatalf("%d allowed across 100 sources, want the global burst 50", ok)
	}
	if s := l.Stats(); s.RefusedGlobal != 50 || s.RefusedPerSource != 0 {
		t.Errorf("stats %+v, want 50 global refusals", s)
	}
	// 1000 per second: one more every millisecond.
	if ok := allowN(l, src[0], 1*ms, 5); ok != 1 {
		t.Errorf("after 1 ms: %d allowed, want 1", ok)
	}
}

// TestLimiterGlobalRefund: a source refused by the global bucket gets its
// own token back, so a global squeeze does not eat into its budget.
func TestLimiterGlobalRefund(t *testing.T) {
	l := NewLimiter(LimiterConfig{PerSource: 1, PerSourceBurst: 1, Global: 1000, GlobalBurst: 1})
	src := distinct(l, 2)
	if !l.Allow(src[0], 0) {
		t.Fatal("first error refused")
	}
	if l.Allow(src[1], 0) {
		t.Fatal("global burst of 1 exceeded")
	}
	if !l.Allow(src[1], 1*ms) {
		t.Error("source refused by the global bucket lost its own token")
	}
}

func TestLimiterDefaults(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	if l.per != newBucket(100, 200) || l.global != newBucket(10000, 20000) || len(l.slots) != DefaultSlots {
		t.Errorf("defaults: per %+v global %+v slots %d", l.per, l.global, len(l.slots))
	}
	a := addr("198.18.0.1")
	if got := allowN(l, a, 0, 1000); got != DefaultPerSourceBurst {
		t.Errorf("default burst: %d allowed, want %d", got, DefaultPerSourceBurst)
	}
	// A rate without a burst gets twice the rate; slots round up.
	l = NewLimiter(LimiterConfig{PerSource: 7, Global: 50, Slots: 1000})
	if l.per != newBucket(7, 14) || l.global != newBucket(50, 100) || len(l.slots) != 1024 {
		t.Errorf("derived: per %+v global %+v slots %d", l.per, l.global, len(l.slots))
	}
	// Negative rates disable a bucket.
	l = NewLimiter(LimiterConfig{PerSource: -1, Global: -1})
	if got := allowN(l, a, 0, 100000); got != 100000 {
		t.Errorf("unlimited: %d allowed", got)
	}
	// Absurd rates are clamped, not overflowed.
	l = NewLimiter(LimiterConfig{PerSource: 1 << 40, PerSourceBurst: 1 << 40, Global: -1})
	if got := allowN(l, a, 0, 1000); got != 1000 {
		t.Errorf("huge rate: %d allowed", got)
	}
	// A clock that starts at any value, even negative, sees a full bucket.
	l = NewLimiter(LimiterConfig{PerSource: 1, PerSourceBurst: 2, Global: -1})
	if got := allowN(l, a, -time.Hour.Nanoseconds()*24*365, 5); got != 2 {
		t.Errorf("negative clock: %d allowed, want 2", got)
	}
}

func TestLimiterReason(t *testing.T) {
	if RateLimited.Name() != "rate_limited" || RateLimited.Help() == "" {
		t.Errorf("RateLimited: %q", RateLimited.Name())
	}
}

// TestLimiterConcurrent hammers one limiter from several goroutines with a
// frozen clock: the buckets must hand out exactly their bursts. Run it
// under -race.
func TestLimiterConcurrent(t *testing.T) {
	const workers, per = 8, 5000
	l := NewLimiter(LimiterConfig{PerSource: 1, PerSourceBurst: 300, Global: 1, GlobalBurst: 1000})
	src := distinct(l, 4)
	var allowed [4]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				k := (i + w) % len(src)
				if l.Allow(src[k], 5*ms) {
					allowed[k].Add(1)
				}
			}
		}()
	}
	wg.Wait()
	total := int64(0)
	for k := range allowed {
		n := allowed[k].Load()
		if n > 300 {
			t.Errorf("source %d: %d allowed, burst is 300", k, n)
		}
		total += n
	}
	if total != 1000 {
		t.Errorf("%d allowed in total, want exactly the global burst 1000", total)
	}
	s := l.Stats()
	if got := int64(s.RefusedGlobal + s.RefusedPerSource); got != workers*per-total {
		t.Errorf("refusals %d (%+v), want %d", got, s, workers*per-total)
	}
}

// TestLimiterConcurrentRefill runs the workers on a shared advancing clock
// and checks the total against rate*elapsed + burst.
func TestLimiterConcurrentRefill(t *testing.T) {
	const workers, per = 4, 20000
	l := NewLimiter(LimiterConfig{PerSource: -1, Global: 1000, GlobalBurst: 10})
	var clock, allowed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.AddrFrom4([4]byte{198, 18, 1, byte(w)})
			for range per {
				if l.Allow(a, clock.Add(10000)) { // 10 us per call
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := clock.Load()
	limit := 10 + elapsed/int64(time.Millisecond) + 1
	if got := allowed.Load(); got > limit || got < limit*9/10 {
		t.Errorf("%d allowed over %v, want about %d", got, time.Duration(elapsed), limit)
	}
}

func TestAllowAllocs(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	a, b := addr("198.18.0.1"), addr("2001:db8::1")
	now := int64(0)
	if n := testing.AllocsPerRun(1000, func() {
		now += 1000
		l.Allow(a, now)
		l.Allow(b, now)
	}); n != 0 {
		t.Errorf("Allow: %v allocs", n)
	}
}

func ExampleLimiter() {
	lim := NewLimiter(LimiterConfig{PerSource: 1, PerSourceBurst: 2})
	vm := netip.MustParseAddr("198.18.0.1")
	now := int64(0) // ns on a monotonic clock, e.g. time.Since(start)
	fmt.Println(lim.Allow(vm, now), lim.Allow(vm, now), lim.Allow(vm, now), lim.Allow(vm, now+time.Second.Nanoseconds()))
	fmt.Printf("%+v\n", lim.Stats())
	// Output:
	// true true false true
	// {RefusedPerSource:1 RefusedGlobal:0}
}
