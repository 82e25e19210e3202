package l2

import (
	"fmt"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
)

var benchSizes = []int{1, 100_000}

// benchTable returns a table holding n learned MACs of network 1 (ports
// 0..7) and those MACs, in a shuffled order so that lookups don't walk the
// slots in sequence.
func benchTable(b *testing.B, n int) (*Table, []packet.MAC) {
	tb := newTable(b, Config{Capacity: max(n+1, 1024)}) // +1: room for BenchmarkLearnNew
	macs := make([]packet.MAC, n)
	for i := range macs {
		// Scatter the index over the MAC's bytes like real NIC addresses.
		x := uint64(i)*0x9E3779B97F4A7C15 + 1
		macs[i] = packet.MAC{0x02, byte(x >> 8), byte(x >> 16), byte(x >> 24), byte(x >> 32), byte(x >> 40)}
		if r := tb.Learn(1, macs[i], uint16(i%8), 0); r != LearnNew {
			b.Fatalf("fill %d: %v", i, r)
		}
	}
	return tb, macs
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			tb, macs := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, ok := tb.Lookup(1, macs[i%n], 0); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

func BenchmarkLearnRefresh(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			tb, macs := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := i % n
				if r := tb.Learn(1, macs[j], uint16(j%8), 0); r != LearnRefreshed {
					b.Fatal(r)
				}
			}
		})
	}
}

// BenchmarkLearnNew learns a MAC the table doesn't have and deletes it
// again, so the size stays at n (deleting reuses the tombstone left before).
func BenchmarkLearnNew(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			tb, _ := benchTable(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m := packet.MAC{0x06, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
				if r := tb.Learn(2, m, 1, 0); r != LearnNew {
					b.Fatal(r)
				}
				tb.Delete(2, m)
			}
		})
	}
}

// BenchmarkLookupParallel: every core looking up (and refreshing) at once;
// no shared writes, so it should scale with cores.
func BenchmarkLookupParallel(b *testing.B) {
	tb, macs := benchTable(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			j := i % len(macs)
			tb.Learn(1, macs[j], uint16(j%8), 0)
			tb.Lookup(1, macs[(j+7)%len(macs)], 0)
			i++
		}
	})
}
