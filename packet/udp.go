package packet

// UDPHeaderLen is the UDP header size.
const UDPHeaderLen = 8

// UDP is a UDP header view; the slice may extend into the payload.
type UDP []byte

// SrcPort returns the source port.
func (b UDP) SrcPort() uint16 { return get16(b, 0) }

// DstPort returns the destination port.
func (b UDP) DstPort() uint16 { return get16(b, 2) }

// Length returns the header-plus-payload length the sender claims.
func (b UDP) Length() uint16 { return get16(b, 4) }

// Checksum returns the stored checksum (0 means none for IPv4).
func (b UDP) Checksum() uint16 { return get16(b, 6) }

// Payload returns b[8:Length] when Length is valid for the slice, else
// b[8:]; Parse guarantees the two agree.
func (b UDP) Payload() []byte {
	end := int(b.Length())
	if end < UDPHeaderLen || end > len(b) {
		end = len(b)
	}
	return sub(b, UDPHeaderLen, end)
}

// SetSrcPort sets the source port.
func (b UDP) SetSrcPort(v uint16) { put16(b, 0, v) }

// SetDstPort sets the destination port.
func (b UDP) SetDstPort(v uint16) { put16(b, 2, v) }

// SetLength sets the length field.
func (b UDP) SetLength(v uint16) { put16(b, 4, v) }

// SetChecksum stores v as the checksum.
func (b UDP) SetChecksum(v uint16) { put16(b, 6, v) }
