package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
	"github.com/ctswitch/ctswitch/tunnel/ipfrag"
)

// Tunnels. A virtual network can reach remote hosts through tunnel
// endpoints: each is a switch port of its network (MAC learning, flooding,
// policy treat it like a VM port) whose frames leave encapsulated on an
// underlay port. The underlay port is an AF_XDP port too, with a filter
// that hands the switch only tunnel packets for a local endpoint address
// (see UnderlayFilter); the kernel keeps the underlay's addresses,
// ARP/ND and routes, and the switch asks it for next hops (resolveNextHop).
//
// Receive: reassemble outer fragments, decapsulate, match the endpoint by
// addresses and key or VNI, then the inner frame enters the pipeline as if
// received on the endpoint's port: its owner is chosen by the inner flow.
// Send: the path MTU towards the endpoint (link, route, learned from
// underlay ICMP) decides between encapsulating, fragmenting the inner
// IPv4 packet, answering the inner source with ICMP "fragmentation needed"
// or ICMPv6 "packet too big" through the network it came from, or
// fragmenting the outer packet (IPv6 that must cross a tunnel narrower
// than 1280 bytes).

// UnderlaySpec is an underlay port: the interface tunnels leave and
// arrive on.
type UnderlaySpec struct {
	Name      string // default: the interface name
	Interface string
	Mode      *Mode // nil: SwitchConfig.Mode
}

// TunnelSpec is a remote endpoint of a virtual network.
type TunnelSpec struct {
	// Network is the virtual network the endpoint belongs to (default:
	// the first).
	Network string
	// Underlay names the underlay port (default: the only one).
	Underlay string
	// Endpoint configures the tunnel; its Name is the port name. A zero
	// Local is the kernel's preferred source address towards Remote.
	Endpoint tunnel.Config
	// Gateway (IP-GRE only, required): the endpoint's addresses in the
	// network (one IPv4, one IPv6 at most), which the network's hosts
	// route the remote's prefixes through; GatewayMAC is its MAC (zero:
	// derived from the name). See greipPort.
	Gateway    []netip.Addr
	GatewayMAC packet.MAC
}

// tunPort is the state of a tunnel endpoint port.
type tunPort struct {
	idx      int // in Switch.tuns
	port     int // its switch port index
	ep       *tunnel.Endpoint
	underlay int                     // port index of the underlay
	nh       atomic.Pointer[NextHop] // nil until resolved
	nhErr    atomic.Pointer[string]  // why it is not resolved
	// localUnset: the config left Local to the kernel's route (New
	// resolves it before the underlay's filter is built).
	localUnset bool
	greip      *greipPort   // IP-GRE endpoints only
	loggedPMTU atomic.Int64 // the last learned path MTU logged
}

// Tunnel counters beyond drops (per worker, summed by Stats).
type tunCounter uint8

const (
	tcRxPackets       tunCounter = iota // decapsulated and switched
	tcTxPackets                         // encapsulated and queued
	tcInnerFragmented                   // inner IPv4 packets fragmented to fit
	tcInnerFragments                    // fragments those became
	tcOuterFragmented                   // outer packets fragmented (IPv6 over a tunnel below 1280)
	tcFragNeededSent                    // ICMP fragmentation needed sent to an inner source
	tcPTBSent                           // ICMPv6 packet too big sent to an inner source
	tcReassembled                       // outer datagrams reassembled from fragments
	tcOuterFragHeld                     // outer fragments held until their datagram is complete
	tcPMTULearned                       // underlay ICMP errors that lowered a path MTU
	tcGatewayARPND                      // ARP and neighbour discovery an IP-GRE gateway answered or learned from
	numTunCounters
)

var tunCounterNames = [numTunCounters]string{
	tcRxPackets: "rx_packets", tcTxPackets: "tx_packets", tcInnerFragmented: "inner_fragmented",
	tcInnerFragments: "inner_fragments", tcOuterFragmented: "outer_fragmented",
	tcFragNeededSent: "frag_needed_sent", tcPTBSent: "packet_too_big_sent",
	tcReassembled: "outer_reassembled", tcOuterFragHeld: "outer_fragments_held", tcPMTULearned: "pmtu_learned",
	tcGatewayARPND: "gateway_arp_nd",
}

// tunWorker is a worker's tunnel state.
type tunWorker struct {
	decap   tunnel.Decapsulated
	reasm   *ipfrag.Reassembler
	arena   []slot // reassembled frames of this round
	arenaN  int
	scratch []byte // fragmentation output
	icmp    []byte // ICMP errors, and gateway requests, being built
	reply   []byte // gateway replies being built (an ask may pass through another gateway)

	refragmenting bool   // emitTunnel is sending the pieces of a refragmented datagram
	outer         []byte // an outer packet about to be fragmented

	ctr    [numTunCounters]counter
	reason [tunnel.NumReasons]counter  // decapsulation drops by reason
	frag   [ipfrag.NumReasons]counter  // reassembly refusals by reason
	noICMP [icmperr.NumReasons]counter // too-big packets that got no ICMP, by reason
	perEP  []tunEPCounters             // by tunnel index
}

type tunEPCounters struct {
	rx, tx, drop counter
}

func newTunWorker(sw *Switch) *tunWorker {
	tw := &tunWorker{
		reasm:   ipfrag.NewReassembler(ipfrag.ReassemblerConfig{MaxDatagrams: 32}),
		arena:   newSlots(16, 16384), // a reassembled outer datagram may exceed the port's frames
		scratch: make([]byte, 2*sw.frameCap),
		icmp:    make([]byte, 2048),
		reply:   make([]byte, 256),
		outer:   make([]byte, 4096),
		perEP:   make([]tunEPCounters, len(sw.tuns)),
	}
	return tw
}

// buildTunnels adds the underlay and tunnel ports of cfg (after the VM
// ports) and the receive table.
func (sw *Switch) buildTunnels(cfg *SwitchConfig, netByName map[string]*network) error {
	if len(cfg.Tunnels) > 0 && len(cfg.Underlays) == 0 {
		return errors.New("switch: tunnels need an underlay port")
	}
	underlays := map[string]int{}
	for i, us := range cfg.Underlays {
		if us.Interface == "" {
			return fmt.Errorf("switch: underlay %d has no interface", i+1)
		}
		name := us.Name
		if name == "" {
			name = us.Interface
		}
		if err := sw.addPortName(name, us.Interface); err != nil {
			return err
		}
		underlays[name] = len(sw.ports)
		sw.ports = append(sw.ports, &swPort{name: name, ifname: us.Interface, kind: portUnderlay, mode: us.Mode, maxFrame: 1500 + 18})
	}
	var eps []*tunnel.Endpoint
	for i, ts := range cfg.Tunnels {
		c := ts.Endpoint
		if c.Name == "" {
			return fmt.Errorf("switch: tunnel %d has no name", i+1)
		}
		var gp *greipPort
		if c.Kind == tunnel.GREIP {
			if len(ts.Gateway) == 0 {
				return fmt.Errorf("switch: tunnel %s: type gre (IP payload) needs a gateway address in its network", c.Name)
			}
			gp = &greipPort{mac: ts.GatewayMAC}
			if gp.mac == (packet.MAC{}) {
				gp.mac = gatewayMAC(c.Name)
			}
			for _, a := range ts.Gateway {
				switch a = a.Unmap(); {
				case a.Is4() && !gp.gw4.IsValid():
					gp.gw4 = a
				case a.Is6() && !gp.gw6.IsValid():
					gp.gw6 = a
				default:
					return fmt.Errorf("switch: tunnel %s: gateway %v: at most one IPv4 and one IPv6 address", c.Name, a)
				}
			}
		} else if len(ts.Gateway) > 0 {
			return fmt.Errorf("switch: tunnel %s: only type gre (IP payload) has a gateway", c.Name)
		}
		ul := -1
		switch {
		case ts.Underlay != "":
			var ok bool
			if ul, ok = underlays[ts.Underlay]; !ok {
				return fmt.Errorf("switch: tunnel %s: no underlay %q", c.Name, ts.Underlay)
			}
		case len(underlays) == 1:
			for _, v := range underlays {
				ul = v
			}
		default:
			return fmt.Errorf("switch: tunnel %s: name its underlay (there are %d)", c.Name, len(underlays))
		}
		n := sw.networks[0]
		if ts.Network != "" {
			var ok bool
			if n, ok = netByName[ts.Network]; !ok {
				return fmt.Errorf("switch: tunnel %s: no network %q", c.Name, ts.Network)
			}
		}
		localUnset := !c.Local.IsValid()
		if localUnset {
			// Filled in by New from the kernel's route; until then a
			// documentation address of the family keeps Validate and
			// NewTable meaningful.
			c.Local = placeholderLocal(c.Remote)
		}
		ep, err := tunnel.NewEndpoint(c)
		if err != nil {
			return fmt.Errorf("switch: %w", err)
		}
		if err := sw.addPortName(c.Name, ""); err != nil {
			return err
		}
		pi := len(sw.ports)
		tp := &tunPort{idx: len(sw.tuns), port: pi, ep: ep, underlay: ul, localUnset: localUnset, greip: gp}
		sw.tuns = append(sw.tuns, tp)
		n.ports = append(n.ports, pi)
		sw.ports = append(sw.ports, &swPort{name: c.Name, net: n, kind: portTunnel, tun: tp, maxFrame: 1500 + 18})
		ep.SetTag(pi) // what Receive returns leads to the port
		eps = append(eps, ep)
	}
	if len(eps) > 0 {
		if err := sw.rebuildTunnelTable(eps, cfg.PMTUExpiry); err != nil {
			return err
		}
		sw.icmpLimit = icmperr.NewLimiter(cfg.ICMPLimit)
	}
	return nil
}

func placeholderLocal(remote netip.Addr) netip.Addr {
	if remote.Is4() {
		return netip.MustParseAddr("192.0.2.1")
	}
	return netip.MustParseAddr("2001:db8::1")
}

func (sw *Switch) rebuildTunnelTable(eps []*tunnel.Endpoint, expiry time.Duration) error {
	t, err := tunnel.NewTable(eps, tunnel.TableConfig{PMTUExpiry: expiry})
	if err != nil {
		return fmt.Errorf("switch: tunnels: %w", err)
	}
	sw.tunTable = t
	return nil
}

// resolveLocals fills in the local address of endpoints configured
// without one, from the kernel's route towards the remote (New, before
// the underlay ports open: their filter needs the addresses).
func (sw *Switch) resolveLocals() error {
	changed := false
	var eps []*tunnel.Endpoint
	for _, tp := range sw.tuns {
		c := tp.ep.Config()
		if tp.localUnset {
			nh, err := resolveNextHop(nil, c.Remote)
			if err != nil && !errors.Is(err, ErrNeighborPending) {
				return fmt.Errorf("switch: tunnel %s: local address: %w", c.Name, err)
			}
			if !nh.Src.IsValid() {
				return fmt.Errorf("switch: tunnel %s: the kernel has no source address towards %s: set local", c.Name, c.Remote)
			}
			c.Local = nh.Src
			ep, err := tunnel.NewEndpoint(c)
			if err != nil {
				return fmt.Errorf("switch: %w", err)
			}
			ep.SetTag(tp.port)
			tp.ep, tp.localUnset = ep, false
			changed = true
			sw.log.Info("tunnel local address from the kernel's route", "tunnel", c.Name, "local", c.Local, "remote", c.Remote)
		}
		eps = append(eps, tp.ep)
	}
	if changed {
		return sw.rebuildTunnelTable(eps, sw.cfg.PMTUExpiry)
	}
	return nil
}

// underlayFilter is the XDP filter of underlay port pi: the local
// addresses of the endpoints that use it.
func (sw *Switch) underlayFilter(pi int) (*Filter, error) {
	var locals []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, tp := range sw.tuns {
		if tp.underlay != pi {
			continue
		}
		if a := tp.ep.Config().Local; !seen[a] {
			seen[a] = true
			locals = append(locals, a)
		}
	}
	if len(locals) == 0 {
		return nil, fmt.Errorf("underlay %s: no tunnel uses it", sw.ports[pi].name)
	}
	port := uint16(tunnel.DefaultGenevePort)
	if sw.tunTable != nil && sw.tunTable.GenevePort() != 0 {
		port = sw.tunTable.GenevePort()
	}
	return UnderlayFilter(locals, port)
}

// refreshNextHops asks the kernel for every endpoint's next hop; a
// change of route or neighbour is picked up within a second.
func (sw *Switch) refreshNextHops() {
	for _, tp := range sw.tuns {
		remote := tp.ep.Config().Remote
		nh, err := resolveNextHop(nil, remote)
		ul := sw.ports[tp.underlay]
		if err == nil && nh.Interface != ul.ifname {
			err = fmt.Errorf("the route to %s leaves on %s, not on underlay %s", remote, nh.Interface, ul.ifname)
		}
		if err != nil {
			msg := err.Error()
			if old := tp.nhErr.Load(); old == nil || *old != msg {
				if !errors.Is(err, ErrNeighborPending) {
					sw.log.Warn("tunnel next hop", "tunnel", tp.ep.Name(), "err", err)
				}
			}
			tp.nhErr.Store(&msg)
			if !errors.Is(err, ErrNeighborPending) {
				tp.nh.Store(nil)
			}
			continue
		}
		if old := tp.nh.Load(); old == nil || *old != nh {
			sw.log.Info("tunnel next hop", "tunnel", tp.ep.Name(), "remote", remote, "via", nh.Via,
				"mac", net6(nh.DstMAC), "interface", nh.Interface, "mtu", nh.linkMTU())
		}
		tp.nhErr.Store(nil)
		tp.nh.Store(&nh)
	}
}

// linkMTU is the L3 MTU of the next hop: the route's, else the link's.
func (nh *NextHop) linkMTU() int {
	if nh.MTU > 0 && (nh.LinkMTU == 0 || nh.MTU < nh.LinkMTU) {
		return nh.MTU
	}
	if nh.LinkMTU > 0 {
		return nh.LinkMTU
	}
	return 1500
}

// ingressUnderlay handles a frame of an underlay port: reassembly,
// decapsulation, path MTU reports; the inner frame goes on through
// ingressFrame as received on its endpoint's port.
func (w *worker) ingressUnderlay(pkt *conntrack.Packet, frame []byte, inPort int, stamp int64, tr *traceRec) {
	tw := w.tun
	d := &tw.decap
	ep, why := w.sw.tunTable.Receive(frame, d)
	if why == tunnel.ReasonOuterFragment {
		whole, res := tw.reasm.Add(frame, stamp)
		switch res.Status {
		case ipfrag.Held:
			tw.ctr[tcOuterFragHeld].inc()
			if tr != nil {
				tr.rec.step(w.id, "tunnel", "outer fragment held for reassembly")
				tr.finish()
			}
			return
		case ipfrag.Dropped:
			tw.frag[res.Reason].inc()
			w.dropRx(DropTunnelReassembly, frame, inPort, tr)
			return
		}
		s := w.arenaSlot()
		if s == nil || len(whole) > cap(s.buf) {
			w.dropRx(DropOversize, frame, inPort, tr)
			return
		}
		s.buf = append(s.buf[:0], whole...)
		frame = s.buf
		tw.ctr[tcReassembled].inc()
		if tr != nil {
			tr.rec.step(w.id, "tunnel", "outer datagram reassembled, %d bytes", len(frame))
		}
		ep, why = w.sw.tunTable.Receive(frame, d)
	}
	if why == tunnel.ReasonNotTunnel {
		// The filter only lets ICMP errors about our own packets through.
		if e, mtu, ok := w.sw.tunTable.LearnPMTU(frame, w.now); ok {
			tw.ctr[tcPMTULearned].inc()
			// One line per change, not per report: routers repeat them.
			if tp := w.sw.ports[e.Tag()].tun; tp.loggedPMTU.Swap(int64(mtu)) != int64(mtu) {
				w.sw.log.Info("path MTU learned", "tunnel", e.Name(), "mtu", mtu)
			}
			if tr != nil {
				tr.rec.step(w.id, "tunnel", "path MTU towards %s learned: %d", e.Name(), mtu)
				tr.finish()
			}
			return
		}
	}
	if why != tunnel.ReasonNone {
		tw.reason[why].inc()
		if tr != nil {
			tr.rec.step(w.id, "tunnel", "%s: %s", why.Name(), why.Help())
		}
		w.dropRx(DropTunnelDecap, frame, inPort, tr)
		return
	}
	pi := ep.Tag()
	tp := w.sw.ports[pi]
	if tr != nil {
		traceDecap(&tr.rec, w.id, ep, d)
	}
	inner := d.Payload
	if tp.tun.greip != nil {
		var ok bool
		if inner, ok = w.greipIn(tp.tun, pi, frame[:d.PayloadOff+len(d.Payload)], d.PayloadOff, d.InnerProto, tr); !ok {
			return
		}
	}
	tw.perEP[tp.tun.idx].rx.inc()
	tw.ctr[tcRxPackets].inc()
	if w.obs != nil {
		w.tapOnly(pi, TapRx, inner)
	}
	w.ingressFrame(pkt, inner, pi, stamp, tr)
}

// arenaSlot is a buffer for a frame that must outlive the Receive of its
// round (a reassembled datagram).
func (w *worker) arenaSlot() *slot {
	tw := w.tun
	if tw.arenaN == len(tw.arena) {
		return nil
	}
	s := &tw.arena[tw.arenaN]
	tw.arenaN++
	return s
}

// emitTunnel sends a frame to a tunnel endpoint: encapsulated on the
// underlay, fragmented, or answered with ICMP when it does not fit.
func (w *worker) emitTunnel(p *swPort, frame []byte, inPort int, hash uint64, tr *traceRec) {
	tp := p.tun
	tw := w.tun
	nh := tp.nh.Load()
	if nh == nil {
		tw.perEP[tp.idx].drop.inc()
		w.dropped(DropTunnelNoNextHop, frame, inPort, tr)
		return
	}
	if tp.greip != nil && !w.greipOut(p, tp.greip, frame, inPort, tr) {
		return
	}
	ep := tp.ep
	pmtu := ep.PathMTU(nh.linkMTU(), w.now)
	act, mtu := ep.Decide(frame, pmtu)
	if act == tunnel.SendPacketTooBig && !tw.refragmenting && w.refragmentableV6(frame) {
		// A datagram the switch reassembled from the source's fragments:
		// fragmented again to fit (a packet too big would only make the
		// source send fragments that are reassembled again).
		tw.refragmenting = true // each piece fits: no second round
		err := ipfrag.FragmentIPv6(frame, max(mtu, 1280), w.fragID(frame), w.fragBuf, func(f []byte) error {
			w.emitTunnel(p, f, inPort, hash, tr)
			return nil
		})
		tw.refragmenting = false
		if err != nil {
			tw.perEP[tp.idx].drop.inc()
			w.dropped(DropTunnelTooBig, frame, inPort, tr)
		}
		return
	}
	if tr != nil {
		tr.rec.step(w.id, "tunnel", "%s to %s via %s (%s): path MTU %d, %s %d", ep.Kind(), ep.Config().Remote, nh.Via,
			net6(nh.DstMAC), pmtu, act, mtu)
	}
	switch act {
	case tunnel.Fits:
		w.encapOut(tp, nh, frame, hash, 0, tr)
	case tunnel.FragmentInner:
		n := 0
		err := ipfrag.FragmentIPv4(frame, mtu, tw.scratch, func(f []byte) error {
			n++
			w.encapOut(tp, nh, f, hash, 0, tr)
			return nil
		})
		if err != nil {
			tw.perEP[tp.idx].drop.inc()
			w.dropped(DropTunnelTooBig, frame, inPort, tr)
			return
		}
		tw.ctr[tcInnerFragmented].inc()
		tw.ctr[tcInnerFragments].add(uint64(n))
	case tunnel.SendFragNeeded, tunnel.SendPacketTooBig:
		w.tooBig(act, p, frame, mtu, inPort, tr)
	case tunnel.FragmentOuter:
		n, err := ep.EncapWith(tw.outer, nh.SrcMAC, nh.DstMAC, frame, hash, tunnel.Fragmentable)
		if err == nil {
			outer := tw.outer[:n]
			if ep.Config().Remote.Is4() {
				err = ipfrag.FragmentIPv4(outer, mtu, tw.scratch, func(f []byte) error { return w.txUnderlay(tp, f) })
			} else {
				err = ipfrag.FragmentIPv6(outer, mtu, ep.NextFragmentID(), tw.scratch, func(f []byte) error { return w.txUnderlay(tp, f) })
			}
		}
		if errors.Is(err, errTxFull) {
			return // counted as tx_ring_full for the fragment that found no room
		}
		if err != nil {
			tw.perEP[tp.idx].drop.inc()
			w.dropped(DropTunnelTooBig, frame, inPort, tr)
			return
		}
		tw.ctr[tcOuterFragmented].inc()
		tw.ctr[tcTxPackets].inc()
		tw.perEP[tp.idx].tx.inc()
		if w.obs != nil {
			w.tapOnly(tp.port, TapTx, frame)
		}
		if tr != nil {
			tr.rec.step(w.id, "output", "port %s in outer fragments", w.sw.ports[tp.underlay].name)
			tr.rec.Sent = append(tr.rec.Sent, w.sw.ports[tp.underlay].name)
		}
	default:
		tw.perEP[tp.idx].drop.inc()
		w.dropped(DropTunnelTooBig, frame, inPort, tr)
	}
}

// encapOut encapsulates frame straight into a tx frame of the underlay.
func (w *worker) encapOut(tp *tunPort, nh *NextHop, frame []byte, hash uint64, flags tunnel.EncapFlags, tr *traceRec) {
	buf, ok := w.txBuf(tp.underlay, -1, frame, tr)
	if !ok {
		return
	}
	n, err := tp.ep.EncapWith(buf, nh.SrcMAC, nh.DstMAC, frame, hash, flags)
	if err != nil {
		w.tun.perEP[tp.idx].drop.inc()
		w.dropped(DropTunnelEncap, frame, -1, tr)
		return
	}
	w.txCommit(tp.underlay, n)
	w.tun.perEP[tp.idx].tx.inc()
	w.tun.ctr[tcTxPackets].inc()
	if w.obs != nil {
		w.tapOnly(tp.port, TapTx, frame) // the inner frame, on the tunnel's port
	}
	if tr != nil || w.obs != nil {
		w.sent(tp.underlay, buf[:n], tr)
	}
}

// txUnderlay queues an already built frame on the underlay.
func (w *worker) txUnderlay(tp *tunPort, f []byte) error {
	buf, ok := w.txBuf(tp.underlay, -1, f, nil)
	if !ok {
		return errTxFull
	}
	w.txCommit(tp.underlay, copy(buf, f))
	return nil
}

var errTxFull = errors.New("tx ring full")

// tooBig drops a frame that does not fit its tunnel and answers its
// source with ICMP fragmentation needed / ICMPv6 packet too big, through
// the port the frame came in on.
func (w *worker) tooBig(act tunnel.Action, p *swPort, frame []byte, mtu, inPort int, tr *traceRec) {
	tw := w.tun
	tw.perEP[p.tun.idx].drop.inc()
	drop := DropTunnelFragNeeded
	if act == tunnel.SendPacketTooBig {
		drop = DropTunnelPacketTooBig
	}
	w.dropped(drop, frame, inPort, tr)
	if inPort < 0 {
		return
	}
	n := w.sw.ports[inPort].net
	var src netip.Addr
	var ln int
	var why icmperr.Reason
	if act == tunnel.SendFragNeeded {
		src = n.icmpSrc4
		ln, why = icmperr.FragNeeded(tw.icmp, frame, mtu, src)
	} else {
		src = n.icmpSrc6
		ln, why = icmperr.PacketTooBig(tw.icmp, frame, mtu, src)
	}
	if why == icmperr.None {
		var to netip.Addr
		if act == tunnel.SendFragNeeded {
			to = ipv4Src(frame)
		} else {
			to = ipv6Src(frame)
		}
		if !w.sw.icmpLimit.Allow(to, w.now) {
			why = icmperr.RateLimited
		}
	}
	if why != icmperr.None {
		tw.noICMP[why].inc()
		if tr != nil {
			tr.rec.step(w.id, "icmp", "no ICMP error sent: %s", why.Name())
		}
		return
	}
	if act == tunnel.SendFragNeeded {
		tw.ctr[tcFragNeededSent].inc()
	} else {
		tw.ctr[tcPTBSent].inc()
	}
	if tr != nil {
		tr.rec.step(w.id, "icmp", "%s with MTU %d sent back to port %s", map[bool]string{true: "ICMP fragmentation needed", false: "ICMPv6 packet too big"}[act == tunnel.SendFragNeeded], mtu, w.sw.ports[inPort].name)
	}
	w.emit(inPort, tw.icmp[:ln], -1, 0, nil)
}

func ipv4Src(frame []byte) netip.Addr {
	var m packet.Meta
	if packet.Parse(frame, &m) != nil || m.IPVersion != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(frame[m.L3Off+12 : m.L3Off+16]))
}

func ipv6Src(frame []byte) netip.Addr {
	var m packet.Meta
	if packet.Parse(frame, &m) != nil || m.IPVersion != 6 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(frame[m.L3Off+8 : m.L3Off+24]))
}

func traceDecap(r *TraceRecord, worker int, ep *tunnel.Endpoint, d *tunnel.Decapsulated) {
	id := ""
	switch {
	case d.Kind == tunnel.Geneve:
		id = fmt.Sprintf(" vni %d", d.VNI)
	case d.HasKey:
		id = fmt.Sprintf(" key %d", d.Key)
	}
	r.step(worker, "tunnel", "%s%s from %s to %s: endpoint %s, inner frame %d bytes", d.Kind, id, d.Outer.Src, d.Outer.Dst, ep.Name(), len(d.Payload))
}

// TunnelStats describes one tunnel endpoint.
type TunnelStats struct {
	Name     string
	Network  string
	Underlay string
	Config   tunnel.Config
	// NextHop is nil until the kernel resolved it; NextHopErr says why.
	NextHop    *NextHop
	NextHopErr string
	LinkMTU    int // the next hop's L3 MTU
	PathMTU    int // what is used: the link's, or lower if learned
	Learned    int // learned path MTU (0: none)
	LearnedTTL time.Duration
	// InnerMTU is the largest inner IP packet of an untagged frame that
	// fits the path MTU (4 less per VLAN tag).
	InnerMTU  int
	RxPackets uint64
	TxPackets uint64
	Drops     uint64
}

// untaggedIPv4 is an Ethernet header for sizing an untagged inner frame.
var untaggedIPv4 = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00}

func (sw *Switch) tunnelStats(st *Stats) {
	now := Now()
	st.TunnelCounters = map[string]uint64{}
	st.TunnelReasons = map[string]uint64{}
	st.ReassemblyReasons = map[string]uint64{}
	st.ICMPSuppressed = map[string]uint64{}
	learned := map[string]tunnel.PMTUEntry{}
	for _, e := range sw.tunTable.PMTUs(now) {
		learned[e.Endpoint] = e
	}
	for _, tp := range sw.tuns {
		c := tp.ep.Config()
		ts := TunnelStats{Name: c.Name, Config: c, Underlay: sw.ports[tp.underlay].name, Network: sw.ports[tp.port].net.name}
		if nh := tp.nh.Load(); nh != nil {
			cp := *nh
			ts.NextHop = &cp
			ts.LinkMTU = nh.linkMTU()
			ts.PathMTU = tp.ep.PathMTU(ts.LinkMTU, now)
			ts.InnerMTU = tp.ep.InnerMTU(untaggedIPv4, ts.PathMTU)
		}
		if e := tp.nhErr.Load(); e != nil {
			ts.NextHopErr = *e
		}
		if l, ok := learned[c.Name]; ok {
			ts.Learned, ts.LearnedTTL = l.MTU, l.Expires
		}
		for _, w := range sw.workers {
			if w.tun == nil {
				continue
			}
			pe := &w.tun.perEP[tp.idx]
			ts.RxPackets += pe.rx.load()
			ts.TxPackets += pe.tx.load()
			ts.Drops += pe.drop.load()
		}
		st.Tunnels = append(st.Tunnels, ts)
	}
	for _, w := range sw.workers {
		tw := w.tun
		if tw == nil {
			continue
		}
		for i := range tw.ctr {
			st.TunnelCounters[tunCounterNames[i]] += tw.ctr[i].load()
		}
		for _, r := range tunnel.Reasons() {
			if v := tw.reason[r].load(); v != 0 {
				st.TunnelReasons[r.Name()] += v
			}
		}
		for r := range tw.frag {
			if v := tw.frag[r].load(); v != 0 {
				st.ReassemblyReasons[ipfrag.Reason(r).Name()] += v
			}
		}
		for r := range tw.noICMP {
			if v := tw.noICMP[r].load(); v != 0 {
				st.ICMPSuppressed[icmperr.Reason(r).Name()] += v
			}
		}
	}
	ls := sw.icmpLimit.Stats()
	st.ICMPSuppressed["rate_limited_per_source"] = ls.RefusedPerSource
	st.ICMPSuppressed["rate_limited_global"] = ls.RefusedGlobal
}
