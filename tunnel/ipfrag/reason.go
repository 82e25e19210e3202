package ipfrag

import "strconv"

// Status is what Add did with a frame.
type Status uint8

const (
	// Held: the fragment was stored (or, with Reason Duplicate,
	// recognised as an exact duplicate and ignored); the datagram is not
	// complete yet.
	Held Status = iota
	// Complete: the fragment completed its datagram, returned by Add.
	Complete
	// Dropped: the fragment was refused, for Reason; the datagram it
	// belongs to may have been discarded with it (see Reason).
	Dropped
)

var statusNames = [...]string{Held: "held", Complete: "complete", Dropped: "dropped"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status_" + strconv.Itoa(int(s))
}

// Result is the outcome of Add.
type Result struct {
	Status Status
	Reason Reason // None for Held and Complete, except Held/Duplicate
}

// Reason explains a Dropped (or duplicate Held) result, and labels the
// counters in Stats.
type Reason uint8

// Reasons. "Datagram discarded" means every fragment held for it is thrown
// away too (counted in Stats.Discarded).
const (
	None Reason = iota

	NotFragment // not an IP fragment (or not IP): process the frame as it is; untouched
	Truncated   // frame shorter than its L2/IP headers or IP length claim
	BadChecksum // IPv4 header checksum does not verify
	BadLength   // non-last data not a multiple of 8, empty, or inconsistent with the datagram's length
	TooBig      // the datagram would exceed 65535 bytes (or its headers the header room)
	Overlap     // overlaps data already received (RFC 5722): datagram discarded
	TableFull   // MaxDatagrams datagrams pending: fragment of a new datagram refused
	Timeout     // datagram incomplete after Timeout: discarded (counted per datagram)
	Duplicate   // exact duplicate of a fragment already held: ignored (Status Held)

	numReasons
)

// NumReasons bounds the Reason values, for arrays of counters.
const NumReasons = int(numReasons)

var reasonNames = [numReasons]string{
	None:        "none",
	NotFragment: "not_fragment",
	Truncated:   "truncated",
	BadChecksum: "bad_checksum",
	BadLength:   "bad_length",
	TooBig:      "too_big",
	Overlap:     "overlap",
	TableFull:   "table_full",
	Timeout:     "timeout",
	Duplicate:   "duplicate",
}

var reasonHelp = [numReasons]string{
	None: "no problem",
	NotFragment: "the frame is not an IPv4 or IPv6 fragment and needs no reassembly; " +
		"it was left untouched for the caller to process as it is",
	Truncated: "the frame is shorter than its Ethernet, VLAN or IP headers or its IP length " +
		"claim; the fragment was dropped",
	BadChecksum: "the IPv4 header checksum of the fragment does not verify; the fragment " +
		"was dropped",
	BadLength: "the fragment's data is empty, or not a multiple of 8 bytes although more " +
		"fragments follow, or ends beyond (or, as the last fragment, before) the data " +
		"already known to belong to its datagram; an inconsistent length discards the datagram",
	TooBig: "the reassembled datagram would be larger than 65535 bytes (the ping-of-death " +
		"shape), or the first fragment's headers are larger than the reassembler's header " +
		"room; the datagram is discarded",
	Overlap: "the fragment overlaps data already received for its datagram without being " +
		"an exact duplicate; overlaps are how evasion attacks hide data, so the whole " +
		"datagram is discarded (RFC 5722)",
	TableFull: "MaxDatagrams datagrams are already being reassembled and none has expired; " +
		"the fragment of a new datagram was dropped (raise MaxDatagrams or look for a " +
		"fragment flood)",
	Timeout: "a datagram was not completed within Timeout of its first fragment and was " +
		"discarded with all its fragments: a fragment was lost on the way",
	Duplicate: "the fragment is an exact copy (offset, length, flags and data) of one already " +
		"held, as networks sometimes duplicate packets (RFC 8200 4.5); it was ignored and " +
		"the datagram kept",
}

// Name returns the stable snake_case counter label.
func (r Reason) Name() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason_" + strconv.Itoa(int(r))
}

// String returns Name.
func (r Reason) String() string { return r.Name() }

// Help returns a sentence explaining the reason to an operator.
func (r Reason) Help() string {
	if r < numReasons {
		return reasonHelp[r]
	}
	return ""
}
