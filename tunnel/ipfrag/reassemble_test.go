package ipfrag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket/layers"
)

// mkFrag4 builds an IPv4 fragment of the unfragmented packet in base: its
// L2 and IP header with data base[off:off+n] (clipped), MF and id as given.
func mkFrag4(dst, base []byte, off, n int, mf bool, id uint16) []byte {
	l, _ := walkL2(base)
	ip := packet.IPv4(base[l.l3:])
	hl := ip.HeaderLen()
	payload := ip.Payload()
	lo, hi := min(off, len(payload)), min(off+n, len(payload))
	dst = append(dst[:0], base[:l.l3+hl]...)
	dst = append(dst, payload[lo:hi]...)
	fh := packet.IPv4(dst[l.l3:])
	fh.SetTotalLength(uint16(hl + hi - lo))
	fh.SetFlagsFragment(false, mf, uint16(off))
	fh.SetID(id)
	fh.SetChecksum()
	return dst
}

// mkFrag6 builds an IPv6 fragment of the unfragmented packet in base,
// whose unfragmentable part is the first unfrag bytes of the IP packet.
func mkFrag6(dst, base []byte, unfrag, off, n int, mf bool, id uint32) []byte {
	l, _ := walkL2(base)
	ip := base[l.l3:]
	data := ip[unfrag:]
	lo, hi := min(off, len(data)), min(off+n, len(data))
	dst = append(dst[:0], base[:l.l3+unfrag]...)
	// Find and redirect the next-header byte that names the first
	// fragmentable header.
	nhOff := 6
	for pos := 40; pos < unfrag; {
		nhOff = pos
		pos += (int(ip[pos+1]) + 1) * 8
	}
	next := dst[l.l3+nhOff]
	dst[l.l3+nhOff] = packet.ProtoIPv6Frag
	dst = append(dst, next, 0, 0, 0, 0, 0, 0, 0)
	fh := packet.IPv6Fragment(dst[l.l3+unfrag:])
	fh.SetFragment(uint16(off), mf)
	fh.SetID(id)
	dst = append(dst, data[lo:hi]...)
	packet.IPv6(dst[l.l3:]).SetPayloadLength(uint16(len(dst) - l.l3 - 40))
	return dst
}

func add(t *testing.T, r *Reassembler, f []byte, now int64, want Status, why Reason) []byte {
	t.Helper()
	out, res := r.Add(f, now)
	if res.Status != want || res.Reason != why {
		t.Fatalf("Add: %v/%v, want %v/%v", res.Status, res.Reason, want, why)
	}
	if (res.Status == Complete) != (out != nil) {
		t.Fatalf("Add: status %v with %d-byte output", res.Status, len(out))
	}
	return out
}

func TestReassembleOutOfOrder(t *testing.T) {
	base := udp4(t, []uint16{42}, ip4(), 4000)
	frags := frag4(t, base, 1000)
	r := NewReassembler(ReassemblerConfig{})
	for seed := range uint64(20) {
		order := shuffled(frags, seed)
		if seed == 0 { // reversed: the last fragment first
			order = append([][]byte(nil), frags...)
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		if got := addAll(t, r, order, int64(seed)); !bytes.Equal(got, base) {
			t.Fatalf("order %d: not the original", seed)
		}
	}
	if s := r.Stats(); s.Completed != 20 || s.Pending != 0 || s.Fragments != uint64(20*len(frags)) {
		t.Errorf("stats %+v", s)
	}
}

// TestReassembleInterleaved: several datagrams, v4 and v6, at once.
func TestReassembleInterleaved(t *testing.T) {
	var bases [][]byte
	var all [][]byte
	for i := range 6 {
		var b []byte
		var fs [][]byte
		if i%2 == 0 {
			ip := ip4()
			ip.Id = uint16(i)
			b = udp4(t, nil, ip, 2000+i*100)
			fs = frag4(t, b, 576)
		} else {
			b = udp6(t, []uint16{uint16(i)}, 3000+i*100, hbhExt())
			fs = frag6(t, b, 1280, uint32(i))
		}
		bases = append(bases, b)
		all = append(all, fs...)
	}
	r := NewReassembler(ReassemblerConfig{MaxDatagrams: 6})
	done := 0
	for _, f := range shuffled(all, 1) {
		out, res := r.Add(f, 0)
		switch res.Status {
		case Complete:
			found := false
			for _, b := range bases {
				found = found || bytes.Equal(out, b)
			}
			if !found {
				t.Fatal("completed datagram matches no original")
			}
			done++
		case Dropped:
			t.Fatalf("dropped: %v", res.Reason)
		}
	}
	if done != 6 {
		t.Errorf("%d datagrams completed, want 6", done)
	}
}

// TestReassembleDuplicates: an exact duplicate is ignored and the datagram
// kept (RFC 8200 4.5 allows it); a "duplicate" with other data is an
// overlap.
func TestReassembleDuplicates(t *testing.T) {
	base := udp4(t, nil, ip4(), 3000)
	frags := frag4(t, base, 1500)
	r := NewReassembler(ReassemblerConfig{})
	add(t, r, frags[1], 0, Held, None)
	add(t, r, frags[1], 0, Held, Duplicate)
	add(t, r, frags[0], 0, Held, None)
	add(t, r, frags[0], 0, Held, Duplicate)
	add(t, r, frags[1], 0, Held, Duplicate)
	if got := add(t, r, frags[2], 0, Complete, None); !bytes.Equal(got, base) {
		t.Fatal("not the original")
	}
	// The last fragment duplicated, v6.
	b6 := udp6(t, nil, 3000)
	f6 := frag6(t, b6, 1280, 5)
	add(t, r, f6[2], 0, Held, None)
	add(t, r, f6[2], 0, Held, Duplicate)
	add(t, r, f6[0], 0, Held, None)
	if got := add(t, r, f6[1], 0, Complete, None); !bytes.Equal(got, b6) {
		t.Fatal("v6: not the original")
	}
	// Same range, different data: overlap.
	evil := mkFrag4(nil, base, 1480, 1480, true, 0x4242)
	evil[len(evil)-1] ^= 0xff
	add(t, r, frags[1], 0, Held, None)
	add(t, r, evil, 0, Dropped, Overlap)
	if s := r.Stats(); s.Reasons[Duplicate] != 4 || s.Reasons[Overlap] != 1 || s.Discarded != 1 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestReassembleOverlaps(t *testing.T) {
	base := udp4(t, []uint16{1, 2}, ip4(), 3000)
	b6 := udp6(t, nil, 3000, hbhExt())
	for _, tc := range []struct {
		name  string
		first [3]int // off, n, mf
		next  [3]int
	}{
		{"inside", [3]int{0, 1600, 1}, [3]int{800, 400, 1}},
		{"tail", [3]int{0, 1600, 1}, [3]int{1592, 800, 1}},
		{"head", [3]int{800, 800, 1}, [3]int{0, 808, 1}},
		{"covering", [3]int{800, 800, 1}, [3]int{0, 2400, 1}},
		{"same_start_longer", [3]int{800, 800, 1}, [3]int{800, 1600, 1}},
		{"same_range_other_mf", [3]int{800, 800, 1}, [3]int{800, 800, 0}}, // not an exact duplicate
		{"into_the_last", [3]int{2000, 900, 0}, [3]int{2888, 8, 1}},
	} {
		for _, v6 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s_v6_%v", tc.name, v6), func(t *testing.T) {
				mk := func(s [3]int) []byte {
					if v6 {
						return mkFrag6(nil, b6, 48, s[0], s[1], s[2] == 1, 9)
					}
					return mkFrag4(nil, base, s[0], s[1], s[2] == 1, 9)
				}
				r := NewReassembler(ReassemblerConfig{})
				add(t, r, mk(tc.first), 0, Held, None)
				_, res := r.Add(mk(tc.next), 0)
				if res.Status != Dropped || res.Reason != Overlap && res.Reason != BadLength {
					t.Fatalf("%v/%v, want dropped", res.Status, res.Reason)
				}
				if s := r.Stats(); s.Pending != 0 || s.Discarded != 1 {
					t.Errorf("datagram not discarded: %+v", s)
				}
				// The first fragment again starts a new datagram.
				add(t, r, mk(tc.first), 0, Held, None)
			})
		}
	}
}

func TestReassembleBadLengths(t *testing.T) {
	base := udp4(t, nil, ip4(), 3000)
	b6 := udp6(t, nil, 3000)
	f4 := func(off, n int, mf bool) []byte { return mkFrag4(nil, base, off, n, mf, 1) }
	f6 := func(off, n int, mf bool) []byte { return mkFrag6(nil, b6, 40, off, n, mf, 1) }
	for _, mk := range []func(int, int, bool) []byte{f4, f6} {
		r := NewReassembler(ReassemblerConfig{})
		// Fragment-local: only the fragment is refused.
		add(t, r, mk(0, 1000, true), 0, Held, None)
		add(t, r, mk(1000, 1001, true), 0, Dropped, BadLength) // not a multiple of 8
		add(t, r, mk(1000, 0, true), 0, Dropped, BadLength)    // empty
		if r.Stats().Pending != 1 {
			t.Fatal("a fragment-local error discarded the datagram")
		}
		// Inconsistent with the datagram: discarded.
		add(t, r, mk(2000, 500, false), 0, Held, None)         // total 2500
		add(t, r, mk(2400, 200, true), 0, Dropped, BadLength)  // beyond the end
		add(t, r, mk(0, 1000, true), 0, Held, None)            // a new datagram
		add(t, r, mk(2000, 500, false), 0, Held, None)         // total 2500
		add(t, r, mk(2000, 600, false), 0, Dropped, BadLength) // another total
		add(t, r, mk(1000, 1504, true), 0, Held, None)         // new datagram again
		add(t, r, mk(1000, 500, false), 0, Dropped, BadLength) // last ends before data held
		add(t, r, mk(1000, 1504, true), 0, Held, None)         // new datagram again
		add(t, r, mk(2504, 400, false), 0, Held, None)         // total 2904
		add(t, r, mk(2896, 8, true), 0, Dropped, BadLength)    // MF, yet ends at the total
		if s := r.Stats(); s.Reasons[BadLength] != 6 || s.Pending != 0 {
			t.Errorf("stats %+v", s)
		}
	}
}

func TestReassembleRefusals(t *testing.T) {
	base := udp4(t, nil, ip4(), 3000)
	frag := mkFrag4(nil, base, 0, 1480, true, 3)
	badSum := append([]byte(nil), frag...)
	badSum[14+8]-- // TTL: the checksum no longer matches
	ihl := append([]byte(nil), frag...)
	ihl[14] = 0x44
	tlShort := append([]byte(nil), frag...)
	binary.BigEndian.PutUint16(tlShort[16:], 10)
	tlShort[24], tlShort[25] = 0, 0
	packet.IPv4(tlShort[14:]).SetChecksum()
	tooBig := setOff(mkFrag4(nil, base, 0, 16, true, 3), 65528)
	tooBig6 := setOff(mkFrag6(nil, udp6(t, nil, 1500), 40, 0, 16, true, 3), 65528)
	v6in4 := append([]byte(nil), frag...)
	v6in4[14] = 0x65
	notFrag6 := udp6(t, nil, 1500, hbhExt(), ext6{51, []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}) // AH: no fragment header
	tooManyExt := udp6(t, nil, 1500, hbhExt(), dstExt(1), dstExt(1), dstExt(1), dstExt(1), dstExt(1), dstExt(1), dstExt(1), dstExt(1))
	bigHdr := udp6(t, nil, 3000, ext6{0, make([]byte, 1096)})
	bigHdr[14+40+1] = 1096/8 - 1
	bigHdrFrag := mkFrag6(nil, bigHdr, 40+1096, 0, 1000, true, 1)
	bigHdrLater := mkFrag6(nil, bigHdr, 40+1096, 1000, 1000, true, 1)
	cutFragHdr := udp6(t, nil, 1500, ext6{44, make([]byte, 8)})
	binary.BigEndian.PutUint16(cutFragHdr[18:], 4)
	cutFragHdr = cutFragHdr[:14+44]
	arp := append(make([]byte, 12), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)

	for _, tc := range []struct {
		name  string
		frame []byte
		want  Reason
	}{
		{"unfragmented_v4", base, NotFragment},
		{"unfragmented_v6", udp6(t, nil, 1500), NotFragment},
		{"ext_but_no_fragment_header", notFrag6, NotFragment},
		{"too_many_ext", tooManyExt, NotFragment},
		{"arp", arp, NotFragment},
		{"version_6_in_v4", v6in4, NotFragment},
		{"short_l2", frag[:10], Truncated},
		{"short_v4", frag[:30], Truncated},
		{"short_total", frag[:500], Truncated},
		{"short_v6", udp6(t, nil, 100)[:50], Truncated},
		{"cut_fragment_header", cutFragHdr, Truncated},
		{"bad_checksum", badSum, BadChecksum},
		{"bad_ihl", ihl, BadLength},
		{"total_below_header", tlShort, BadLength},
		{"too_big_v4", tooBig, TooBig},
		{"too_big_v6", tooBig6, TooBig},
		{"headers_beyond_room", bigHdrFrag, TooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReassembler(ReassemblerConfig{})
			in := append([]byte(nil), tc.frame...)
			out, res := r.Add(in, 0)
			if out != nil || res.Status != Dropped || res.Reason != tc.want {
				t.Fatalf("%v/%v, want dropped/%v", res.Status, res.Reason, tc.want)
			}
			if !bytes.Equal(in, tc.frame) {
				t.Error("Add modified its input")
			}
			if s := r.Stats(); s.Reasons[tc.want] != 1 || s.Pending != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
	// A datagram that can never complete is discarded with its fragments.
	r := NewReassembler(ReassemblerConfig{})
	add(t, r, bigHdrLater, 0, Held, None)
	add(t, r, bigHdrFrag, 0, Dropped, TooBig)
	add(t, r, mkFrag4(nil, base, 0, 16, true, 3), 0, Held, None)
	add(t, r, tooBig, 0, Dropped, TooBig)
	if s := r.Stats(); s.Pending != 0 || s.Discarded != 2 {
		t.Errorf("too-big datagrams not discarded: %+v", s)
	}
}

// setOff moves a fragment built by mkFrag4/mkFrag6 to offset off.
func setOff(f []byte, off int) []byte {
	l, _ := walkL2(f)
	if l.et == packet.EtherTypeIPv4 {
		ip := packet.IPv4(f[l.l3:])
		ip.SetFlagsFragment(false, ip.MF(), uint16(off))
		ip.SetChecksum()
		return f
	}
	var m packet.Meta
	_ = packet.Parse(f, &m)
	fh := packet.IPv6Fragment(f[m.FragHdrOff:])
	fh.SetFragment(uint16(off), fh.More())
	return f
}

// rawFrag builds a fragment from hdr (L2 + the IP header of an
// unfragmented packet, IPv6 without extension headers) with any data.
func rawFrag(hdr []byte, off int, data []byte, mf bool, id uint32) []byte {
	l, _ := walkL2(hdr)
	f := append([]byte(nil), hdr...)
	if l.et == packet.EtherTypeIPv4 {
		f = append(f, data...)
		ip := packet.IPv4(f[l.l3:])
		ip.SetTotalLength(uint16(len(f) - l.l3))
		ip.SetFlagsFragment(false, mf, uint16(off))
		ip.SetID(uint16(id))
		ip.SetChecksum()
		return f
	}
	f = f[:l.l3+40]
	next := f[l.l3+6]
	f[l.l3+6] = packet.ProtoIPv6Frag
	f = append(f, next, 0, 0, 0, 0, 0, 0, 0)
	fh := packet.IPv6Fragment(f[l.l3+40:])
	fh.SetFragment(uint16(off), mf)
	fh.SetID(id)
	f = append(f, data...)
	packet.IPv6(f[l.l3:]).SetPayloadLength(uint16(len(f) - l.l3 - 40))
	return f
}

// TestReassembleTooBigAtCompletion: fragments that each fit, but whose
// first fragment's larger header makes the datagram exceed 65535.
func TestReassembleTooBigAtCompletion(t *testing.T) {
	var opts []layers.IPv4Option
	for range 10 {
		opts = append(opts, layers.IPv4Option{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}})
	}
	big := udp4(t, nil, ip4(opts...), 100) // 60-byte header
	plain := udp4(t, nil, ip4(), 100)
	r := NewReassembler(ReassemblerConfig{})
	add(t, r, rawFrag(big[:14+60], 0, pattern(65472, 1), true, 8), 0, Held, None)
	add(t, r, rawFrag(plain[:14+20], 65472, pattern(16, 2), false, 8), 0, Dropped, TooBig)

	// IPv6: a 1000-byte hop-by-hop header in the first fragment only.
	b6 := udp6(t, nil, 1200, ext6{0, make([]byte, 1000)})
	b6[14+40+1] = 1000/8 - 1
	plain6 := udp6(t, nil, 100)
	add(t, r, mkFrag6(nil, b6, 1040, 0, 96, true, 8), 0, Held, None)
	add(t, r, rawFrag(plain6[:54], 96, pattern(64904, 3), true, 8), 0, Held, None)
	add(t, r, rawFrag(plain6[:54], 65000, pattern(520, 4), false, 8), 0, Dropped, TooBig)
	if s := r.Stats(); s.Reasons[TooBig] != 2 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestReassembleAtomicFragment(t *testing.T) {
	base := udp6(t, []uint16{8}, 1400, hbhExt(), dstExt(1), routingExt())
	atomic := mkFrag6(nil, base, 80, 0, 2000, false, 77)
	r := NewReassembler(ReassemblerConfig{})
	if got := add(t, r, atomic, 0, Complete, None); !bytes.Equal(got, base) {
		t.Fatal("atomic fragment: not the packet without its fragment header")
	}
	// Atomic fragments are not held, so HeaderRoom does not limit them.
	big := udp6(t, nil, 3000, ext6{0, make([]byte, 1096)})
	big[14+40+1] = 1096/8 - 1
	if got := add(t, r, mkFrag6(nil, big, 40+1096, 0, 4000, false, 1), 0, Complete, None); !bytes.Equal(got, big) {
		t.Fatal("atomic fragment with large headers: not the packet")
	}
	if s := r.Stats(); s.Atomic != 2 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestReassembleIPv6NextHeaderOfFirst: only the offset-0 fragment's next
// header counts (RFC 8200 4.5).
func TestReassembleIPv6NextHeaderOfFirst(t *testing.T) {
	base := udp6(t, nil, 3000, hbhExt())
	frags := frag6(t, base, 1280, 3)
	m := meta(t, frags[1])
	frags[1][m.FragHdrOff] = 59 // no next header
	r := NewReassembler(ReassemblerConfig{})
	if got := addAll(t, r, frags, 0); !bytes.Equal(got, base) {
		t.Fatal("not the original")
	}
}

// TestReassembleKeys: equal ids on other VLANs, protocols (IPv4) or
// addresses are separate datagrams.
func TestReassembleKeys(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{})
	mk := func(vlans []uint16, proto uint8, src byte) [][]byte {
		ip := ip4()
		ip.SrcIP = []byte{198, 18, 0, src}
		f := udp4(t, vlans, ip, 2000)
		l, _ := walkL2(f)
		f[l.l3+9] = proto
		packet.IPv4(f[l.l3:]).SetChecksum()
		return frag4(t, f, 1500)
	}
	sets := [][][]byte{mk(nil, 17, 1), mk([]uint16{1}, 17, 1), mk([]uint16{2}, 17, 1), mk([]uint16{1, 3}, 17, 1),
		mk(nil, 6, 1), mk(nil, 17, 2)}
	for _, s := range sets {
		add(t, r, s[0], 0, Held, None)
	}
	for _, s := range sets {
		add(t, r, s[1], 0, Complete, None)
	}
}

func TestReassembleTimeout(t *testing.T) {
	base := udp4(t, nil, ip4(), 3000)
	frags := frag4(t, base, 1500)
	r := NewReassembler(ReassemblerConfig{Timeout: time.Second})
	sec := int64(time.Second)
	add(t, r, frags[0], 0, Held, None)
	add(t, r, frags[1], sec-1, Held, None)
	// The deadline counts from the first fragment: at 1 s it is gone, and
	// this fragment starts a new datagram.
	add(t, r, frags[2], sec, Held, None)
	if s := r.Stats(); s.Reasons[Timeout] != 1 || s.Discarded != 2 || s.Pending != 1 {
		t.Errorf("stats %+v", s)
	}
	if n := r.Expire(2*sec - 1); n != 0 {
		t.Errorf("Expire before the deadline: %d", n)
	}
	if n := r.Expire(2 * sec); n != 1 {
		t.Errorf("Expire: %d, want 1", n)
	}
	if s := r.Stats(); s.Reasons[Timeout] != 2 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
	// Defaults.
	r = NewReassembler(ReassemblerConfig{})
	if r.timeout != int64(DefaultTimeout) || len(r.slots) != DefaultMaxDatagrams {
		t.Errorf("defaults: timeout %v, %d datagrams", time.Duration(r.timeout), len(r.slots))
	}
}

func TestReassembleTableFull(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{MaxDatagrams: 4, Timeout: time.Second})
	base := udp4(t, nil, ip4(), 3000)
	for id := range uint16(4) {
		add(t, r, mkFrag4(nil, base, 0, 1480, true, id), 0, Held, None)
	}
	add(t, r, mkFrag4(nil, base, 0, 1480, true, 4), 0, Dropped, TableFull)
	// Fragments of pending datagrams still get in.
	add(t, r, mkFrag4(nil, base, 1480, 8, true, 2), 0, Held, None)
	// Completing one frees its slot.
	add(t, r, mkFrag4(nil, base, 1488, 1472, false, 2), 0, Complete, None)
	add(t, r, mkFrag4(nil, base, 0, 1480, true, 4), 1, Held, None)
	add(t, r, mkFrag4(nil, base, 0, 1480, true, 5), 1, Dropped, TableFull)
	// Once they expire, new datagrams replace them.
	add(t, r, mkFrag4(nil, base, 0, 1480, true, 5), int64(time.Second), Held, None)
	s := r.Stats()
	if s.Reasons[TableFull] != 2 || s.Reasons[Timeout] != 3 || s.Pending != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestReassembleRandomStream feeds a long random stream of fragments,
// valid and not, of many datagrams: memory stays what New allocated, every
// completed datagram is an original, and the table never overflows.
func TestReassembleRandomStream(t *testing.T) {
	var bases [][]byte
	for i := range 8 {
		if i%2 == 0 {
			ip := ip4()
			ip.Id = uint16(i)
			bases = append(bases, udp4(t, []uint16{uint16(i)}, ip, 1000+i*700))
		} else {
			bases = append(bases, udp6(t, nil, 1500+i*700, hbhExt()))
		}
	}
	// Proper fragments of each base, which the stream mixes with junk.
	var proper [][][]byte
	for k, b := range bases {
		if k%2 == 0 {
			proper = append(proper, append(frag4(t, b, 576), frag4(t, b, 1000)...))
		} else {
			// The v6 bases share addresses: distinct ids keep them apart.
			id := uint32(k * 10)
			proper = append(proper, append(frag6(t, b, 1280, id+1), frag6(t, b, 1400, id+2)...))
		}
	}
	r := NewReassembler(ReassemblerConfig{MaxDatagrams: 16, Timeout: 50 * time.Millisecond})
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 70000)
	now := int64(0)
	completed := 0
	step := func() {
		k := rng.IntN(len(bases))
		b := bases[k]
		var f []byte
		if rng.IntN(3) != 0 {
			f = proper[k][rng.IntN(len(proper[k]))]
		} else {
			off := rng.IntN(6000) &^ 7
			n := 8 * (1 + rng.IntN(200))
			if rng.IntN(10) == 0 {
				n += rng.IntN(8)
			}
			mf := rng.IntN(4) != 0
			id := uint32(rng.IntN(3))
			if k%2 == 0 {
				f = mkFrag4(buf, b, off, n, mf, uint16(0x4242+id))
			} else {
				f = mkFrag6(buf, b, 48, off, n, mf, uint32(k*10)+id)
			}
		}
		now += int64(rng.IntN(int(time.Millisecond)))
		out, res := r.Add(f, now)
		if res.Status == Complete {
			completed++
			l, _ := walkL2(b)
			if !bytes.Equal(out[:l.l3], b[:l.l3]) {
				t.Fatal("completed datagram with another L2 header")
			}
			var m packet.Meta
			if err := packet.Parse(out, &m); err != nil && err != packet.ErrUDPLength {
				t.Fatalf("completed datagram does not parse: %v", err)
			}
			if m.Fragment {
				t.Fatal("completed datagram is still a fragment")
			}
			// Its data is a prefix of the original's.
			var data, orig []byte
			if k%2 == 0 {
				data, orig = packet.IPv4(out[l.l3:]).Payload(), packet.IPv4(b[l.l3:]).Payload()
			} else {
				data, orig = out[l.l3+48:], b[l.l3+48:]
			}
			if len(data) > len(orig) || !bytes.Equal(data, orig[:len(data)]) {
				i := 0
				for i < len(data) && data[i] == orig[i] {
					i++
				}
				t.Fatalf("completed datagram's data is not the original's: base %d, %d of %d bytes, first difference at %d", k, len(data), len(orig), i)
			}
		}
		if r.Stats().Pending > 16 {
			t.Fatal("more pending than MaxDatagrams")
		}
	}
	for range 20000 {
		step()
	}
	if a := testing.AllocsPerRun(20000, step); a != 0 {
		t.Errorf("Add over a random stream: %v allocs", a)
	}
	s := r.Stats()
	t.Logf("completed %d (counted %d), stats %+v", completed, s.Completed, s)
	if s.Completed == 0 || s.Reasons[Overlap] == 0 || s.Reasons[Timeout] == 0 || s.Reasons[BadLength] == 0 {
		t.Errorf("the stream did not exercise completion, overlap, timeout and bad length: %+v", s)
	}
}

func TestAddAllocs(t *testing.T) {
	base := udp4(t, nil, ip4(), 1500)
	frags := frag4(t, base, 1000)
	b6 := udp6(t, nil, 3000, v6exts()...)
	f6 := frag6(t, b6, 1280, 9)
	r := NewReassembler(ReassemblerConfig{})
	if a := testing.AllocsPerRun(500, func() {
		r.Add(frags[1], 0)
		r.Add(frags[0], 0)
		for _, f := range f6 {
			r.Add(f, 0)
		}
	}); a != 0 {
		t.Errorf("Add: %v allocs", a)
	}
}

func TestReasonNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for r := Reason(0); int(r) < NumReasons; r++ {
		n := r.Name()
		if !snake.MatchString(n) || seen[n] || r.Help() == "" || r.String() != n {
			t.Errorf("reason %d: name %q", r, n)
		}
		seen[n] = true
	}
	for _, want := range []string{"overlap", "bad_length", "too_big", "table_full", "timeout", "not_fragment", "truncated"} {
		if !seen[want] {
			t.Errorf("no reason %q", want)
		}
	}
	for e := Error(1); e < numErrors; e++ {
		if !snake.MatchString(e.Name()) || e.Error() == "" {
			t.Errorf("error %d: %q", e, e.Name())
		}
	}
	if Reason(99).Name() != "reason_99" || Error(99).Name() != "error_99" || Status(9).String() != "status_9" ||
		Complete.String() != "complete" {
		t.Error("out-of-range names")
	}
}
