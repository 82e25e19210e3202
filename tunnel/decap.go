package tunnel

import (
	"encoding/binary"
	"net/netip"

	"github.com/ctswitch/ctswitch/packet"
)

// Addrs are the outer IP addresses of a received packet: Src is the remote
// endpoint, Dst is us.
type Addrs struct{ Src, Dst netip.Addr }

// Decapsulated is what Decap learns from a tunnel packet. Slices are views
// into the frame given to Decap; nothing is copied.
type Decapsulated struct {
	Kind  Kind
	Outer Addrs
	TOS   uint8 // outer DSCP/ECN byte, for RFC 6040 ECN decapsulation by the caller

	Key    uint32 // GRE key, if HasKey
	HasKey bool
	Seq    uint32 // GRE sequence number, if HasSeq
	HasSeq bool

	// HasChecksum: the packet carried a GRE checksum or a non-zero UDP
	// checksum, and it verified.
	HasChecksum bool

	VNI uint32 // Geneve
	OAM bool   // Geneve O bit
	// Critical: the Geneve C bit is set, or some option's type has the
	// critical bit (a sender that forgot the C bit does not get a critical
	// option past us).
	Critical bool
	Options  []byte // raw Geneve options (walk with packet.Geneve.NextOption)

	// Payload is the inner Ethernet frame (GRETap, Geneve) or the inner IP
	// packet (GREIP), at frame[PayloadOff:] and without outer padding.
	Payload    []byte
	PayloadOff int
	// InnerProto is the payload's EtherType: the GRE or Geneve protocol
	// field (0x6558 for Ethernet).
	InnerProto uint16

	// Detail is the packet package's finer reason when the outer headers
	// failed its validation (ReasonTruncated, ReasonBadIPHeader, ...): for
	// traces, not for counters.
	Detail packet.ParseError
}

// Decap parses a received underlay Ethernet frame (outer VLAN tags are
// skipped) and fills d. It returns ReasonNone when the frame is a valid
// GRE packet or a valid Geneve packet to geneveDstPort (0: no Geneve), and
// otherwise the reason to drop it. Decap checks what the packet alone can
// tell; which endpoint it belongs to, its key or VNI, sequence number and
// critical options are Table.Match's business (Table.Receive does both).
//
// In order: the outer IP packet is trimmed to its IP length (L2 padding is
// not part of any checksum); the IPv4 header checksum is verified; outer
// fragments are refused with ReasonOuterFragment (the caller reassembles
// and calls Decap again on the result); GRE: version 0, no routing or
// reserved bits, the checksum if present, an Ethernet, IPv4 or IPv6
// payload; UDP: the checksum when non-zero (zero is accepted over IPv6
// too, as RFC 8926 3.3 and RFC 6935 allow for tunnels); Geneve: version 0,
// options within the packet, each option TLV within the options, then the
// O bit (d is complete then, for whoever handles OAM) and an Ethernet
// payload.
//
// Decap does not allocate.
func Decap(frame []byte, geneveDstPort uint16, d *Decapsulated) Reason {
	*d = Decapsulated{}
	var m packet.Meta
	if err := packet.Parse(frame, &m); err != nil {
		return d.parseFailed(err)
	}
	if m.IPVersion == 0 {
		return ReasonNotIP
	}
	return decap(frame, &m, geneveDstPort, d)
}

// DecapIP is Decap for an outer IP packet without the Ethernet header, such
// as the output of outer reassembly.
func DecapIP(pkt []byte, geneveDstPort uint16, d *Decapsulated) Reason {
	*d = Decapsulated{}
	var m packet.Meta
	if err := packet.ParseIP(pkt, &m); err != nil {
		return d.parseFailed(err)
	}
	return decap(pkt, &m, geneveDstPort, d)
}

func (d *Decapsulated) parseFailed(err error) Reason {
	pe, _ := err.(packet.ParseError)
	d.Detail = pe
	switch pe {
	case packet.ErrEthernetTruncated, packet.ErrVLANTruncated, packet.ErrIPTruncated,
		packet.ErrIPv4Truncated, packet.ErrIPv4HeaderLen, packet.ErrIPv4LenExceeds,
		packet.ErrIPv6Truncated, packet.ErrIPv6LenExceeds, packet.ErrIPv6ExtTruncated,
		packet.ErrUDPTruncated, packet.ErrGRETruncated, packet.ErrGREHeaderLen:
		return ReasonTruncated
	case packet.ErrTooManyVLANs, packet.ErrIPVersion:
		return ReasonNotIP
	case packet.ErrUDPLength:
		return ReasonUDPBadLength
	case packet.ErrTCPTruncated, packet.ErrTCPDataOffset, packet.ErrTCPDataOffsetLarge,
		packet.ErrICMPv4Truncated, packet.ErrICMPv6Truncated:
		return ReasonNotTunnel // a broken TCP or ICMP packet is not ours either
	}
	return ReasonBadIPHeader
}

func decap(frame []byte, m *packet.Meta, port uint16, d *Decapsulated) Reason {
	ipb := frame[m.L3Off:m.End]
	if m.IPVersion == 4 {
		ip := packet.IPv4(ipb)
		if !ip.ValidHeaderChecksum() {
			return ReasonBadIPChecksum
		}
		d.Outer = Addrs{netip.AddrFrom4(ip.Src()), netip.AddrFrom4(ip.Dst())}
		d.TOS = ip.TOS()
	} else {
		ip := packet.IPv6(ipb)
		d.Outer = Addrs{netip.AddrFrom16(ip.Src()), netip.AddrFrom16(ip.Dst())}
		d.TOS = ip.TrafficClass()
	}
	if m.Fragment {
		return ReasonOuterFragment
	}
	l4 := frame[m.L4Off:m.End]
	switch m.L4Proto {
	case packet.ProtoGRE:
		return decapGRE(l4, m.L4Off, d)
	case packet.ProtoUDP:
		if port != 0 && packet.UDP(l4).DstPort() == port {
			return decapGeneve(frame, m, l4, d)
		}
	}
	return ReasonNotTunnel
}

const greFlagRouting = 0x4000

func decapGRE(l4 []byte, l4Off int, d *Decapsulated) Reason {
	switch packet.ValidateGRE(l4) {
	case nil:
	case packet.ErrGREVersion:
		return ReasonGREVersion
	case packet.ErrGREReserved:
		if binary.BigEndian.Uint16(l4[0:2])&greFlagRouting != 0 {
			return ReasonGRERouting
		}
		return ReasonGREReserved
	default:
		return ReasonTruncated
	}
	g := packet.GRE(l4)
	if g.ChecksumPresent() {
		if !g.ValidChecksum() {
			return ReasonGREBadChecksum
		}
		d.HasChecksum = true
	}
	d.HasKey, d.Key = g.KeyPresent(), g.Key()
	d.HasSeq, d.Seq = g.SeqPresent(), g.Seq()
	proto := g.Protocol()
	d.InnerProto = proto
	hl := g.HeaderLen()
	p := l4[hl:]
	switch proto {
	case packet.EtherTypeTEB:
		d.Kind = GRETap
		if len(p) < packet.EthernetHeaderLen {
			return ReasonInnerMalformed
		}
	case packet.EtherTypeIPv4:
		d.Kind = GREIP
		if len(p) < packet.IPv4MinHeaderLen || p[0]>>4 != 4 {
			return ReasonInnerMalformed
		}
	case packet.EtherTypeIPv6:
		d.Kind = GREIP
		if len(p) < packet.IPv6HeaderLen || p[0]>>4 != 6 {
			return ReasonInnerMalformed
		}
	default:
		return ReasonGREProtocol
	}
	d.Payload, d.PayloadOff = p, l4Off+hl
	return ReasonNone
}

func decapGeneve(frame []byte, m *packet.Meta, l4 []byte, d *Decapsulated) Reason {
	d.Kind = Geneve
	// Parse has checked that the UDP length equals the IP payload length.
	if packet.UDP(l4).Checksum() != 0 {
		if !packet.VerifyL4Checksum(frame, m) {
			return ReasonUDPBadChecksum
		}
		d.HasChecksum = true
	}
	gb := l4[packet.UDPHeaderLen:]
	if len(gb) < packet.GeneveHeaderLen {
		return ReasonTruncated
	}
	g := packet.Geneve(gb)
	if g.Version() != 0 {
		return ReasonGeneveVersion
	}
	hl := g.HeaderLen()
	if hl > len(gb) {
		return ReasonGeneveBadOptLen
	}
	crit := g.Critical()
	for off := 0; ; {
		opt, next, err := g.NextOption(off)
		if err != nil {
			return ReasonGeneveBadOption
		}
		if opt == nil {
			break
		}
		crit = crit || opt.Critical()
		off = next
	}
	d.VNI, d.OAM, d.Critical = g.VNI(), g.OAM(), crit
	d.Options = gb[packet.GeneveHeaderLen:hl]
	d.InnerProto = g.Protocol()
	d.Payload, d.PayloadOff = gb[hl:], m.L4Off+packet.UDPHeaderLen+hl
	if d.OAM {
		return ReasonGeneveOAM
	}
	if d.InnerProto != packet.EtherTypeTEB {
		return ReasonGeneveProtocol
	}
	if len(d.Payload) < packet.EthernetHeaderLen {
		return ReasonInnerMalformed
	}
	return ReasonNone
}
