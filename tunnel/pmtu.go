package tunnel

import (
	"net/netip"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// Path MTU limits.
const (
	// DefaultPMTUExpiry is how long a learned path MTU is trusted (Linux
	// ip_rt_mtu_expires); then the link MTU is tried again (RFC 1191 6.3).
	DefaultPMTUExpiry = 10 * time.Minute
	// MinPMTU4 is the smallest IPv4 path MTU accepted from an ICMP error
	// (Linux min_pmtu): lower values are a classic attack that would make
	// us fragment everything into tiny pieces.
	MinPMTU4 = 552
	// MinPMTU6 is the IPv6 minimum link MTU (RFC 8200 5, RFC 8201 4).
	MinPMTU6 = 1280
)

// PathMTU is the L3 MTU to use towards the endpoint: linkMTU (the egress
// port's), lowered by a learned, unexpired path MTU. now is the monotonic
// clock in nanoseconds, as everywhere in the dataplane. No allocation, one
// atomic load: it is called per packet.
func (e *Endpoint) PathMTU(linkMTU int, now int64) int {
	mtu, ok := e.learnedPMTU(now)
	if !ok {
		return linkMTU
	}
	return min(linkMTU, mtu)
}

// The learned MTU and its expiry share one 64-bit word, so readers see a
// consistent pair without a lock: expiry in milliseconds << 16 | mtu.
func (e *Endpoint) learnedPMTU(now int64) (mtu int, ok bool) {
	mtu, _, ok = decodePMTU(e.pmtu.Load(), now)
	return mtu, ok
}

func decodePMTU(s uint64, now int64) (mtu int, expires int64, ok bool) {
	expires = int64(s>>16) * int64(time.Millisecond)
	if s == 0 || now >= expires {
		return 0, 0, false
	}
	return int(s & 0xffff), expires, true
}

// ClearPMTU forgets the learned path MTU.
func (e *Endpoint) ClearPMTU() { e.pmtu.Store(0) }

// learnPMTU records a path MTU reported by the network (already floored)
// and returns the one now in force. It never raises an unexpired value
// (RFC 1191 6.3, RFC 8201 4: a Too Big message cannot increase the
// estimate); an equal report refreshes the expiry.
func (e *Endpoint) learnPMTU(mtu int, now, expiry int64) int {
	mtu = min(mtu, 0xffff)
	exp := max(0, (now+expiry)/int64(time.Millisecond)+1)
	nv := uint64(exp)<<16 | uint64(mtu)
	for {
		old := e.pmtu.Load()
		if cur, ok := e.learnedPMTU(now); ok && cur < mtu {
			return cur
		}
		if e.pmtu.CompareAndSwap(old, nv) {
			return mtu
		}
	}
}

// rfc1191Plateaus are the RFC 1191 7.1 MTU plateaus, for ICMP errors from
// routers that predate RFC 1191 and report a next-hop MTU of 0.
var rfc1191Plateaus = [...]int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// LearnPMTU handles an ICMP "fragmentation needed" (IPv4 type 3 code 4) or
// ICMPv6 Packet Too Big received on the underlay (icmpFrame is its Ethernet
// frame). If it quotes one of our own outer packets (quoted source = an
// endpoint's Local, destination = its Remote, protocol GRE, or UDP to the
// Geneve port; the key or VNI when the quote is long enough to show it) and
// is addressed to that Local, the reported MTU becomes the path MTU of
// every endpoint on that (local, remote) path, for PMTUExpiry. It returns
// the endpoint the quote matched and the path MTU now in force.
//
// Reports are distrusted as far as the quote allows: the ICMP checksum must
// verify; an MTU not smaller than the quoted packet is ignored (the packet
// would have fit); the value is floored at MinPMTU4 / MinPMTU6 and never
// raises a current value. A zero IPv4 MTU (a pre-RFC 1191 router) is
// replaced by the next plateau below the quoted packet's length.
func (t *Table) LearnPMTU(icmpFrame []byte, now int64) (ep *Endpoint, mtu int, ok bool) {
	ep, mtu, ok = t.learnPMTU(icmpFrame, now)
	if ok {
		t.pmtuLearned.Add(1)
	} else {
		t.pmtuIgnored.Add(1)
	}
	return ep, mtu, ok
}

func (t *Table) learnPMTU(frame []byte, now int64) (*Endpoint, int, bool) {
	var m packet.Meta
	if packet.Parse(frame, &m) != nil || m.IPVersion == 0 || m.Fragment || !m.L4Complete {
		return nil, 0, false
	}
	l4 := m.L4(frame)
	var reported int
	var quote []byte
	var icmpDst [16]byte
	switch {
	case m.IPVersion == 4 && m.L4Proto == packet.ProtoICMP:
		ic := packet.ICMPv4(l4)
		if ic.Type() != packet.ICMPv4DstUnreach || ic.Code() != packet.ICMPv4CodeFragNeeded {
			return nil, 0, false
		}
		reported, quote = int(ic.MTU()), ic.Body()
		icmpDst = netip.AddrFrom4(packet.IPv4(frame[m.L3Off:]).Dst()).As16()
	case m.IPVersion == 6 && m.L4Proto == packet.ProtoICMPv6:
		ic := packet.ICMPv6(l4)
		if ic.Type() != packet.ICMPv6PacketTooBig {
			return nil, 0, false
		}
		reported, quote = int(min(ic.MTU(), 0xffff)), ic.Body()
		icmpDst = packet.IPv6(frame[m.L3Off:]).Dst()
	default:
		return nil, 0, false
	}
	if !packet.VerifyL4Checksum(frame, &m) {
		return nil, 0, false
	}

	var q packet.Meta
	if packet.ParseQuoted(quote, &q) != nil || q.IPVersion != m.IPVersion || q.FragOffset != 0 {
		return nil, 0, false
	}
	var pk pairKey
	var quotedLen, floor int
	if q.IPVersion == 4 {
		ip := packet.IPv4(quote)
		pk = pairKey{netip.AddrFrom4(ip.Src()).As16(), netip.AddrFrom4(ip.Dst()).As16()}
		quotedLen, floor = int(ip.TotalLength()), MinPMTU4
	} else {
		ip := packet.IPv6(quote)
		pk = pairKey{ip.Src(), ip.Dst()}
		quotedLen, floor = packet.IPv6HeaderLen+int(ip.PayloadLength()), MinPMTU6
	}
	// The error goes to the quoted packet's sender; anything else is not
	// about a packet we sent.
	if pk.local != icmpDst {
		return nil, 0, false
	}
	p := t.pairs[pk]
	if p == nil {
		return nil, 0, false
	}
	ep := t.quotedEndpoint(p, quote[q.L4Off:q.End], q.L4Proto)
	if ep == nil {
		return nil, 0, false
	}
	if reported == 0 && q.IPVersion == 4 {
		for _, pl := range rfc1191Plateaus {
			if pl < quotedLen {
				reported = pl
				break
			}
		}
	}
	if reported >= quotedLen {
		return nil, 0, false
	}
	reported = max(reported, floor)
	var mtu int
	for _, e := range p.eps {
		n := e.learnPMTU(reported, now, t.expiry)
		if e == ep {
			mtu = n
		}
	}
	return ep, mtu, true
}

// quotedEndpoint picks the endpoint of path p that sent the quoted L4
// bytes (which may be cut short), or nil if none did.
func (t *Table) quotedEndpoint(p *pair, l4 []byte, proto uint8) *Endpoint {
	switch proto {
	case packet.ProtoGRE:
		if len(p.gre) == 0 || len(l4) < packet.GREMinHeaderLen {
			return nil
		}
		g := packet.GRE(l4)
		keyOff := packet.GREMinHeaderLen
		if g.ChecksumPresent() {
			keyOff += 4
		}
		tap := g.Protocol() == packet.EtherTypeTEB
		for _, e := range p.gre {
			if (e.cfg.Kind == GRETap) != tap || (e.cfg.Key != nil) != g.KeyPresent() {
				continue
			}
			if e.cfg.Key != nil && len(l4) >= keyOff+4 && *e.cfg.Key != g.Key() {
				continue
			}
			return e
		}
	case packet.ProtoUDP:
		u := packet.UDP(l4)
		if len(p.geneve) == 0 || t.port == 0 || u.DstPort() != t.port {
			return nil
		}
		if len(l4) < packet.UDPHeaderLen+packet.GeneveHeaderLen {
			return p.geneve[0]
		}
		vni := packet.Geneve(l4[packet.UDPHeaderLen:]).VNI()
		for _, e := range p.geneve {
			if e.cfg.VNI == vni {
				return e
			}
		}
	}
	return nil
}

// PMTUEntry is one learned path MTU, for `ctswitch tunnel show`.
type PMTUEntry struct {
	Endpoint string
	Remote   netip.Addr
	MTU      int
	Expires  time.Duration // remaining
}

// PMTUs lists the unexpired learned path MTUs by endpoint name.
func (t *Table) PMTUs(now int64) []PMTUEntry {
	var out []PMTUEntry
	for _, e := range t.eps {
		mtu, exp, ok := decodePMTU(e.pmtu.Load(), now)
		if !ok {
			continue
		}
		out = append(out, PMTUEntry{Endpoint: e.cfg.Name, Remote: e.cfg.Remote, MTU: mtu, Expires: time.Duration(exp - now)})
	}
	return out
}

// PMTUStats counts LearnPMTU calls that updated a path MTU and those that
// were ignored (not about our packets, malformed, or implausible).
func (t *Table) PMTUStats() (learned, ignored uint64) {
	return t.pmtuLearned.Load(), t.pmtuIgnored.Load()
}
