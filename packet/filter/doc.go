// Package filter owns filter expressions over frames: the tcpdump-like
// language of `ctswitch trace --filter EXPR` and `ctswitch capture --filter
// EXPR`, its compiler and its matcher.
//
// Its point is tunnelled traffic: "inner" evaluates part of an expression on
// the packet a GRE or Geneve header carries, so looking inside a tunnel
// needs no hand-written byte offsets (where tcpdump needs ip[...] arithmetic
// to see past GRE):
//
//	f, err := filter.Compile("gre and inner tcp dport 22")
//	if err != nil {
//		return err // filter: column N: what is wrong
//	}
//	if f.Match(frame) { ... }
//
// Compile turns an expression into a flat program of tests with jump
// targets (in the manner of classic BPF), so Match walks a slice, never a
// tree, and decodes each header layer of a frame at most once, lazily, into
// a small struct on its stack. Match never allocates and never panics: a
// field the frame is too short for makes the primitives that need it false.
// String gives the canonical form of an expression, which compiles to the
// same Filter.
//
// # Grammar
//
//	expr      = term { ("or" | "||") term }
//	term      = factor { ("and" | "&&") factor }
//	factor    = ("not" | "!") factor
//	          | "inner" factor
//	          | "(" expr ")"
//	          | primitive
//
// "and" binds tighter than "or"; both associate to the left. Two factors
// side by side are an error, not an implicit "and" ("tcp udp" is rejected;
// "tcp port 22" is one primitive, see below). Keywords are case-insensitive;
// tokens are separated by white space or by the operators ( ) ! && || and
// the comparisons of len.
//
// Primitives:
//
//	vlan [ID]                    an 802.1Q/802.1ad tag; with ID, one of the (up to two) tags has that ID
//	arp                          EtherType 0x0806
//	ip, ip6                      an IPv4 / IPv6 header (version and length sane)
//	tcp, udp, sctp, gre          IP protocol 6, 17, 132, 47 (the final next header in IPv6)
//	icmp, icmp6                  ICMP in IPv4, ICMPv6 in IPv6
//	proto N                      IP protocol / IPv6 final next header N (0-255)
//	geneve                       UDP to port 6081
//	[src|dst] host ADDR          IPv4 or IPv6 address (also an Ethernet/IPv4 ARP sender or target)
//	[src|dst] net ADDR/BITS      address within a prefix (no bits set past BITS)
//	[P] [src|dst] port N         P is tcp, udp or sctp; without P any of them
//	[P] [src|dst] portrange LO-HI
//	[P] sport N, [P] dport N     the same as [P] src port N, [P] dst port N
//	ether [src|dst] [host] MAC   Ethernet address, e.g. 02:00:5e:10:00:01 (or with '-')
//	tcp-syn, tcp-ack, tcp-fin,   the TCP flag is set (implies tcp)
//	tcp-rst, tcp-psh, tcp-urg
//	icmp-type N                  ICMP type N, or ICMPv6 type N in IPv6
//	len OP N                     frame length in bytes; OP is <, <=, == (or =), !=, >=, >
//	vni N                        a Geneve header with VNI N (0-16777215)
//	gre-key N                    a GRE header carrying key N (0-4294967295)
//
// Without src or dst, host, net, port, portrange and ether match either
// side. Numbers are decimal or 0x-prefixed hexadecimal. Host names, port
// names and protocol names are not accepted, so an expression means the same
// on every machine.
//
// # Layers and tunnels
//
// At the outermost level primitives apply to the outer headers, after up to
// two 802.1Q/802.1ad tags. IPv6 extension headers (hop-by-hop, routing,
// destination options, fragment, AH) are walked to the upper layer; where
// the chain cannot be followed (cut short, or more than eight headers), proto
// sees the header type the walk stopped at and there is no upper layer.
// Non-first IPv4 and IPv6 fragments carry no upper-layer header: tcp, udp
// and proto still see the protocol, but port, portrange, the TCP flags,
// icmp-type and the tunnel primitives are false for them. Bytes after the IP
// length (Ethernet padding) are never taken for headers; len counts them,
// since it is the length of the frame.
//
// "inner F" is true when the packet is tunnelled and F holds for the
// encapsulated packet:
//
//   - GRE (RFC 2784/2890, version 0) over IPv4 or IPv6 carrying Ethernet
//     (protocol 0x6558, gretap) or a bare IPv4 or IPv6 packet (0x0800,
//     0x86DD). A bare packet has no Ethernet header: vlan and ether are false
//     for it, the IP primitives work as usual.
//   - Geneve (RFC 8926, version 0, UDP destination port 6081) carrying
//     Ethernet (0x6558), or a bare IPv4 or IPv6 packet.
//
// It is false for a packet that is not tunnelled, so "not inner tcp" holds
// for every frame that is not a tunnel carrying TCP. Inside "inner", len is
// the length of the encapsulated packet (its Ethernet frame, or its IP packet
// when bare, up to the end of the tunnel's payload), and vni and gre-key look
// at a tunnel within the encapsulated packet. "inner" nests up to three
// levels ("inner inner tcp": TCP in a tunnel in a tunnel).
//
// # Limits
//
// An expression may be at most MaxLength (1024) bytes long, also in its
// canonical form, hold at most MaxPrimitives (128) primitives, and nest "(",
// "not" and "inner" at most MaxDepth (32) deep. Beyond these, and for any
// other mistake, Compile returns an *Error saying where:
//
//	filter: column 12: expected a port number after "port", got "ssh"
//
// # Examples
//
//	tcp port 22                                ssh, either direction
//	host 198.18.1.2 and not port 22            everything of one host but ssh
//	src net 10.0.0.0/8 && udp dport 53         DNS queries from 10/8
//	ip6 and icmp-type 135                      neighbour solicitations
//	tcp-syn and not tcp-ack                    connection attempts
//	vlan 100 and arp                           ARP on VLAN 100
//	ether src 02:c7:00:00:00:01                frames from one MAC
//	len > 1514                                 frames too big for a 1500-byte MTU
//	gre-key 42 and inner host 198.18.1.2       one host within GRE key 42
//	inner tcp dport 22                         ssh inside GRE or Geneve, not outside
//	vni 5001 and inner (udp and not port 53)   non-DNS UDP in Geneve VNI 5001
//	inner (host 198.18.1.2 and tcp-syn)        SYNs of a tunnelled host
//	not inner ip6                              anything but IPv6 in a tunnel
//	vni 7 and inner inner icmp                 ICMP in a tunnel inside Geneve VNI 7
package filter
