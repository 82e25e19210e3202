package conntrack

import (
	"bytes"
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// benchServer is the server side of every benchmark flow.
var benchServer = [4]byte{198, 19, 255, 254}

// flowClient spreads flow i over 2^17 client addresses and then ports.
func flowClient(i int) ([4]byte, uint16) { return addr4(i & 0x1ffff), uint16(1024 + i>>17) }

// establish builds n established flows (full handshakes) and returns, per
// flow, a client ACK that is valid to repeat (the steady state of a flow
// whose data is acknowledged).
func establish(b testing.TB, tbl *Table, n int, now int64) [][]byte {
	acks := make([][]byte, n)
	for i := 0; i < n; i++ {
		c, cp := flowClient(i)
		cseq, sseq := handshake(b, tbl, 0, c, benchServer, cp, 80, now)
		acks[i] = frameTCP4(c, benchServer, cp, 80, cseq, sseq, fA, 502, nil, 0)
	}
	return acks
}

func benchConfig(n int, checksum bool) Config {
	cfg := DefaultConfig()
	cfg.MaxConns = max(n*2, 1024)
	cfg.Default.Checksum = checksum
	return cfg
}

// BenchmarkTrackEstablished measures the per-packet cost of an established
// flow's packet on its owner: table lookup plus the TCP window update
// (Shard.TrackBatch on parsed, classified packets, in batches of 64: the
// dataplane's default RX batch), checksum verification off.
func BenchmarkTrackEstablished(b *testing.B) {
	for _, n := range []int{1, 10_000, 100_000, 1_000_000} {
		b.Run(flowsName(n), func(b *testing.B) { benchTrack(b, n, 64, false) })
	}
}

// BenchmarkTrackEstablishedBatch32 is the same in batches of 32, the size
// earlier figures were measured with: a shorter batch pays its pipeline's
// start more often.
func BenchmarkTrackEstablishedBatch32(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(flowsName(n), func(b *testing.B) { benchTrack(b, n, 32, false) })
	}
}

// BenchmarkTrackEstablishedSparse is TrackEstablished with 10k flows in a
// table sized for 1M connections (the default max_conns): a lightly used
// table, where the index is large and every bucket nearly empty.
func BenchmarkTrackEstablishedSparse(b *testing.B) {
	b.Run("flows=10k", func(b *testing.B) {
		cfg := benchConfig(10_000, false)
		cfg.MaxConns = DefaultMaxConns
		benchTrackConfig(b, cfg, 10_000, 64)
	})
}

// BenchmarkTrackEstablishedChecksum is the same with L4 checksum
// verification on (64-byte frames).
func BenchmarkTrackEstablishedChecksum(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(flowsName(n), func(b *testing.B) { benchTrack(b, n, 64, true) })
	}
}

func flowsName(n int) string {
	switch {
	case n >= 1_000_000:
		return "flows=1M"
	case n >= 1000:
		return "flows=" + itoa(n/1000) + "k"
	}
	return "flows=" + itoa(n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func benchTrack(b *testing.B, n, batch int, checksum bool) {
	benchTrackConfig(b, benchConfig(n, checksum), n, batch)
}

func benchTrackConfig(b *testing.B, cfg Config, n, batch int) {
	tbl, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := int64(1e15)
	acks := establish(b, tbl, n, now)
	// Frames sit contiguously in arrival order, as in an AF_XDP UMEM ring,
	// in a random order of flows.
	const stride = 64
	ring := make([]byte, n*stride)
	pkts := make([]Packet, n)
	ptrs := make([]*Packet, max(n, batch)) // a 1-flow batch repeats the packet
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		p := &pkts[i]
		p.Frame = ring[i*stride : i*stride+len(acks[j])]
		copy(p.Frame, acks[j])
		if err := packet.Parse(p.Frame, &p.Meta); err != nil {
			b.Fatal(err)
		}
		tbl.Classify(p)
		ptrs[i] = p
	}
	for i := n; i < len(ptrs); i++ {
		ptrs[i] = ptrs[i%n]
	}
	acks = nil
	s := tbl.Shard(0)
	out := make([]Result, batch)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	invalid := 0
	for i := 0; i < b.N; {
		lo := i % len(ptrs)
		hi := min(lo+batch, len(ptrs), lo+b.N-i)
		s.TrackBatch(ptrs[lo:hi], now, out)
		for _, r := range out[:hi-lo] {
			if r.Verdict != VerdictEstablished {
				invalid++
			}
		}
		i += hi - lo
	}
	b.StopTimer()
	if invalid > 0 {
		b.Fatalf("%d packets not established", invalid)
	}
}

// BenchmarkPipeline measures parse + classify + track from raw frames.
func BenchmarkPipeline(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(flowsName(n), func(b *testing.B) {
			tbl, err := New(benchConfig(n, true))
			if err != nil {
				b.Fatal(err)
			}
			now := int64(1e15)
			acks := establish(b, tbl, n, now)
			order := rand.New(rand.NewPCG(1, 2)).Perm(n)
			s := tbl.Shard(0)
			var p Packet
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Frame = acks[order[i%n]]
				if err := packet.Parse(p.Frame, &p.Meta); err != nil {
					b.Fatal(err)
				}
				tbl.Classify(&p)
				if r := s.Track(&p, now); r.Verdict != VerdictEstablished {
					b.Fatalf("not established: %s %s", r.Verdict, r.Why)
				}
			}
		})
	}
}

// BenchmarkTrackNew measures creating a connection from a SYN (lookup miss,
// admission, insert, TCP init) through TrackBatch in batches of 64 (the
// dataplane's default RX batch), in a table filling up to 1M entries,
// checksum verification off.
func BenchmarkTrackNew(b *testing.B) {
	const ring = 1 << 20
	syns := make([]Packet, ring)
	ptrs := make([]*Packet, ring)
	for i := range syns {
		c, cp := flowClient(i)
		p := &syns[i]
		p.Frame = frameTCP4(c, benchServer, cp, 80, 1000, 0, fS, 64240, wscaleOpts(7), 0)
		if err := packet.Parse(p.Frame, &p.Meta); err != nil {
			b.Fatal(err)
		}
		p.classify()
		ptrs[i] = p
	}
	var tbl *Table
	now := int64(1e15)
	const batch = 64
	out := make([]Result, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		if i%ring == 0 {
			b.StopTimer()
			if tbl != nil {
				tbl.Close()
			}
			var err error
			if tbl, err = New(benchConfig(ring, false)); err != nil {
				b.Fatal(err)
			}
			// Pre-grow the pages so the measurement is of the steady state,
			// not of the first allocation of entry memory; free slots are
			// then reused in a scattered order, as after expiry.
			s := tbl.Shard(0)
			for j := 0; j < ring; j++ {
				s.alloc()
			}
			for _, j := range rand.New(rand.NewPCG(5, 6)).Perm(ring) {
				s.freeSlot(uint32(j + 1))
			}
			runtime.GC()
			b.StartTimer()
		}
		lo := i % ring
		k := min(batch, b.N-i, ring-lo)
		tbl.Shard(0).TrackBatch(ptrs[lo:lo+k], now, out)
		for _, r := range out[:k] {
			if r.Verdict != VerdictNew {
				b.Fatalf("SYN: %s %s", r.Verdict, r.Why)
			}
		}
		i += k
	}
}

// BenchmarkMemoryPerConn fills a table with 1M established TCP connections
// and reports heap bytes per connection (entries, index and pages).
func BenchmarkMemoryPerConn(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cfg := DefaultConfig()
		cfg.MaxConns = n
		tbl, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		now := int64(1e15)
		s := tbl.Shard(0)
		var p Packet
		for j := 0; j < n; j++ {
			c, cp := flowClient(j)
			p.Frame = frameTCP4(c, benchServer, cp, 80, 1000, 0, fS, 64240, wscaleOpts(7), 0)
			if err := packet.Parse(p.Frame, &p.Meta); err != nil {
				b.Fatal(err)
			}
			tbl.Classify(&p)
			if r := s.Track(&p, now); r.Verdict != VerdictNew {
				b.Fatalf("flow %d: %s", j, r.Verdict)
			}
		}
		p = Packet{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if tbl.Len() != n {
			b.Fatalf("len %d", tbl.Len())
		}
		// Entry pages and the index of a table this size are mapped
		// outside the Go heap (huge pages); count both.
		mapped := 0
		for k := 0; k < tbl.Shards(); k++ {
			mapped += tbl.Shard(k).MemoryBytes()
		}
		b.ReportMetric(float64(int(after.HeapAlloc-before.HeapAlloc)+mapped)/n, "B/conn")
		b.ReportMetric(float64(mapped)/n, "mapped-B/conn")
		runtime.KeepAlive(tbl)
	}
}

// BenchmarkExportImport measures moving 100k connections: export (owner
// copy + encoding) and import (decoding + restore).
func BenchmarkExportImport(b *testing.B) {
	const n = 100_000
	tbl, err := New(benchConfig(n, false))
	if err != nil {
		b.Fatal(err)
	}
	now := int64(1e15)
	establish(b, tbl, n, now)
	ctx := context.Background()
	var buf bytes.Buffer
	if _, err := tbl.Export(ctx, &buf, Filter{}, now); err != nil {
		b.Fatal(err)
	}
	data := append([]byte(nil), buf.Bytes()...)
	b.Run("export", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf.Reset()
			if _, err := tbl.Export(ctx, &buf, Filter{}, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn")
	})
	b.Run("import", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dst, err := New(benchConfig(n, false))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			entries, err := ReadEntries(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			if k, err := dst.Import(ctx, entries, now+int64(time.Second)); err != nil || k != n {
				b.Fatalf("import: %d %v", k, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/conn")
	})
}

// ringOf lays frames out contiguously in a random flow order, as packets
// sit in an AF_XDP UMEM ring.
func ringOf(frames [][]byte) [][]byte {
	const stride = 64
	ring := make([]byte, len(frames)*stride)
	out := make([][]byte, len(frames))
	for i, j := range rand.New(rand.NewPCG(3, 4)).Perm(len(frames)) {
		out[i] = ring[i*stride : i*stride+len(frames[j])]
		copy(out[i], frames[j])
	}
	return out
}

// BenchmarkWorkerBatch is a worker's per-packet conntrack work as the
// dataplane does it: 64 reused packet contexts (the dataplane's default RX
// batch), frames in a ring; parse, classify and Prefetch, then TrackBatch.
// Checksum verification off (see BenchmarkTrackEstablishedChecksum for its
// cost).
func BenchmarkWorkerBatch(b *testing.B) {
	for _, n := range []int{1, 100_000, 1_000_000} {
		b.Run(flowsName(n), func(b *testing.B) { benchWorker(b, n, true) })
	}
}

// BenchmarkWorkerParseClassify is BenchmarkWorkerBatch without the tracking:
// the difference between the two is the table lookup and TCP update.
func BenchmarkWorkerParseClassify(b *testing.B) {
	for _, n := range []int{1, 100_000, 1_000_000} {
		b.Run(flowsName(n), func(b *testing.B) { benchWorker(b, n, false) })
	}
}

func benchWorker(b *testing.B, n int, track bool) {
	tbl, err := New(benchConfig(n, false))
	if err != nil {
		b.Fatal(err)
	}
	now := int64(1e15)
	frames := ringOf(establish(b, tbl, n, now))
	const batch = 64
	var ctx [batch]Packet
	var ptrs [batch]*Packet
	for i := range ctx {
		ptrs[i] = &ctx[i]
	}
	var out [batch]Result
	s := tbl.Shard(0)
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	next := 0
	for i := 0; i < b.N; i += batch {
		k := min(batch, b.N-i)
		for j := 0; j < k; j++ {
			p := &ctx[j]
			p.Frame = frames[next]
			if next++; next == n {
				next = 0
			}
			if err := packet.Parse(p.Frame, &p.Meta); err != nil {
				b.Fatal(err)
			}
			tbl.Classify(p)
			if track {
				s.Prefetch(p) // as the dataplane's worker does
			}
		}
		if track {
			s.TrackBatch(ptrs[:k], now, out[:])
			for _, r := range out[:k] {
				if r.Verdict != VerdictEstablished {
					b.Fatalf("not established: %s %s", r.Verdict, r.Why)
				}
			}
		}
	}
}
