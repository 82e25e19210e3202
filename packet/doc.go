// Package packet owns the wire formats ctswitch parses: zero-copy header
// views over []byte (Ethernet, 802.1Q/802.1ad, IPv4, IPv6 and its extension
// headers, TCP and its options, UDP, ICMPv4, ICMPv6, GRE, Geneve), frame
// validation into a Meta (Parse, ParseIP, ParseQuoted), trimming of L2
// padding, and Internet checksums (RFC 1071 sums, RFC 1624 incremental
// updates, L4 verification and computation).
//
// Views follow gVisor's pkg/tcpip/header style: a view is a named []byte
// whose methods read and write fields in place. Views never copy and never
// allocate.
//
// Nothing in this package panics on any input. Accessors are total: a
// field that does not fit in the slice reads as zero (or an empty slice)
// and setting it is a no-op. Which fields are meaningful is decided by
// Parse/ParseIP/ParseQuoted or the Validate functions, so callers parse
// first and then use the views on the offsets recorded in Meta.
//
// Errors are ParseError constants: comparable, allocation-free, with a
// stable snake_case Name for drop-reason counters.
//
// Parse and the checksum helpers never allocate; the benchmarks and
// AllocsPerRun tests in this package hold them to that.
package packet
