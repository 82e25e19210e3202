package packet

// IPv6 header sizes and limits.
const (
	IPv6HeaderLen         = 40
	IPv6FragmentHeaderLen = 8
	// MaxIPv6ExtHeaders bounds the extension header walk so a crafted chain
	// cannot make Parse loop for long; real traffic uses far fewer.
	MaxIPv6ExtHeaders = 8
)

// IPv6 is an IPv6 fixed header view; the slice may extend past the header.
type IPv6 []byte

// Version returns the version nibble.
func (b IPv6) Version() uint8 { return get8(b, 0) >> 4 }

// TrafficClass returns the 8-bit traffic class.
func (b IPv6) TrafficClass() uint8 { return uint8(get16(b, 0) >> 4) }

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 { return get32(b, 0) & 0xfffff }

// PayloadLength returns the length of everything after the fixed header.
func (b IPv6) PayloadLength() uint16 { return get16(b, 4) }

// NextHeader returns the first next-header value.
func (b IPv6) NextHeader() uint8 { return get8(b, 6) }

// HopLimit returns the hop limit.
func (b IPv6) HopLimit() uint8 { return get8(b, 7) }

// Src returns the source address.
func (b IPv6) Src() (a [16]byte) {
	if len(b) >= 24 {
		a = [16]byte(b[8:24])
	}
	return a
}

// Dst returns the destination address.
func (b IPv6) Dst() (a [16]byte) {
	if len(b) >= 40 {
		a = [16]byte(b[24:40])
	}
	return a
}

// Payload returns b[40:40+PayloadLength] clamped to the slice (extension
// headers included, L2 padding excluded).
func (b IPv6) Payload() []byte {
	return sub(b, IPv6HeaderLen, IPv6HeaderLen+int(b.PayloadLength()))
}

// SetVersionClassFlow sets version 6, the traffic class and the flow label
// (the first word is shared, so it is written as a whole).
func (b IPv6) SetVersionClassFlow(tc uint8, flow uint32) {
	put32(b, 0, 6<<28|uint32(tc)<<20|flow&0xfffff)
}

// SetTrafficClass sets the traffic class, keeping version and flow label.
func (b IPv6) SetTrafficClass(tc uint8) {
	put32(b, 0, get32(b, 0)&^(0xff<<20)|uint32(tc)<<20)
}

// SetFlowLabel sets the flow label, keeping version and traffic class.
func (b IPv6) SetFlowLabel(flow uint32) {
	put32(b, 0, get32(b, 0)&^0xfffff|flow&0xfffff)
}

// SetPayloadLength sets the payload length.
func (b IPv6) SetPayloadLength(v uint16) { put16(b, 4, v) }

// SetNextHeader sets the first next-header value.
func (b IPv6) SetNextHeader(v uint8) { put8(b, 6, v) }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(v uint8) { put8(b, 7, v) }

// SetSrc sets the source address.
func (b IPv6) SetSrc(a [16]byte) {
	if len(b) >= 24 {
		copy(b[8:24], a[:])
	}
}

// SetDst sets the destination address.
func (b IPv6) SetDst(a [16]byte) {
	if len(b) >= 40 {
		copy(b[24:40], a[:])
	}
}

// IPv6Fragment is an IPv6 fragment extension header view (RFC 8200 4.5).
type IPv6Fragment []byte

// NextHeader returns the header type following the fragment header.
func (b IPv6Fragment) NextHeader() uint8 { return get8(b, 0) }

// FragmentOffset returns the offset in bytes.
func (b IPv6Fragment) FragmentOffset() uint16 { return get16(b, 2) &^ 7 }

// More reports the M (more fragments) flag.
func (b IPv6Fragment) More() bool { return get16(b, 2)&1 != 0 }

// ID returns the fragment identification.
func (b IPv6Fragment) ID() uint32 { return get32(b, 4) }

// SetNextHeader sets the following header type.
func (b IPv6Fragment) SetNextHeader(v uint8) { put8(b, 0, v) }

// SetFragment sets the offset (bytes; the low three bits are dropped) and
// the M flag, and clears the reserved bits.
func (b IPv6Fragment) SetFragment(offsetBytes uint16, more bool) {
	v := offsetBytes &^ 7
	if more {
		v |= 1
	}
	put8(b, 1, 0)
	put16(b, 2, v)
}

// SetID sets the fragment identification.
func (b IPv6Fragment) SetID(v uint32) { put32(b, 4, v) }

// ipv6ExtLen returns the length of the extension header of type nh at
// b[off:], reading its length byte; ok is false if nh is not a walkable
// extension header. The length byte must be present (off+2 <= len(b)).
func ipv6ExtLen(nh uint8, b []byte, off int) (n int, ok bool) {
	switch nh {
	case ProtoHopByHop, ProtoRouting, ProtoDstOpts:
		return (int(get8(b, off+1)) + 1) * 8, true
	case ProtoIPv6Frag:
		return IPv6FragmentHeaderLen, true
	case ProtoAH:
		return (int(get8(b, off+1)) + 2) * 4, true
	}
	return 0, false
}

// hasJumboOption reports whether the hop-by-hop header at b[0:] carries the
// RFC 2675 jumbo payload option, looking only at bytes present in b.
func hasJumboOption(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	end := min((int(b[1])+1)*8, len(b))
	for i := 2; i < end; {
		switch t := b[i]; t {
		case 0: // Pad1 has no length byte
			i++
			continue
		case 0xc2:
			return true
		}
		if i+1 >= end {
			return false
		}
		i += 2 + int(b[i+1])
	}
	return false
}

// ipv6FinalDst returns the pseudo-header destination for a packet whose
// routing header is at b[off:] (RFC 8200 8.1: the final destination, not the
// next hop, when segments remain). ok is false for a routing type whose final
// destination we cannot locate.
func ipv6FinalDst(b []byte, off int, dst [16]byte) (a [16]byte, ok bool) {
	segLeft := get8(b, off+3)
	if segLeft == 0 {
		return dst, true
	}
	hdrLen := (int(get8(b, off+1)) + 1) * 8
	var addrOff int
	switch get8(b, off+2) {
	case 0: // RFC 2460 type 0: the last address in the list
		n := (hdrLen - 8) / 16
		if n == 0 {
			return dst, false
		}
		addrOff = off + 8 + (n-1)*16
	case 2: // RFC 6275 type 2: the home address
		addrOff = off + 8
	case 4: // RFC 8754 SRH: Segment List[0] is the final segment
		addrOff = off + 8
	default:
		return dst, false
	}
	if addrOff+16 > off+hdrLen || addrOff+16 > len(b) {
		return dst, false
	}
	return [16]byte(b[addrOff : addrOff+16]), true
}
