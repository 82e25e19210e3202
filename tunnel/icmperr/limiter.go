package icmperr

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
)

// Limiter defaults. They limit floods only: path MTU discovery needs one
// error per sender and path change.
const (
	DefaultPerSource      = 100   // errors per second to one inner source
	DefaultPerSourceBurst = 200   // errors one source may get back to back
	DefaultGlobal         = 10000 // errors per second in total
	DefaultGlobalBurst    = 20000 // errors back to back in total
	DefaultSlots          = 4096  // per-source buckets (32 KiB)
)

// LimiterConfig sets the token buckets. Rates are per second and bursts in
// errors. A zero field takes its default; a zero burst with a rate set is
// twice the rate. A negative rate disables that bucket (no limit).
type LimiterConfig struct {
	PerSource, PerSourceBurst int
	Global, GlobalBurst       int

	// Slots is the size of the per-source table, rounded up to a power
	// of two (default DefaultSlots). Sources are hashed into it with a
	// per-limiter random seed; sources that collide share a bucket, so
	// with many more concurrent sources than slots some get their limit
	// shared with another. The seed keeps senders from choosing
	// addresses that collide with a victim's on purpose.
	Slots int
}

// LimiterStats counts refusals. Errors sent are the caller's to count.
type LimiterStats struct {
	RefusedPerSource uint64 // refused by the source's own bucket
	RefusedGlobal    uint64 // the source had a token, the global bucket did not
}

// bucket is a token bucket kept as the generic cell rate algorithm keeps
// it: one word, the theoretical arrival time (TAT) of the next error if
// errors came at exactly the rate. An error at time now is allowed when
// max(TAT, now) + interval - now <= burst*interval, and then moves TAT to
// max(TAT, now) + interval. That is exactly a bucket of `burst` tokens
// refilled one per interval, in a single int64 that a compare-and-swap
// updates, so concurrent callers need no lock.
type bucket struct {
	interval  int64 // ns per token; 0 = no limit
	tolerance int64 // burst * interval
}

// neverTAT is the TAT of an unused bucket: far enough in the past that
// the bucket is full for any realistic monotonic clock, and far enough
// from math.MinInt64 that arithmetic on it cannot wrap.
const neverTAT = math.MinInt64 / 2

func newBucket(rate, burst int) bucket {
	if rate < 0 {
		return bucket{}
	}
	const maxRate = 1e9 // one token per nanosecond
	rate = min(rate, maxRate)
	burst = max(min(burst, math.MaxInt32), 1)
	iv := int64(1e9) / int64(rate)
	return bucket{interval: iv, tolerance: int64(burst) * iv}
}

// take spends one token of the bucket whose state is w.
func (b bucket) take(w *atomic.Int64, now int64) bool {
	if b.interval == 0 {
		return true
	}
	for {
		tat := w.Load()
		next := max(tat, now) + b.interval
		if next-now > b.tolerance {
			return false
		}
		if w.CompareAndSwap(tat, next) {
			return true
		}
	}
}

// refund gives back a token take spent.
func (b bucket) refund(w *atomic.Int64) {
	if b.interval != 0 {
		w.Add(-b.interval)
	}
}

// padded keeps a hot word on its own cache line.
type padded struct {
	atomic.Int64
	_ [56]byte
}

type paddedCount struct {
	atomic.Uint64
	_ [56]byte
}

// Limiter rate-limits ICMP errors with a global token bucket and one per
// inner source address (the error's destination). It is safe for
// concurrent use by any number of goroutines: every bucket is one word
// updated by compare-and-swap, and Allow never allocates or locks. Its
// memory is fixed at NewLimiter (8 bytes per slot).
type Limiter struct {
	per, global  bucket
	seed0, seed1 uint64
	mask         uint64
	slots        []atomic.Int64

	globalTAT     padded
	refusedPer    paddedCount
	refusedGlobal paddedCount
}

// NewLimiter returns a limiter with c's limits (defaults for zero fields).
func NewLimiter(c LimiterConfig) *Limiter {
	rate := func(r, def int) int {
		if r == 0 {
			return def
		}
		return r
	}
	burst := func(b, r, defB int) int {
		switch {
		case b > 0:
			return b
		case r == 0:
			return defB
		}
		return 2 * r
	}
	per := rate(c.PerSource, DefaultPerSource)
	glob := rate(c.Global, DefaultGlobal)
	n := c.Slots
	if n <= 0 {
		n = DefaultSlots
	}
	n = 1 << bits.Len(uint(n-1))
	l := &Limiter{
		per:    newBucket(per, burst(c.PerSourceBurst, c.PerSource, DefaultPerSourceBurst)),
		global: newBucket(glob, burst(c.GlobalBurst, c.Global, DefaultGlobalBurst)),
		seed0:  rand.Uint64(),
		seed1:  rand.Uint64(),
		mask:   uint64(n - 1),
		slots:  make([]atomic.Int64, n),
	}
	for i := range l.slots {
		l.slots[i].Store(neverTAT)
	}
	l.globalTAT.Store(neverTAT)
	return l
}

// slot returns the bucket word of address a.
func (l *Limiter) slot(a [16]byte) *atomic.Int64 {
	x := binary.LittleEndian.Uint64(a[0:8]) ^ l.seed0
	y := binary.LittleEndian.Uint64(a[8:16]) ^ l.seed1
	h := x*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(y*0xc2b2ae3d27d4eb4f, 31)
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return &l.slots[h&l.mask]
}

// Allow reports whether an ICMP error to src may be sent at now
// (nanoseconds on a monotonic clock, e.g. time.Since(start)), and if so
// spends a token of src's bucket and of the global one. The source's bucket
// is asked first, so one source flooding does not spend the global tokens
// others need. IPv4 and IPv4-mapped IPv6 addresses are the same source;
// IPv6 sources are keyed by the full address.
func (l *Limiter) Allow(src netip.Addr, now int64) bool {
	w := l.slot(src.As16()) // IPv4 and IPv4-mapped give the same bytes
	if !l.per.take(w, now) {
		l.refusedPer.Add(1)
		return false
	}
	if !l.global.take(&l.globalTAT.Int64, now) {
		l.per.refund(w)
		l.refusedGlobal.Add(1)
		return false
	}
	return true
}

// Stats returns the refusal counters.
func (l *Limiter) Stats() LimiterStats {
	return LimiterStats{
		RefusedPerSource: l.refusedPer.Load(),
		RefusedGlobal:    l.refusedGlobal.Load(),
	}
}
