package icmperr

import (
	"encoding/binary"
	"net/netip"

	"github.com/ctswitch/ctswitch/packet"
)

// Limits of the messages built here.
const (
	// IPv4MinMTU is the smallest next-hop MTU FragNeeded reports (RFC 791).
	IPv4MinMTU = 68
	// IPv6MinMTU is the smallest MTU PacketTooBig reports (RFC 8200 5).
	IPv6MinMTU = 1280

	// IPv4MaxError is the largest IP packet FragNeeded builds: the ICMP
	// error including its IP header (RFC 1812 4.3.2.3).
	IPv4MaxError = 576
	// IPv6MaxError is the largest IP packet PacketTooBig builds (RFC 4443
	// 2.4(c): the minimum IPv6 MTU).
	IPv6MaxError = IPv6MinMTU

	// TTL is the IPv4 TTL and IPv6 hop limit of the errors: a fresh
	// packet, as a host sends it. Linux's tunnel builder copies the
	// original's TTL instead; a fixed value does not let a sender close
	// to the end of its TTL lose the error, and says nothing about the
	// original's path.
	TTL = 64

	maxL2Len = packet.EthernetHeaderLen + 2*packet.VLANTagLen

	// MaxFragNeededLen is the largest frame FragNeeded writes (two VLAN
	// tags and a 576-byte IP packet).
	MaxFragNeededLen = maxL2Len + IPv4MaxError
	// MaxPacketTooBigLen is the largest frame PacketTooBig writes (two
	// VLAN tags and a 1280-byte IP packet).
	MaxPacketTooBigLen = maxL2Len + IPv6MaxError

	ipv4ErrHdr = packet.IPv4MinHeaderLen + packet.ICMPHeaderLen // 28
	ipv6ErrHdr = packet.IPv6HeaderLen + packet.ICMPHeaderLen    // 48
)

// l2 walks the Ethernet header and up to two VLAN tags (802.1Q or 802.1ad,
// as packet.Parse does) and returns the offset of the L3 header and the
// innermost EtherType. A third tag leaves its TPID as the EtherType, which
// is not IP.
func l2(frame []byte) (l3 int, et uint16, r Reason) {
	if len(frame) < packet.EthernetHeaderLen {
		return 0, 0, Truncated
	}
	et = binary.BigEndian.Uint16(frame[12:14])
	l3 = packet.EthernetHeaderLen
	for i := 0; i < 2 && (et == packet.EtherTypeVLAN || et == packet.EtherTypeQinQ); i++ {
		if len(frame) < l3+packet.VLANTagLen {
			return 0, 0, Truncated
		}
		et = binary.BigEndian.Uint16(frame[l3+2 : l3+4])
		l3 += packet.VLANTagLen
	}
	return l3, et, None
}

// writeL2 writes the reply's Ethernet header into dst: destination = the
// original's source, source = src, and the original's tags and EtherType
// (bytes 12..l3 are copied as they are). orig's bytes 12..l3 must still be
// intact when it runs.
func writeL2(dst, orig []byte, l3 int, src packet.MAC) {
	osrc := packet.Ethernet(orig).Src()
	copy(dst[12:l3], orig[12:l3])
	copy(dst[0:6], osrc[:])
	copy(dst[6:12], src[:])
}

// bogus4 reports whether a is not the address of a single host (RFC 1812
// 4.3.2.7): 0.0.0.0/8, 127.0.0.0/8, multicast 224.0.0.0/4, and class E
// 240.0.0.0/4, which includes the limited broadcast 255.255.255.255.
func bogus4(a [4]byte) bool {
	return a[0] == 0 || a[0] == 127 || a[0] >= 224
}

// multicast4 reports whether a is multicast or the limited broadcast.
func multicast4(a [4]byte) bool {
	return a[0]&0xf0 == 0xe0 || a == [4]byte{255, 255, 255, 255}
}

// bogus6 reports whether a cannot be the source of a packet that should
// get an error (RFC 4443 2.4(e)): the unspecified address, loopback, and
// multicast.
func bogus6(a [16]byte) bool {
	return a == [16]byte{} || a == [16]byte{15: 1} || a[0] == 0xff
}

// icmpv4LastKnown is the highest ICMP type Linux knows (NR_ICMP_TYPES,
// address mask reply).
const icmpv4LastKnown = 18

// icmpv4Error reports whether an ICMP message of type t is an error, as
// Linux decides it: the RFC 792 error types, and every type above the last
// one Linux knows, since an unknown type might be an error.
func icmpv4Error(t uint8) bool {
	return packet.ICMPv4IsError(t) || t > icmpv4LastKnown
}

// FragNeeded writes into dst an Ethernet frame carrying an ICMP
// destination-unreachable, fragmentation-needed error (type 3 code 4) about
// orig, an Ethernet frame (at most two VLAN tags) holding an IPv4 packet
// with DF set that is larger than mtu. It returns the frame's length, or 0
// and the Reason no error may be sent.
//
// The frame: Ethernet source and destination swapped, the same VLAN tags;
// IPv4 with TOS 0, ID 0, DF, TTL 64, no options, source = src if it is a
// unicast IPv4 address (an IPv4-mapped IPv6 address counts) and otherwise
// orig's destination, destination = orig's source; ICMP with the next-hop
// MTU in the low 16 bits of the second word (RFC 1191) and the high 16 bits
// zero, quoting orig's IP packet (trimmed to its total length) up to the
// 576-byte limit; both checksums set.
//
// Refused (see Reason): a frame that is not a well-formed IPv4 packet,
// mtu < 68 or mtu >= the packet's length, DF clear, non-first fragments,
// ICMP errors (echo and other queries are answered), IP multicast or
// 255.255.255.255 destinations and link-layer multicast or broadcast
// destination MACs, sources that are not a single host (or a multicast
// source MAC), and dst too small for the frame. First fragments (MF set,
// offset 0) are answered.
//
// dst may start where orig starts (an in-place rewrite, e.g. dst =
// orig[:cap(orig)]); otherwise they must not overlap. FragNeeded does not
// allocate.
func FragNeeded(dst, orig []byte, mtu int, src netip.Addr) (int, Reason) {
	l3, et, r := l2(orig)
	if r != None {
		return 0, r
	}
	if et != packet.EtherTypeIPv4 {
		return 0, NotIP
	}
	ip := packet.IPv4(orig[l3:])
	if len(ip) < packet.IPv4MinHeaderLen {
		return 0, Truncated
	}
	if ip.Version() != 4 {
		return 0, NotIP
	}
	hl, tl := ip.HeaderLen(), int(ip.TotalLength())
	if hl < packet.IPv4MinHeaderLen || tl < hl || tl > len(ip) {
		return 0, Truncated
	}
	ip = ip[:tl] // L2 padding is not part of the packet
	switch {
	case mtu < IPv4MinMTU:
		return 0, MTUTooSmall
	case mtu >= tl:
		return 0, PacketFits
	case !ip.DF():
		return 0, NotDF
	case ip.FragmentOffset() != 0:
		return 0, NonFirstFragment
	}
	// tl > mtu >= 68 > 60 >= hl: the ICMP type byte is there.
	if ip.Protocol() == packet.ProtoICMP && icmpv4Error(ip[hl]) {
		return 0, AboutICMPError
	}
	eth := packet.Ethernet(orig)
	osrc, odst := ip.Src(), ip.Dst()
	if multicast4(odst) || eth.Dst().IsMulticast() {
		return 0, DstMulticast
	}
	if bogus4(osrc) || eth.Src().IsMulticast() {
		return 0, BogusSource
	}
	from := odst
	if s := src.Unmap(); s.Is4() && !bogus4(s.As4()) {
		from = s.As4()
	} else if bogus4(from) {
		return 0, NoSource
	}
	q := min(tl, IPv4MaxError-ipv4ErrHdr)
	n := l3 + ipv4ErrHdr + q
	if len(dst) < n {
		return 0, DstTooSmall
	}
	macFrom := eth.Dst()

	// The quote first: with dst == orig it moves forward over the bytes
	// it came from, which copy handles; the L2 header is untouched by it.
	body := dst[l3+ipv4ErrHdr : n]
	copy(body, ip[:q])
	writeL2(dst, orig, l3, macFrom)

	h := packet.IPv4(dst[l3 : l3+packet.IPv4MinHeaderLen])
	h.SetHeaderLen(packet.IPv4MinHeaderLen)
	h.SetTOS(0)
	h.SetTotalLength(uint16(ipv4ErrHdr + q))
	h.SetID(0)
	h.SetFlagsFragment(true, false, 0)
	h.SetTTL(TTL)
	h.SetProtocol(packet.ProtoICMP)
	h.SetSrc(from)
	h.SetDst(osrc)
	h.SetChecksum()

	ic := packet.ICMPv4(dst[l3+packet.IPv4MinHeaderLen : n])
	ic.SetType(packet.ICMPv4DstUnreach)
	ic.SetCode(packet.ICMPv4CodeFragNeeded)
	ic.SetChecksum(0)
	ic.SetID(0) // RFC 1191: the unused high 16 bits are zero
	ic.SetMTU(uint16(mtu))
	ic.SetChecksum(^packet.Fold(packet.Sum(ic, 0)))
	return n, None
}

// PacketTooBig writes into dst an Ethernet frame carrying an ICMPv6 packet
// too big (type 2 code 0, RFC 4443 3.2) about orig, an Ethernet frame (at
// most two VLAN tags) holding an IPv6 packet larger than mtu. It is
// PacketTooBigFrom with no source MAC.
func PacketTooBig(dst, orig []byte, mtu int, src netip.Addr) (int, Reason) {
	return PacketTooBigFrom(dst, orig, mtu, src, packet.MAC{})
}

// PacketTooBigFrom is PacketTooBig with an Ethernet source for the error.
//
// The frame: Ethernet destination = orig's source MAC, Ethernet source =
// srcMAC if it is a unicast MAC (not zero) and otherwise orig's destination
// MAC, the same VLAN tags; IPv6 with traffic class 0, flow label 0, hop
// limit 64 (see TTL), source = src if it is a unicast IPv6 address and
// otherwise orig's destination, destination = orig's source; ICMPv6 with
// the 32-bit MTU, quoting orig's IPv6 packet (trimmed to its payload
// length) so that the error is at most 1280 bytes, and the checksum over
// the pseudo header.
//
// Multicast: RFC 4443 2.4(e) allows packet-too-big about packets sent to
// IPv6 multicast addresses and to link-layer multicast or broadcast (path
// MTU discovery for multicast, RFC 8201), and so does PacketTooBigFrom.
// The error still needs a unicast source (RFC 4443 2.2): for an IPv6
// multicast destination the caller must pass src, and for a multicast
// destination MAC it must pass srcMAC; without them the reason is
// NoSource.
//
// Refused (see Reason): a frame that is not a well-formed IPv6 packet or
// whose extension headers cannot be walked to the upper layer, mtu < 1280
// or mtu >= the packet's length, non-first fragments, ICMPv6 errors and
// redirects (echo and other informational messages are answered), sources
// ::, ::1 and multicast (or a multicast source MAC), no usable source, and
// dst too small.
//
// dst may start where orig starts (in place); otherwise they must not
// overlap. It does not allocate.
func PacketTooBigFrom(dst, orig []byte, mtu int, src netip.Addr, srcMAC packet.MAC) (int, Reason) {
	l3, et, r := l2(orig)
	if r != None {
		return 0, r
	}
	if et != packet.EtherTypeIPv6 {
		return 0, NotIP
	}
	ip := packet.IPv6(orig[l3:])
	if len(ip) < packet.IPv6HeaderLen {
		return 0, Truncated
	}
	if ip.Version() != 6 {
		return 0, NotIP
	}
	end := packet.IPv6HeaderLen + int(ip.PayloadLength())
	if end > len(ip) {
		return 0, Truncated
	}
	ip = ip[:end]
	switch {
	case mtu < IPv6MinMTU:
		return 0, MTUTooSmall
	case mtu >= end:
		return 0, PacketFits
	}
	if r := walk6(ip); r != None {
		return 0, r
	}
	eth := packet.Ethernet(orig)
	osrc, odst := ip.Src(), ip.Dst()
	if bogus6(osrc) || eth.Src().IsMulticast() {
		return 0, BogusSource
	}
	from := odst
	if src.Is6() && !src.Is4In6() && !bogus6(src.As16()) {
		from = src.As16()
	} else if bogus6(from) {
		return 0, NoSource
	}
	macFrom := srcMAC
	if macFrom == (packet.MAC{}) || macFrom.IsMulticast() {
		macFrom = eth.Dst()
		if macFrom.IsMulticast() {
			return 0, NoSource
		}
	}
	q := min(end, IPv6MaxError-ipv6ErrHdr)
	n := l3 + ipv6ErrHdr + q
	if len(dst) < n {
		return 0, DstTooSmall
	}

	body := dst[l3+ipv6ErrHdr : n]
	copy(body, ip[:q])
	writeL2(dst, orig, l3, macFrom)

	h := packet.IPv6(dst[l3 : l3+packet.IPv6HeaderLen])
	h.SetVersionClassFlow(0, 0)
	h.SetPayloadLength(uint16(packet.ICMPHeaderLen + q))
	h.SetNextHeader(packet.ProtoICMPv6)
	h.SetHopLimit(TTL)
	h.SetSrc(from)
	h.SetDst(osrc)

	ic := packet.ICMPv6(dst[l3+packet.IPv6HeaderLen : n])
	ic.SetType(packet.ICMPv6PacketTooBig)
	ic.SetCode(0)
	ic.SetChecksum(0)
	ic.SetMTU(uint32(mtu))
	ps := packet.PseudoHeaderSum6(from, osrc, packet.ProtoICMPv6, len(ic))
	ic.SetChecksum(^packet.Fold(packet.Sum(ic, ps)))
	return n, None
}

// walk6 follows the IPv6 extension headers of ip (trimmed to its length) to
// the upper layer and applies the exclusions that depend on it: non-first
// fragments, and ICMPv6 errors and redirects.
func walk6(ip []byte) Reason {
	nh := ip[6]
	off := packet.IPv6HeaderLen
	for i := 0; ; i++ {
		var n int
		switch nh {
		case packet.ProtoHopByHop, packet.ProtoRouting, packet.ProtoDstOpts:
			if off+2 > len(ip) {
				return Truncated
			}
			n = (int(ip[off+1]) + 1) * 8
		case packet.ProtoAH:
			if off+2 > len(ip) {
				return Truncated
			}
			n = (int(ip[off+1]) + 2) * 4
		case packet.ProtoIPv6Frag:
			n = packet.IPv6FragmentHeaderLen
			if off+n > len(ip) {
				return Truncated
			}
			if packet.IPv6Fragment(ip[off:]).FragmentOffset() != 0 {
				return NonFirstFragment
			}
		case packet.ProtoICMPv6:
			if off >= len(ip) {
				return Truncated // no type to look at
			}
			if t := ip[off]; packet.ICMPv6IsError(t) || t == packet.ICMPv6Redirect {
				return AboutICMPError
			}
			return None
		default:
			return None // another upper layer, ESP or no next header
		}
		if i == packet.MaxIPv6ExtHeaders || off+n > len(ip) {
			return Truncated
		}
		nh = ip[off]
		off += n
	}
}
