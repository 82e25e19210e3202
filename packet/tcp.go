package packet

// TCP header sizes.
const (
	TCPMinHeaderLen = 20
	TCPMaxHeaderLen = 60
)

// TCP option kinds (RFC 9293, RFC 7323, RFC 2018).
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWScale        = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamps    = 8
)

// TCP is a TCP header view; the slice may extend into the payload.
type TCP []byte

// SrcPort returns the source port.
func (b TCP) SrcPort() uint16 { return get16(b, 0) }

// DstPort returns the destination port.
func (b TCP) DstPort() uint16 { return get16(b, 2) }

// Seq returns the sequence number.
func (b TCP) Seq() uint32 { return get32(b, 4) }

// Ack returns the acknowledgment number.
func (b TCP) Ack() uint32 { return get32(b, 8) }

// DataOffset returns the header length in bytes.
func (b TCP) DataOffset() int { return int(get8(b, 12)>>4) * 4 }

// Flags returns the flag byte (TCPFlag*).
func (b TCP) Flags() uint8 { return get8(b, 13) }

// Window returns the raw (unscaled) window.
func (b TCP) Window() uint16 { return get16(b, 14) }

// Checksum returns the stored checksum.
func (b TCP) Checksum() uint16 { return get16(b, 16) }

// Urgent returns the urgent pointer.
func (b TCP) Urgent() uint16 { return get16(b, 18) }

// Options returns b[20:DataOffset], clamped to the slice.
func (b TCP) Options() []byte { return sub(b, TCPMinHeaderLen, b.DataOffset()) }

// Payload returns the bytes after DataOffset (nil if the offset is invalid).
func (b TCP) Payload() []byte {
	off := b.DataOffset()
	if off < TCPMinHeaderLen {
		return nil
	}
	return sub(b, off, len(b))
}

// SetSrcPort sets the source port.
func (b TCP) SetSrcPort(v uint16) { put16(b, 0, v) }

// SetDstPort sets the destination port.
func (b TCP) SetDstPort(v uint16) { put16(b, 2, v) }

// SetSeq sets the sequence number.
func (b TCP) SetSeq(v uint32) { put32(b, 4, v) }

// SetAck sets the acknowledgment number.
func (b TCP) SetAck(v uint32) { put32(b, 8, v) }

// SetDataOffset sets the header length in bytes (a multiple of 4); the
// reserved bits and the NS bit sharing the byte are cleared.
func (b TCP) SetDataOffset(n int) { put8(b, 12, uint8(n/4)<<4) }

// SetFlags sets the flag byte.
func (b TCP) SetFlags(v uint8) { put8(b, 13, v) }

// SetWindow sets the raw window.
func (b TCP) SetWindow(v uint16) { put16(b, 14, v) }

// SetChecksum stores v as the checksum.
func (b TCP) SetChecksum(v uint16) { put16(b, 16, v) }

// SetUrgent sets the urgent pointer.
func (b TCP) SetUrgent(v uint16) { put16(b, 18, v) }

// SACKBlock is one SACK edge pair.
type SACKBlock struct{ Left, Right uint32 }

// TCPOptions holds the options conntrack cares about, parsed without
// allocation. WScale is the raw shift as sent; callers clamp it to 14.
type TCPOptions struct {
	MSS    uint16
	HasMSS bool

	WScale    uint8
	HasWScale bool

	SACKPermitted bool

	HasTimestamps bool
	TSVal, TSEcr  uint32

	NumSACK int
	SACK    [4]SACKBlock
}

// ParseTCPOptions parses the option bytes of a TCP header into o, which is
// zeroed first. EOL ends the list and NOP is skipped. An option whose length
// byte is missing, below 2 or running past the end is an error, because the
// rest of the list cannot be located. Known options with the wrong length
// are ignored (as Linux does) since the list stays walkable; unknown options
// are skipped. On error, o keeps the options parsed before the bad one.
func ParseTCPOptions(opts []byte, o *TCPOptions) error {
	*o = TCPOptions{}
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return ErrTCPOptTruncated
		}
		l := int(opts[i+1])
		if l < 2 {
			return ErrTCPOptLength
		}
		if i+l > len(opts) {
			return ErrTCPOptOverrun
		}
		v := opts[i+2 : i+l]
		switch kind {
		case TCPOptMSS:
			if l == 4 {
				o.MSS = uint16(v[0])<<8 | uint16(v[1])
				o.HasMSS = true
			}
		case TCPOptWScale:
			if l == 3 {
				o.WScale = v[0]
				o.HasWScale = true
			}
		case TCPOptSACKPermitted:
			if l == 2 {
				o.SACKPermitted = true
			}
		case TCPOptTimestamps:
			if l == 10 {
				o.TSVal = get32(v, 0)
				o.TSEcr = get32(v, 4)
				o.HasTimestamps = true
			}
		case TCPOptSACK:
			// Only 4 blocks fit in 40 option bytes, so the cap never drops
			// blocks from a real header.
			if n := (l - 2) / 8; n >= 1 && (l-2)%8 == 0 {
				n = min(n, len(o.SACK))
				for j := 0; j < n; j++ {
					o.SACK[j] = SACKBlock{get32(v, 8*j), get32(v, 8*j+4)}
				}
				o.NumSACK = n
			}
		}
		i += l
	}
	return nil
}
