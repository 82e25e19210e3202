// Package policy owns a virtual network's stateful filter, the step that runs
// after connection tracking. New connections are allowed or denied by an
// ordered list of simple rules (first match wins, else the default action);
// packets of established and related connections pass; invalid packets are
// dropped or, in monitor mode, only counted.
//
// A Policy is immutable once compiled: a reload compiles a new one and swaps
// a pointer, so workers call Check without locks and without allocating.
// Only the hit counters change, one atomic counter per rule on its own cache
// line; they move only for new connections (and monitored invalid packets).
//
// # Rules
//
// A rule is written as an action followed by key=value constraints, all of
// which must hold (a missing key matches anything):
//
//	allow in=vm1 proto=tcp dst=198.18.0.0/24,2001:db8::/32 dport=22,80,8000-8080
//	deny  proto=udp sport=53
//	allow proto=icmp type=8
//	deny  name=no-v6 family=6
//
// Keys (the action, keys and protocol and family names are case-insensitive;
// names and ports are not):
//
//	name=NAME      the rule's name in counters and traces (default rule-N, N its 1-based position)
//	in=PORT        the port the connection's first packet entered on
//	out=PORT       the port the MAC lookup chose; a flooded packet never matches
//	proto=P        tcp, udp, icmp, icmpv6 (icmp6), sctp, gre or a number 0-255 (0 = any)
//	family=F       4, 6, ipv4 or ipv6
//	src=P,P...     the initiator's address: prefixes or bare addresses, v4 and v6 may mix
//	dst=P,P...     the responder's address
//	sport=R,R...   source ports or lo-hi ranges (tcp, udp and sctp only)
//	dport=R,R...   destination ports or ranges (tcp, udp and sctp only)
//	type=T         the ICMP query type: 8, 13, 15, 17 (icmp), 128, 139 (icmpv6); alias icmp-type
//
// Addresses are those of the connection's original direction: Src is the
// host that opened it. A prefix must have its host bits clear, and
// IPv4-mapped IPv6 prefixes are refused because IPv4 packets never carry
// them. A rule that could never match (family=6 proto=icmp, src only IPv4
// with dst only IPv6, type=0) is an error rather than a silent no-op.
// Rule.String prints the canonical form, which ParseRule reads back to an
// equal Rule.
//
// # Verdicts
//
// Check maps each conntrack verdict to a Decision: new connections are
// judged by the rules; established, related, ignored and untracked packets
// (ARP, neighbour discovery) pass, as do pending fragments, which get their
// datagram's verdict later; invalid packets are dropped, or passed and
// counted in InvalidMonitor mode.
package policy
