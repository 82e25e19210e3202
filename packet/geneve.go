package packet

// Geneve sizes (RFC 8926).
const (
	GeneveHeaderLen       = 8
	GeneveOptionHeaderLen = 4
	GeneveMaxOptionsLen   = 63 * 4
)

// Geneve is a Geneve header view; the slice may extend into the payload.
type Geneve []byte

// Version returns the 2-bit version.
func (b Geneve) Version() uint8 { return get8(b, 0) >> 6 }

// OptionsLen returns the length of the options in bytes.
func (b Geneve) OptionsLen() int { return int(get8(b, 0)&0x3f) * 4 }

// OAM reports the O (control packet) bit.
func (b Geneve) OAM() bool { return get8(b, 1)&0x80 != 0 }

// Critical reports the C bit: at least one critical option is present.
func (b Geneve) Critical() bool { return get8(b, 1)&0x40 != 0 }

// Protocol returns the payload EtherType.
func (b Geneve) Protocol() uint16 { return get16(b, 2) }

// VNI returns the 24-bit virtual network identifier.
func (b Geneve) VNI() uint32 { return get32(b, 4) >> 8 }

// HeaderLen returns the fixed header plus the options.
func (b Geneve) HeaderLen() int { return GeneveHeaderLen + b.OptionsLen() }

// Options returns the options area, clamped to the slice.
func (b Geneve) Options() []byte { return sub(b, GeneveHeaderLen, b.HeaderLen()) }

// Payload returns the bytes after HeaderLen.
func (b Geneve) Payload() []byte { return sub(b, b.HeaderLen(), len(b)) }

// SetVersionOptionsLen sets version 0 and the options length in bytes (a
// multiple of 4, at most GeneveMaxOptionsLen).
func (b Geneve) SetVersionOptionsLen(n int) { put8(b, 0, uint8(n/4)&0x3f) }

// SetOAM sets or clears the O bit.
func (b Geneve) SetOAM(v bool) { b.setBit(0x80, v) }

// SetCritical sets or clears the C bit.
func (b Geneve) SetCritical(v bool) { b.setBit(0x40, v) }

func (b Geneve) setBit(bit uint8, v bool) {
	f := get8(b, 1) &^ bit
	if v {
		f |= bit
	}
	put8(b, 1, f)
}

// SetProtocol sets the payload EtherType.
func (b Geneve) SetProtocol(v uint16) { put16(b, 2, v) }

// SetVNI sets the VNI (low 24 bits of v) and clears the reserved byte.
func (b Geneve) SetVNI(v uint32) { put32(b, 4, v<<8) }

// GeneveOption is a view of one option TLV.
type GeneveOption []byte

// Class returns the option class.
func (o GeneveOption) Class() uint16 { return get16(o, 0) }

// Type returns the option type; its high bit is the critical bit.
func (o GeneveOption) Type() uint8 { return get8(o, 2) }

// Critical reports the type's high bit: a receiver that does not understand
// the option must drop the packet.
func (o GeneveOption) Critical() bool { return o.Type()&0x80 != 0 }

// DataLen returns the option data length in bytes.
func (o GeneveOption) DataLen() int { return int(get8(o, 3)&0x1f) * 4 }

// Len returns the whole TLV length (header plus data).
func (o GeneveOption) Len() int { return GeneveOptionHeaderLen + o.DataLen() }

// Data returns the option data, clamped to the slice.
func (o GeneveOption) Data() []byte { return sub(o, GeneveOptionHeaderLen, o.Len()) }

// SetClass sets the option class.
func (o GeneveOption) SetClass(v uint16) { put16(o, 0, v) }

// SetType sets the option type (including the critical bit).
func (o GeneveOption) SetType(v uint8) { put8(o, 2, v) }

// SetDataLen sets the data length in bytes (a multiple of 4, at most 124)
// and clears the reserved bits.
func (o GeneveOption) SetDataLen(n int) { put8(o, 3, uint8(n/4)&0x1f) }

// NextOption returns the option starting off bytes into the options area
// and the offset of the one after it. It returns a nil option and no error
// at the end of the options, so a loop is
//
//	for off := 0; ; {
//		opt, next, err := g.NextOption(off)
//		if opt == nil || err != nil { break }
//		off = next
//	}
//
// The options area is clamped to the slice; call ValidateGeneve first to
// tell a short packet from a bad option.
func (b Geneve) NextOption(off int) (opt GeneveOption, next int, err error) {
	opts := b.Options()
	if off < 0 || off > len(opts) {
		return nil, off, ErrGeneveOptOffset
	}
	if off == len(opts) {
		return nil, off, nil
	}
	if len(opts)-off < GeneveOptionHeaderLen {
		return nil, off, ErrGeneveOptTrunc
	}
	n := GeneveOption(opts[off:]).Len()
	if n > len(opts)-off {
		return nil, off, ErrGeneveOptOverrun
	}
	return GeneveOption(opts[off : off+n]), off + n, nil
}

// ValidateGeneve checks that b starts with a Geneve header this package
// accepts: version 0, the options within b, and the option TLVs tiling the
// options area exactly.
func ValidateGeneve(b []byte) error {
	g := Geneve(b)
	if len(b) < GeneveHeaderLen {
		return ErrGeneveTruncated
	}
	if g.Version() != 0 {
		return ErrGeneveVersion
	}
	if g.HeaderLen() > len(b) {
		return ErrGeneveOptionsLen
	}
	for off := 0; ; {
		opt, next, err := g.NextOption(off)
		if err != nil {
			return err
		}
		if opt == nil {
			return nil
		}
		off = next
	}
}
