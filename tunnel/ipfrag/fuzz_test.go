package ipfrag

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// fuzzBase is an unfragmented packet the fuzz program cuts fragments from.
type fuzzBase struct {
	frame  []byte
	v6     bool
	unfrag int // IPv6 unfragmentable part
}

func fuzzBases(tb testing.TB) []fuzzBase {
	ip := ip4(layers.IPv4Option{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}},
		layers.IPv4Option{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}})
	return []fuzzBase{
		{frame: udp4(tb, nil, ip4(), 3000)},
		{frame: udp4(tb, []uint16{10, 20}, ip, 1800)},
		{frame: udp6(tb, nil, 3000), v6: true, unfrag: 40},
		{frame: udp6(tb, []uint16{7}, 2500, v6exts()...), v6: true, unfrag: 80},
	}
}

// Fuzz program opcodes (the low 2 bits of an op byte; the other 6 bits
// are its argument a):
//
//	0 raw:   Add the next (2-byte length) bytes as a frame
//	1 cut:   Add a fragment of base a%4: 2-byte offset, 2-byte length,
//	         1 flag byte (bit 0 MF, bits 1-2 id delta)
//	2 time:  advance the clock a*50 ms; a >= 32: also Expire
//	3 split: fragment base a%4 with the fragmenter at an mtu from the next
//	         byte, and Add the fragments in an order from the byte after
const (
	opRaw = iota
	opCut
	opTime
	opSplit
)

func FuzzReassembler(f *testing.F) {
	bases := fuzzBases(f)
	for _, s := range reassemblerSeeds(f) {
		f.Add(s.prog)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		runProgram(t, prog, bases)
	})
}

// fuzzReassembler is reused by every program (after a reset): a fresh one
// costs ~400 KiB of zeroed memory, which would dominate each run. Fuzz
// inputs run one at a time in a worker process.
var (
	fuzzReassembler = NewReassembler(ReassemblerConfig{MaxDatagrams: 4, Timeout: time.Second})
	fuzzScratch     [22 + 2400]byte // the largest mtu opSplit uses is 2300
)

// reset returns r to its state after NewReassembler (but for its hash
// seed and free-slot order, which change no result).
func (r *Reassembler) reset() {
	for i := range r.slots {
		if r.slots[i].used {
			r.release(int32(i))
		}
	}
	r.stats = Stats{}
}

// runProgram runs a fuzz program against a fresh Reassembler, checking
// every result, and returns how many datagrams completed.
func runProgram(t *testing.T, prog []byte, bases []fuzzBase) (completed int) {
	r := fuzzReassembler
	r.reset()
	now := int64(0)
	raw := false // a raw frame may forge any datagram: skip the data check
	scratch := fuzzScratch[:]
	var cut []byte
	check := func(frame []byte) {
		in := append([]byte(nil), frame...)
		out, res := r.Add(frame, now)
		if !bytes.Equal(in, frame) {
			t.Fatal("Add modified its input")
		}
		if res.Status > Dropped || res.Reason >= numReasons || (res.Status == Complete) != (out != nil) ||
			res.Status == Dropped && res.Reason == None {
			t.Fatalf("result %+v with %d bytes", res, len(out))
		}
		if s := r.Stats(); s.Pending < 0 || s.Pending > 4 {
			t.Fatalf("pending %d", s.Pending)
		}
		if out != nil {
			completed++
			checkDatagram(t, out, bases, raw)
		}
	}
	for len(prog) > 0 {
		op, a := prog[0]&3, int(prog[0]>>2)
		prog = prog[1:]
		switch op {
		case opRaw:
			if len(prog) < 2 {
				return
			}
			n := min(int(binary.BigEndian.Uint16(prog)), len(prog)-2)
			raw = true
			check(prog[2 : 2+n])
			prog = prog[2+n:]
		case opCut:
			if len(prog) < 5 {
				return
			}
			b := bases[a%len(bases)]
			off := int(binary.BigEndian.Uint16(prog[0:2])) &^ 7
			n := int(binary.BigEndian.Uint16(prog[2:4]))
			mf, id := prog[4]&1 != 0, uint32(prog[4]>>1&3)
			prog = prog[5:]
			if b.v6 {
				cut = mkFrag6(cut, b.frame, b.unfrag, off, n, mf, 100+id)
			} else {
				cut = mkFrag4(cut, b.frame, off, n, mf, uint16(100+id))
			}
			check(cut)
		case opTime:
			now += int64(a%32) * int64(50*time.Millisecond)
			if a >= 32 {
				r.Expire(now)
			}
		case opSplit:
			if len(prog) < 2 {
				return
			}
			b := bases[a%len(bases)]
			var frags [][]byte
			keep := func(x []byte) error { frags = append(frags, append([]byte(nil), x...)); return nil }
			var err error
			if b.v6 {
				err = FragmentIPv6(b.frame, 1280+int(prog[0])*4, 100+uint32(a>>2&3), scratch, keep)
			} else {
				err = FragmentIPv4(b.frame, 68+int(prog[0])*8, scratch, keep)
			}
			if err != nil {
				t.Fatalf("fragmenting a base: %v", err)
			}
			for _, i := range permutation(len(frags), prog[1]) {
				check(frags[i])
			}
			prog = prog[2:]
		}
	}
	return completed
}

// permutation is a deterministic order of n items chosen by seed: in
// order, reversed, or interleaved with a stride.
func permutation(n int, seed byte) []int {
	p := make([]int, 0, n)
	switch seed % 3 {
	case 0:
		for i := range n {
			p = append(p, i)
		}
	case 1:
		for i := n - 1; i >= 0; i-- {
			p = append(p, i)
		}
	default:
		stride := 1 + int(seed)%max(n, 1)
		for s := 0; s < stride; s++ {
			for i := s; i < n; i += stride {
				p = append(p, i)
			}
		}
	}
	return p
}

// checkDatagram checks a completed datagram: a well-formed frame with an
// unfragmented IP packet whose lengths match the frame; unless raw frames
// were added, the data of one of the bases (a prefix, since a forged last
// fragment may end early) behind that base's headers.
func checkDatagram(t *testing.T, out []byte, bases []fuzzBase, raw bool) {
	t.Helper()
	l, ok := walkL2(out)
	if !ok {
		t.Fatal("completed frame: no L2 header")
	}
	ip := out[l.l3:]
	switch l.et {
	case packet.EtherTypeIPv4:
		h := packet.IPv4(ip)
		if len(ip) < 20 || int(h.TotalLength()) != len(ip) || h.MF() || h.FragmentOffset() != 0 ||
			!h.ValidHeaderChecksum() || h.HeaderLen() < 20 || h.HeaderLen() > len(ip) {
			t.Fatalf("completed IPv4 datagram malformed: % x", ip[:min(len(ip), 24)])
		}
	case packet.EtherTypeIPv6:
		if len(ip) < 40 || int(packet.IPv6(ip).PayloadLength()) != len(ip)-40 {
			t.Fatalf("completed IPv6 datagram malformed: % x", ip[:min(len(ip), 40)])
		}
		var m packet.Meta
		if err := packet.Parse(out, &m); err == nil && m.FragHdrOff != 0 && !raw {
			t.Fatal("completed IPv6 datagram still has its fragment header")
		}
	default:
		t.Fatalf("completed frame with EtherType %#x", l.et)
	}
	if p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default); p.Layer(layers.LayerTypeEthernet) == nil {
		t.Fatal("gopacket cannot decode the completed frame")
	}
	if raw {
		return
	}
	for _, b := range bases {
		bl, _ := walkL2(b.frame)
		hl := b.unfrag
		if !b.v6 {
			hl = packet.IPv4(b.frame[bl.l3:]).HeaderLen()
		}
		hdr := bl.l3 + hl
		if len(out) < hdr || len(out) > len(b.frame) || !bytes.Equal(out[hdr:], b.frame[hdr:len(out)]) {
			continue
		}
		// Headers equal too but for lengths, fragment fields, checksum.
		o, w := append([]byte(nil), out[:hdr]...), append([]byte(nil), b.frame[:hdr]...)
		for _, x := range [][]byte{o, w} {
			if b.v6 {
				x[bl.l3+4], x[bl.l3+5] = 0, 0
			} else {
				copy(x[bl.l3+2:bl.l3+4], []byte{0, 0})
				copy(x[bl.l3+4:bl.l3+8], []byte{0, 0, 0, 0})
				copy(x[bl.l3+10:bl.l3+12], []byte{0, 0})
			}
		}
		if bytes.Equal(o, w) {
			return
		}
	}
	t.Fatalf("completed datagram (%d bytes) is no base's headers and data", len(out))
}

type fuzzSeed struct {
	name string
	prog []byte
}

func cutOp(base int, off, n int, mf bool, id uint8) []byte {
	flags := id << 1
	if mf {
		flags |= 1
	}
	return []byte{byte(base<<2 | opCut), byte(off >> 8), byte(off), byte(n >> 8), byte(n), flags}
}

func reassemblerSeeds(tb testing.TB) []fuzzSeed {
	cat := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }
	rawOp := func(frame []byte) []byte {
		return append([]byte{opRaw, byte(len(frame) >> 8), byte(len(frame))}, frame...)
	}
	bases := fuzzBases(tb)
	f4 := frag4(tb, bases[0].frame, 1000)
	return []fuzzSeed{
		{"split_v4_inorder", []byte{0<<2 | opSplit, 60, 0}},
		{"split_v4_reverse_mtu68", []byte{0<<2 | opSplit, 0, 1}},
		{"split_v4_options_stride", []byte{1<<2 | opSplit, 50, 5}},
		{"split_v6", []byte{2<<2 | opSplit, 10, 0, 3<<2 | opSplit, 0, 4}},
		{"cut_two", cat(cutOp(0, 0, 1480, true, 0), cutOp(0, 1480, 1500, false, 0))},
		{"cut_overlap", cat(cutOp(2, 0, 1000, true, 1), cutOp(2, 992, 1000, false, 1))},
		{"cut_dup", cat(cutOp(3, 0, 1200, true, 2), cutOp(3, 0, 1200, true, 2), cutOp(3, 1200, 2000, false, 2))},
		{"timeout", cat(cutOp(0, 0, 1480, true, 0), []byte{20<<2 | opTime}, cutOp(0, 1480, 1500, false, 0))},
		{"expire", cat(cutOp(1, 0, 800, true, 0), []byte{63<<2 | opTime})},
		{"table_full", cat(cutOp(0, 0, 8, true, 0), cutOp(0, 0, 8, true, 1), cutOp(0, 0, 8, true, 2),
			cutOp(0, 0, 8, true, 3), cutOp(2, 0, 8, true, 0))},
		{"raw_fragments", cat(rawOp(f4[3]), rawOp(f4[1]), rawOp(f4[0]), rawOp(f4[2]))},
		{"raw_junk", rawOp([]byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0, 0, 20})},
	}
}

// TestFuzzSeeds runs the seed programs: the ones meant to complete a
// datagram do, so the fuzzer starts from the interesting paths.
func TestFuzzSeeds(t *testing.T) {
	bases := fuzzBases(t)
	want := map[string]int{"split_v4_inorder": 1, "split_v4_reverse_mtu68": 1, "split_v4_options_stride": 1,
		"split_v6": 2, "cut_two": 1, "cut_dup": 1, "raw_fragments": 1}
	for _, s := range reassemblerSeeds(t) {
		if got := runProgram(t, s.prog, bases); got != want[s.name] {
			t.Errorf("seed %s: %d datagrams completed, want %d", s.name, got, want[s.name])
		}
	}
}
