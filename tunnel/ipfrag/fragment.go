package ipfrag

import (
	"encoding/binary"

	"github.com/ctswitch/ctswitch/packet"
)

// Minimum MTUs.
const (
	IPv4MinMTU = 68   // RFC 791: every link forwards 68 bytes unfragmented
	IPv6MinMTU = 1280 // RFC 8200 5
)

const (
	maxL2Len = packet.EthernetHeaderLen + 2*packet.VLANTagLen

	ipv4FlagReserved = 0x8000
	ipv4FlagDF       = 0x4000
	ipv4FlagMF       = 0x2000
	ipv4OffsetMask   = 0x1fff

	ipv4OptEOL      = 0
	ipv4OptNOP      = 1
	ipv4OptCopyFlag = 0x80
)

// l2Info is what walkL2 learns about a frame's L2 header.
type l2Info struct {
	l3   int       // offset of the L3 header
	et   uint16    // innermost EtherType
	vids [2]uint16 // VLAN IDs of the tags, outermost first (0 if absent)
}

// walkL2 walks the Ethernet header and up to two VLAN tags (802.1Q or
// 802.1ad, as packet.Parse does). A third tag leaves its TPID as the
// EtherType, which is not IP. ok is false if the frame is cut short.
func walkL2(frame []byte) (l l2Info, ok bool) {
	if len(frame) < packet.EthernetHeaderLen {
		return l, false
	}
	l.et = binary.BigEndian.Uint16(frame[12:14])
	l.l3 = packet.EthernetHeaderLen
	for i := 0; i < 2 && (l.et == packet.EtherTypeVLAN || l.et == packet.EtherTypeQinQ); i++ {
		if len(frame) < l.l3+packet.VLANTagLen {
			return l, false
		}
		l.vids[i] = packet.VLANID(binary.BigEndian.Uint16(frame[l.l3 : l.l3+2]))
		l.et = binary.BigEndian.Uint16(frame[l.l3+2 : l.l3+4])
		l.l3 += packet.VLANTagLen
	}
	return l, true
}

// copiedOptions writes into dst the IPv4 options of opts whose copy flag is
// set (RFC 791: those go into every fragment, the others only into the
// first), padded with end-of-list to a multiple of 4, and returns their
// length. NOPs are not copied (their copy flag is clear); an end-of-list
// option ends the list. dst must hold len(opts) bytes.
func copiedOptions(dst, opts []byte) (int, error) {
	n := 0
	for i := 0; i < len(opts); {
		t := opts[i]
		if t == ipv4OptEOL {
			break
		}
		if t == ipv4OptNOP {
			i++
			continue
		}
		if i+1 >= len(opts) {
			return 0, ErrOptions
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return 0, ErrOptions
		}
		if t&ipv4OptCopyFlag != 0 {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	for n%4 != 0 {
		dst[n] = ipv4OptEOL
		n++
	}
	return n, nil
}

// FragmentIPv4 splits the IPv4 packet in frame (an Ethernet frame, at most
// two VLAN tags) into fragments whose IP total length is at most mtu, and
// calls emit with each, in order. A fragment is written into scratch and
// is valid only during its emit call; scratch must hold the L2 header plus
// mtu bytes.
//
// Each fragment carries a copy of the L2 header (tags included) and of the
// IP header with the total length, MF, fragment offset and checksum set;
// the first keeps every option, the others only those with the copy flag
// (RFC 791). Every fragment's data is a multiple of 8 bytes but the last.
// The original is trimmed to its total length first (L2 padding is
// dropped). An original that is itself a fragment is fragmented further:
// offsets are relative to its own, and its MF is kept on the last piece.
// Fragments are not padded to the Ethernet minimum.
//
// A packet that already fits is passed to emit as it is (trimmed, not
// copied). DF set is ErrDF: such a packet needs an ICMP
// fragmentation-needed (tunnel/icmperr) instead. mtu below 68 is ErrMTU.
// An error from emit stops the split and is returned. No allocation.
func FragmentIPv4(frame []byte, mtu int, scratch []byte, emit func(fragment []byte) error) error {
	l, ok := walkL2(frame)
	if !ok {
		return ErrTruncated
	}
	if l.et != packet.EtherTypeIPv4 {
		return ErrNotIPv4
	}
	ip := packet.IPv4(frame[l.l3:])
	if len(ip) < packet.IPv4MinHeaderLen {
		return ErrTruncated
	}
	if ip.Version() != 4 {
		return ErrNotIPv4
	}
	hl, tl := ip.HeaderLen(), int(ip.TotalLength())
	if hl < packet.IPv4MinHeaderLen || tl < hl || tl > len(ip) {
		return ErrTruncated
	}
	if mtu < IPv4MinMTU {
		return ErrMTU
	}
	if tl <= mtu {
		return emit(frame[:l.l3+tl])
	}
	flags := binary.BigEndian.Uint16(ip[6:8])
	if flags&ipv4FlagDF != 0 {
		return ErrDF
	}
	if len(scratch) < l.l3+mtu {
		return ErrScratch
	}
	payload := ip[hl:tl]
	base := int(flags&ipv4OffsetMask) * 8
	if base+len(payload) > 0xffff {
		return ErrOffsetExceed
	}

	// The header of the second and later fragments: the fixed part and
	// the copied options.
	var later [packet.IPv4MaxHeaderLen]byte
	copy(later[:], ip[:packet.IPv4MinHeaderLen])
	no, err := copiedOptions(later[packet.IPv4MinHeaderLen:], ip[packet.IPv4MinHeaderLen:hl])
	if err != nil {
		return err
	}
	hl2 := packet.IPv4MinHeaderLen + no

	hdr := ip[:hl]
	for off := 0; off < len(payload); {
		room := (mtu - len(hdr)) &^ 7
		if room < 8 {
			return ErrMTU // 60-byte headers leave 8 at mtu 68; cannot happen
		}
		n := min(room, len(payload)-off)
		last := off+n == len(payload)
		size := l.l3 + len(hdr) + n
		out := scratch[:size]
		copy(out, frame[:l.l3])
		copy(out[l.l3:], hdr)
		copy(out[l.l3+len(hdr):], payload[off:off+n])

		fh := packet.IPv4(out[l.l3:])
		fh.SetHeaderLen(len(hdr))
		fh.SetTotalLength(uint16(len(hdr) + n))
		f := flags&ipv4FlagReserved | uint16((base+off)/8)
		if !last || flags&ipv4FlagMF != 0 {
			f |= ipv4FlagMF
		}
		binary.BigEndian.PutUint16(fh[6:8], f)
		fh.SetChecksum()
		if err := emit(out); err != nil {
			return err
		}
		off += n
		hdr = later[:hl2]
	}
	return nil
}

// unfragmentable walks the IPv6 header chain of ip (trimmed to its length)
// and returns the length of the unfragmentable part (RFC 8200 4.5: the
// IPv6 header, hop-by-hop options, routing headers, and destination
// options before a routing header) and the offset of the next-header byte
// that names the first fragmentable header.
func unfragmentable(ip []byte) (unfrag, nhOff int, err error) {
	unfrag, nhOff = packet.IPv6HeaderLen, 6
	nh := ip[6]
	off := packet.IPv6HeaderLen
	for i := 0; nh == packet.ProtoHopByHop || nh == packet.ProtoRouting || nh == packet.ProtoDstOpts; i++ {
		if i == packet.MaxIPv6ExtHeaders || off+2 > len(ip) {
			return 0, 0, ErrExtHeaders
		}
		n := (int(ip[off+1]) + 1) * 8
		if off+n > len(ip) {
			return 0, 0, ErrExtHeaders
		}
		if nh != packet.ProtoDstOpts {
			// Destination options count only when a routing header
			// follows them, which moves the boundary past both.
			unfrag, nhOff = off+n, off
		}
		nh = ip[off]
		off += n
	}
	if ip[nhOff] == packet.ProtoIPv6Frag {
		return 0, 0, ErrExtHeaders
	}
	return unfrag, nhOff, nil
}

// FragmentIPv6 splits the IPv6 packet in frame (an Ethernet frame, at most
// two VLAN tags) into fragments of at most mtu bytes (>= 1280) and calls
// emit with each, in order, written into scratch (which must hold the L2
// header plus mtu bytes) and valid only during the call. It is meant for
// outer tunnel packets on a path that cannot carry them (RFC 8200 5, RFC
// 4459 3.1); a node never fragments IPv6 packets it forwards.
//
// Each fragment is the L2 header, the unfragmentable part (the IPv6
// header, hop-by-hop options, routing headers and the destination options
// before a routing header, RFC 8200 4.5) with the payload length set, a
// Fragment header with identification id, and data, a multiple of 8 bytes
// in all but the last. The original is trimmed to its payload length.
//
// A packet that already fits is passed to emit as it is, without a
// fragment header (atomic fragments are deprecated, RFC 8021). A packet
// that already has a fragment header, or whose header chain cannot be
// walked, is ErrExtHeaders. It does not check that the first fragment
// holds the whole header chain (RFC 7112): with mtu >= 1280 only a chain
// of more than a kilobyte would not. No allocation.
func FragmentIPv6(frame []byte, mtu int, id uint32, scratch []byte, emit func([]byte) error) error {
	l, ok := walkL2(frame)
	if !ok {
		return ErrTruncated
	}
	if l.et != packet.EtherTypeIPv6 {
		return ErrNotIPv6
	}
	ip := packet.IPv6(frame[l.l3:])
	if len(ip) < packet.IPv6HeaderLen {
		return ErrTruncated
	}
	if ip.Version() != 6 {
		return ErrNotIPv6
	}
	end := packet.IPv6HeaderLen + int(ip.PayloadLength())
	if end > len(ip) {
		return ErrTruncated
	}
	ip = ip[:end]
	if mtu < IPv6MinMTU {
		return ErrMTU
	}
	if end <= mtu {
		return emit(frame[:l.l3+end])
	}
	unfrag, nhOff, err := unfragmentable(ip)
	if err != nil {
		return err
	}
	room := (mtu - unfrag - packet.IPv6FragmentHeaderLen) &^ 7
	if room < 8 {
		return ErrMTU
	}
	if len(scratch) < l.l3+mtu {
		return ErrScratch
	}
	next := ip[nhOff]
	data := ip[unfrag:]
	hdrLen := l.l3 + unfrag
	for off := 0; off < len(data); {
		n := min(room, len(data)-off)
		last := off+n == len(data)
		out := scratch[:hdrLen+packet.IPv6FragmentHeaderLen+n]
		copy(out, frame[:hdrLen])
		h := out[l.l3:]
		h[nhOff] = packet.ProtoIPv6Frag
		packet.IPv6(h).SetPayloadLength(uint16(unfrag - packet.IPv6HeaderLen + packet.IPv6FragmentHeaderLen + n))
		fh := packet.IPv6Fragment(h[unfrag : unfrag+packet.IPv6FragmentHeaderLen])
		fh.SetNextHeader(next)
		fh.SetFragment(uint16(off), !last)
		fh.SetID(id)
		copy(h[unfrag+packet.IPv6FragmentHeaderLen:], data[off:off+n])
		if err := emit(out); err != nil {
			return err
		}
		off += n
	}
	return nil
}
