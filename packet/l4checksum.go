package packet

import "encoding/binary"

// l4ChecksumOff returns where the checksum field sits in the L4 header and
// the minimum header length needed to reach it; ok is false for protocols
// whose checksum this package does not handle.
func l4ChecksumOff(proto uint8) (off, minLen int, ok bool) {
	switch proto {
	case ProtoTCP:
		return 16, TCPMinHeaderLen, true
	case ProtoUDP:
		return 6, UDPHeaderLen, true
	case ProtoICMP, ProtoICMPv6:
		return 2, ICMPHeaderLen, true
	}
	return 0, 0, false
}

// l4Span returns frame[m.L4Off:m.End] if m describes frame consistently.
func l4Span(frame []byte, m *Meta) ([]byte, bool) {
	if m.L3Off < 0 || m.L4Off < m.L3Off || m.End < m.L4Off || m.End > len(frame) {
		return nil, false
	}
	return frame[m.L4Off:m.End], true
}

// pseudoSum returns the pseudo-header partial sum for m's L4 segment of
// length n; ICMPv4 has none. ok is false when the addresses are not in
// frame. exact is false when an IPv6 routing header of unknown type hides
// the final destination; the header's destination is used then.
func pseudoSum(frame []byte, m *Meta, n int) (s uint32, exact, ok bool) {
	if m.L4Proto == ProtoICMP {
		return 0, true, true
	}
	switch m.IPVersion {
	case 4:
		ip := IPv4(frame[m.L3Off:])
		if len(ip) < IPv4MinHeaderLen {
			return 0, false, false
		}
		return PseudoHeaderSum4(ip.Src(), ip.Dst(), m.L4Proto, n), true, true
	case 6:
		ip := IPv6(frame[m.L3Off:])
		if len(ip) < IPv6HeaderLen {
			return 0, false, false
		}
		dst, exact := ip.Dst(), true
		if m.RoutingHdrOff != 0 {
			dst, exact = ipv6FinalDst(frame, m.RoutingHdrOff, dst)
		}
		return PseudoHeaderSum6(ip.Src(), dst, m.L4Proto, n), exact, true
	}
	return 0, false, false
}

// VerifyL4Checksum verifies the TCP, UDP, ICMPv4 or ICMPv6 checksum of a
// frame that Parse (or ParseIP) accepted, over frame[m.L4Off:m.End] only:
// L2 padding past End is not part of the segment and would corrupt the sum.
// An IPv4 UDP checksum of 0 means "not computed" and passes; an IPv6 UDP
// checksum of 0 is invalid (RFC 8200 8.1). Fragments, other protocols, and
// IPv6 routing headers of unknown type with segments left pass: they cannot
// be checked here. A Meta inconsistent with the frame fails.
func VerifyL4Checksum(frame []byte, m *Meta) bool {
	if m.IPVersion == 0 || m.Fragment {
		return true
	}
	off, minLen, ok := l4ChecksumOff(m.L4Proto)
	if !ok {
		return true
	}
	l4, ok := l4Span(frame, m)
	if !ok || len(l4) < minLen {
		return false
	}
	if m.L4Proto == ProtoUDP && binary.BigEndian.Uint16(l4[off:off+2]) == 0 {
		return m.IPVersion == 4
	}
	s, exact, ok := pseudoSum(frame, m, len(l4))
	if !ok {
		return false
	}
	if !exact {
		return true
	}
	return Fold(Sum(l4, s)) == 0xffff
}

// SetL4Checksum computes and stores the TCP, UDP, ICMPv4 or ICMPv6 checksum
// of a parsed frame over frame[m.L4Off:m.End]. A UDP result of 0 is sent as
// 0xffff, since 0 means "no checksum". Fragments and other protocols are
// left alone; with an unknown IPv6 routing type the header destination is
// used.
func SetL4Checksum(frame []byte, m *Meta) {
	if m.IPVersion == 0 || m.Fragment {
		return
	}
	off, minLen, ok := l4ChecksumOff(m.L4Proto)
	if !ok {
		return
	}
	l4, ok := l4Span(frame, m)
	if !ok || len(l4) < minLen {
		return
	}
	s, _, ok := pseudoSum(frame, m, len(l4))
	if !ok {
		return
	}
	l4[off], l4[off+1] = 0, 0
	c := ^Fold(Sum(l4, s))
	if c == 0 && m.L4Proto == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:off+2], c)
}
