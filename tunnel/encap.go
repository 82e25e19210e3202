package tunnel

import (
	"errors"

	"github.com/ctswitch/ctswitch/packet"
)

// Encap errors. They are values, so returning one does not allocate.
var (
	ErrShortBuffer    = errors.New("tunnel: destination buffer too small for the encapsulated frame")
	ErrNotIP          = errors.New("tunnel: a gre (IP) endpoint carries only IPv4 and IPv6 packets")
	ErrInnerTruncated = errors.New("tunnel: inner frame shorter than an Ethernet header")
	ErrTooLarge       = errors.New("tunnel: encapsulated packet longer than the IP length field allows")
)

// EncapFlags modify one Encap call.
type EncapFlags uint8

const (
	// Fragmentable clears the outer IPv4 DF bit, and so gives the packet a
	// unique ID, whatever the DF policy: for Decide's FragmentOuter, where
	// the outer packet is about to be fragmented. No effect over IPv6.
	Fragmentable EncapFlags = 1 << iota
)

// Encap writes the encapsulated frame into dst and returns its length:
// outer Ethernet (srcMAC is the underlay port's, dstMAC the next hop's),
// outer IP, GRE or UDP+Geneve, then the payload: the inner Ethernet frame
// (GRETap, Geneve) or its IP packet (GREIP, which refuses non-IP frames
// with ErrNotIP). An IP inner frame is first trimmed to its IP length, so
// L2 padding is never carried (incident 2's lesson, on the sending side).
//
// Per packet: the outer IPv4 DF bit per the DF policy; the outer IPv4 ID is
// 0 when DF is set (an atomic datagram, RFC 6864 4.1, as OVS and Linux
// send) and unique per (local, remote, protocol) when DF is clear; the outer
// ECN field is copied from the inner IP header with CE sent as ECT(0)
// (Linux INET_ECN_encapsulate); the IPv6 flow label and the UDP source port
// come from flowHash, so one inner flow keeps one outer 5-tuple (ECMP and
// RSS keep it in order) while flows spread; the GRE sequence number counts
// from 0 per endpoint; GRE and UDP checksums are computed when enabled.
//
// flowHash should be a hash of the inner flow (the dataplane's symmetric
// 5-tuple hash is fine). dst may overlap inner, for encapsulating in place
// in a buffer with HeaderLen+14 bytes of headroom in front of the inner
// frame. Encap does not allocate.
func (e *Endpoint) Encap(dst []byte, srcMAC, dstMAC packet.MAC, inner []byte, flowHash uint64) (int, error) {
	return e.EncapWith(dst, srcMAC, dstMAC, inner, flowHash, 0)
}

// EncapWith is Encap with flags.
func (e *Endpoint) EncapWith(dst []byte, srcMAC, dstMAC packet.MAC, inner []byte, flowHash uint64, flags EncapFlags) (int, error) {
	if len(inner) < packet.EthernetHeaderLen {
		return 0, ErrInnerTruncated
	}
	ii := inspect(inner)
	payload := inner[:ii.end]
	if e.cfg.Kind == GREIP {
		if ii.ipVer == 0 {
			return 0, ErrNotIP
		}
		payload = inner[ii.l3off:ii.end]
	}
	ipTotal := e.hdrLen + len(payload)
	if e.v6 && ipTotal-packet.IPv6HeaderLen > 0xffff || !e.v6 && ipTotal > 0xffff {
		return 0, ErrTooLarge
	}
	n := packet.EthernetHeaderLen + ipTotal
	if len(dst) < n {
		return 0, ErrShortBuffer
	}

	// Everything read from inner is read above and here: the copies below
	// may overwrite it when dst overlaps inner.
	df := e.outerDF(&ii) && flags&Fragmentable == 0
	ecn := ii.tos & 3
	if ecn == 3 {
		ecn = 2
	}
	proto := ii.etherType

	copy(dst[packet.EthernetHeaderLen+e.hdrLen:n], payload) // memmove: overlap is fine
	ipb := dst[packet.EthernetHeaderLen:n]
	copy(ipb, e.tmpl[:e.hdrLen])
	eth := packet.Ethernet(dst)
	eth.SetDst(dstMAC)
	eth.SetSrc(srcMAC)

	h := uint32(flowHash ^ flowHash>>32)
	if e.v6 {
		eth.SetEtherType(packet.EtherTypeIPv6)
		ip := packet.IPv6(ipb)
		label := h & 0xfffff
		if label == 0 {
			label = 1 // RFC 6437: 0 means "no flow label"
		}
		ip.SetVersionClassFlow(ecn, label)
		ip.SetPayloadLength(uint16(ipTotal - packet.IPv6HeaderLen))
	} else {
		eth.SetEtherType(packet.EtherTypeIPv4)
		ip := packet.IPv4(ipb)
		ip.SetTOS(ecn)
		ip.SetTotalLength(uint16(ipTotal))
		if df {
			ip.SetFlagsFragment(true, false, 0) // the template's ID is 0
		} else {
			ip.SetID(uint16(e.ids.Add(1)))
		}
		ip.SetChecksum()
	}

	l4 := ipb[e.ipLen:]
	if e.cfg.Kind.IsGRE() {
		g := packet.GRE(l4)
		if e.cfg.Kind == GREIP {
			g.SetProtocol(proto)
		}
		if e.seqOn {
			g.SetSeq(e.txSeq.Add(1) - 1)
		}
		if e.csum {
			// RFC 2784 2.5: over the GRE header and payload; the field
			// is zero in the template.
			g.SetChecksum(^packet.Fold(packet.Sum(l4, 0)))
		}
		return n, nil
	}
	u := packet.UDP(l4)
	// Scale the hash into the range with a multiply, not a modulo: every
	// port gets an equal share and there is no division.
	u.SetSrcPort(e.srcLo + uint16(uint64(h)*e.srcSpan>>32))
	u.SetLength(uint16(len(l4)))
	if e.csum {
		var s uint32
		if e.v6 {
			s = packet.PseudoHeaderSum6(e.local, e.remote, packet.ProtoUDP, len(l4))
		} else {
			s = packet.PseudoHeaderSum4([4]byte(e.local[12:]), [4]byte(e.remote[12:]), packet.ProtoUDP, len(l4))
		}
		c := ^packet.Fold(packet.Sum(l4, s))
		if c == 0 {
			c = 0xffff // 0 would mean "no checksum"
		}
		u.SetChecksum(c)
	}
	return n, nil
}

// outerDF is the outer IPv4 DF bit the policy gives this inner frame.
func (e *Endpoint) outerDF(ii *innerInfo) bool {
	switch e.cfg.DF {
	case DFInherit:
		return ii.ipVer == 6 || ii.ipVer == 4 && ii.df
	case DFUnset:
		return false
	}
	return true
}
