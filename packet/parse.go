package packet

import "encoding/binary"

// Meta is what Parse learns about a frame. Offsets index the slice that was
// parsed (the Ethernet frame for Parse, the IP packet for ParseIP and
// ParseQuoted). On error, Meta is partially filled and must not be used.
type Meta struct {
	VLANCount int       // 0..2
	VLANs     [2]uint16 // TCIs, outermost first
	EtherType uint16    // innermost EtherType
	L3Off     int       // offset of the IP header

	IPVersion uint8 // 4 or 6; 0 when not IP
	L4Proto   uint8 // protocol after IPv6 extension headers
	L4Off     int   // offset of the L4 header (0 when not IP)
	End       int   // end of the IP packet: the trim point (len(frame) when not IP)
	Padding   int   // bytes after End: L2 padding (or, for ICMP quotes, trailing data)

	Fragment      bool   // IPv4 MF or offset != 0, or an IPv6 fragment header
	FragOffset    uint16 // bytes
	MoreFragments bool
	FragID        uint32 // IPv4 ID or IPv6 fragment ID
	FragHdrOff    int    // IPv6 fragment header offset, 0 if none

	// RoutingHdrOff is the IPv6 routing header offset, 0 if none. The
	// pseudo header of an IPv6 checksum uses the final destination, which
	// a routing header with segments left carries instead of the header.
	RoutingHdrOff int

	// L4Complete: the whole L4 header is present and validated. False for
	// non-first fragments and for first fragments or ICMP quotes that cut
	// the L4 header short.
	L4Complete bool
}

// Trimmed returns frame[:m.End], the frame without L2 padding. It is
// clamped to the frame so a mismatched Meta cannot panic.
func (m *Meta) Trimmed(frame []byte) []byte {
	if m.End < 0 {
		return frame[:0]
	}
	if m.End > len(frame) {
		return frame
	}
	return frame[:m.End]
}

// L3 returns frame[m.L3Off:m.End] (clamped): the IP packet without padding.
func (m *Meta) L3(frame []byte) []byte { return sub(frame, m.L3Off, m.End) }

// L4 returns frame[m.L4Off:m.End] (clamped): the L4 header and payload
// without padding; empty when not IP.
func (m *Meta) L4(frame []byte) []byte {
	if m.IPVersion == 0 {
		return nil
	}
	return sub(frame, m.L4Off, m.End)
}

// Parse validates an Ethernet frame and fills m. Non-IP frames (ARP etc.)
// return nil with IPVersion 0 and End = len(frame). IP frames are checked
// as described on ParseIP, relative to the end of the VLAN tags.
func Parse(frame []byte, m *Meta) error {
	*m = Meta{}
	if len(frame) < EthernetHeaderLen {
		return ErrEthernetTruncated
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	off := EthernetHeaderLen
	for et == EtherTypeVLAN || et == EtherTypeQinQ {
		if m.VLANCount == len(m.VLANs) {
			return ErrTooManyVLANs
		}
		if len(frame) < off+VLANTagLen {
			return ErrVLANTruncated
		}
		m.VLANs[m.VLANCount] = binary.BigEndian.Uint16(frame[off : off+2])
		et = binary.BigEndian.Uint16(frame[off+2 : off+4])
		m.VLANCount++
		off += VLANTagLen
	}
	m.EtherType = et
	m.L3Off = off
	switch et {
	case EtherTypeIPv4:
		return parseIPv4(frame, m, false)
	case EtherTypeIPv6:
		return parseIPv6(frame, m, false)
	}
	m.End = len(frame)
	return nil
}

// ParseIP validates an IP packet (version taken from the first nibble) and
// fills m with L3Off 0. It checks the IP header and lengths, walks IPv6
// extension headers, records fragmentation, and for unfragmented packets
// and first fragments validates the TCP, UDP, ICMPv4, ICMPv6 or GRE header
// within the IP payload. Bytes after the IP length are padding, not data.
func ParseIP(pkt []byte, m *Meta) error {
	return parseIP(pkt, m, false)
}

// ParseQuoted parses the packet quoted in an ICMP error. Quotes are
// truncated, so the IP length may exceed pkt: End is the smaller of the two
// and L4Complete says whether the whole L4 header made it. It still needs
// the full IP header (and every IPv6 extension header before L4) and, for
// unfragmented packets and first fragments, at least 8 bytes of L4, enough
// for ports or the ICMP identifier (RFC 792, RFC 4443).
func ParseQuoted(pkt []byte, m *Meta) error {
	return parseIP(pkt, m, true)
}

func parseIP(pkt []byte, m *Meta, quoted bool) error {
	*m = Meta{}
	if len(pkt) == 0 {
		return ErrIPTruncated
	}
	switch pkt[0] >> 4 {
	case 4:
		m.EtherType = EtherTypeIPv4
		return parseIPv4(pkt, m, quoted)
	case 6:
		m.EtherType = EtherTypeIPv6
		return parseIPv6(pkt, m, quoted)
	}
	return ErrIPVersion
}

func parseIPv4(frame []byte, m *Meta, quoted bool) error {
	b := frame[m.L3Off:]
	if len(b) < IPv4MinHeaderLen {
		return ErrIPv4Truncated
	}
	if b[0]>>4 != 4 {
		return ErrIPv4Version
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen {
		return ErrIPv4IHL
	}
	if hl > len(b) {
		return ErrIPv4HeaderLen
	}
	tl := int(binary.BigEndian.Uint16(b[2:4]))
	if tl < hl {
		return ErrIPv4TotalLenShort
	}
	end := tl
	if tl > len(b) {
		if !quoted {
			return ErrIPv4LenExceeds
		}
		end = len(b)
	}
	ff := binary.BigEndian.Uint16(b[6:8])
	fragOff := int(ff&ipv4OffsetMask) * 8
	// Reassembly would produce a datagram longer than the 16-bit length
	// allows (the "ping of death" shape).
	if fragOff+tl-hl > 0xffff {
		return ErrIPv4FragTooLarge
	}
	m.IPVersion = 4
	m.End = m.L3Off + end
	m.Padding = len(frame) - m.End
	m.L4Proto = b[9]
	m.L4Off = m.L3Off + hl
	if ff&ipv4FlagMF != 0 || fragOff != 0 {
		m.Fragment = true
		m.FragOffset = uint16(fragOff)
		m.MoreFragments = ff&ipv4FlagMF != 0
		m.FragID = uint32(binary.BigEndian.Uint16(b[4:6]))
		if fragOff != 0 {
			return nil // no L4 header in a non-first fragment
		}
	}
	return parseL4(frame, m, quoted)
}

func parseIPv6(frame []byte, m *Meta, quoted bool) error {
	b := frame[m.L3Off:]
	if len(b) < IPv6HeaderLen {
		return ErrIPv6Truncated
	}
	if b[0]>>4 != 6 {
		return ErrIPv6Version
	}
	pl := int(binary.BigEndian.Uint16(b[4:6]))
	nh := b[6]
	if pl == 0 && nh == ProtoHopByHop && hasJumboOption(b[IPv6HeaderLen:]) {
		return ErrIPv6Jumbogram
	}
	end := IPv6HeaderLen + pl
	if end > len(b) {
		if !quoted {
			return ErrIPv6LenExceeds
		}
		end = len(b)
	}
	claimedEnd := m.L3Off + IPv6HeaderLen + pl
	m.IPVersion = 6
	m.End = m.L3Off + end
	m.Padding = len(frame) - m.End

	cur := m.L3Off + IPv6HeaderLen
	for i := 0; ; i++ {
		if !isIPv6Ext(nh) {
			break
		}
		if nh == ProtoHopByHop && i != 0 {
			return ErrIPv6HopByHopOrder
		}
		if i == MaxIPv6ExtHeaders {
			return ErrIPv6TooManyExt
		}
		n := 0
		if cur+2 <= m.End {
			n, _ = ipv6ExtLen(nh, frame, cur)
		}
		if n == 0 || cur+n > m.End {
			if quoted && (n == 0 && cur+2 <= claimedEnd || n != 0 && cur+n <= claimedEnd) {
				// The header is there in the original packet; the quote
				// just stops before L4.
				return ErrQuotedL4Truncated
			}
			return ErrIPv6ExtTruncated
		}
		switch nh {
		case ProtoIPv6Frag:
			if m.FragHdrOff != 0 {
				return ErrIPv6DupFragment
			}
			fo := binary.BigEndian.Uint16(frame[cur+2 : cur+4])
			m.Fragment = true
			m.FragHdrOff = cur
			m.FragOffset = fo &^ 7
			m.MoreFragments = fo&1 != 0
			m.FragID = binary.BigEndian.Uint32(frame[cur+4 : cur+8])
			// Reassembled payload: the unfragmentable headers, then this
			// fragment's data at FragOffset; it must fit the 16-bit length.
			if cur-m.L3Off-IPv6HeaderLen+int(m.FragOffset)+claimedEnd-(cur+n) > 0xffff {
				return ErrIPv6FragTooLarge
			}
		case ProtoRouting:
			if m.RoutingHdrOff == 0 {
				m.RoutingHdrOff = cur
			}
		}
		nh = frame[cur]
		cur += n
		if m.FragOffset != 0 {
			// What follows a non-first fragment header is fragment data,
			// not headers.
			m.L4Proto = nh
			m.L4Off = cur
			return nil
		}
	}
	m.L4Proto = nh
	m.L4Off = cur
	return parseL4(frame, m, quoted)
}

func isIPv6Ext(nh uint8) bool {
	switch nh {
	case ProtoHopByHop, ProtoRouting, ProtoIPv6Frag, ProtoDstOpts, ProtoAH:
		return true
	}
	return false
}

// parseL4 validates the L4 header of an unfragmented packet or a first
// fragment in frame[m.L4Off:m.End].
func parseL4(frame []byte, m *Meta, quoted bool) error {
	l4 := frame[m.L4Off:m.End]
	switch m.L4Proto {
	case ProtoTCP:
		if len(l4) < TCPMinHeaderLen {
			return shortL4(m, len(l4), quoted, ErrTCPTruncated)
		}
		doff := int(l4[12]>>4) * 4
		if doff < TCPMinHeaderLen {
			return ErrTCPDataOffset
		}
		if doff > len(l4) {
			return shortL4(m, len(l4), quoted, ErrTCPDataOffsetLarge)
		}
	case ProtoUDP:
		if len(l4) < UDPHeaderLen {
			return shortL4(m, len(l4), quoted, ErrUDPTruncated)
		}
		ulen := int(binary.BigEndian.Uint16(l4[4:6]))
		if ulen < UDPHeaderLen {
			return ErrUDPLength
		}
		// A first fragment or a quote carries only part of the datagram.
		if !quoted && !m.Fragment && ulen != len(l4) {
			return ErrUDPLength
		}
	case ProtoICMP:
		if len(l4) < ICMPHeaderLen {
			return shortL4(m, len(l4), quoted, ErrICMPv4Truncated)
		}
	case ProtoICMPv6:
		if len(l4) < ICMPHeaderLen {
			return shortL4(m, len(l4), quoted, ErrICMPv6Truncated)
		}
	case ProtoGRE:
		if len(l4) < GREMinHeaderLen {
			return shortL4(m, len(l4), quoted, ErrGRETruncated)
		}
		if GRE(l4).HeaderLen() > len(l4) {
			return shortL4(m, len(l4), quoted, ErrGREHeaderLen)
		}
	}
	m.L4Complete = true
	return nil
}

// shortL4 decides what an L4 header cut short means: for a first fragment
// the rest is in the next fragment (the reassembler's business); for an
// ICMP quote 8 bytes suffice; otherwise the packet is malformed.
func shortL4(m *Meta, have int, quoted bool, err ParseError) error {
	if quoted {
		if have < 8 {
			return ErrQuotedL4Truncated
		}
		return nil
	}
	if m.Fragment {
		return nil
	}
	return err
}
