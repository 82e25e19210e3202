package dataplane

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/ctswitch/ctswitch/packet"
)

// IP-GRE endpoints. GRE with an IP payload carries no Ethernet header, so
// such an endpoint is a router port of its network: it has a gateway
// address (and a MAC) in the network, answers ARP and neighbour
// solicitations for it, and the network's hosts route the remote's
// prefixes through it. Frames to the gateway go into the tunnel without
// their Ethernet header; packets out of the tunnel get one, addressed to
// the host that owns their destination, as learned from what the hosts
// sent the gateway (their ARP, neighbour discovery and IP packets). An
// unknown destination is resolved like a router does: an ARP request or
// neighbour solicitation from the gateway, and the packet is dropped
// (counted).

type greipPort struct {
	gw4, gw6 netip.Addr
	mac      packet.MAC
	neigh    sync.Map // netip.Addr -> packet.MAC
	nNeigh   atomic.Int64
	asked    sync.Map // netip.Addr -> int64: when the gateway last asked for it
	nAsked   atomic.Int64
	askBurst atomic.Int64 // asks in the current second (askSecond)
	askSec   atomic.Int64
}

// Bounds: the tables are fed by hosts and by whatever comes out of the
// tunnel (GRE has no authentication), so they are capped, old asks expire
// (expireAsks, from housekeeping), and the gateway asks at most
// maxAsksPerSecond times a second in all.
const (
	maxGatewayNeighbors = 65536
	maxGatewayAsks      = 4096
	maxAsksPerSecond    = 100
)

// gatewayMAC derives a locally administered unicast MAC from the
// endpoint's name: stable across restarts.
func gatewayMAC(name string) packet.MAC {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return packet.MAC{0x02, 0xc7, 0xfe, byte(v >> 16), byte(v >> 8), byte(v)}
}

func (g *greipPort) learn(ip netip.Addr, mac packet.MAC) {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || mac.IsMulticast() {
		return
	}
	old, ok := g.neigh.Load(ip)
	if ok && old.(packet.MAC) == mac {
		return
	}
	if !ok && g.nNeigh.Add(1) > maxGatewayNeighbors {
		g.nNeigh.Add(-1)
		return
	}
	g.neigh.Store(ip, mac)
}

// expireAsks forgets asks older than a few seconds (housekeeping).
func (g *greipPort) expireAsks(now int64) {
	g.asked.Range(func(k, v any) bool {
		if now-v.(int64) > 5e9 {
			g.asked.Delete(k)
			g.nAsked.Add(-1)
		}
		return true
	})
}

// mayAsk rate-limits the gateway's ARP requests and solicitations.
func (g *greipPort) mayAsk(now int64) bool {
	sec := now / 1e9
	if g.askSec.Swap(sec) != sec {
		g.askBurst.Store(0)
	}
	return g.askBurst.Add(1) <= maxAsksPerSecond && g.nAsked.Load() < maxGatewayAsks
}

// greipOut handles a frame sent to an IP-GRE endpoint: it answers ARP and
// neighbour solicitations for the gateway and learns the sender; it
// reports whether the frame is an IP packet to encapsulate. Frames not
// for the gateway (floods: other hosts' ARP, broadcasts, multicast,
// unknown unicast) are not the endpoint's business and are left quietly.
func (w *worker) greipOut(p *swPort, g *greipPort, frame []byte, inPort int, tr *traceRec) bool {
	var m packet.Meta
	if err := packet.Parse(frame, &m); err != nil {
		w.dropped(DropTunnelNotIP, frame, inPort, tr)
		return false
	}
	eth := packet.Ethernet(frame)
	src := eth.Src()
	toGateway := eth.Dst() == g.mac
	switch {
	case m.EtherType == packet.EtherTypeARP:
		a := frame[m.L3Off:]
		if len(a) >= 28 && g.gw4.IsValid() && netip.AddrFrom4([4]byte(a[24:28])) == g.gw4 {
			sender := netip.AddrFrom4([4]byte(a[14:18]))
			g.learn(sender, src)
			w.tun.ctr[tcGatewayARPND].inc()
			switch op := binary.BigEndian.Uint16(a[6:]); {
			case op == 1:
				w.arpReply(g, frame[:m.L3Off], a, inPort)
				if tr != nil {
					tr.rec.step(w.id, "gateway", "ARP for %s answered with %s", g.gw4, net6(g.mac))
				}
			case tr != nil:
				tr.rec.step(w.id, "gateway", "ARP reply: %s is at %s", sender, net6(src))
			}
			return false
		}
	case !toGateway && !(m.IPVersion == 6 && m.L4Proto == 58):
		return false // flooded, not routed to the gateway
	case m.IPVersion == 4:
		g.learn(netip.AddrFrom4([4]byte(frame[m.L3Off+12:m.L3Off+16])), src)
		return true
	case m.IPVersion == 6 && m.L4Proto == 58 && m.L4Complete:
		icmp := frame[m.L4Off:m.End]
		ip6 := frame[m.L3Off:]
		from := netip.AddrFrom16([16]byte(ip6[8:24]))
		if icmp[0] == packet.ICMPv6NeighborSolicit && len(icmp) >= 24 && g.gw6.IsValid() && netip.AddrFrom16([16]byte(icmp[8:24])) == g.gw6 {
			g.learn(from, src)
			w.tun.ctr[tcGatewayARPND].inc()
			w.neighborAdvert(g, src, from, inPort)
			if tr != nil {
				tr.rec.step(w.id, "gateway", "neighbour solicitation for %s answered with %s", g.gw6, net6(g.mac))
			}
			return false
		}
		if icmp[0] == 136 && len(icmp) >= 24 { // an advertisement, answering the gateway
			target := netip.AddrFrom16([16]byte(icmp[8:24]))
			g.learn(target, src)
			w.tun.ctr[tcGatewayARPND].inc()
			if tr != nil {
				tr.rec.step(w.id, "gateway", "neighbour advertisement: %s is at %s", target, net6(src))
			}
			return false
		}
		if icmp[0] >= 133 && icmp[0] <= 137 || !toGateway {
			return false // other neighbour discovery, and floods, stay in the network
		}
		g.learn(from, src)
		return true
	case m.IPVersion == 6:
		g.learn(netip.AddrFrom16([16]byte(frame[m.L3Off+8:m.L3Off+24])), src)
		return true
	}
	if toGateway {
		w.dropped(DropTunnelNotIP, frame, inPort, tr)
	}
	return false
}

// arpReply answers an ARP request for the gateway.
func (w *worker) arpReply(g *greipPort, l2 []byte, req []byte, inPort int) {
	f := w.tun.reply[:0]
	f = append(f, l2[6:12]...) // to the requester
	f = append(f, g.mac[:]...)
	f = append(f, l2[12:]...) // its VLAN tags and EtherType
	f = append(f, 0, 1, 0x08, 0, 6, 4, 0, 2)
	f = append(f, g.mac[:]...)
	f = append(f, req[24:28]...) // the gateway's address
	f = append(f, req[8:18]...)  // the requester's MAC and address
	f = append(f, make([]byte, max(0, 60-len(f)))...)
	w.emit(inPort, f, -1, 0, nil)
}

// neighborAdvert answers a neighbour solicitation for the gateway.
func (w *worker) neighborAdvert(g *greipPort, toMAC packet.MAC, to netip.Addr, inPort int) {
	dst := to
	if to.IsUnspecified() {
		dst = netip.MustParseAddr("ff02::1") // duplicate address detection: to all nodes
		toMAC = packet.MAC{0x33, 0x33, 0, 0, 0, 1}
	}
	flags := byte(0xe0) // router, solicited, override
	if to.IsUnspecified() {
		flags = 0xa0
	}
	w.emit(inPort, w.ndFrame(w.tun.reply[:0], g, toMAC, dst, 136, flags, g.gw6, 2), -1, 0, nil)
}

// ndFrame builds a neighbour solicitation (135) or advertisement (136)
// from the gateway, with a link-layer address option (type 1 source, 2
// target).
func (w *worker) ndFrame(f []byte, g *greipPort, toMAC packet.MAC, dst netip.Addr, typ, flags byte, target netip.Addr, opt byte) []byte {
	f = append(f, toMAC[:]...)
	f = append(f, g.mac[:]...)
	f = append(f, 0x86, 0xdd)
	f = append(f, 0x60, 0, 0, 0, 0, 32, 58, 255)
	s16, d16, t16 := g.gw6.As16(), dst.As16(), target.As16()
	f = append(f, s16[:]...)
	f = append(f, d16[:]...)
	icmpOff := len(f)
	f = append(f, typ, 0, 0, 0, flags, 0, 0, 0)
	f = append(f, t16[:]...)
	f = append(f, opt, 1)
	f = append(f, g.mac[:]...)
	icmp := f[icmpOff:]
	sum := packet.PseudoHeaderSum6(s16, d16, 58, len(icmp))
	binary.BigEndian.PutUint16(icmp[2:], ^packet.Fold(packet.Sum(icmp, sum)))
	return f
}

// greipIn gives the IP packet at frame[off:] (out of an IP-GRE tunnel)
// an Ethernet header, written in place over the end of the outer headers:
// to the host owning its destination, from the gateway. An unknown
// destination is asked for and the packet dropped.
func (w *worker) greipIn(tp *tunPort, pi int, frame []byte, off int, proto uint16, tr *traceRec) ([]byte, bool) {
	g := tp.greip
	ip := frame[off:]
	var dst netip.Addr
	switch {
	case proto == packet.EtherTypeIPv4 && len(ip) >= 20:
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
	case proto == packet.EtherTypeIPv6 && len(ip) >= 40:
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		w.dropRx(DropTunnelDecap, ip, pi, tr)
		return nil, false
	}
	mac, ok := g.neigh.Load(dst)
	if !ok || off < packet.EthernetHeaderLen {
		w.askNeighbor(tp, pi, dst)
		w.dropRx(DropTunnelNoInnerNeighbor, ip, pi, tr)
		return nil, false
	}
	to := mac.(packet.MAC)
	f := frame[off-packet.EthernetHeaderLen:]
	copy(f[0:6], to[:])
	copy(f[6:12], g.mac[:])
	f[12], f[13] = byte(proto>>8), byte(proto)
	if tr != nil {
		tr.rec.step(w.id, "gateway", "to %s at %s", dst, net6(to))
	}
	return f, true
}

// askNeighbor sends an ARP request or neighbour solicitation from the
// gateway for addr into the endpoint's network (at most once a second
// per address).
func (w *worker) askNeighbor(tp *tunPort, pi int, addr netip.Addr) {
	g := tp.greip
	if addr.IsMulticast() || addr.Is4() && addr.As4() == [4]byte{255, 255, 255, 255} {
		return // no host owns it
	}
	last, known := g.asked.Load(addr)
	if known && w.now-last.(int64) < 1e9 || !g.mayAsk(w.now) {
		return
	}
	if !known {
		g.nAsked.Add(1)
	}
	g.asked.Store(addr, w.now)
	var f []byte
	switch {
	case addr.Is4() && g.gw4.IsValid():
		f = w.tun.icmp[:0]
		f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		f = append(f, g.mac[:]...)
		f = append(f, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1)
		gw, a := g.gw4.As4(), addr.As4()
		f = append(f, g.mac[:]...)
		f = append(f, gw[:]...)
		f = append(f, 0, 0, 0, 0, 0, 0)
		f = append(f, a[:]...)
		f = append(f, make([]byte, 60-len(f))...)
	case addr.Is6() && g.gw6.IsValid():
		a := addr.As16()
		sn := netip.AddrFrom16([16]byte{0xff, 0x02, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})
		f = w.ndFrame(w.tun.icmp[:0], g, packet.MAC{0x33, 0x33, 0xff, a[13], a[14], a[15]}, sn, 135, 0, addr, 1)
	default:
		return
	}
	for _, o := range w.sw.ports[pi].net.ports {
		if o != pi {
			w.emit(o, f, -1, 0, nil)
		}
	}
}
