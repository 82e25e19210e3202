package icmperr

import (
	"net/netip"
	"sync/atomic"
	"testing"
)

func BenchmarkFragNeeded(b *testing.B) {
	orig := udp4Frame(b, l2opt{}, ip4(0), 1500)
	dst := make([]byte, MaxFragNeededLen)
	b.SetBytes(int64(len(orig)))
	b.ReportAllocs()
	for b.Loop() {
		if _, why := FragNeeded(dst, orig, 1400, netip.Addr{}); why != None {
			b.Fatal(why)
		}
	}
}

func BenchmarkPacketTooBig(b *testing.B) {
	orig := udp6Frame(b, l2opt{}, 1500)
	dst := make([]byte, MaxPacketTooBigLen)
	b.SetBytes(int64(len(orig)))
	b.ReportAllocs()
	for b.Loop() {
		if _, why := PacketTooBig(dst, orig, 1280, netip.Addr{}); why != None {
			b.Fatal(why)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	l := NewLimiter(LimiterConfig{})
	a := netip.MustParseAddr("198.18.0.1")
	now := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		now += 10_000_000 // 100/s: always allowed
		l.Allow(a, now)
	}
}

// BenchmarkAllowParallel: workers on distinct sources, the global bucket
// shared (the only contended word).
func BenchmarkAllowParallel(b *testing.B) {
	l := NewLimiter(LimiterConfig{PerSource: -1, Global: -1})
	l.global = newBucket(1e9, 1<<30) // a live global bucket that never refuses
	var worker atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(worker.Add(1))})
		now := int64(0)
		for pb.Next() {
			now++
			l.Allow(a, now)
		}
	})
}
