package packet

import "encoding/binary"

// IPv4 header sizes.
const (
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
)

const (
	ipv4FlagDF     = 0x4000
	ipv4FlagMF     = 0x2000
	ipv4OffsetMask = 0x1fff
)

// IPv4 is an IPv4 header view; the slice may extend past the header.
type IPv4 []byte

// Version returns the version nibble.
func (b IPv4) Version() uint8 {
	if len(b) < 1 {
		return 0
	}
	return b[0] >> 4
}

// HeaderLen returns IHL*4 in bytes.
func (b IPv4) HeaderLen() int {
	if len(b) < 1 {
		return 0
	}
	return int(b[0]&0xf) * 4
}

// TOS returns the DSCP/ECN byte.
func (b IPv4) TOS() uint8 {
	if len(b) < 2 {
		return 0
	}
	return b[1]
}

// TotalLength returns the header-plus-payload length the sender claims.
func (b IPv4) TotalLength() uint16 { return get16(b, 2) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return get16(b, 4) }

// DF reports the don't-fragment flag.
func (b IPv4) DF() bool { return get16(b, 6)&ipv4FlagDF != 0 }

// MF reports the more-fragments flag.
func (b IPv4) MF() bool { return get16(b, 6)&ipv4FlagMF != 0 }

// FragmentOffset returns the fragment offset in bytes (the field is in
// 8-byte units; bytes is what reassembly arithmetic wants).
func (b IPv4) FragmentOffset() uint16 { return (get16(b, 6) & ipv4OffsetMask) * 8 }

// TTL returns the time to live.
func (b IPv4) TTL() uint8 {
	if len(b) < 9 {
		return 0
	}
	return b[8]
}

// Protocol returns the payload protocol number.
func (b IPv4) Protocol() uint8 {
	if len(b) < 10 {
		return 0
	}
	return b[9]
}

// Checksum returns the stored header checksum.
func (b IPv4) Checksum() uint16 { return get16(b, 10) }

// Src returns the source address.
func (b IPv4) Src() (a [4]byte) {
	if len(b) >= 16 {
		a = [4]byte(b[12:16])
	}
	return a
}

// Dst returns the destination address.
func (b IPv4) Dst() (a [4]byte) {
	if len(b) >= 20 {
		a = [4]byte(b[16:20])
	}
	return a
}

// Options returns the bytes between the fixed header and HeaderLen,
// clamped to the slice. Options are carried, not interpreted.
func (b IPv4) Options() []byte {
	hl := min(b.HeaderLen(), len(b))
	if hl <= IPv4MinHeaderLen {
		return nil
	}
	return b[IPv4MinHeaderLen:hl]
}

// Payload returns b[HeaderLen:TotalLength], clamped to the slice, so L2
// padding after TotalLength is never included.
func (b IPv4) Payload() []byte {
	hl := b.HeaderLen()
	end := min(int(b.TotalLength()), len(b))
	if hl < IPv4MinHeaderLen || hl > end {
		return nil
	}
	return b[hl:end]
}

// ComputeChecksum returns the header checksum the header should carry,
// treating the stored checksum field as zero.
func (b IPv4) ComputeChecksum() uint16 {
	hl := b.HeaderLen()
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return 0
	}
	s := Sum(b[:10], 0)
	s = Sum(b[12:hl], s)
	return ^Fold(s)
}

// ValidHeaderChecksum reports whether the header checksum verifies. A header
// whose IHL is invalid or exceeds the slice is reported invalid.
func (b IPv4) ValidHeaderChecksum() bool {
	hl := b.HeaderLen()
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return false
	}
	return Fold(Sum(b[:hl], 0)) == 0xffff
}

// SetChecksum recomputes and stores the header checksum.
func (b IPv4) SetChecksum() {
	hl := b.HeaderLen()
	if hl < IPv4MinHeaderLen || hl > len(b) {
		return
	}
	binary.BigEndian.PutUint16(b[10:12], b.ComputeChecksum())
}

// SetRawChecksum stores v as the header checksum, e.g. after an incremental
// update with UpdateChecksum16.
func (b IPv4) SetRawChecksum(v uint16) { put16(b, 10, v) }

// SetHeaderLen sets version 4 and IHL = n/4.
func (b IPv4) SetHeaderLen(n int) {
	if len(b) >= 1 {
		b[0] = 0x40 | uint8(n/4)&0xf
	}
}

// SetTOS sets the DSCP/ECN byte.
func (b IPv4) SetTOS(v uint8) {
	if len(b) >= 2 {
		b[1] = v
	}
}

// SetTotalLength sets the total length.
func (b IPv4) SetTotalLength(v uint16) { put16(b, 2, v) }

// SetID sets the identification field.
func (b IPv4) SetID(v uint16) { put16(b, 4, v) }

// SetFlagsFragment sets DF, MF and the fragment offset (in bytes; the low
// three bits are dropped since the field counts 8-byte units).
func (b IPv4) SetFlagsFragment(df, mf bool, offsetBytes uint16) {
	v := (offsetBytes / 8) & ipv4OffsetMask
	if df {
		v |= ipv4FlagDF
	}
	if mf {
		v |= ipv4FlagMF
	}
	put16(b, 6, v)
}

// SetTTL sets the time to live.
func (b IPv4) SetTTL(v uint8) {
	if len(b) >= 9 {
		b[8] = v
	}
}

// SetProtocol sets the payload protocol number.
func (b IPv4) SetProtocol(v uint8) {
	if len(b) >= 10 {
		b[9] = v
	}
}

// SetSrc sets the source address.
func (b IPv4) SetSrc(a [4]byte) {
	if len(b) >= 16 {
		copy(b[12:16], a[:])
	}
}

// SetDst sets the destination address.
func (b IPv4) SetDst(a [4]byte) {
	if len(b) >= 20 {
		copy(b[16:20], a[:])
	}
}
