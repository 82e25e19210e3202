package packet

import (
	"encoding/binary"
	"math/bits"
)

// Sum adds b to initial as a one's complement sum of big-endian 16-bit words
// (RFC 1071) and returns the unfolded partial sum. An odd trailing byte is
// padded with zero, so when chaining Sum calls every chunk but the last must
// have even length.
//
// The loop adds 64-bit big-endian words with end-around carry: one's
// complement addition is associative and 2^16 ≡ 1 (mod 2^16-1), so a wide sum
// folds to the same 16-bit result while doing a quarter of the additions.
func Sum(b []byte, initial uint32) uint32 {
	acc := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	// Left-align the 0..7 byte tail in a word, which keeps each byte in its
	// 16-bit lane and supplies the zero pad for an odd length.
	var t uint64
	i := 0
	if len(b)&4 != 0 {
		t = uint64(binary.BigEndian.Uint32(b[0:4])) << 32
		i = 4
	}
	if len(b)&2 != 0 {
		t |= uint64(binary.BigEndian.Uint16(b[i:i+2])) << (48 - 8*uint(i))
		i += 2
	}
	if len(b)&1 != 0 {
		t |= uint64(b[i]) << (56 - 8*uint(i))
	}
	acc, c = bits.Add64(acc, t, c)
	acc += c // cannot carry again: a wrapped sum is at most 2^64-2

	s := (acc >> 32) + (acc & 0xffffffff)
	s = (s >> 32) + (s & 0xffffffff)
	return uint32(s)
}

// Fold folds the carries of a partial sum into 16 bits. The result is not
// complemented: a correct packet folds to 0xffff, and the checksum field
// stores ^Fold(sum-with-field-zero).
func Fold(sum uint32) uint16 {
	sum = (sum >> 16) + (sum & 0xffff)
	sum = (sum >> 16) + (sum & 0xffff)
	return uint16(sum)
}

// PseudoHeaderSum4 returns the partial sum of the IPv4 pseudo header
// (RFC 793/768) for an upper-layer segment of length bytes.
func PseudoHeaderSum4(src, dst [4]byte, proto uint8, length int) uint32 {
	s := uint32(src[0])<<8 | uint32(src[1])
	s += uint32(src[2])<<8 | uint32(src[3])
	s += uint32(dst[0])<<8 | uint32(dst[1])
	s += uint32(dst[2])<<8 | uint32(dst[3])
	s += uint32(proto)
	s += uint32(length) & 0xffff
	return s
}

// PseudoHeaderSum6 returns the partial sum of the IPv6 pseudo header
// (RFC 8200 8.1) whose length field is 32 bits wide.
func PseudoHeaderSum6(src, dst [16]byte, proto uint8, length int) uint32 {
	l := uint32(length)
	s := Sum(src[:], uint32(proto)+(l>>16)+(l&0xffff))
	return Sum(dst[:], s)
}

// UpdateChecksum16 returns the checksum after a 16-bit word covered by csum
// changes from old to new, per RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
// UDP callers must keep a stored 0 as "no checksum" and map a result of 0
// to 0xffff themselves.
func UpdateChecksum16(csum, old, new uint16) uint16 {
	s := uint32(^csum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit field (e.g. an IPv4
// address or a TCP sequence number).
func UpdateChecksum32(csum uint16, old, new uint32) uint16 {
	s := uint32(^csum)
	s += uint32(^uint16(old >> 16))
	s += uint32(^uint16(old))
	s += new >> 16
	s += new & 0xffff
	return ^Fold(s)
}

// UpdateChecksumBytes is UpdateChecksum16 for a field of several words, such
// as an IPv6 address. old and new should have equal even length and start at
// an even offset of the checksummed data; other lengths don't panic but are
// padded as Sum pads them.
func UpdateChecksumBytes(csum uint16, old, new []byte) uint16 {
	s := uint32(^csum)
	s += uint32(^Fold(Sum(old, 0)))
	s += uint32(Fold(Sum(new, 0)))
	return ^Fold(s)
}
