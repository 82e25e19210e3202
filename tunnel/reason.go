package tunnel

import "sync/atomic"

// Reason says why a received underlay frame was not decapsulated (or, for
// ReasonGeneveOAM, not forwarded). Every value has a stable snake_case Name
// for counters and a Help line for `ctswitch drops` and metrics.
type Reason uint8

const (
	ReasonNone Reason = iota

	// Outer headers.
	ReasonTruncated     // a header is cut short
	ReasonNotIP         // the outer frame is not IPv4 or IPv6
	ReasonBadIPHeader   // the outer IP header fails validation
	ReasonBadIPChecksum // the outer IPv4 header checksum is wrong
	ReasonOuterFragment // an outer IP fragment: reassemble, then decapsulate
	ReasonNotTunnel     // neither GRE nor UDP to the Geneve port

	// GRE.
	ReasonGREVersion      // version != 0
	ReasonGRERouting      // the RFC 1701 routing bit is set
	ReasonGREReserved     // other reserved flag bits are set
	ReasonGREBadChecksum  // the GRE checksum is wrong
	ReasonGREProtocol     // a payload type other than Ethernet, IPv4 or IPv6
	ReasonGREKeyMismatch  // an endpoint exists for the addresses, not for this key (or its absence)
	ReasonGREKindMismatch // the endpoint with this key carries the other payload (Ethernet vs IP)
	ReasonGRESeqMissing   // the endpoint uses sequence numbers and the packet has none
	ReasonGRESeqOrder     // sequence number not after the last accepted one

	// UDP and Geneve.
	ReasonUDPBadLength     // the UDP length disagrees with the IP length
	ReasonUDPBadChecksum   // the UDP checksum is wrong
	ReasonGeneveVersion    // version != 0
	ReasonGeneveBadOptLen  // the options length runs past the packet
	ReasonGeneveBadOption  // an option TLV runs past the options
	ReasonGeneveCritical   // a critical option this endpoint does not understand
	ReasonGeneveOAM        // an OAM (control) packet: never forwarded
	ReasonGeneveProtocol   // a payload other than Ethernet
	ReasonGeneveUnknownVNI // an endpoint exists for the addresses, not for this VNI
	ReasonInnerMalformed   // the payload is too short for its type
	ReasonNoEndpoint       // no endpoint for these outer addresses and protocol

	numReasons
)

// NumReasons bounds Reason: 0 <= int(r) < NumReasons for every value, so a
// [NumReasons]counter array can be indexed by a Reason.
const NumReasons = int(numReasons)

var reasonNames = [numReasons]string{
	ReasonNone:             "none",
	ReasonTruncated:        "truncated",
	ReasonNotIP:            "not_ip",
	ReasonBadIPHeader:      "bad_ip_header",
	ReasonBadIPChecksum:    "bad_ip_checksum",
	ReasonOuterFragment:    "outer_fragment",
	ReasonNotTunnel:        "not_tunnel",
	ReasonGREVersion:       "gre_version",
	ReasonGRERouting:       "gre_routing",
	ReasonGREReserved:      "gre_reserved",
	ReasonGREBadChecksum:   "gre_bad_checksum",
	ReasonGREProtocol:      "gre_protocol",
	ReasonGREKeyMismatch:   "gre_key_mismatch",
	ReasonGREKindMismatch:  "gre_kind_mismatch",
	ReasonGRESeqMissing:    "gre_seq_missing",
	ReasonGRESeqOrder:      "gre_seq_out_of_order",
	ReasonUDPBadLength:     "udp_bad_length",
	ReasonUDPBadChecksum:   "udp_bad_checksum",
	ReasonGeneveVersion:    "geneve_version",
	ReasonGeneveBadOptLen:  "geneve_bad_optlen",
	ReasonGeneveBadOption:  "geneve_bad_option",
	ReasonGeneveCritical:   "geneve_critical_option",
	ReasonGeneveOAM:        "geneve_oam",
	ReasonGeneveProtocol:   "geneve_protocol",
	ReasonGeneveUnknownVNI: "geneve_unknown_vni",
	ReasonInnerMalformed:   "inner_malformed",
	ReasonNoEndpoint:       "no_endpoint",
}

var reasonHelp = [numReasons]string{
	ReasonNone:             "decapsulated",
	ReasonTruncated:        "a header of the underlay frame (Ethernet, VLAN, IP, UDP, GRE or Geneve) is cut short",
	ReasonNotIP:            "the underlay frame is not IPv4 or IPv6 (or has more than two VLAN tags)",
	ReasonBadIPHeader:      "the outer IP header is invalid (version, header or total length, extension headers)",
	ReasonBadIPChecksum:    "the outer IPv4 header checksum is wrong",
	ReasonOuterFragment:    "the outer packet is a fragment: it must be reassembled before decapsulation",
	ReasonNotTunnel:        "the outer packet is neither GRE nor UDP to the Geneve port",
	ReasonGREVersion:       "GRE version is not 0 (RFC 2784)",
	ReasonGRERouting:       "GRE routing bit set (RFC 1701 source routing is not supported, RFC 2784)",
	ReasonGREReserved:      "GRE reserved flag bits set (strict source route, recursion or flags)",
	ReasonGREBadChecksum:   "GRE checksum over the GRE header and payload is wrong",
	ReasonGREProtocol:      "GRE payload type is not Ethernet (0x6558), IPv4 or IPv6",
	ReasonGREKeyMismatch:   "GRE key (or its absence) matches no endpoint for these outer addresses",
	ReasonGREKindMismatch:  "GRE payload type (Ethernet or IP) differs from the kind of the endpoint with this key",
	ReasonGRESeqMissing:    "the endpoint uses GRE sequence numbers and the packet carries none",
	ReasonGRESeqOrder:      "GRE sequence number not after the last accepted one: duplicate or reordered (RFC 2890)",
	ReasonUDPBadLength:     "UDP length differs from the IP payload length",
	ReasonUDPBadChecksum:   "UDP checksum of the Geneve packet is wrong",
	ReasonGeneveVersion:    "Geneve version is not 0 (RFC 8926 3.4)",
	ReasonGeneveBadOptLen:  "Geneve options length runs past the end of the packet",
	ReasonGeneveBadOption:  "a Geneve option's length runs past the end of the options",
	ReasonGeneveCritical:   "a critical Geneve option that the endpoint does not understand (RFC 8926 3.5)",
	ReasonGeneveOAM:        "Geneve OAM packet (O bit): control traffic, never forwarded (RFC 8926 3.4)",
	ReasonGeneveProtocol:   "Geneve payload is not Ethernet (0x6558)",
	ReasonGeneveUnknownVNI: "Geneve VNI matches no endpoint for these outer addresses",
	ReasonInnerMalformed:   "the tunnel payload is too short for an Ethernet frame or an IP header of its type",
	ReasonNoEndpoint:       "no tunnel endpoint for these outer addresses and protocol",
}

// Name is the stable counter name, e.g. "gre_bad_checksum".
func (r Reason) Name() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Help says what the reason means.
func (r Reason) Help() string {
	if r < numReasons {
		return reasonHelp[r]
	}
	return ""
}

func (r Reason) String() string { return r.Name() }

// Reasons lists every drop reason (ReasonNone excluded), in counter order.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Counters counts Receive outcomes by Reason (ReasonNone: decapsulated).
// Safe from any goroutine; a worker that wants no shared cache line keeps
// its own Counters and sums them when asked.
type Counters struct {
	n [numReasons]atomic.Uint64
}

// Inc counts one outcome.
func (c *Counters) Inc(r Reason) {
	if r < numReasons {
		c.n[r].Add(1)
	}
}

// Get returns the count for r.
func (c *Counters) Get(r Reason) uint64 {
	if r < numReasons {
		return c.n[r].Load()
	}
	return 0
}

// Snapshot returns every count, indexed by Reason.
func (c *Counters) Snapshot() (s [NumReasons]uint64) {
	for i := range s {
		s[i] = c.n[i].Load()
	}
	return s
}
