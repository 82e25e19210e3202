package conntrack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Key identifies a connection in one direction: zone, addresses, protocol
// and ports. For ICMP queries SrcPort is the identifier and DstPort the
// query class (the request type: echo 8/128, timestamp 13, ...), so a request
// and its reply share a key up to address order.
//
// The layout has no padding: the hash runs over the struct's bytes.
type Key struct {
	Src, Dst         [16]byte // IPv4 in the first 4 bytes, rest zero
	SrcPort, DstPort uint16
	Zone             uint16
	Proto            uint8
	Family           uint8 // 4 or 6
}

const keySize = int(unsafe.Sizeof(Key{}))

func init() {
	if keySize != 40 {
		panic("conntrack: Key has padding")
	}
}

// SrcAddr returns the source address.
func (k *Key) SrcAddr() netip.Addr { return k.addr(&k.Src) }

// DstAddr returns the destination address.
func (k *Key) DstAddr() netip.Addr { return k.addr(&k.Dst) }

func (k *Key) addr(a *[16]byte) netip.Addr {
	if k.Family == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(*a)
}

// SetAddrs stores src and dst (both IPv4 or both IPv6) and the family.
func (k *Key) SetAddrs(src, dst netip.Addr) {
	k.Src, k.Dst = [16]byte{}, [16]byte{}
	if src.Is4() {
		k.Family = 4
		s, d := src.As4(), dst.As4()
		copy(k.Src[:], s[:])
		copy(k.Dst[:], d[:])
		return
	}
	k.Family = 6
	k.Src, k.Dst = src.As16(), dst.As16()
}

// Reverse returns the key of the other direction.
func (k Key) Reverse() Key {
	k.Src, k.Dst = k.Dst, k.Src
	if !isICMPProto(k.Proto) {
		k.SrcPort, k.DstPort = k.DstPort, k.SrcPort
	}
	return k
}

func isICMPProto(p uint8) bool { return p == protoICMP || p == protoICMPv6 }

// canonical returns the direction-independent form of k and whether k is
// the reverse of that form. Both directions of a connection share one
// canonical key, so one table entry and one hash serve them.
func (k Key) canonical() (Key, bool) {
	if k.reversedIsCanonical() {
		return k.Reverse(), true
	}
	return k, false
}

// reversedIsCanonical orders the endpoints: the lower address (then port)
// comes first. ICMP queries order by address only; their "ports" are the
// identifier and query class, the same in both directions.
func (k *Key) reversedIsCanonical() bool {
	c := compareBytes16(&k.Src, &k.Dst)
	return c > 0 || (c == 0 && !isICMPProto(k.Proto) && k.SrcPort > k.DstPort)
}

// compareBytes16 compares two addresses as two big-endian words.
func compareBytes16(a, b *[16]byte) int {
	a0, b0 := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	if a0 != b0 {
		if a0 < b0 {
			return -1
		}
		return 1
	}
	a1, b1 := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
	switch {
	case a1 < b1:
		return -1
	case a1 > b1:
		return 1
	}
	return 0
}

// hash of a canonical key: symmetric by construction. It hashes a fixed
// encoding written in whole words rather than the struct's memory: the
// struct's small fields are written with narrow stores just before, and
// reading them back as wide words would stall on store forwarding.
func (k *Key) hash() uint64 {
	var b [keySize]byte
	copy(b[0:16], k.Src[:])
	copy(b[16:32], k.Dst[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(k.SrcPort)|uint64(k.DstPort)<<16|
		uint64(k.Zone)<<32|uint64(k.Proto)<<48|uint64(k.Family)<<56)
	return xxhash.Sum64(b[:])
}

// Hash is the symmetric flow hash of k: equal for both directions.
func (k Key) Hash() uint64 {
	c, _ := k.canonical()
	return c.hash()
}

// ownerOf maps a hash onto n shards with the top bits, so the low bits stay
// independent for the shard's own bucket index.
func ownerOf(h uint64, n int) int { return int((h >> 32) * uint64(n) >> 32) }

// Owner returns the shard (worker) that owns k's connection among n.
func (k Key) Owner(n int) int { return ownerOf(k.Hash(), n) }

// ProtoName returns a short name for an IP protocol number.
func ProtoName(p uint8) string { return protoName(p) }

func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmpv6"
	case 132:
		return "sctp"
	case 47:
		return "gre"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// String renders the key as "tcp 198.18.0.1:1234 > 198.18.0.2:80 zone 0"
// (zone omitted when 0; ICMP shows id and type).
func (k Key) String() string {
	src, dst := k.SrcAddr(), k.DstAddr()
	var s string
	switch {
	case isICMPProto(k.Proto):
		s = fmt.Sprintf("%s %s > %s id %d type %d", protoName(k.Proto), src, dst, k.SrcPort, k.DstPort)
	case k.Proto == protoTCP || k.Proto == protoUDP || k.Proto == 132:
		s = fmt.Sprintf("%s %s > %s", protoName(k.Proto),
			netip.AddrPortFrom(src, k.SrcPort), netip.AddrPortFrom(dst, k.DstPort))
	default:
		s = fmt.Sprintf("%s %s > %s", protoName(k.Proto), src, dst)
	}
	if k.Zone != 0 {
		s += " zone " + strconv.Itoa(int(k.Zone))
	}
	return s
}

const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// keyEqual compares two keys as five machine words: cheaper than the
// generic memory comparison on the lookup path.
func keyEqual(a, b *Key) bool {
	x := (*[5]uint64)(unsafe.Pointer(a))
	y := (*[5]uint64)(unsafe.Pointer(b))
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4]
}
