package packet

// GRE sizes and flag bits (RFC 2784, RFC 2890).
const (
	GREMinHeaderLen = 4
	GREMaxHeaderLen = 16

	greFlagC = 0x8000
	greFlagK = 0x2000
	greFlagS = 0x1000
	// Everything in bits 1-12 except K and S: the RFC 1701 routing,
	// strict-route, recursion and flag bits that RFC 2784 requires be zero.
	greReservedMask = 0x4ff8
	greVersionMask  = 0x0007
)

// GRE is a GRE header view; the slice may extend into the payload.
type GRE []byte

func (b GRE) flags() uint16 { return get16(b, 0) }

// ChecksumPresent reports the C bit.
func (b GRE) ChecksumPresent() bool { return b.flags()&greFlagC != 0 }

// KeyPresent reports the K bit.
func (b GRE) KeyPresent() bool { return b.flags()&greFlagK != 0 }

// SeqPresent reports the S bit.
func (b GRE) SeqPresent() bool { return b.flags()&greFlagS != 0 }

// Version returns the 3-bit version.
func (b GRE) Version() uint8 { return uint8(b.flags() & greVersionMask) }

// Protocol returns the payload EtherType.
func (b GRE) Protocol() uint16 { return get16(b, 2) }

// HeaderLen returns 4 plus 4 for each of C, K and S.
func (b GRE) HeaderLen() int {
	f := b.flags()
	n := GREMinHeaderLen
	if f&greFlagC != 0 {
		n += 4
	}
	if f&greFlagK != 0 {
		n += 4
	}
	if f&greFlagS != 0 {
		n += 4
	}
	return n
}

func (b GRE) keyOff() int {
	if b.ChecksumPresent() {
		return 8
	}
	return 4
}

func (b GRE) seqOff() int {
	off := b.keyOff()
	if b.KeyPresent() {
		off += 4
	}
	return off
}

// Checksum returns the checksum field; meaningful only if ChecksumPresent.
func (b GRE) Checksum() uint16 {
	if !b.ChecksumPresent() {
		return 0
	}
	return get16(b, 4)
}

// Key returns the key; meaningful only if KeyPresent.
func (b GRE) Key() uint32 {
	if !b.KeyPresent() {
		return 0
	}
	return get32(b, b.keyOff())
}

// Seq returns the sequence number; meaningful only if SeqPresent.
func (b GRE) Seq() uint32 {
	if !b.SeqPresent() {
		return 0
	}
	return get32(b, b.seqOff())
}

// Payload returns the bytes after HeaderLen.
func (b GRE) Payload() []byte { return sub(b, b.HeaderLen(), len(b)) }

// ValidChecksum reports whether the checksum over the whole slice (header
// and payload) verifies; true when no checksum is present.
func (b GRE) ValidChecksum() bool {
	if !b.ChecksumPresent() {
		return true
	}
	return Fold(Sum(b, 0)) == 0xffff
}

// SetFlags sets the C, K and S bits with version 0 and all reserved bits
// clear. The caller lays out the optional fields to match.
func (b GRE) SetFlags(csum, key, seq bool) {
	var f uint16
	if csum {
		f |= greFlagC
	}
	if key {
		f |= greFlagK
	}
	if seq {
		f |= greFlagS
	}
	put16(b, 0, f)
}

// SetProtocol sets the payload EtherType.
func (b GRE) SetProtocol(v uint16) { put16(b, 2, v) }

// SetChecksum stores v (and zeroes Reserved1); no-op without the C bit.
func (b GRE) SetChecksum(v uint16) {
	if b.ChecksumPresent() {
		put16(b, 4, v)
		put16(b, 6, 0)
	}
}

// SetKey stores the key; no-op without the K bit.
func (b GRE) SetKey(v uint32) {
	if b.KeyPresent() {
		put32(b, b.keyOff(), v)
	}
}

// SetSeq stores the sequence number; no-op without the S bit.
func (b GRE) SetSeq(v uint32) {
	if b.SeqPresent() {
		put32(b, b.seqOff(), v)
	}
}

// ValidateGRE checks that b starts with a GRE header this package accepts:
// version 0, no reserved bits (RFC 2784 with the K and S bits of RFC 2890),
// and the optional fields within b.
func ValidateGRE(b []byte) error {
	g := GRE(b)
	if len(b) < GREMinHeaderLen {
		return ErrGRETruncated
	}
	if g.Version() != 0 {
		return ErrGREVersion
	}
	if g.flags()&greReservedMask != 0 {
		return ErrGREReserved
	}
	if g.HeaderLen() > len(b) {
		return ErrGREHeaderLen
	}
	return nil
}
