// Package icmperr owns the ICMP errors a tunnel endpoint sends back to an
// inner sender whose packet does not fit the tunnel: ICMPv4 "fragmentation
// needed" (type 3 code 4, RFC 1191) for IPv4 packets with DF set, and
// ICMPv6 "packet too big" (type 2 code 0, RFC 4443) for IPv6 packets, with
// the exclusions of RFC 1812 4.3.2.7 and RFC 4443 2.4(e), and a Limiter
// that rate-limits them (RFC 1812 4.3.2.8, RFC 4443 2.4(f)).
//
// It does not decide whether a packet fits (that is the tunnel's MTU
// math), does not transmit, and does not fragment (package tunnel/ipfrag).
//
// # Building
//
// FragNeeded and PacketTooBig write a complete Ethernet frame into a
// caller-supplied buffer and return its length, or 0 and a Reason saying
// why no error may be sent. They never allocate. The frame goes back the
// way the original came: Ethernet addresses swapped, the same VLAN tags,
// IP source = the address the caller passes or, if none, the original's
// destination (what Linux does for bridged tunnels, whose endpoint has no
// address in the inner network), IP destination = the original's source.
// The quote is the original IP packet trimmed to its IP length (L2 padding
// is never quoted) and cut so that the ICMP's IP packet is at most 576
// bytes (IPv4, RFC 1812 4.3.2.3) or 1280 bytes (IPv6, RFC 4443 3.2).
//
// Both accept a dst that starts where orig starts (rewriting a received
// frame into the error in place, e.g. dst = orig[:cap(orig)]); any other
// overlap of dst and orig is not allowed. MaxFragNeededLen and MaxPacketTooBigLen are the largest frames
// they write.
//
// # Rate limiting
//
// Linux exempts frag-needed and packet-too-big from its ICMP rate limits
// entirely ("Do not limit pmtu discovery, it would break it"). RFC 1812 and
// RFC 4443 ask for a limit, so the Limiter has one, sized to stop floods
// only: with the defaults a single inner source gets 100 errors per second
// with a burst of 200, and the whole limiter 10000 per second with a burst
// of 20000. A sender doing path MTU discovery needs one error per path
// change, so it never meets these limits; a sender hammering a too-small
// path at line rate does.
//
// A typical caller builds the error first, so that excluded packets do not
// spend tokens, then asks the limiter, keyed by the inner source (the
// error's destination):
//
//	n, why := icmperr.FragNeeded(buf, frame, mtu, netip.Addr{})
//	if why == icmperr.None && !lim.Allow(innerSrc, now) {
//		why = icmperr.RateLimited
//	}
//	if why != icmperr.None {
//		counters[why]++ // one counter per Reason, including RateLimited
//		return
//	}
//	transmit(buf[:n])
package icmperr
