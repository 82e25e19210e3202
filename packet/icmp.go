package packet

// ICMPHeaderLen is the fixed part of ICMPv4 and ICMPv6 messages that Parse
// requires: type, code, checksum and the 4-byte rest-of-header.
const ICMPHeaderLen = 8

// ICMPv4 is an ICMPv4 message view.
type ICMPv4 []byte

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return get8(b, 0) }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return get8(b, 1) }

// Checksum returns the stored checksum.
func (b ICMPv4) Checksum() uint16 { return get16(b, 2) }

// ID returns the identifier of echo/timestamp/info messages.
func (b ICMPv4) ID() uint16 { return get16(b, 4) }

// Seq returns the sequence number of echo/timestamp/info messages.
func (b ICMPv4) Seq() uint16 { return get16(b, 6) }

// MTU returns the next-hop MTU of a fragmentation-needed message (RFC 1191).
func (b ICMPv4) MTU() uint16 { return get16(b, 6) }

// Body returns the bytes after the 8-byte header: for error messages, the
// quoted packet (see ParseQuoted).
func (b ICMPv4) Body() []byte { return sub(b, ICMPHeaderLen, len(b)) }

// SetType sets the message type.
func (b ICMPv4) SetType(v uint8) { put8(b, 0, v) }

// SetCode sets the message code.
func (b ICMPv4) SetCode(v uint8) { put8(b, 1, v) }

// SetChecksum stores v as the checksum.
func (b ICMPv4) SetChecksum(v uint16) { put16(b, 2, v) }

// SetID sets the identifier.
func (b ICMPv4) SetID(v uint16) { put16(b, 4, v) }

// SetSeq sets the sequence number.
func (b ICMPv4) SetSeq(v uint16) { put16(b, 6, v) }

// SetMTU sets the next-hop MTU.
func (b ICMPv4) SetMTU(v uint16) { put16(b, 6, v) }

// ICMPv4IsError reports whether t is an error type that quotes a packet.
func ICMPv4IsError(t uint8) bool {
	switch t {
	case ICMPv4DstUnreach, ICMPv4SourceQuench, ICMPv4Redirect,
		ICMPv4TimeExceeded, ICMPv4ParamProblem:
		return true
	}
	return false
}

// ICMPv6 is an ICMPv6 message view.
type ICMPv6 []byte

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return get8(b, 0) }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return get8(b, 1) }

// Checksum returns the stored checksum.
func (b ICMPv6) Checksum() uint16 { return get16(b, 2) }

// ID returns the identifier of echo messages.
func (b ICMPv6) ID() uint16 { return get16(b, 4) }

// Seq returns the sequence number of echo messages.
func (b ICMPv6) Seq() uint16 { return get16(b, 6) }

// MTU returns the MTU of a packet-too-big message.
func (b ICMPv6) MTU() uint32 { return get32(b, 4) }

// Body returns the bytes after the 8-byte header: for error messages, the
// quoted packet; for ND, the target and options.
func (b ICMPv6) Body() []byte { return sub(b, ICMPHeaderLen, len(b)) }

// SetType sets the message type.
func (b ICMPv6) SetType(v uint8) { put8(b, 0, v) }

// SetCode sets the message code.
func (b ICMPv6) SetCode(v uint8) { put8(b, 1, v) }

// SetChecksum stores v as the checksum.
func (b ICMPv6) SetChecksum(v uint16) { put16(b, 2, v) }

// SetID sets the identifier.
func (b ICMPv6) SetID(v uint16) { put16(b, 4, v) }

// SetSeq sets the sequence number.
func (b ICMPv6) SetSeq(v uint16) { put16(b, 6, v) }

// SetMTU sets the packet-too-big MTU.
func (b ICMPv6) SetMTU(v uint32) { put32(b, 4, v) }

// ICMPv6IsError reports whether t is an error type (RFC 4443: types below
// 128) and so quotes a packet.
func ICMPv6IsError(t uint8) bool { return t < 128 }
