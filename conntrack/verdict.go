package conntrack

import (
	"fmt"
	"strconv"
	"strings"
)

// Verdict is what the tracker concluded about one packet.
type Verdict uint8

const (
	// VerdictNew: the packet opened, or belongs to a connection that has not
	// yet seen a reply (Linux ctinfo NEW).
	VerdictNew Verdict = iota + 1
	// VerdictEstablished: the packet belongs to a connection that has seen
	// traffic both ways, in either direction.
	VerdictEstablished
	// VerdictRelated: an ICMP error about a tracked connection.
	VerdictRelated
	// VerdictIgnored: the packet is let through but did not change the
	// connection's state (Linux NFCT_TCP_IGNORE): the tracker may be out of
	// sync and the endpoints are trusted to sort it out.
	VerdictIgnored
	// VerdictInvalid: the packet failed a check; Result.Why says which.
	VerdictInvalid
	// VerdictUntracked: traffic the tracker deliberately does not follow
	// (non-IP, ICMPv6 neighbour discovery and MLD).
	VerdictUntracked
	// VerdictPending: an IP fragment held for reassembly. The datagram is
	// tracked when its last fragment arrives; that packet's Result carries
	// the verdict of the whole datagram.
	VerdictPending

	numVerdicts
)

var verdictNames = [...]string{
	VerdictNew:         "new",
	VerdictEstablished: "established",
	VerdictRelated:     "related",
	VerdictIgnored:     "ignored",
	VerdictInvalid:     "invalid",
	VerdictUntracked:   "untracked",
	VerdictPending:     "pending",
}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) && verdictNames[v] != "" {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Passes reports whether a stateful firewall following this verdict would
// normally forward the packet (everything but invalid; pending fragments are
// released with their datagram's verdict).
func (v Verdict) Passes() bool { return v != VerdictInvalid && v != VerdictPending }

// State is a connection's protocol state after the packet.
type State uint8

// TCP states, in Linux order (tcp_conntrack_names).
const (
	StateNone State = iota
	TCPSynSent
	TCPSynRecv
	TCPEstablished
	TCPFinWait
	TCPCloseWait
	TCPLastAck
	TCPTimeWait
	TCPClose
	TCPSynSent2
	numTCPStates
)

// States of UDP, ICMP and generic connections.
const (
	// Unreplied: only one direction seen so far.
	Unreplied State = 32 + iota
	// Replied: both directions seen.
	Replied
	// Assured: a UDP stream (replied and alive for more than 2 s) or a
	// generic flow with a reply; not evicted early when the table is full.
	Assured
)

var stateNames = map[State]string{
	StateNone:      "NONE",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPEstablished: "ESTABLISHED",
	TCPFinWait:     "FIN_WAIT",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPSynSent2:    "SYN_SENT2",
	Unreplied:      "UNREPLIED",
	Replied:        "REPLIED",
	Assured:        "ASSURED",
}

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// ParseState is the inverse of State.String (case-insensitive).
func ParseState(s string) (State, error) {
	for st, n := range stateNames {
		if strings.EqualFold(n, s) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown connection state %q", s)
}

// Reason names the check behind an invalid or ignored verdict (or another
// notable outcome). Each has a stable snake_case name used for counters.
type Reason uint8

const (
	ReasonNone Reason = iota

	// Parsing and checksums.
	ReasonMalformed    // A: packet.ParseError code
	ReasonBadChecksum  // A: L4 protocol
	ReasonNotFirstFrag // non-first fragment reached the tracker without reassembly

	// Fragment reassembly.
	ReasonFragPending   // A: fragments held so far, B: datagram ID
	ReasonFragOverlap   // A: offset, B: length of the overlapping fragment
	ReasonFragTooSmall  // A: fragment payload bytes, B: minimum
	ReasonFragTooBig    // A: end offset
	ReasonFragTableFull // A: datagrams pending
	ReasonFragTimeout   // A: fragments dropped
	ReasonFragMismatch  // fragment disagrees with its datagram (protocol, length after the last fragment)

	// TCP.
	ReasonTCPFlags      // A: flags
	ReasonTCPInvalidNew // A: flags: cannot open a connection
	ReasonTCPNoPickup   // A: flags: mid-stream pickup disabled (loose off)
	ReasonTCPStateTable // A: flags index, B: dir, C: old state
	ReasonTCPSeqOver    // A: seq, B: upper bound (td_maxend+1), C: end
	ReasonTCPAckOver    // A: (s)ack, B: upper bound (receiver td_end+1)
	ReasonTCPInvalidRST // A: seq, B: peer's highest ACK (td_maxack)
	ReasonTCPIgnoredPkt // A: flags index, B: dir, C: old state (SYN in ES, SYN/ACK on SYN_RECV, ...)
	ReasonTCPOvershoot  // A: bytes more than the window allowed
	ReasonTCPSeqUnder   // A: end, B: lower bound
	ReasonTCPAckUnder   // A: (s)ack, B: lower bound
	ReasonTCPChallengeACK
	ReasonTCPReopen // a SYN reopened a closed connection: the old entry was replaced

	// ICMP.
	ReasonICMPBadType      // A: type, B: code: not trackable (e.g. a reply with no request)
	ReasonICMPNoConn       // ICMP error whose quoted packet matches no connection
	ReasonICMPBadQuote     // A: packet.ParseError code of the quoted packet
	ReasonICMPAddrMismatch // outer destination is not the quoted packet's source
	ReasonICMPUnexpected   // A: type: query or reply in the wrong direction

	// Table.
	ReasonTableFull // A: entries in the shard, B: shard capacity
	ReasonZoneLimit // A: zone, B: limit

	numReasons
)

type reasonInfo struct {
	name string // counter name
	text string // fmt with up to 4 %d/%s verbs consumed by Why.String
}

var reasonTable = [numReasons]reasonInfo{
	ReasonNone:         {"none", ""},
	ReasonMalformed:    {"malformed", "malformed packet"},
	ReasonBadChecksum:  {"bad_checksum", "bad L4 checksum"},
	ReasonNotFirstFrag: {"unreassembled_fragment", "fragment reached the tracker without reassembly"},

	ReasonFragPending:   {"fragment_pending", "fragment held for reassembly"},
	ReasonFragOverlap:   {"fragment_overlap", "fragment overlaps data already received"},
	ReasonFragTooSmall:  {"fragment_too_small", "non-last fragment below the minimum size"},
	ReasonFragTooBig:    {"fragment_too_big", "reassembled datagram would exceed 65535 bytes"},
	ReasonFragTableFull: {"fragment_table_full", "too many datagrams pending reassembly"},
	ReasonFragTimeout:   {"fragment_timeout", "datagram not completed before the reassembly timeout"},
	ReasonFragMismatch:  {"fragment_mismatch", "fragment inconsistent with its datagram"},

	ReasonTCPFlags:        {"tcp_invalid_flags", "invalid TCP flag combination"},
	ReasonTCPInvalidNew:   {"tcp_invalid_new", "cannot open a connection"},
	ReasonTCPNoPickup:     {"tcp_no_pickup", "mid-stream pickup disabled (loose off)"},
	ReasonTCPStateTable:   {"tcp_invalid_state", "invalid in this state"},
	ReasonTCPSeqOver:      {"tcp_seq_over_upper_bound", "SEQ is over upper bound (over the window of the receiver)"},
	ReasonTCPAckOver:      {"tcp_ack_over_upper_bound", "ACK is over upper bound (ACKed data not seen yet)"},
	ReasonTCPInvalidRST:   {"tcp_invalid_rst", "RST sequence below the peer's highest ACK"},
	ReasonTCPIgnoredPkt:   {"tcp_ignored", "ignored: tracker may be out of sync"},
	ReasonTCPOvershoot:    {"tcp_window_overshoot", "data beyond the receiver's window"},
	ReasonTCPSeqUnder:     {"tcp_seq_under_lower_bound", "SEQ is under lower bound (already ACKed data retransmitted)"},
	ReasonTCPAckUnder:     {"tcp_ack_under_lower_bound", "ACK under lower bound (possibly overly delayed)"},
	ReasonTCPChallengeACK: {"tcp_challenge_ack", "RFC 5961 challenge ACK ignored"},
	ReasonTCPReopen:       {"tcp_reopen", "SYN reopened a closed connection"},

	ReasonICMPBadType:      {"icmp_untrackable_type", "ICMP type cannot open a connection"},
	ReasonICMPNoConn:       {"icmp_error_no_conn", "ICMP error quotes a packet of no known connection"},
	ReasonICMPBadQuote:     {"icmp_error_bad_quote", "ICMP error quotes a malformed packet"},
	ReasonICMPAddrMismatch: {"icmp_error_addr_mismatch", "ICMP error destination is not the quoted packet's source"},
	ReasonICMPUnexpected:   {"icmp_unexpected_direction", "ICMP query or reply in the wrong direction"},

	ReasonTableFull: {"table_full", "connection table full"},
	ReasonZoneLimit: {"zone_limit", "zone connection limit reached"},
}

// Name is the reason's stable counter name.
func (r Reason) Name() string {
	if r < numReasons {
		return reasonTable[r].name
	}
	return "reason_" + strconv.Itoa(int(r))
}

func (r Reason) String() string { return r.Name() }

// NumReasons is the number of distinct reasons (for counter arrays).
const NumReasons = int(numReasons)

// Reasons lists every reason, in order, for exporting counters.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// Why is a reason with the numbers of the check that failed. It is a plain
// value so the per-packet path never allocates; String formats it on demand.
type Why struct {
	Reason     Reason
	A, B, C, D uint32
}

// IsZero reports whether there is no reason.
func (w Why) IsZero() bool { return w.Reason == ReasonNone }

var tcpIndexNames = [...]string{"SYN", "SYN/ACK", "FIN", "ACK", "RST", "NONE"}

func tcpIndexName(i uint32) string {
	if int(i) < len(tcpIndexNames) {
		return tcpIndexNames[i]
	}
	return strconv.Itoa(int(i))
}

func dirName(d uint32) string {
	if d == 0 {
		return "original"
	}
	return "reply"
}

// String renders the reason with its numbers, e.g.
// "tcp_seq_over_upper_bound: seq 1001 > upper bound 1000 (end 1501)".
func (w Why) String() string {
	if w.Reason == ReasonNone {
		return ""
	}
	n := w.Reason.Name()
	switch w.Reason {
	case ReasonMalformed, ReasonICMPBadQuote:
		return n + ": " + parseErrorName(w.A)
	case ReasonBadChecksum:
		return fmt.Sprintf("%s: %s checksum does not verify", n, protoName(uint8(w.A)))
	case ReasonFragPending:
		return fmt.Sprintf("%s: %d fragment(s) of datagram id %d held", n, w.A, w.B)
	case ReasonFragOverlap:
		return fmt.Sprintf("%s: fragment at offset %d length %d overlaps", n, w.A, w.B)
	case ReasonFragTooSmall:
		return fmt.Sprintf("%s: %d bytes < minimum %d", n, w.A, w.B)
	case ReasonFragTooBig:
		return fmt.Sprintf("%s: fragment ends at %d", n, w.A)
	case ReasonFragTableFull:
		return fmt.Sprintf("%s: %d datagrams pending", n, w.A)
	case ReasonFragTimeout:
		return fmt.Sprintf("%s: %d fragment(s) discarded", n, w.A)
	case ReasonTCPFlags, ReasonTCPInvalidNew, ReasonTCPNoPickup:
		return fmt.Sprintf("%s: flags %s", n, TCPFlagsString(uint8(w.A)))
	case ReasonTCPStateTable:
		return fmt.Sprintf("%s: %s in %s direction invalid in state %s", n, tcpIndexName(w.A), dirName(w.B), State(w.C))
	case ReasonTCPIgnoredPkt:
		return fmt.Sprintf("%s: %s in %s direction ignored in state %s", n, tcpIndexName(w.A), dirName(w.B), State(w.C))
	case ReasonTCPSeqOver:
		return fmt.Sprintf("%s: seq %d > upper bound %d (segment end %d)", n, w.A, w.B-1, w.C)
	case ReasonTCPAckOver:
		return fmt.Sprintf("%s: ack %d > upper bound %d (receiver has sent up to %d)", n, w.A, w.B-1, w.B-1)
	case ReasonTCPInvalidRST:
		return fmt.Sprintf("%s: seq %d < peer's highest ack %d", n, w.A, w.B)
	case ReasonTCPOvershoot:
		return fmt.Sprintf("%s: %d bytes more than expected", n, w.A)
	case ReasonTCPSeqUnder:
		return fmt.Sprintf("%s: segment end %d <= lower bound %d", n, w.A, w.B)
	case ReasonTCPAckUnder:
		return fmt.Sprintf("%s: ack %d <= lower bound %d", n, w.A, w.B)
	case ReasonICMPBadType, ReasonICMPUnexpected:
		return fmt.Sprintf("%s: type %d code %d", n, w.A, w.B)
	case ReasonTableFull:
		return fmt.Sprintf("%s: %d of %d entries in this shard, none evictable", n, w.A, w.B)
	case ReasonZoneLimit:
		return fmt.Sprintf("%s: zone %d limit %d, none evictable", n, w.A, w.B)
	}
	return n + ": " + reasonTable[w.Reason].text
}

// Text is the reason's one-line explanation without numbers.
func (r Reason) Text() string {
	if r < numReasons {
		return reasonTable[r].text
	}
	return ""
}

// TCPFlagsString renders flags tcpdump-style: S, S., F., R., P. ...
func TCPFlagsString(f uint8) string {
	var b strings.Builder
	for _, x := range [...]struct {
		bit uint8
		c   byte
	}{{0x02, 'S'}, {0x01, 'F'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if f&0x10 != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
