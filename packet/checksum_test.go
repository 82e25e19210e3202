package packet

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// refSum is RFC 1071's loop, word by word, as the reference for Sum.
func refSum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestSumRFC1071Vector(t *testing.T) {
	// RFC 1071 section 3: 0001 f203 f4f5 f6f7 sums to 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	eq(t, "Fold(Sum)", Fold(Sum(b, 0)), uint16(0xddf2))
	eq(t, "checksum", ^Fold(Sum(b, 0)), uint16(0x220d))
	// Odd length: the last byte is the high half of a zero-padded word.
	eq(t, "odd", Fold(Sum([]byte{0x12, 0x34, 0x56}, 0)), uint16(0x1234+0x5600))
	eq(t, "empty", Fold(Sum(nil, 0)), uint16(0))
	eq(t, "empty with initial", Fold(Sum(nil, 0x1ffff)), uint16(1))
	eq(t, "all ones", Fold(Sum([]byte{0xff, 0xff, 0xff, 0xff}, 0)), uint16(0xffff))
	eq(t, "Fold carries twice", Fold(0xffffffff), uint16(0xffff))
	eq(t, "Fold", Fold(0x0001fffe), uint16(0xffff))
}

func TestSumAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2001)
	for n := 0; n <= 2000; n++ {
		for i := 0; i < n; i++ {
			buf[i] = byte(r.Uint32())
		}
		// Offset the slice start so unaligned loads are exercised too.
		off := n % 3
		b := buf[off : off+n-min(n, off)]
		init := r.Uint32()
		if n%5 == 0 {
			init = 0
		}
		if got, want := Fold(Sum(b, init)), refSum(b, init); got != want {
			t.Fatalf("len %d init %#x: Fold(Sum) = %#04x, want %#04x", len(b), init, got, want)
		}
	}
	// Worst case for carries: long runs of 0xff.
	ff := make([]byte, 1999)
	for i := range ff {
		ff[i] = 0xff
	}
	for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 1500, 1999} {
		eq(t, "0xff run", Fold(Sum(ff[:n], 0xffffffff)), refSum(ff[:n], 0xffffffff))
	}
}

func TestSumChaining(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, 999)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for split := 0; split <= len(b); split += 2 {
		eq(t, "chained", Fold(Sum(b[split:], Sum(b[:split], 0))), Fold(Sum(b, 0)))
	}
}

func TestPseudoHeaderSums(t *testing.T) {
	src, dst := [4]byte{10, 0, 0, 1}, [4]byte{192, 168, 1, 2}
	ph := []byte{10, 0, 0, 1, 192, 168, 1, 2, 0, ProtoTCP, 0x05, 0xdc}
	eq(t, "v4", Fold(PseudoHeaderSum4(src, dst, ProtoTCP, 1500)), refSum(ph, 0))

	s6, d6 := ip6Bytes(testIP6Src), ip6Bytes(testIP6Dst)
	ph6 := append(append(append([]byte(nil), s6[:]...), d6[:]...), 0, 1, 0x00, 0x10, 0, 0, 0, ProtoUDP)
	eq(t, "v6 (length above 16 bits)", Fold(PseudoHeaderSum6(s6, d6, ProtoUDP, 0x10010)), refSum(ph6, 0))
}

// TestIncrementalRandom checks RFC 1624 updates against recomputing the
// checksum from scratch, on random data and random edits.
func TestIncrementalRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 20000; iter++ {
		n := 4 + 2*r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if iter%10 == 0 { // mostly-zero data hits the ±0 corner cases
			for i := range b {
				b[i] &= byte(r.IntN(2))
			}
			b[0] |= 1
		}
		csum := ^Fold(Sum(b, 0))
		switch iter % 3 {
		case 0:
			i := 2 * r.IntN(n/2)
			old := binary.BigEndian.Uint16(b[i:])
			nv := uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[i:], nv)
			if got, want := UpdateChecksum16(csum, old, nv), ^Fold(Sum(b, 0)); !incrementalAgrees(got, want, b) {
				t.Fatalf("iter %d: UpdateChecksum16 = %#04x, want %#04x", iter, got, want)
			}
		case 1:
			i := 2 * r.IntN(n/2-1)
			old := binary.BigEndian.Uint32(b[i:])
			nv := r.Uint32()
			binary.BigEndian.PutUint32(b[i:], nv)
			if got, want := UpdateChecksum32(csum, old, nv), ^Fold(Sum(b, 0)); !incrementalAgrees(got, want, b) {
				t.Fatalf("iter %d: UpdateChecksum32 = %#04x, want %#04x", iter, got, want)
			}
		case 2:
			l := 2 * (1 + r.IntN(min(8, n/2)))
			i := 2 * r.IntN((n-l)/2+1)
			old := append([]byte(nil), b[i:i+l]...)
			for j := i; j < i+l; j++ {
				b[j] = byte(r.Uint32())
			}
			if got, want := UpdateChecksumBytes(csum, old, b[i:i+l]), ^Fold(Sum(b, 0)); !incrementalAgrees(got, want, b) {
				t.Fatalf("iter %d: UpdateChecksumBytes = %#04x, want %#04x", iter, got, want)
			}
		}
	}
}

// TestIncrementalNAT rewrites the source address and port of real packets
// incrementally and checks both checksums still verify.
func TestIncrementalNAT(t *testing.T) {
	for _, frame := range [][]byte{
		tcp4Frame(t, tcpSYN(), nil),
		udp4Frame(t, 5000, 53, []byte("query")),
	} {
		var m Meta
		if err := Parse(frame, &m); err != nil {
			t.Fatal(err)
		}
		ip := IPv4(m.L3(frame))
		newSrc := [4]byte{203, 0, 113, 77}
		oldSrc := ip.Src()
		old32 := binary.BigEndian.Uint32(oldSrc[:])
		new32 := binary.BigEndian.Uint32(newSrc[:])
		ip.SetRawChecksum(UpdateChecksum32(ip.Checksum(), old32, new32))
		ip.SetSrc(newSrc)
		eq(t, "ip header checksum", ip.ValidHeaderChecksum(), true)

		l4 := m.L4(frame)
		csumOff, _, _ := l4ChecksumOff(m.L4Proto)
		c := binary.BigEndian.Uint16(l4[csumOff:])
		c = UpdateChecksumBytes(c, oldSrc[:], newSrc[:])
		oldPort := binary.BigEndian.Uint16(l4[0:])
		c = UpdateChecksum16(c, oldPort, 61000)
		binary.BigEndian.PutUint16(l4[0:], 61000)
		binary.BigEndian.PutUint16(l4[csumOff:], c)
		eq(t, "l4 checksum after NAT", VerifyL4Checksum(frame, &m), true)
	}
	// IPv6 address rewrite.
	frame := tcp6Frame(t, tcpData(), []byte("v6"))
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	ip := IPv6(m.L3(frame))
	tcp := TCP(m.L4(frame))
	oldDst := ip.Dst()
	newDst := ip6Bytes(net.ParseIP("2001:db8:1234::42"))
	tcp.SetChecksum(UpdateChecksumBytes(tcp.Checksum(), oldDst[:], newDst[:]))
	ip.SetDst(newDst)
	eq(t, "v6 l4 checksum after NAT", VerifyL4Checksum(frame, &m), true)
}

func TestIPv4HeaderChecksum(t *testing.T) {
	frame := ip4OptionsFrame(t)
	ip := IPv4(frame[14:])
	want := ip.Checksum()
	eq(t, "valid", ip.ValidHeaderChecksum(), true)
	eq(t, "ComputeChecksum", ip.ComputeChecksum(), want)
	ip.SetTTL(ip.TTL() - 1)
	eq(t, "invalid after TTL change", ip.ValidHeaderChecksum(), false)
	ip.SetChecksum()
	eq(t, "valid after SetChecksum", ip.ValidHeaderChecksum(), true)
	// TTL decrement as a router does it: RFC 1624 on the TTL/proto word.
	ip.SetTTL(64)
	ip.SetChecksum()
	oldWord := uint16(ip.TTL())<<8 | uint16(ip.Protocol())
	ip.SetTTL(63)
	ip.SetRawChecksum(UpdateChecksum16(ip.Checksum(), oldWord, uint16(63)<<8|uint16(ip.Protocol())))
	eq(t, "incremental TTL", ip.ValidHeaderChecksum(), true)
	eq(t, "short header invalid", IPv4(frame[14:20]).ValidHeaderChecksum(), false)
}

// TestVerifyL4Checksum corrupts one byte of each protocol's segment and
// checks verification notices; also checks SetL4Checksum agrees with
// gopacket.
func TestVerifyL4Checksum(t *testing.T) {
	for _, tp := range validPackets(t) {
		var m Meta
		if err := Parse(tp.frame, &m); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := l4ChecksumOff(m.L4Proto); !ok || m.Fragment || m.IPVersion == 0 {
			eq(t, tp.name+" not checkable -> true", VerifyL4Checksum(tp.frame, &m), true)
			continue
		}
		eq(t, tp.name+" verify", VerifyL4Checksum(tp.frame, &m), true)
		orig := append([]byte(nil), tp.frame...)
		last := m.End - 1
		tp.frame[last] ^= 0x01
		eq(t, tp.name+" corrupted", VerifyL4Checksum(tp.frame, &m), false)
		SetL4Checksum(tp.frame, &m)
		eq(t, tp.name+" fixed", VerifyL4Checksum(tp.frame, &m), true)
		tp.frame[last] ^= 0x01
		SetL4Checksum(tp.frame, &m)
		eqBytes(t, tp.name+" SetL4Checksum reproduces gopacket", tp.frame, orig)
	}
}

func TestUDPZeroChecksum(t *testing.T) {
	f4 := udp4Frame(t, 1, 2, []byte("abc"))
	var m Meta
	if err := Parse(f4, &m); err != nil {
		t.Fatal(err)
	}
	UDP(m.L4(f4)).SetChecksum(0)
	eq(t, "ipv4 udp checksum 0 is valid", VerifyL4Checksum(f4, &m), true)

	f6 := udp6Frame(t, 1, 2, []byte("abc"))
	if err := Parse(f6, &m); err != nil {
		t.Fatal(err)
	}
	UDP(m.L4(f6)).SetChecksum(0)
	eq(t, "ipv6 udp checksum 0 is invalid", VerifyL4Checksum(f6, &m), false)

	// Force a computed checksum of 0: choose two payload bytes so the sum
	// is 0xffff; SetL4Checksum must send 0xffff instead.
	f := udp4Frame(t, 1, 2, []byte{0, 0, 0, 0})
	if err := Parse(f, &m); err != nil {
		t.Fatal(err)
	}
	u := UDP(m.L4(f))
	u.SetChecksum(0)
	s, _, _ := pseudoSum(f, &m, len(u))
	partial := Fold(Sum(u, s))
	binary.BigEndian.PutUint16(u[8:], 0xffff-partial)
	SetL4Checksum(f, &m)
	eq(t, "computed 0 sent as 0xffff", u.Checksum(), uint16(0xffff))
	eq(t, "and verifies", VerifyL4Checksum(f, &m), true)
}

// TestIPv6RoutingPseudoHeader: with segments left, the pseudo header uses
// the final destination from the routing header (RFC 8200 8.1).
func TestIPv6RoutingPseudoHeader(t *testing.T) {
	mk := func(typ uint8, addrs ...net.IP) ([]byte, Meta) {
		udp := make([]byte, 12)
		UDP(udp).SetSrcPort(1)
		UDP(udp).SetDstPort(2)
		UDP(udp).SetLength(12)
		frame := ip6ExtFrame(t, ProtoRouting, [][]byte{routingHeader(ProtoUDP, typ, 1, addrs...)}, udp)
		var m Meta
		if err := Parse(frame, &m); err != nil {
			t.Fatal(err)
		}
		return frame, m
	}
	final := ip6Bytes(testIP6Fin)
	checksumWith := func(frame []byte, m *Meta, dst [16]byte) uint16 {
		l4 := m.L4(frame)
		UDP(l4).SetChecksum(0)
		return ^Fold(Sum(l4, PseudoHeaderSum6(IPv6(m.L3(frame)).Src(), dst, ProtoUDP, len(l4))))
	}
	// SRH (type 4): Segment List[0] is the final segment.
	frame, m := mk(4, testIP6Fin, net.ParseIP("2001:db8::aaaa"))
	eq(t, "RoutingHdrOff", m.RoutingHdrOff, 54)
	UDP(m.L4(frame)).SetChecksum(checksumWith(frame, &m, final))
	eq(t, "SRH final dst", VerifyL4Checksum(frame, &m), true)
	hdrDst := IPv6(m.L3(frame)).Dst()
	UDP(m.L4(frame)).SetChecksum(checksumWith(frame, &m, hdrDst))
	eq(t, "SRH header dst is wrong", VerifyL4Checksum(frame, &m), false)
	SetL4Checksum(frame, &m)
	eq(t, "SetL4Checksum uses final dst", UDP(m.L4(frame)).Checksum(), checksumWith(frame, &m, final))

	// Type 0: the last address.
	frame, m = mk(0, net.ParseIP("2001:db8::aaaa"), testIP6Fin)
	UDP(m.L4(frame)).SetChecksum(checksumWith(frame, &m, final))
	eq(t, "type 0 final dst", VerifyL4Checksum(frame, &m), true)

	// Type 2 (mobile IPv6 home address).
	frame, m = mk(2, testIP6Fin)
	UDP(m.L4(frame)).SetChecksum(checksumWith(frame, &m, final))
	eq(t, "type 2 final dst", VerifyL4Checksum(frame, &m), true)

	// Unknown type with segments left: cannot check, so not a drop.
	frame, m = mk(200, testIP6Fin)
	UDP(m.L4(frame)).SetChecksum(0x1234)
	eq(t, "unknown routing type", VerifyL4Checksum(frame, &m), true)
}

func TestVerifyL4ChecksumBadMeta(t *testing.T) {
	frame := tcp4Frame(t, tcpData(), nil)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Meta{
		{IPVersion: 4, L4Proto: ProtoTCP, L3Off: 14, L4Off: 34, End: len(frame) + 1},
		{IPVersion: 4, L4Proto: ProtoTCP, L3Off: 14, L4Off: 50, End: 40},
		{IPVersion: 4, L4Proto: ProtoTCP, L3Off: -1, L4Off: 34, End: 54},
		{IPVersion: 4, L4Proto: ProtoTCP, L3Off: 14, L4Off: 34, End: 40},
		{IPVersion: 6, L4Proto: ProtoTCP, L3Off: 34, L4Off: 34, End: 54}, // no room for an IPv6 header
		{IPVersion: 9, L4Proto: ProtoTCP, L3Off: 14, L4Off: 34, End: 54},
	} {
		eq(t, "bad meta", VerifyL4Checksum(frame, &bad), false)
		before := append([]byte(nil), frame...)
		SetL4Checksum(frame, &bad)
		eqBytes(t, "SetL4Checksum(bad) leaves frame", frame, before)
	}
}

// TestChecksumMatchesGopacketICMPv6 double-checks the ICMPv6 pseudo header
// against gopacket's serializer on an ND message.
func TestChecksumMatchesGopacketICMPv6(t *testing.T) {
	ip := ip6L(layers.IPProtocolICMPv6)
	ip.HopLimit = 255
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6NeighborSolicit, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: testIP6Dst}
	frame := serialize(t, ethL(layers.EthernetTypeIPv6), ip, ic, ns)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "verify ND", VerifyL4Checksum(frame, &m), true)
	want := ICMPv6(m.L4(frame)).Checksum()
	SetL4Checksum(frame, &m)
	eq(t, "recomputed", ICMPv6(m.L4(frame)).Checksum(), want)
	eq(t, "type", ICMPv6(m.L4(frame)).Type(), uint8(ICMPv6NeighborSolicit))
	eqBytes(t, "target", ICMPv6(m.L4(frame)).Body()[:16], testIP6Dst.To16())
	_ = gopacket.Payload(nil)
}

// incrementalAgrees compares an RFC 1624 update with recomputation. They
// are equal except for one's complement's two zeros: when the new data sum
// to zero, eqn 3 gives 0x0000 and recomputation 0xffff (RFC 1624 section 3).
func incrementalAgrees(got, want uint16, newData []byte) bool {
	return got == want || Fold(Sum(newData, 0)) == 0 && got == 0 && want == 0xffff
}

func TestIncrementalZeroCorner(t *testing.T) {
	// One word 0x0001 (checksum 0xfffe) becomes 0x0000.
	got := UpdateChecksum16(0xfffe, 0x0001, 0x0000)
	eq(t, "eqn 3 result", got, uint16(0x0000))
	eq(t, "recomputed", ^Fold(Sum([]byte{0, 0}, 0)), uint16(0xffff))
	eq(t, "agrees modulo ±0", incrementalAgrees(got, 0xffff, []byte{0, 0}), true)
	eq(t, "other mismatches do not", incrementalAgrees(1, 2, []byte{0, 1}), false)
}
