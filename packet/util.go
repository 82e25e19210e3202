package packet

import "encoding/binary"

// Bounds-checked field helpers. Keeping the check here (rather than relying
// on Go's own bounds check, which panics) is what makes every accessor total.

func get16(b []byte, off int) uint16 {
	if off < 0 || len(b) < off+2 {
		return 0
	}
	return binary.BigEndian.Uint16(b[off : off+2])
}

func get32(b []byte, off int) uint32 {
	if off < 0 || len(b) < off+4 {
		return 0
	}
	return binary.BigEndian.Uint32(b[off : off+4])
}

func get8(b []byte, off int) uint8 {
	if off < 0 || len(b) <= off {
		return 0
	}
	return b[off]
}

func put16(b []byte, off int, v uint16) {
	if off >= 0 && len(b) >= off+2 {
		binary.BigEndian.PutUint16(b[off:off+2], v)
	}
}

func put32(b []byte, off int, v uint32) {
	if off >= 0 && len(b) >= off+4 {
		binary.BigEndian.PutUint32(b[off:off+4], v)
	}
}

func put8(b []byte, off int, v uint8) {
	if off >= 0 && len(b) > off {
		b[off] = v
	}
}

// sub returns b[from:to] clamped to the slice, or nil if empty/inverted.
func sub(b []byte, from, to int) []byte {
	to = min(to, len(b))
	if from < 0 || from >= to {
		return nil
	}
	return b[from:to]
}
