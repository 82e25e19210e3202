package packet

import "encoding/binary"

// MAC is an Ethernet address. An array, not a slice, so it is comparable and
// usable as a map key without allocating.
type MAC [6]byte

// Header sizes.
const (
	EthernetHeaderLen = 14
	VLANTagLen        = 4 // TPID is the preceding EtherType; the tag is TCI + EtherType
)

// IsBroadcast reports whether m is ff:ff:ff:ff:ff:ff.
func (m MAC) IsBroadcast() bool { return m == MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// Ethernet is an Ethernet II header view.
type Ethernet []byte

// Dst returns the destination address.
func (b Ethernet) Dst() (m MAC) {
	if len(b) >= 6 {
		m = MAC(b[0:6])
	}
	return m
}

// Src returns the source address.
func (b Ethernet) Src() (m MAC) {
	if len(b) >= 12 {
		m = MAC(b[6:12])
	}
	return m
}

// EtherType returns the outer EtherType (the TPID if the frame is tagged).
func (b Ethernet) EtherType() uint16 {
	if len(b) < EthernetHeaderLen {
		return 0
	}
	return binary.BigEndian.Uint16(b[12:14])
}

// SetDst sets the destination address.
func (b Ethernet) SetDst(m MAC) {
	if len(b) >= 6 {
		copy(b[0:6], m[:])
	}
}

// SetSrc sets the source address.
func (b Ethernet) SetSrc(m MAC) {
	if len(b) >= 12 {
		copy(b[6:12], m[:])
	}
}

// SetEtherType sets the outer EtherType.
func (b Ethernet) SetEtherType(t uint16) {
	if len(b) >= EthernetHeaderLen {
		binary.BigEndian.PutUint16(b[12:14], t)
	}
}

// VLANID extracts the 12-bit VLAN ID from a TCI.
func VLANID(tci uint16) uint16 { return tci & 0x0fff }

// VLANPriority extracts the 3-bit PCP from a TCI.
func VLANPriority(tci uint16) uint8 { return uint8(tci >> 13) }
