// Package ipfrag owns IP fragmentation and reassembly at a tunnel
// endpoint (RFC 4459):
//
//   - inner fragmentation: FragmentIPv4 splits an IPv4 packet with DF
//     clear that does not fit the tunnel, so the receiver reassembles it
//     end to end (RFC 4459 3.4; VXLAN/Geneve endpoints must not fragment
//     the outer packet, RFC 7348 4.3);
//   - outer fragmentation: FragmentIPv6 (and FragmentIPv4 on a DF-clear
//     outer header) splits an encapsulated packet for a path that cannot
//     carry it, which IPv6 requires when the tunnel cannot carry 1280
//     bytes (RFC 8200 5);
//   - outer reassembly: a Reassembler puts fragmented outer IPv4 and IPv6
//     packets back together before decapsulation (Open vSwitch's userspace
//     datapath cannot decapsulate them at all).
//
// It does not decide when to fragment (the tunnel's MTU math does), does
// not send ICMP errors (tunnel/icmperr), and does not reassemble for
// connection tracking (conntrack keeps its own, zone-aware reassembler).
//
// Everything works on Ethernet frames with at most two VLAN tags, whose L2
// header is carried along unchanged: fragments get a copy of the
// original's, and a reassembled datagram gets its first fragment's.
// Nothing here allocates per packet: the fragmenters write into a
// caller's scratch buffer and hand each fragment to a callback, and the
// Reassembler preallocates all of its memory in NewReassembler.
//
// Errors of the fragmenters are Error constants with a stable Name;
// reassembly outcomes are a Result with a Reason, whose Name and Help are
// counter labels and operator text.
package ipfrag
