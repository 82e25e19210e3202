package dataplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
)

// The steps of a trace record, shared by live traces (written by the
// workers) and synthetic ones (TraceFrame), so both read the same.

func traceParsed(r *TraceRecord, worker int, pkt *conntrack.Packet, wire int, n *network) {
	m := &pkt.Meta
	var b strings.Builder
	switch m.IPVersion {
	case 4, 6:
		k := pkt.Tuple()
		k.Zone = 0 // shown with the network below
		fmt.Fprintf(&b, "IPv%d %s", m.IPVersion, k.String())
		if m.L4Proto == 6 && m.L4Complete {
			fmt.Fprintf(&b, " [%s]", conntrack.TCPFlagsString(packet.TCP(pkt.Frame[m.L4Off:]).Flags()))
		}
	default:
		fmt.Fprintf(&b, "ethertype %#04x (not IP: untracked)", m.EtherType)
	}
	for i := 0; i < m.VLANCount; i++ {
		fmt.Fprintf(&b, ", vlan %d", m.VLANs[i]&0x0fff)
	}
	fmt.Fprintf(&b, "; network %s zone %d", n.name, n.zone)
	if m.Padding > 0 && m.IPVersion != 0 {
		fmt.Fprintf(&b, "; %d bytes of L2 padding trimmed (%d on the wire, %d of IP)", m.Padding, wire, len(pkt.Frame))
	}
	r.step(worker, "parse", "%s", b.String())
}

func traceResult(r *TraceRecord, worker int, res *conntrack.Result, e *conntrack.Entry) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", res.Verdict)
	if res.State != conntrack.StateNone {
		fmt.Fprintf(&b, ", state %s", res.State)
	}
	if res.Reply {
		b.WriteString(", reply direction")
	} else {
		b.WriteString(", original direction")
	}
	if !res.Why.IsZero() {
		fmt.Fprintf(&b, "; %s", res.Why.String())
	}
	if e != nil && e.Orig.Proto == 6 {
		for d, name := range [2]string{"orig", "reply"} {
			w := &e.TCP[d]
			fmt.Fprintf(&b, "; %s end=%d maxend=%d maxwin=%d scale=%d", name, w.End, w.MaxEnd, w.MaxWin, w.Scale)
			if w.Liberal {
				b.WriteString(" liberal")
			}
		}
	}
	r.step(worker, "conntrack", "%s", b.String())
}

func (w *worker) traceConntrack(it *item, res *conntrack.Result) {
	if e, ok := w.shard.EntryOf(res); ok {
		traceResult(&it.trace.rec, w.id, res, &e)
		return
	}
	traceResult(&it.trace.rec, w.id, res, nil)
}

func traceMAC(r *TraceRecord, worker int, sw *Switch, n *network, src, dst packet.MAC, learned l2.LearnResult, out int) {
	var b strings.Builder
	fmt.Fprintf(&b, "src %s %s", net6(src), learned)
	switch {
	case dst.IsMulticast():
		fmt.Fprintf(&b, "; dst %s multicast/broadcast: flood", net6(dst))
	case out < 0:
		fmt.Fprintf(&b, "; dst %s unknown: flood", net6(dst))
	default:
		fmt.Fprintf(&b, "; dst %s on port %s", net6(dst), sw.ports[out].name)
	}
	r.step(worker, "mac", "%s", b.String())
}

func tracePolicy(r *TraceRecord, worker int, n *network, dec policy.Decision) {
	p := n.policy.Load()
	verdict := "deny"
	if dec.Allow {
		verdict = "allow"
	}
	switch {
	case dec.Rule == policy.RuleNotEvaluated:
		r.step(worker, "policy", "%s: not a new connection (rules not consulted)", verdict)
	case dec.Rule == policy.RuleDefault:
		r.step(worker, "policy", "%s: no rule matched, network %s default", verdict, n.name)
	default:
		rules := p.Rules()
		text := ""
		if int(dec.Rule) < len(rules) {
			text = rules[dec.Rule].String()
		}
		r.step(worker, "policy", "%s: rule %d %q (%s)", verdict, dec.Rule, p.RuleName(int(dec.Rule)), text)
	}
}

// TraceFrame runs a synthetic frame, as if received on port, through the
// pipeline without changing any state and without sending it (like
// Open vSwitch's ofproto/trace): conntrack evaluates it against a copy of
// the connection's entry, the MAC table is only looked up, and the
// output is reported. Safe while the switch runs.
func (sw *Switch) TraceFrame(ctx context.Context, port string, frame []byte) (*TraceRecord, error) {
	pi, ok := sw.portIdx[port]
	if !ok {
		return nil, fmt.Errorf("trace: no port %q (ports: %v)", port, sw.PortNames())
	}
	p := sw.ports[pi]
	if p.kind == portUnderlay {
		return nil, fmt.Errorf("trace: %s is an underlay port: trace the inner frame on its tunnel's port", port)
	}
	n := p.net
	const self = -1 // steps run in the caller, not on a worker
	r := &TraceRecord{Time: time.Now(), Port: p.name, Len: len(frame), Synthetic: true}
	r.step(self, "rx", "port %s (synthetic), %d bytes", p.name, len(frame))
	end := func(d Drop) (*TraceRecord, error) {
		if d != DropNone {
			r.step(self, "drop", "%s: %s", d.Name(), d.Help())
			r.Dropped = d.Name()
		}
		r.setOutcome()
		return r, nil
	}
	switch {
	case len(frame) < packet.EthernetHeaderLen:
		return end(DropRunt)
	case len(frame) > p.maxFrame:
		return end(DropOversize)
	}
	var pkt conntrack.Packet
	pkt.Zone = n.zone
	if err := packet.Parse(frame, &pkt.Meta); err != nil {
		r.step(self, "parse", "%v", err)
		return end(DropMalformed)
	}
	pkt.Frame = pkt.Meta.Trimmed(frame)
	if pkt.Meta.Fragment {
		return end(DropFragment)
	}
	owner := sw.ct.Classify(&pkt)
	traceParsed(r, self, &pkt, len(frame), n)
	r.step(self, "owner", "worker %d", owner)

	res, entry, err := sw.dryTrack(ctx, &pkt)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	traceResult(r, self, &res, entry)

	eth := packet.Ethernet(pkt.Frame)
	src, dst := eth.Src(), eth.Dst()
	if src.IsMulticast() {
		return end(DropSrcMulticast)
	}
	now := Now()
	learn := l2.LearnNew
	if at, ok := sw.macs.Lookup(n.id, src, now); ok {
		learn = l2.LearnRefreshed
		if int(at) != pi {
			learn = l2.LearnMoved
		}
	}
	out := -1
	if !dst.IsMulticast() {
		if o, ok := sw.macs.Lookup(n.id, dst, now); ok {
			out = int(o)
		}
	}
	traceMAC(r, self, sw, n, src, dst, learn, out)
	if out == pi {
		return end(DropHairpin)
	}
	key := pkt.Tuple()
	dec := n.policy.Load().Check(res.Verdict, res.Reply, &key, pi, out)
	tracePolicy(r, self, n, dec)
	if !dec.Allow {
		switch dec.Reason {
		case policy.DeniedByRule:
			return end(DropPolicyRule)
		case policy.DeniedByDefault:
			return end(DropPolicyDefault)
		}
		return end(DropCTInvalid)
	}
	outs := []int{out}
	if out < 0 {
		outs = outs[:0]
		for _, o := range n.ports {
			if o != pi {
				outs = append(outs, o)
			}
		}
		if len(outs) == 0 {
			return end(DropNoPort)
		}
	}
	for _, o := range outs {
		op := sw.ports[o]
		if op.kind == portTunnel {
			tp := op.tun
			nh := tp.nh.Load()
			if nh == nil {
				return end(DropTunnelNoNextHop)
			}
			pmtu := tp.ep.PathMTU(nh.linkMTU(), Now())
			act, mtu := tp.ep.Decide(pkt.Frame, pmtu)
			r.step(self, "tunnel", "%s to %s via %s (%s): path MTU %d, %s %d", tp.ep.Kind(), tp.ep.Config().Remote, nh.Via,
				net6(nh.DstMAC), pmtu, act, mtu)
			switch act {
			case tunnel.SendFragNeeded:
				return end(DropTunnelFragNeeded)
			case tunnel.SendPacketTooBig:
				return end(DropTunnelPacketTooBig)
			case tunnel.DropTooBig, tunnel.DropNotIP:
				return end(DropTunnelTooBig)
			}
		} else if len(pkt.Frame) > op.maxFrame {
			return end(DropMTUExceeded)
		}
		r.step(self, "output", "port %s (not sent: synthetic)", op.name)
		r.Sent = append(r.Sent, op.name)
	}
	return end(DropNone)
}

// dryTrack tracks a packet against a private one-shard table holding a
// copy of the packet's connection, so the live table is not changed.
func (sw *Switch) dryTrack(ctx context.Context, pkt *conntrack.Packet) (conntrack.Result, *conntrack.Entry, error) {
	now := Now()
	cfg := sw.ct.Config()
	cfg.Shards, cfg.MaxConns = 1, 16
	scratch, err := conntrack.New(cfg)
	if err != nil {
		return conntrack.Result{}, nil, fmt.Errorf("scratch conntrack: %w", err)
	}
	defer scratch.Close()
	if e, found, err := sw.ct.Get(ctx, pkt.Tuple(), now); err != nil {
		return conntrack.Result{}, nil, fmt.Errorf("look up %s: %w", pkt.Tuple(), err)
	} else if found {
		if _, err := scratch.Import(ctx, []conntrack.Entry{e}, now); err != nil {
			return conntrack.Result{}, nil, fmt.Errorf("copy entry: %w", err)
		}
	}
	res := scratch.Process(pkt.Frame, pkt.Zone, now)
	if res.Verdict == conntrack.VerdictUntracked || res.Verdict == conntrack.VerdictInvalid && res.State == conntrack.StateNone {
		return res, nil, nil
	}
	e, ok := scratch.Lookup(res.Tuple, now)
	if !ok {
		return res, nil, nil
	}
	return res, &e, nil
}
