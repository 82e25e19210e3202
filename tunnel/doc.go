// Package tunnel owns ctswitch's tunnel endpoints: GRE carrying Ethernet
// (gretap) or IP, with the RFC 2890 key, sequence number and RFC 2784
// checksum, and Geneve (RFC 8926) with options. It encapsulates towards an
// endpoint, decapsulates and validates what arrives (every refusal is a
// named Reason), matches received packets to endpoints, and does the MTU
// arithmetic: the exact per-frame overhead, the inner MTU, a path MTU
// learned from underlay ICMP errors, and the too-big decision (Decide).
//
// Building the ICMP errors that Decide asks for lives in tunnel/icmperr,
// and inner fragmentation and outer reassembly in tunnel/ipfrag; this
// package does neither. Header views and checksums come from package
// packet; nothing here re-parses a header by hand.
//
// The MTU numbers are the point (incident 5: a GRE overlay planned as if
// GRE carried IP, 14 bytes short). Overhead is outer IP + GRE (4, +4 per
// checksum, key, sequence) or UDP + Geneve (16 + options), plus for the L2
// kinds the inner frame's real L2 header: 14 bytes and 4 per VLAN tag. At
// an underlay MTU of 1500 that gives 1462 for gretap, 1476 for IP-GRE,
// 1450 for Geneve over IPv4 and 1430 over IPv6 (see
// shared/reference/tunnels.md A.4).
//
// Concurrency: an Endpoint is immutable apart from its atomics (the GRE
// sequence counters and the learned path MTU), so several workers can
// encapsulate towards it and receive from it at once. A Table is immutable
// once built; rebuild it to change the set of endpoints.
//
// Encap, Decap, Table.Receive, Decide, Overhead, PathMTU and CheckSeq do not
// allocate; tests hold them to that.
package tunnel
