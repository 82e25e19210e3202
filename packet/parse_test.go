package packet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"regexp"
	"testing"

	"github.com/google/gopacket/layers"
)

// TestParseMeta pins the full Meta for each valid frame; the offsets were
// worked out by hand from the layer sizes.
func TestParseMeta(t *testing.T) {
	want := map[string]Meta{
		"ipv4_tcp_syn_opts": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoTCP,
			L4Off: 34, End: 74, L4Complete: true},
		"ipv4_tcp_data": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoTCP,
			L4Off: 34, End: 72, L4Complete: true},
		"ipv4_tcp_finack_padded": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoTCP,
			L4Off: 34, End: 54, Padding: 6, L4Complete: true},
		"ipv6_tcp_syn_opts": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoTCP,
			L4Off: 54, End: 94, L4Complete: true},
		"ipv4_udp": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoUDP,
			L4Off: 34, End: 48, Padding: 12, L4Complete: true},
		"ipv6_udp": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoUDP,
			L4Off: 54, End: 68, L4Complete: true},
		"ipv4_icmp_echo": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoICMP,
			L4Off: 34, End: 54, Padding: 6, L4Complete: true},
		"ipv6_icmp_echo": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoICMPv6,
			L4Off: 54, End: 67, L4Complete: true},
		"ipv4_icmp_fragneeded": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoICMP,
			L4Off: 34, End: 70, L4Complete: true},
		"ipv6_icmp_toobig": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoICMPv6,
			L4Off: 54, End: 110, L4Complete: true},
		"vlan_ipv4_udp": {VLANCount: 1, VLANs: [2]uint16{0x2064, 0}, EtherType: EtherTypeIPv4, L3Off: 18,
			IPVersion: 4, L4Proto: ProtoUDP, L4Off: 38, End: 50, Padding: 14, L4Complete: true},
		"qinq_ipv6_tcp": {VLANCount: 2, VLANs: [2]uint16{0x00c8, 0xa00a}, EtherType: EtherTypeIPv6, L3Off: 22,
			IPVersion: 6, L4Proto: ProtoTCP, L4Off: 62, End: 86, L4Complete: true},
		"ipv4_frag_first": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoUDP,
			L4Off: 34, End: 58, Padding: 2, Fragment: true, MoreFragments: true, FragID: 0xbeef, L4Complete: true},
		"ipv4_frag_second": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoUDP,
			L4Off: 34, End: 50, Padding: 10, Fragment: true, FragOffset: 24, FragID: 0xbeef},
		"ipv4_options_udp": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoUDP,
			L4Off: 46, End: 58, Padding: 2, L4Complete: true},
		"ipv6_ext_chain_frag": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoTCP,
			L4Off: 102, End: 122, Fragment: true, MoreFragments: true, FragID: 0xdeadbeef,
			FragHdrOff: 86, RoutingHdrOff: 62, L4Complete: true},
		"ipv6_frag_second": {EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoTCP,
			L4Off: 62, End: 86, Fragment: true, FragOffset: 1232, MoreFragments: true, FragID: 0xdeadbeef,
			FragHdrOff: 54},
		"ipv4_gre_cks": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoGRE,
			L4Off: 34, End: 102, L4Complete: true},
		"ipv4_geneve_opts": {EtherType: EtherTypeIPv4, L3Off: 14, IPVersion: 4, L4Proto: ProtoUDP,
			L4Off: 34, End: 134, L4Complete: true},
		"arp": {EtherType: EtherTypeARP, L3Off: 14, End: 60}, // gopacket pads to 60
	}
	pkts := validPackets(t)
	if len(pkts) != len(want) {
		t.Fatalf("%d packets, %d expectations", len(pkts), len(want))
	}
	for _, tp := range pkts {
		w, ok := want[tp.name]
		if !ok {
			t.Fatalf("no expectation for %s", tp.name)
		}
		var m Meta
		if err := Parse(tp.frame, &m); err != nil {
			t.Errorf("%s: Parse: %v", tp.name, err)
			continue
		}
		if m != w {
			t.Errorf("%s:\n got %+v\nwant %+v", tp.name, m, w)
		}
		if got := m.Trimmed(tp.frame); len(got) != w.End {
			t.Errorf("%s: len(Trimmed) = %d, want %d", tp.name, len(got), w.End)
		}
		// ParseIP on the same packet gives the same answer shifted by L3Off.
		if m.IPVersion != 0 {
			var mi Meta
			if err := ParseIP(tp.frame[m.L3Off:], &mi); err != nil {
				t.Errorf("%s: ParseIP: %v", tp.name, err)
				continue
			}
			s := w
			s.VLANCount, s.VLANs, s.L3Off = 0, [2]uint16{}, 0
			s.L4Off -= w.L3Off
			s.End -= w.L3Off
			if s.FragHdrOff != 0 {
				s.FragHdrOff -= w.L3Off
			}
			if s.RoutingHdrOff != 0 {
				s.RoutingHdrOff -= w.L3Off
			}
			if mi != s {
				t.Errorf("%s: ParseIP:\n got %+v\nwant %+v", tp.name, mi, s)
			}
		}
	}
}

func TestMetaSlices(t *testing.T) {
	frame := unpadded(t, tcp4Frame(t, tcpData(), []byte("abc")))
	frame = append(frame, 0xee, 0xee)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eqBytes(t, "L3", m.L3(frame), frame[14:57])
	eqBytes(t, "L4", m.L4(frame), frame[34:57])
	eqBytes(t, "tcp payload", TCP(m.L4(frame)).Payload(), []byte("abc"))
	eq(t, "Padding", m.Padding, 2)
	// A Meta that does not belong to the frame must not panic.
	bad := Meta{IPVersion: 4, L3Off: 100, L4Off: 200, End: 300}
	eq(t, "Trimmed(bad)", len(bad.Trimmed(frame)), len(frame))
	eq(t, "L3(bad)", len(bad.L3(frame)), 0)
	eq(t, "L4(bad)", len(bad.L4(frame)), 0)
	neg := Meta{End: -1}
	eq(t, "Trimmed(neg)", len(neg.Trimmed(frame)), 0)
}

// TestParseIPv6ExtChainUnfragmented uses the HBH/routing/dest-opts chain
// without a fragment header so gopacket decodes all the way to TCP.
func TestParseIPv6ExtChainUnfragmented(t *testing.T) {
	l4 := rawTCP(1234, 80, TCPFlagSYN|TCPFlagECE|TCPFlagCWR, []byte("x"))
	frame := ip6ExtFrame(t, ProtoHopByHop, [][]byte{
		hbhHeader(ProtoRouting),
		routingHeader(ProtoDstOpts, 0, 0, testIP6Fin),
		dstOptsHeader(ProtoTCP),
	}, l4)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	want := Meta{EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoTCP,
		L4Off: 54 + 8 + 24 + 8, End: 54 + 8 + 24 + 8 + 21, RoutingHdrOff: 62, L4Complete: true}
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	v := TCP(m.L4(frame))
	eq(t, "SrcPort", v.SrcPort(), uint16(1234))
	eq(t, "Flags", v.Flags(), uint8(TCPFlagSYN|TCPFlagECE|TCPFlagCWR))
	eqBytes(t, "Payload", v.Payload(), []byte("x"))
	// With segments left 0 the header destination is the final one.
	SetL4Checksum(frame, &m)
	eq(t, "verify", VerifyL4Checksum(frame, &m), true)

	// AH (length in 4-byte units, +2) is walked too.
	ah := make([]byte, 24)
	ah[0], ah[1] = ProtoUDP, 4 // (4+2)*4 = 24
	udp := make([]byte, 12)
	UDP(udp).SetLength(12)
	frame = ip6ExtFrame(t, ProtoAH, [][]byte{ah}, udp)
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "AH L4Off", m.L4Off, 54+24)
	eq(t, "AH L4Proto", m.L4Proto, uint8(ProtoUDP))

	// ESP and No Next Header stop the walk without L4 validation.
	for _, nh := range []uint8{ProtoESP, ProtoNoNext, 253} {
		frame = ip6ExtFrame(t, ProtoDstOpts, [][]byte{dstOptsHeader(nh)}, []byte{1, 2, 3})
		if err := Parse(frame, &m); err != nil {
			t.Fatalf("nh %d: %v", nh, err)
		}
		eq(t, "stop L4Proto", m.L4Proto, nh)
		eq(t, "stop L4Off", m.L4Off, 62)
		eq(t, "stop L4Complete", m.L4Complete, true)
	}
}

func TestParseIPv6AtomicFragment(t *testing.T) {
	// Offset 0 and M=0 (RFC 6946): a fragment header on a whole packet.
	udp := make([]byte, 10)
	UDP(udp).SetLength(10)
	frame := ip6ExtFrame(t, ProtoIPv6Frag, [][]byte{fragHeader(ProtoUDP, 0, false, 77)}, udp)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	want := Meta{EtherType: EtherTypeIPv6, L3Off: 14, IPVersion: 6, L4Proto: ProtoUDP, L4Off: 62,
		End: 72, Fragment: true, FragID: 77, FragHdrOff: 54, L4Complete: true}
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
}

func TestParseFirstFragmentCutsL4(t *testing.T) {
	// A first fragment whose TCP header is split by the fragment boundary
	// is not an error; the reassembler completes it.
	tcp := rawTCP(1, 2, TCPFlagACK, nil)
	ip := ip4L(layers.IPProtocolTCP)
	ip.Flags = layers.IPv4MoreFragments
	frame := serialize(t, ethL(layers.EthernetTypeIPv4), ip, gopacketPayload(tcp[:16]))
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "Fragment", m.Fragment, true)
	eq(t, "L4Complete", m.L4Complete, false)
	eq(t, "L4Off", m.L4Off, 34)

	// Same for an IPv6 first fragment with the TCP options cut off.
	t6 := make([]byte, 24)
	TCP(t6).SetDataOffset(40)
	frame = ip6ExtFrame(t, ProtoIPv6Frag, [][]byte{fragHeader(ProtoTCP, 0, true, 1)}, t6)
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "v6 L4Complete", m.L4Complete, false)
	eq(t, "v6 L4Off", m.L4Off, 62)

	// A bad data offset is an error even in a first fragment: it is in the
	// bytes we have.
	TCP(t6).SetDataOffset(8)
	frame = ip6ExtFrame(t, ProtoIPv6Frag, [][]byte{fragHeader(ProtoTCP, 0, true, 1)}, t6)
	eq[error](t, "bad doff in frag", Parse(frame, &m), ErrTCPDataOffset)
}

func TestParseQuoted(t *testing.T) {
	inner := innerTCP4(t) // 20 IP + 20 TCP + 12 payload, TotalLength 52
	var m Meta

	// RFC 792 minimum: IP header + 8 bytes.
	if err := ParseQuoted(inner[:28], &m); err != nil {
		t.Fatal(err)
	}
	want := Meta{EtherType: EtherTypeIPv4, IPVersion: 4, L4Proto: ProtoTCP, L4Off: 20, End: 28}
	if m != want {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	q := TCP(m.L4(inner[:28]))
	eq(t, "quoted SrcPort", q.SrcPort(), uint16(40000))
	eq(t, "quoted DstPort", q.DstPort(), uint16(443))
	eq(t, "quoted Seq", q.Seq(), uint32(1000))

	// Full TCP header present: complete.
	if err := ParseQuoted(inner[:40], &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "40 End", m.End, 40)
	eq(t, "40 L4Complete", m.L4Complete, true)

	// The whole packet plus trailing bytes (RFC 4884 extensions): End at
	// TotalLength.
	ext := append(append([]byte(nil), inner...), 0, 0, 0, 0)
	if err := ParseQuoted(ext, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "ext End", m.End, 52)
	eq(t, "ext Padding", m.Padding, 4)

	// Fewer than 8 bytes of L4.
	eq[error](t, "short quote", ParseQuoted(inner[:27], &m), ErrQuotedL4Truncated)
	// Header checks still apply.
	eq[error](t, "no IP header", ParseQuoted(inner[:19], &m), ErrIPv4Truncated)
	eq[error](t, "empty", ParseQuoted(nil, &m), ErrIPTruncated)

	// UDP quoted from an ICMPv6 error: the UDP length covers the whole
	// datagram, which the quote does not, and that is fine.
	in6 := innerUDP6(t)
	if err := ParseQuoted(in6[:48], &m); err != nil {
		t.Fatal(err)
	}
	want6 := Meta{EtherType: EtherTypeIPv6, IPVersion: 6, L4Proto: ProtoUDP, L4Off: 40, End: 48, L4Complete: true}
	if m != want6 {
		t.Fatalf("got %+v\nwant %+v", m, want6)
	}
	u := UDP(m.L4(in6[:48]))
	eq(t, "quoted udp SrcPort", u.SrcPort(), uint16(5353))
	eq(t, "quoted udp Length", u.Length(), uint16(48))

	// IPv6 with extension headers walked as far as present.
	l4 := rawTCP(5, 6, TCPFlagSYN, nil)
	chain := ipOf(ip6ExtFrame(t, ProtoHopByHop, [][]byte{hbhHeader(ProtoDstOpts), dstOptsHeader(ProtoTCP)}, l4))
	if err := ParseQuoted(chain[:40+16+8], &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "chain L4Off", m.L4Off, 56)
	eq(t, "chain L4Proto", m.L4Proto, uint8(ProtoTCP))
	eq(t, "chain L4Complete", m.L4Complete, false)
	eq[error](t, "chain cut in ext", ParseQuoted(chain[:40+12], &m), ErrQuotedL4Truncated)

	// A quoted non-first fragment has no L4 to require.
	frag := ipOf(ip4FragFrame(t, 24, false))
	if err := ParseQuoted(frag[:20], &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "frag FragOffset", m.FragOffset, uint16(24))
	eq(t, "frag L4Complete", m.L4Complete, false)

	// The quote from the ICMP test frame, via ICMPv4.Body.
	icmp := icmp4Frame(t, ICMPv4DstUnreach, ICMPv4CodeFragNeeded, 0, 1400, inner[:28])
	var outer Meta
	if err := Parse(icmp, &outer); err != nil {
		t.Fatal(err)
	}
	ic := ICMPv4(outer.L4(icmp))
	eq(t, "MTU", ic.MTU(), uint16(1400))
	if err := ParseQuoted(ic.Body(), &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "via Body L4Proto", m.L4Proto, uint8(ProtoTCP))
}

func gopacketPayload(b []byte) gopacketPayloadT { return gopacketPayloadT(b) }

// parseErrCase crafts one bad input and the exact error it must produce.
type parseErrCase struct {
	name string
	run  func(t *testing.T) error
	want ParseError
}

func withFrame(build func(t *testing.T) []byte) func(t *testing.T) error {
	return func(t *testing.T) error {
		var m Meta
		return Parse(build(t), &m)
	}
}

func withIP(build func(t *testing.T) []byte) func(t *testing.T) error {
	return func(t *testing.T) error {
		var m Meta
		return ParseIP(build(t), &m)
	}
}

// mut returns a frame builder that edits a copy of base's output.
func mut(base func(t *testing.T) []byte, f func(b []byte) []byte) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		return f(append([]byte(nil), base(t)...))
	}
}

func baseUDP4(t *testing.T) []byte { return unpadded(t, udp4Frame(t, 1, 2, []byte("data"))) }
func baseTCP6(t *testing.T) []byte { return tcp6Frame(t, tcpData(), []byte("data")) }

// ip4Raw builds Ethernet+IPv4 around a raw L4 payload with lengths fixed.
func ip4Raw(proto uint8, l4 []byte) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		return serialize(t, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocol(proto)), gopacketPayload(l4))
	}
}

func ip6Raw(firstNH uint8, ext [][]byte, l4 []byte) func(t *testing.T) []byte {
	return func(t *testing.T) []byte { return ip6ExtFrame(t, firstNH, ext, l4) }
}

func setIPv4Len(delta int) func(b []byte) []byte {
	return func(b []byte) []byte {
		ip := IPv4(b[14:])
		ip.SetTotalLength(uint16(int(ip.TotalLength()) + delta))
		return b
	}
}

func parseErrCases() []parseErrCase {
	tooMany := make([]byte, 0, 8*9)
	for i := 0; i < 9; i++ {
		tooMany = append(tooMany, dstOptsHeader(ProtoDstOpts)...)
	}
	tooMany[len(tooMany)-8] = ProtoNoNext

	jumbo := []byte{ProtoUDP, 0, 0xc2, 4, 0, 1, 0, 0}
	greK := []byte{0x20, 0, 0x08, 0, 1, 2} // K set, key cut short
	udpShortLen := make([]byte, 12)
	UDP(udpShortLen).SetLength(7)
	udpMismatch := make([]byte, 12)
	UDP(udpMismatch).SetLength(10)
	tcpDoff16 := rawTCP(1, 2, 0, make([]byte, 8))
	TCP(tcpDoff16).SetDataOffset(16)
	tcpDoff60 := rawTCP(1, 2, 0, make([]byte, 20))
	TCP(tcpDoff60).SetDataOffset(60)

	return []parseErrCase{
		{"eth short", withFrame(func(t *testing.T) []byte { return make([]byte, 13) }), ErrEthernetTruncated},
		{"vlan short", withFrame(func(t *testing.T) []byte {
			return vlanFrame(make([]byte, 14), [2]uint16{EtherTypeVLAN, 5})[:16]
		}), ErrVLANTruncated},
		{"three tags", withFrame(mut(baseUDP4, func(b []byte) []byte {
			return vlanFrame(b, [2]uint16{EtherTypeQinQ, 1}, [2]uint16{EtherTypeVLAN, 2}, [2]uint16{EtherTypeVLAN, 3})
		})), ErrTooManyVLANs},
		{"ip empty", withIP(func(t *testing.T) []byte { return nil }), ErrIPTruncated},
		{"ip version 5", withIP(mut(baseUDP4, func(b []byte) []byte { b[14] = 0x55; return b[14:] })), ErrIPVersion},
		{"ipv4 19 bytes", withFrame(mut(baseUDP4, func(b []byte) []byte { return b[:14+19] })), ErrIPv4Truncated},
		{"ipv4 version 6", withFrame(mut(baseUDP4, func(b []byte) []byte { b[14] = 0x65; return b })), ErrIPv4Version},
		{"ipv4 ihl 4", withFrame(mut(baseUDP4, func(b []byte) []byte { b[14] = 0x44; return b })), ErrIPv4IHL},
		{"ipv4 ihl past frame", withFrame(mut(baseUDP4, func(b []byte) []byte { b[14] = 0x4f; return b })), ErrIPv4HeaderLen},
		{"ipv4 total < ihl", withFrame(mut(baseUDP4, func(b []byte) []byte {
			IPv4(b[14:]).SetTotalLength(19)
			return b
		})), ErrIPv4TotalLenShort},
		{"ipv4 total > frame", withFrame(mut(baseUDP4, setIPv4Len(+1))), ErrIPv4LenExceeds},
		{"ipv4 frag too large", withFrame(mut(ip4Raw(ProtoUDP, make([]byte, 16)), func(b []byte) []byte {
			IPv4(b[14:]).SetFlagsFragment(false, false, 65528)
			return b
		})), ErrIPv4FragTooLarge},
		{"ipv6 39 bytes", withFrame(mut(baseTCP6, func(b []byte) []byte { return b[:14+39] })), ErrIPv6Truncated},
		{"ipv6 version 4", withFrame(mut(baseTCP6, func(b []byte) []byte { b[14] = 0x40; return b })), ErrIPv6Version},
		{"ipv6 payload > frame", withFrame(mut(baseTCP6, func(b []byte) []byte {
			ip := IPv6(b[14:])
			ip.SetPayloadLength(ip.PayloadLength() + 1)
			return b
		})), ErrIPv6LenExceeds},
		{"ipv6 jumbogram", withFrame(mut(ip6Raw(ProtoHopByHop, [][]byte{jumbo}, make([]byte, 8)), func(b []byte) []byte {
			IPv6(b[14:]).SetPayloadLength(0)
			return b
		})), ErrIPv6Jumbogram},
		{"ipv6 hbh not first", withFrame(ip6Raw(ProtoDstOpts, [][]byte{dstOptsHeader(ProtoHopByHop), hbhHeader(ProtoNoNext)}, nil)), ErrIPv6HopByHopOrder},
		{"ipv6 ext past payload", withFrame(ip6Raw(ProtoRouting, [][]byte{{ProtoTCP, 4, 0, 0, 0, 0, 0, 0}}, make([]byte, 20))), ErrIPv6ExtTruncated},
		{"ipv6 ext no length byte", withFrame(ip6Raw(ProtoDstOpts, nil, []byte{ProtoTCP})), ErrIPv6ExtTruncated},
		{"ipv6 hbh len 0 no jumbo", withFrame(mut(ip6Raw(ProtoHopByHop, [][]byte{hbhHeader(ProtoNoNext)}, nil), func(b []byte) []byte {
			IPv6(b[14:]).SetPayloadLength(0)
			return b
		})), ErrIPv6ExtTruncated},
		{"ipv6 nine ext headers", withFrame(ip6Raw(ProtoDstOpts, [][]byte{tooMany}, nil)), ErrIPv6TooManyExt},
		{"ipv6 two frag headers", withFrame(ip6Raw(ProtoIPv6Frag, [][]byte{
			fragHeader(ProtoIPv6Frag, 0, true, 1), fragHeader(ProtoUDP, 0, true, 1)}, make([]byte, 8))), ErrIPv6DupFragment},
		{"ipv6 frag too large", withFrame(ip6Raw(ProtoIPv6Frag, [][]byte{fragHeader(ProtoUDP, 65528, false, 1)},
			make([]byte, 16))), ErrIPv6FragTooLarge},
		{"tcp 19 bytes", withFrame(ip4Raw(ProtoTCP, make([]byte, 19))), ErrTCPTruncated},
		{"tcp doff 16", withFrame(ip4Raw(ProtoTCP, tcpDoff16)), ErrTCPDataOffset},
		{"tcp doff past packet", withFrame(ip4Raw(ProtoTCP, tcpDoff60)), ErrTCPDataOffsetLarge},
		{"tcp doff past End into padding", withFrame(mut(ip4Raw(ProtoTCP, tcpDoff60[:40]), func(b []byte) []byte {
			return append(b, make([]byte, 20)...) // the header "fits" only in the padding
		})), ErrTCPDataOffsetLarge},
		{"udp 7 bytes", withFrame(ip4Raw(ProtoUDP, make([]byte, 7))), ErrUDPTruncated},
		{"udp length 7", withFrame(ip4Raw(ProtoUDP, udpShortLen)), ErrUDPLength},
		{"udp length != ip payload", withFrame(ip4Raw(ProtoUDP, udpMismatch)), ErrUDPLength},
		{"ipv6 udp length != payload", withFrame(ip6Raw(ProtoUDP, nil, udpMismatch)), ErrUDPLength},
		{"icmpv4 7 bytes", withFrame(ip4Raw(ProtoICMP, make([]byte, 7))), ErrICMPv4Truncated},
		{"icmpv6 7 bytes", withFrame(ip6Raw(ProtoICMPv6, nil, make([]byte, 7))), ErrICMPv6Truncated},
		{"gre 3 bytes", withFrame(ip4Raw(ProtoGRE, make([]byte, 3))), ErrGRETruncated},
		{"gre key past packet", withFrame(ip4Raw(ProtoGRE, greK)), ErrGREHeaderLen},
		{"quoted 7 bytes of udp", func(t *testing.T) error {
			var m Meta
			return ParseQuoted(ipOf(udp4Frame(t, 1, 2, nil))[:27], &m)
		}, ErrQuotedL4Truncated},
		{"quoted ipv6 ext beyond claimed length", func(t *testing.T) error {
			var m Meta
			b := ipOf(ip6ExtFrame(t, ProtoDstOpts, [][]byte{dstOptsHeader(ProtoTCP)}, nil))
			IPv6(b).SetPayloadLength(4)
			return ParseQuoted(b, &m)
		}, ErrIPv6ExtTruncated},
		{"validate gre 3 bytes", func(t *testing.T) error { return ValidateGRE([]byte{0, 0, 8}) }, ErrGRETruncated},
		{"validate gre version 1", func(t *testing.T) error { return ValidateGRE([]byte{0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0}) }, ErrGREVersion},
		{"validate gre routing bit", func(t *testing.T) error { return ValidateGRE([]byte{0x40, 0, 8, 0, 0, 0, 0, 0}) }, ErrGREReserved},
		{"validate gre recursion bits", func(t *testing.T) error { return ValidateGRE([]byte{0x01, 0, 8, 0}) }, ErrGREReserved},
		{"validate gre flag bits", func(t *testing.T) error { return ValidateGRE([]byte{0, 0x08, 8, 0}) }, ErrGREReserved},
		{"validate gre csum past packet", func(t *testing.T) error { return ValidateGRE([]byte{0x80, 0, 8, 0, 0, 0, 0}) }, ErrGREHeaderLen},
		{"validate geneve 7 bytes", func(t *testing.T) error { return ValidateGeneve(make([]byte, 7)) }, ErrGeneveTruncated},
		{"validate geneve version 1", func(t *testing.T) error {
			return ValidateGeneve([]byte{0x40, 0, 0x65, 0x58, 0, 0, 1, 0})
		}, ErrGeneveVersion},
		{"validate geneve options past packet", func(t *testing.T) error {
			return ValidateGeneve([]byte{0x02, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 2, 0})
		}, ErrGeneveOptionsLen},
		{"validate geneve second option data cut", func(t *testing.T) error {
			// Options 8 bytes: one empty option, then 4 bytes that claim 4
			// more data bytes.
			return ValidateGeneve(geneveWithRawOpts([]byte{0, 1, 2, 0, 0, 1, 3, 1}))
		}, ErrGeneveOptOverrun},
		{"validate geneve option length past options", func(t *testing.T) error {
			return ValidateGeneve(geneveWithRawOpts([]byte{0, 1, 2, 2, 1, 2, 3, 4}))
		}, ErrGeneveOptOverrun},
		{"geneve option header truncated", func(t *testing.T) error {
			// A valid options area followed by fewer than 4 bytes is only
			// possible on a clamped view: the options length says 8 but
			// only 2 bytes follow the fixed header.
			_, _, err := Geneve([]byte{0x02, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1}).NextOption(0)
			return err
		}, ErrGeneveOptTrunc},
		{"geneve bad offset", func(t *testing.T) error {
			_, _, err := Geneve(geneveWithRawOpts([]byte{0, 1, 2, 0})).NextOption(-4)
			return err
		}, ErrGeneveOptOffset},
		{"tcp option length missing", func(t *testing.T) error {
			var o TCPOptions
			return ParseTCPOptions([]byte{TCPOptNOP, TCPOptMSS}, &o)
		}, ErrTCPOptTruncated},
		{"tcp option length 1", func(t *testing.T) error {
			var o TCPOptions
			return ParseTCPOptions([]byte{TCPOptMSS, 1, 0, 0}, &o)
		}, ErrTCPOptLength},
		{"tcp option past end", func(t *testing.T) error {
			var o TCPOptions
			return ParseTCPOptions([]byte{TCPOptTimestamps, 10, 0, 0, 0, 1}, &o)
		}, ErrTCPOptOverrun},
	}
}

// geneveWithRawOpts returns a Geneve header whose options area is opts.
func geneveWithRawOpts(opts []byte) []byte {
	g := make([]byte, 8, 8+len(opts))
	Geneve(g).SetVersionOptionsLen(len(opts))
	Geneve(g).SetProtocol(EtherTypeTEB)
	return append(g, opts...)
}

func TestParseErrors(t *testing.T) {
	seen := map[ParseError]bool{}
	for _, c := range parseErrCases() {
		t.Run(c.name, func(t *testing.T) {
			err := c.run(t)
			if err != c.want {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var pe ParseError
			if !errors.As(err, &pe) || pe != c.want {
				t.Fatalf("errors.As: %v", pe)
			}
		})
		seen[c.want] = true
	}
	for e := ParseError(1); int(e) < NumParseErrors; e++ {
		if !seen[e] {
			t.Errorf("%s (%s) has no test case", e.Name(), e)
		}
	}
}

func TestParseErrorStrings(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)*$`)
	names := map[string]bool{}
	texts := map[string]bool{}
	for e := ParseError(1); int(e) < NumParseErrors; e++ {
		n, s := e.Name(), e.Error()
		if !snake.MatchString(n) {
			t.Errorf("%d: Name %q is not snake_case", e, n)
		}
		if s == "" || names[n] || texts[s] {
			t.Errorf("%d: empty or duplicate %q / %q", e, n, s)
		}
		names[n], texts[s] = true, true
	}
	eq(t, "example text", ErrIPv4LenExceeds.Error(), "ipv4: total length exceeds frame")
	eq(t, "example name", ErrIPv4LenExceeds.Name(), "ipv4_len_exceeds_frame")
	eq(t, "unknown", ParseError(0).Name(), "unknown")
	eq(t, "unknown text", ParseError(255).Error(), "packet: unknown error")
	var err error = ErrTooManyVLANs
	eq(t, "comparable", err == ErrTooManyVLANs, true)
}

func TestParseNonIP(t *testing.T) {
	// A bare Ethernet header with an unknown type is accepted as is.
	frame := make([]byte, 60)
	binary.BigEndian.PutUint16(frame[12:], 0x88cc) // LLDP
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	want := Meta{EtherType: 0x88cc, L3Off: 14, End: 60}
	if m != want {
		t.Fatalf("got %+v", m)
	}
	eq(t, "VerifyL4Checksum non-IP", VerifyL4Checksum(frame, &m), true)
	eq(t, "Trimmed", bytes.Equal(m.Trimmed(frame), frame), true)
}
