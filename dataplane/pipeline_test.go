package dataplane

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/gopacket/pcapgo"

	"github.com/ctswitch/ctswitch/conntrack"
)

// newIOLessSwitch builds a switch whose ports have no AF_XDP sockets: the
// workers run the whole per-packet path and hand transmitted frames to a
// sink. That is the path benchmarks and the fuzzer exercise.
func newIOLessSwitch(tb testing.TB, ports, workers int, mutate func(*SwitchConfig)) *Switch {
	tb.Helper()
	cfg := SwitchConfig{Workers: workers, CPUs: []int{0}}
	for i := range ports {
		cfg.Ports = append(cfg.Ports, PortSpec{Name: "p" + string(rune('0'+i)), Interface: "if" + string(rune('0'+i))})
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sw, err := build(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sw.buildWorkers(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sw.ct.Close)
	return sw
}

// feed runs frames received on inPort through the worker as one round:
// ingress (parse, trim, classify), the merge by stamp, the pipeline.
func (w *worker) feed(frames [][]byte, inPort int, now int64) {
	w.obs = w.sw.obs.Load()
	w.now = now
	w.items = w.items[:0]
	for i, f := range frames {
		w.ingress(&w.rxPkts[i%len(w.rxPkts)], f, inPort, now)
	}
	sortItems(w.items)
	w.process(w.items, now)
}

// udp64 is a 60-byte UDP frame of flow i (distinct source ports and, past
// 60000 flows, source addresses) between two MACs.
func udp64(i int, reply bool) []byte {
	a, b := "02:00:00:00:00:01", "02:00:00:00:00:02"
	src := [4]byte{198, 18, 0, byte(1 + i/60000)}
	dst := [4]byte{198, 19, 0, 1}
	sport, dport := uint16(1024+i%60000), uint16(9)
	if reply {
		a, b = b, a
		src, dst = dst, src
		sport, dport = dport, sport
	}
	f := udpFrame(a, b, ip4(src), ip4(dst), sport, dport, uint32(i))
	return append(f, make([]byte, 60-len(f))...) // Ethernet padding: trimmed by the switch
}

func ip4(a [4]byte) string { return netip.AddrFrom4(a).String() }

func TestIOLessForwarding(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	var out []int
	w.sink = func(port int, frame []byte) {
		out = append(out, port)
		if len(frame) != 46 {
			t.Errorf("sent %d bytes, want the frame trimmed to its IP length (46)", len(frame))
		}
	}
	now := Now()
	w.feed([][]byte{udp64(0, false)}, 0, now) // unknown destination: flooded to p1
	w.feed([][]byte{udp64(0, true)}, 1, now)  // learned: to p0
	w.feed([][]byte{udp64(0, false)}, 0, now) // learned: to p1
	if len(out) != 3 || out[0] != 1 || out[1] != 0 || out[2] != 1 {
		t.Fatalf("output ports %v, want [1 0 1]", out)
	}
	es, err := sw.ct.List(t.Context(), conntrack.Filter{}, now)
	if err != nil || len(es) != 1 || es[0].State != conntrack.Replied {
		t.Fatalf("conntrack: %+v %v", es, err)
	}
	// A frame back out of the port its destination lives on: hairpin.
	w.feed([][]byte{udp64(0, true)}, 0, now)
	if got := w.ctr.drops[DropHairpin].load(); got != 1 {
		t.Errorf("hairpin drops %d, want 1", got)
	}
}

func TestIOLessAllocs(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	now := Now()
	req, rep := [][]byte{udp64(7, false)}, [][]byte{udp64(7, true)}
	w.feed(req, 0, now)
	w.feed(rep, 1, now)
	if n := testing.AllocsPerRun(1000, func() { w.feed(req, 0, now) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

// BenchmarkPipeline is the whole per-packet path without I/O: parse, trim,
// classify, merge, conntrack, MAC learning and lookup, policy, output, for
// 64-byte UDP frames of established flows, in batches of 64.
func BenchmarkPipeline(b *testing.B) {
	for _, flows := range []int{1, 10000} {
		b.Run("flows="+strconv.Itoa(flows), func(b *testing.B) {
			sw := newIOLessSwitch(b, 2, 1, nil)
			w := sw.workers[0]
			w.sink = func(int, []byte) {}
			now := Now()
			var frames [][]byte
			for i := range flows {
				w.feed([][]byte{udp64(i, false)}, 0, now)
				w.feed([][]byte{udp64(i, true)}, 1, now)
				frames = append(frames, udp64(i, false))
			}
			batches := make([][][]byte, 0)
			for i := 0; i < max(flows, 64); i += 64 {
				batch := make([][]byte, 64)
				for j := range batch {
					batch[j] = frames[(i+j)%flows]
				}
				batches = append(batches, batch)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				w.feed(batches[(i/64)%len(batches)], 0, now)
			}
		})
	}
}

// FuzzPipeline feeds arbitrary frames, as if received on a port, through
// a two-port switch: it must never panic, and every frame must end either
// sent (once: with two ports a flood has one copy) or counted as a drop.
// The seeds are the frames of the example captures.
func FuzzPipeline(f *testing.F) {
	for _, name := range []string{"session.pcap", "migration.pcap"} {
		fh, err := os.Open(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			f.Fatal(err)
		}
		var seed []byte
		for n := 0; ; n++ {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			// Encoding: per frame, the input port (1 byte), a length (2 bytes), the bytes.
			seed = append(seed, byte(n%2))
			seed = binary.BigEndian.AppendUint16(seed, uint16(len(data)))
			seed = append(seed, data...)
			if n%8 == 7 {
				f.Add(seed)
				seed = nil
			}
		}
		if len(seed) > 0 {
			f.Add(seed)
		}
		fh.Close()
	}
	small := func(c *SwitchConfig) {
		c.Conntrack = conntrack.DefaultConfig()
		c.Conntrack.MaxConns = 256
		c.MAC.Capacity = 256
		c.ReorderSlots = 16
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sw := newIOLessSwitch(t, 2, 1, small)
		w := sw.workers[0]
		sent := 0
		w.sink = func(int, []byte) { sent++ }
		frames := 0
		now := Now()
		for len(in) >= 3 {
			port := int(in[0] % 2)
			n := int(binary.BigEndian.Uint16(in[1:3]))
			in = in[3:]
			n = min(n, len(in))
			frame := in[:n:n]
			in = in[n:]
			w.feed([][]byte{frame}, port, now)
			frames++
			now += 1e6
		}
		var dropped uint64
		for d := range w.ctr.drops {
			dropped += w.ctr.drops[d].load()
		}
		// A fragment is held until its datagram completes; the datagram
		// goes out once (in pieces again if too big for the port).
		held := w.ctr.fragHeld.load()
		out := uint64(sent) - w.ctr.refragments.load() + w.ctr.refragmented.load()
		if out+dropped+held != uint64(frames) {
			t.Fatalf("%d frames: %d sent + %d dropped + %d fragments held", frames, out, dropped, held)
		}
	})
}
