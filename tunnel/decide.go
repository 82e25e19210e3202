package tunnel

import "fmt"

// Action is what to do with an inner frame given the path MTU towards its
// endpoint (Decide).
type Action uint8

const (
	// Fits: encapsulate and send.
	Fits Action = iota + 1
	// FragmentInner: IPv4 without DF, too big: fragment the inner packet
	// to the returned MTU and encapsulate each fragment (RFC 4459 3.4; the
	// inner receiver reassembles, no tunnel reassembly needed).
	FragmentInner
	// SendFragNeeded: IPv4 with DF, too big: drop it and send the inner
	// source ICMP type 3 code 4 with the returned MTU (RFC 1191).
	SendFragNeeded
	// SendPacketTooBig: IPv6, too big: drop it and send the inner source
	// ICMPv6 Packet Too Big with the returned MTU, never below 1280
	// (RFC 8201). IPv6 packets are never fragmented in transit.
	SendPacketTooBig
	// FragmentOuter: IPv6 of at most 1280 bytes where the tunnel carries
	// less: every IPv6 link must carry 1280 bytes (RFC 8200 5), so
	// encapsulate (EncapWith Fragmentable) and fragment the outer packet
	// to the returned L3 MTU; the peer reassembles it.
	FragmentOuter
	// DropTooBig: too big with no remedy: a non-IP inner frame (no ICMP
	// exists for it), or an IPv4 packet when the tunnel cannot carry even
	// 68 bytes (RFC 791's minimum). Count it.
	DropTooBig
	// DropNotIP: a GREIP endpoint was given a non-IP frame, which it
	// cannot carry at any size.
	DropNotIP

	numActions
)

var actionNames = [numActions]string{
	Fits: "fits", FragmentInner: "fragment_inner", SendFragNeeded: "send_frag_needed",
	SendPacketTooBig: "send_packet_too_big", FragmentOuter: "fragment_outer",
	DropTooBig: "drop_too_big", DropNotIP: "drop_not_ip",
}

func (a Action) String() string {
	if a > 0 && a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Minimum MTUs of the inner protocols.
const (
	minMTU4 = 68   // RFC 791: every module forwards 68 octets unfragmented
	minMTU6 = 1280 // RFC 8200 5
)

// Decide is the too-big decision (shared/reference/tunnels.md A.5) for one
// inner frame, given the L3 path MTU towards the endpoint (PathMTU). With
// T = pathMTU - Overhead(inner), the largest inner IP packet that fits:
//
//	inner IP length <= T                 Fits, T
//	IPv4, T < 68                         DropTooBig, T
//	IPv4, DF                             SendFragNeeded, T
//	IPv4, no DF                          FragmentInner, T
//	IPv6, T >= 1280                      SendPacketTooBig, T
//	IPv6, T < 1280, length <= 1280       FragmentOuter, pathMTU
//	IPv6, T < 1280, length > 1280        SendPacketTooBig, 1280
//	non-IP, frame + HeaderLen > pathMTU  DropTooBig, T
//
// Inner IPv4 fragments follow the same rules by their DF bit. The IP length
// is the one Encap would carry (padding trimmed). Which inner packets may
// get an ICMP error at all (not about ICMP errors, not to multicast, ...) is
// for the ICMP builder to decide. Decide does not allocate.
func (e *Endpoint) Decide(inner []byte, pathMTU int) (Action, int) {
	ii := inspect(inner)
	over := e.hdrLen
	if e.cfg.Kind == GREIP {
		if ii.ipVer == 0 {
			return DropNotIP, 0
		}
	} else {
		over += ii.l3off
	}
	t := pathMTU - over
	ipLen := ii.end - ii.l3off
	switch ii.ipVer {
	case 4:
		switch {
		case ipLen <= t:
			return Fits, t
		case t < minMTU4:
			return DropTooBig, t
		case ii.df:
			return SendFragNeeded, t
		}
		return FragmentInner, t
	case 6:
		switch {
		case ipLen <= t:
			return Fits, t
		case t >= minMTU6:
			return SendPacketTooBig, t
		case ipLen <= minMTU6 && pathMTU >= e.ipLen+minFragment:
			return FragmentOuter, pathMTU
		}
		return SendPacketTooBig, minMTU6
	}
	if e.hdrLen+len(inner) <= pathMTU {
		return Fits, t
	}
	return DropTooBig, t
}

// minFragment is the room an outer fragment needs after the outer IP
// header: an IPv6 fragment header and 8 bytes of data.
const minFragment = 16
