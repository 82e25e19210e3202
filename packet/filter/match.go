package filter

import (
	"encoding/binary"

	"github.com/ctswitch/ctswitch/packet"
)

const genevePort = 6081

// What a layer's innerKind says is encapsulated in it.
const (
	innerNone uint8 = iota
	innerEth        // an Ethernet frame (GRE 0x6558, Geneve 0x6558)
	innerIPv4       // a bare IPv4 packet
	innerIPv6       // a bare IPv6 packet
)

// Layer flags: which parts of a layer were found and may be read.
const (
	fPresent  uint16 = 1 << iota // the layer exists
	fEth                         // a whole Ethernet header at start
	fL4                          // l4 is the upper-layer header (not a non-first fragment)
	fPorts                       // TCP, UDP or SCTP with both ports present
	fTCPFlags                    // TCP with its flags byte present
	fICMP                        // ICMP (in IPv4) or ICMPv6 (in IPv6) with its type present
	fGRE                         // a valid GRE header at l4
	fGREKey                      // ... carrying a key (tunID)
	fGeneve                      // a valid Geneve header after the UDP header (VNI in tunID)
)

// layer is what one decoding of one header layer learned: the outer frame
// (level 0) or an encapsulated packet. Offsets index the whole frame; every
// one that a set flag vouches for leaves room for the fields read there.
type layer struct {
	flags     uint16
	etype     uint16 // EtherType after the VLAN tags (for a bare inner IP packet, the tunnel's protocol)
	vlan      [2]uint16
	nvlan     uint8
	ipv       uint8 // 4 or 6 if an IP header was found, else 0
	afam      uint8 // 4 for IPv4 and Ethernet/IPv4 ARP, 6 for IPv6: the addresses at l3 can be read
	proto     uint8 // IP protocol, or the IPv6 next header after the extension headers
	innerKind uint8
	tunID     uint32 // GRE key or Geneve VNI
	start     int    // first byte of the layer (its Ethernet header, or its IP header when bare)
	end       int    // end of the layer's bytes
	l3        int    // IP header (or ARP payload)
	l4        int    // upper-layer header, when fL4
	inner     int    // encapsulated packet: frame[inner:innerEnd]
	innerEnd  int
}

// state is one Match call's view of the frame. Layers are decoded on first
// use, each at most once.
type state struct {
	fr []byte
	n  int // layers decoded so far
	l  [MaxInner + 1]layer
}

func (s *state) layer(i int) *layer {
	for s.n <= i && s.n < len(s.l) {
		L := &s.l[s.n]
		if s.n == 0 {
			s.decode(L, 0, len(s.fr), innerEth)
		} else if p := &s.l[s.n-1]; p.innerKind != innerNone {
			s.decode(L, p.inner, p.innerEnd, p.innerKind)
		}
		s.n++
	}
	return &s.l[min(i, MaxInner)]
}

func be16(b []byte, off int) uint16 {
	if off < 0 || off+2 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint16(b[off:])
}

func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}

func be48(b []byte, off int) uint64 {
	if off < 0 || off+6 > len(b) {
		return 0
	}
	return uint64(binary.BigEndian.Uint16(b[off:]))<<32 | uint64(binary.BigEndian.Uint32(b[off+2:]))
}

func be64(b []byte, off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint64(b[off:])
}

func u8(b []byte, off int) uint8 {
	if off < 0 || off >= len(b) {
		return 0
	}
	return b[off]
}

// decode fills L from frame[start:end], which holds an Ethernet frame
// (kind innerEth) or a bare IP packet. It is lenient, unlike packet.Parse:
// a filter must still see the addresses of a packet whose UDP length is
// wrong or whose capture was cut short, so it takes what is there and
// never reads past end. Bytes after the IP length (L2 padding) are ignored
// when looking for L4 and encapsulated headers.
func (s *state) decode(L *layer, start, end int, kind uint8) {
	fr := s.fr
	if start < 0 || end > len(fr) || start > end {
		return
	}
	L.flags = fPresent
	L.start, L.end = start, end
	off := start
	switch kind {
	case innerEth:
		if end-start < packet.EthernetHeaderLen {
			return
		}
		L.flags |= fEth
		et := be16(fr, start+12)
		off = start + packet.EthernetHeaderLen
		for (et == packet.EtherTypeVLAN || et == packet.EtherTypeQinQ) &&
			int(L.nvlan) < len(L.vlan) && off+packet.VLANTagLen <= end {
			L.vlan[L.nvlan] = packet.VLANID(be16(fr, off))
			et = be16(fr, off+2)
			L.nvlan++
			off += packet.VLANTagLen
		}
		L.etype = et
	case innerIPv4:
		L.etype = packet.EtherTypeIPv4
	case innerIPv6:
		L.etype = packet.EtherTypeIPv6
	}
	switch L.etype {
	case packet.EtherTypeIPv4:
		s.ipv4(L, off, end)
	case packet.EtherTypeIPv6:
		s.ipv6(L, off, end)
	case packet.EtherTypeARP:
		// Ethernet/IPv4 ARP: sender protocol address at 14, target at 24.
		if end-off >= 28 && be16(fr, off) == 1 && be16(fr, off+2) == packet.EtherTypeIPv4 &&
			fr[off+4] == 6 && fr[off+5] == 4 {
			L.afam, L.l3 = 4, off
		}
	}
}

func (s *state) ipv4(L *layer, off, end int) {
	fr := s.fr
	if end-off < packet.IPv4MinHeaderLen || fr[off]>>4 != 4 {
		return
	}
	hl := int(fr[off]&0xf) * 4
	if hl < packet.IPv4MinHeaderLen || off+hl > end {
		return
	}
	L.ipv, L.afam, L.l3 = 4, 4, off
	L.proto = fr[off+9]
	ipEnd := min(off+int(be16(fr, off+2)), end)
	if be16(fr, off+6)&0x1fff != 0 {
		return // a non-first fragment: no upper-layer header
	}
	if ipEnd < off+hl {
		ipEnd = off + hl // total length below the header: no payload
	}
	s.upper(L, off+hl, ipEnd)
}

func (s *state) ipv6(L *layer, off, end int) {
	fr := s.fr
	if end-off < packet.IPv6HeaderLen || fr[off]>>4 != 6 {
		return
	}
	L.ipv, L.afam, L.l3 = 6, 6, off
	ipEnd := min(off+packet.IPv6HeaderLen+int(be16(fr, off+4)), end)
	nh := fr[off+6]
	cur := off + packet.IPv6HeaderLen
	for i := 0; ; i++ {
		var n int
		switch nh {
		case packet.ProtoHopByHop, packet.ProtoRouting, packet.ProtoDstOpts:
			n = (int(u8(fr, cur+1)) + 1) * 8
		case packet.ProtoIPv6Frag:
			n = packet.IPv6FragmentHeaderLen
		case packet.ProtoAH:
			n = (int(u8(fr, cur+1)) + 2) * 4
		}
		if n == 0 {
			break // the upper layer
		}
		if i == packet.MaxIPv6ExtHeaders || cur+n > ipEnd {
			L.proto = nh // a chain we cannot follow: no upper-layer header
			return
		}
		next := fr[cur]
		if nh == packet.ProtoIPv6Frag && be16(fr, cur+2)&^7 != 0 {
			L.proto = next // a non-first fragment: the rest is fragment data
			return
		}
		nh = next
		cur += n
	}
	L.proto = nh
	s.upper(L, cur, ipEnd)
}

// upper records the upper-layer header at frame[off:end] and, for GRE and
// Geneve, where the encapsulated packet is.
func (s *state) upper(L *layer, off, end int) {
	fr := s.fr
	L.flags |= fL4
	L.l4 = off
	n := end - off
	switch L.proto {
	case packet.ProtoTCP:
		if n >= 4 {
			L.flags |= fPorts
		}
		if n >= 14 {
			L.flags |= fTCPFlags
		}
	case packet.ProtoSCTP:
		if n >= 4 {
			L.flags |= fPorts
		}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if n >= 1 && (L.proto == packet.ProtoICMP) == (L.ipv == 4) {
			L.flags |= fICMP
		}
	case packet.ProtoUDP:
		if n >= 4 {
			L.flags |= fPorts
		}
		if n < packet.UDPHeaderLen || be16(fr, off+2) != genevePort {
			return
		}
		uend := end
		if ul := int(be16(fr, off+4)); ul >= packet.UDPHeaderLen && off+ul <= end {
			uend = off + ul
		}
		g := packet.Geneve(fr[off+packet.UDPHeaderLen : uend])
		if len(g) < packet.GeneveHeaderLen || g.Version() != 0 || g.HeaderLen() > len(g) {
			return
		}
		L.flags |= fGeneve
		L.tunID = g.VNI()
		s.setInner(L, g.Protocol(), off+packet.UDPHeaderLen+g.HeaderLen(), uend)
	case packet.ProtoGRE:
		g := packet.GRE(fr[off:end])
		if packet.ValidateGRE(g) != nil {
			return
		}
		L.flags |= fGRE
		if g.KeyPresent() {
			L.flags |= fGREKey
			L.tunID = g.Key()
		}
		s.setInner(L, g.Protocol(), off+g.HeaderLen(), end)
	}
}

func (s *state) setInner(L *layer, proto uint16, off, end int) {
	switch proto {
	case packet.EtherTypeTEB:
		L.innerKind = innerEth
	case packet.EtherTypeIPv4:
		L.innerKind = innerIPv4
	case packet.EtherTypeIPv6:
		L.innerKind = innerIPv6
	default:
		return
	}
	L.inner, L.innerEnd = off, end
}

// test runs one instruction's test.
func (s *state) test(in *insn) bool {
	L := s.layer(int(in.level))
	if L.flags&fPresent == 0 {
		return false
	}
	fr := s.fr
	switch in.op {
	case opInner:
		return true
	case opVLAN:
		if L.nvlan == 0 {
			return false
		}
		return in.arg == 0 || uint32(L.vlan[0]) == in.lo || L.nvlan > 1 && uint32(L.vlan[1]) == in.lo
	case opEtherType:
		return uint32(L.etype) == in.lo
	case opIPVersion:
		return uint32(L.ipv) == in.lo
	case opProto:
		return L.ipv != 0 && uint32(L.proto) == in.lo && (in.arg == 0 || in.arg == L.ipv)
	case opAddr4:
		if L.afam != 4 {
			return false
		}
		so, do := L.l3+12, L.l3+16
		if L.ipv == 0 { // ARP
			so, do = L.l3+14, L.l3+24
		}
		return in.dir != dirDst && uint64(be32(fr, so))&in.m[0] == in.a[0] ||
			in.dir != dirSrc && uint64(be32(fr, do))&in.m[0] == in.a[0]
	case opAddr6:
		if L.afam != 6 {
			return false
		}
		return in.dir != dirDst && addr6(fr, L.l3+8, in) || in.dir != dirSrc && addr6(fr, L.l3+24, in)
	case opPort:
		if L.flags&fPorts == 0 || in.arg != 0 && in.arg != L.proto {
			return false
		}
		if in.dir != dirDst {
			if p := uint32(be16(fr, L.l4)); in.lo <= p && p <= in.hi {
				return true
			}
		}
		if in.dir != dirSrc {
			if p := uint32(be16(fr, L.l4+2)); in.lo <= p && p <= in.hi {
				return true
			}
		}
		return false
	case opTCPFlag:
		return L.flags&fTCPFlags != 0 && uint32(u8(fr, L.l4+13))&in.lo != 0
	case opICMPType:
		return L.flags&fICMP != 0 && uint32(u8(fr, L.l4)) == in.lo
	case opLen:
		n := uint64(L.end - L.start)
		v := uint64(in.lo)
		switch cmpOp(in.arg) {
		case cmpLT:
			return n < v
		case cmpLE:
			return n <= v
		case cmpEQ:
			return n == v
		case cmpNE:
			return n != v
		case cmpGE:
			return n >= v
		case cmpGT:
			return n > v
		}
		return false
	case opVNI:
		return L.flags&fGeneve != 0 && L.tunID == in.lo
	case opGREKey:
		return L.flags&fGREKey != 0 && L.tunID == in.lo
	case opEther:
		if L.flags&fEth == 0 {
			return false
		}
		return in.dir != dirDst && be48(fr, L.start+6) == in.a[0] || in.dir != dirSrc && be48(fr, L.start) == in.a[0]
	}
	return false
}

func addr6(fr []byte, off int, in *insn) bool {
	return be64(fr, off)&in.m[0] == in.a[0] && be64(fr, off+8)&in.m[1] == in.a[1]
}
