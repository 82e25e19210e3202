package icmperr

import "strconv"

// Reason says why no ICMP error was built. The zero value None means one
// was. Values are small constants, so a caller can index an array of
// NumReasons counters with them; Name is the stable counter label.
type Reason uint8

// Reasons, in the order FragNeeded and PacketTooBig check them: first the
// frame itself, then the caller's arguments, then the RFC exclusions, and
// last the output buffer. RateLimited is never returned by the builders: it
// is the reason a caller records when Limiter.Allow refuses, so that one
// set of counters covers every ICMP error not sent.
const (
	None Reason = iota

	Truncated // orig shorter than its headers claim, or its IPv6 header chain cannot be walked
	NotIP     // orig does not carry IPv4 (FragNeeded) or IPv6 (PacketTooBig)

	MTUTooSmall // mtu below 68 (IPv4) or 1280 (IPv6)
	PacketFits  // the IP packet is not larger than mtu: nothing to report

	NotDF            // IPv4 without DF: fragment it instead
	NonFirstFragment // a fragment with a non-zero offset
	AboutICMPError   // orig is an ICMP error or ICMPv6 error/redirect
	DstMulticast     // IPv4 to multicast/broadcast, IP or link layer
	BogusSource      // orig's source is not a single host
	NoSource         // no unicast address or MAC to send the error from

	DstTooSmall // dst cannot hold the error frame

	RateLimited // Limiter.Allow refused (set by the caller)

	numReasons
)

// NumReasons bounds the Reason values, for arrays of counters.
const NumReasons = int(numReasons)

var reasonNames = [numReasons]string{
	None:             "none",
	Truncated:        "truncated",
	NotIP:            "not_ip",
	MTUTooSmall:      "mtu_too_small",
	PacketFits:       "packet_fits",
	NotDF:            "not_df",
	NonFirstFragment: "non_first_fragment",
	AboutICMPError:   "about_icmp_error",
	DstMulticast:     "dst_multicast",
	BogusSource:      "bogus_source",
	NoSource:         "no_source",
	DstTooSmall:      "dst_too_small",
	RateLimited:      "rate_limited",
}

var reasonHelp = [numReasons]string{
	None: "the ICMP error was built",
	Truncated: "the original frame is shorter than its IP header or IP length claims, " +
		"or its IPv6 extension headers are cut short or too many to find the upper layer; " +
		"nothing can be quoted safely",
	NotIP: "the original frame does not carry the IP version this error is for " +
		"(IPv4 for fragmentation-needed, IPv6 for packet-too-big); non-IP frames that do not fit " +
		"can only be dropped and counted",
	MTUTooSmall: "the MTU to report is below the protocol minimum (68 for IPv4, RFC 791; " +
		"1280 for IPv6, RFC 8200): an IPv6 tunnel that cannot carry 1280 bytes must fragment " +
		"the outer packet instead",
	PacketFits: "the original IP packet is not larger than the MTU, so there is nothing to " +
		"report: a caller bug or a stale MTU",
	NotDF: "the IPv4 packet does not have DF set: the sender allows fragmentation, so fragment " +
		"the packet (tunnel/ipfrag) instead of sending an error",
	NonFirstFragment: "the packet is a fragment with a non-zero offset; only the first fragment " +
		"may trigger an ICMP error (RFC 1812 4.3.2.7, RFC 4443 2.4(e))",
	AboutICMPError: "the packet is itself an ICMP error (or an ICMPv6 error or redirect); " +
		"errors are never sent about errors (RFC 1812 4.3.2.7, RFC 4443 2.4(e)); ICMP echo and " +
		"other informational messages do get errors",
	DstMulticast: "the IPv4 packet is addressed to a multicast or broadcast destination (IP or " +
		"link layer); RFC 1812 4.3.2.7 forbids errors about them (IPv6 packet-too-big is allowed " +
		"for multicast, RFC 4443 2.4(e))",
	BogusSource: "the packet's source does not identify a single host (0.0.0.0/8, loopback, " +
		"multicast, broadcast, class E; IPv6 ::, ::1, multicast; or a multicast source MAC): " +
		"an error could not reach it",
	NoSource: "there is no unicast address (or, for a link-layer multicast original, no unicast " +
		"MAC) to send the error from: the original's destination is not unicast and the caller " +
		"supplied none",
	DstTooSmall: "the output buffer is smaller than the error frame (at most MaxFragNeededLen " +
		"or MaxPacketTooBigLen bytes)",
	RateLimited: "the ICMP error rate limit refused this error (per inner source or global); " +
		"the limits stop floods only, path MTU discovery never reaches them",
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
