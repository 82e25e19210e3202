package dataplane

import (
	"errors"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel/ipfrag"
)

// process runs the owner's part of the pipeline over frames in arrival
// order: conntrack (in batches, so its lookups are pipelined), then per
// frame MAC learning and lookup, policy, and transmission.
func (w *worker) process(items []item, now int64) {
	for i := range items {
		if items[i].pkt.IsFragment() {
			w.defragItem(&items[i], now)
		}
	}
	for len(items) > 0 {
		n := min(len(items), maxTrack)
		batch := items[:n]
		items = items[n:]
		pk := w.track[:0]
		for i := range batch {
			if !batch[i].skip {
				pk = append(pk, batch[i].pkt)
			}
		}
		w.shard.TrackBatch(pk, now, w.results)
		j := 0
		for i := range batch {
			it := &batch[i]
			if it.skip {
				continue
			}
			res := &w.results[j]
			j++
			if it.trace == nil {
				w.forward(it, res, now)
				continue
			}
			w.traceConntrack(it, res)
			w.forward(it, res, now)
			it.trace.finish()
		}
	}
}

// defragItem adds a fragment to its datagram (conntrack's reassembly, on
// this shard). The fragment is held (item skipped) until its datagram is
// complete; then the datagram is copied out of conntrack's buffer and
// classified by its 5-tuple: tracked and forwarded here if this worker
// owns it, else handed to its owner, in pieces no larger than the
// hand-off slots if need be (the owner reassembles them again).
func (w *worker) defragItem(it *item, now int64) {
	p, tr := it.pkt, it.trace
	inPort := int(it.inPort)
	orig := p.Frame
	res, done := w.shard.Defrag(p, now)
	if !done {
		it.skip = true
		if res.Verdict == conntrack.VerdictInvalid {
			if tr != nil {
				tr.rec.step(w.id, "reassembly", "%s", res.Why.String())
			}
			w.dropped(DropFragment, orig, inPort, tr)
		} else {
			w.ctr.fragHeld.inc()
			if tr != nil {
				tr.rec.step(w.id, "reassembly", "fragment held until its datagram is complete")
			}
		}
		if tr != nil {
			tr.finish()
			it.trace = nil
		}
		return
	}
	w.ctr.reassembled.inc()
	if w.bigN == len(w.big) {
		it.skip = true
		w.dropped(DropFragmentBuffers, orig, inPort, tr)
		if tr != nil {
			tr.finish()
			it.trace = nil
		}
		return
	}
	s := &w.big[w.bigN]
	w.bigN++
	if !s.fill(p, it.stamp, inPort, tr) {
		it.skip = true
		w.dropped(DropFragmentBuffers, orig, inPort, tr)
		if tr != nil {
			tr.finish()
			it.trace = nil
		}
		return
	}
	owner := w.sw.ct.Classify(&s.pkt)
	if tr != nil {
		tr.rec.step(w.id, "reassembly", "datagram of %d fragments complete, %d bytes: owner worker %d", res.Fragments, len(s.pkt.Frame), owner)
	}
	if owner == w.id {
		it.pkt = &s.pkt
		return
	}
	it.skip = true
	w.handOffDatagram(&s.pkt, it.stamp, inPort, owner, tr)
}

// handOffDatagram hands a reassembled datagram to its owner: whole if it
// fits a hand-off slot, else as fragments that do.
func (w *worker) handOffDatagram(p *conntrack.Packet, stamp int64, inPort, owner int, tr *traceRec) {
	h := w.out[owner]
	give := func(f []byte) error {
		var q conntrack.Packet
		q.Zone = p.Zone
		if err := packet.Parse(f, &q.Meta); err != nil {
			return err
		}
		q.Frame = f
		w.sw.ct.Classify(&q)
		s := h.reserve()
		if s == nil || !s.fill(&q, stamp, inPort, tr) {
			w.dropped(DropHandoffFull, f, inPort, tr)
			if tr != nil {
				tr.finish() // the record did not travel
				tr = nil
			}
			return nil
		}
		tr = nil // the record travels with the first piece
		h.commit()
		w.ctr.handoffOut.inc()
		w.wakeOwner[owner] = true
		return nil
	}
	if len(p.Frame) <= w.sw.frameCap {
		_ = give(p.Frame)
		return
	}
	mtu := w.sw.frameCap - packet.EthernetHeaderLen - 8
	var err error
	if p.Meta.IPVersion == 4 {
		err = ipfrag.FragmentIPv4(p.Frame, mtu, w.fragBuf, give)
	} else {
		err = ipfrag.FragmentIPv6(p.Frame, mtu, p.Meta.FragID, w.fragBuf, give)
	}
	if err != nil {
		w.dropped(DropFragmentBuffers, p.Frame, inPort, tr)
	}
}

// forward switches one tracked frame inside its virtual network.
func (w *worker) forward(it *item, res *conntrack.Result, now int64) {
	w.ctr.processed.inc()
	inPort := int(it.inPort)
	tr := it.trace
	n := w.sw.ports[inPort].net
	frame := it.pkt.Frame
	eth := packet.Ethernet(frame)
	src, dst := eth.Src(), eth.Dst()
	if src.IsMulticast() {
		w.dropped(DropSrcMulticast, frame, inPort, tr)
		return
	}
	macs := w.sw.macs
	learned := macs.Learn(n.id, src, uint16(inPort), now)
	out := -1
	if !dst.IsMulticast() {
		if p, ok := macs.Lookup(n.id, dst, now); ok {
			out = int(p)
		}
	}
	if tr != nil {
		traceMAC(&tr.rec, w.id, w.sw, n, src, dst, learned, out)
	}
	if out == inPort {
		w.dropped(DropHairpin, frame, inPort, tr)
		return
	}
	key := it.pkt.Tuple()
	dec := n.policy.Load().Check(res.Verdict, res.Reply, &key, inPort, out)
	if tr != nil {
		tracePolicy(&tr.rec, w.id, n, dec)
	}
	if !dec.Allow {
		// A refused connection is not remembered (Linux never confirms
		// the entry of a dropped first packet).
		w.shard.Discard(res)
		switch dec.Reason {
		case policy.DeniedByRule:
			w.dropped(DropPolicyRule, frame, inPort, tr)
		case policy.DeniedByDefault:
			w.dropped(DropPolicyDefault, frame, inPort, tr)
		default:
			w.dropped(DropCTInvalid, frame, inPort, tr)
		}
		return
	}
	hash := it.pkt.Hash()
	if out >= 0 {
		w.emit(out, frame, inPort, hash, tr)
		return
	}
	sent := false
	for _, pi := range n.ports {
		if pi != inPort {
			w.emit(pi, frame, inPort, hash, tr)
			sent = true
		}
	}
	if !sent {
		w.dropped(DropNoPort, frame, inPort, tr)
	}
}

// emit sends a frame out of port pi: copied into a tx frame of this
// worker's queue on it, or, for a tunnel endpoint, encapsulated onto its
// underlay. inPort is where the frame came in (-1 for frames the switch
// makes), hash its flow's hash.
func (w *worker) emit(pi int, frame []byte, inPort int, hash uint64, tr *traceRec) {
	p := w.sw.ports[pi]
	if p.kind == portTunnel {
		w.emitTunnel(p, frame, inPort, hash, tr)
		return
	}
	if len(frame) > p.maxFrame {
		w.emitFragments(pi, frame, inPort, tr)
		return
	}
	buf, ok := w.txBuf(pi, inPort, frame, tr)
	if !ok {
		return
	}
	w.txCommit(pi, copy(buf, frame))
	if tr != nil || w.obs != nil {
		w.sent(pi, frame, tr)
	}
}

// emitFragments sends a frame longer than port pi allows: a datagram
// reassembled from fragments goes out fragmented again (IPv4 without DF,
// or IPv6 that arrived fragmented); anything else is dropped.
func (w *worker) emitFragments(pi int, frame []byte, inPort int, tr *traceRec) {
	p := w.sw.ports[pi]
	var m packet.Meta
	if packet.Parse(frame, &m) != nil || m.IPVersion == 0 {
		w.dropped(DropMTUExceeded, frame, inPort, tr)
		return
	}
	// The port's IP MTU: maxFrame allows an Ethernet header and one
	// VLAN tag; a second tag comes out of the MTU.
	mtu := p.maxFrame - packet.EthernetHeaderLen - 4*max(1, m.VLANCount)
	send := func(f []byte) error {
		buf, ok := w.txBuf(pi, inPort, f, nil)
		if !ok {
			return nil
		}
		w.txCommit(pi, copy(buf, f))
		w.ctr.refragments.inc()
		if w.obs != nil {
			w.sent(pi, f, nil)
		}
		return nil
	}
	var err error
	switch {
	case m.IPVersion == 4 && packet.IPv4(frame[m.L3Off:]).DF():
		err = errors.New("DF set")
	case m.IPVersion == 4:
		err = ipfrag.FragmentIPv4(frame, mtu, w.fragBuf, send)
	case w.refragmentableV6(frame):
		err = ipfrag.FragmentIPv6(frame, mtu, w.fragID(frame), w.fragBuf, send)
	default:
		err = errors.New("IPv6 is not fragmented in transit")
	}
	if err != nil {
		w.dropped(DropMTUExceeded, frame, inPort, tr)
		return
	}
	w.ctr.refragmented.inc()
	if tr != nil {
		tr.rec.step(w.id, "output", "port %s queue %d, in fragments of at most %d bytes (reassembled datagram)", p.name, w.id, mtu)
		tr.rec.Sent = append(tr.rec.Sent, p.name)
	}
}

// refragmentableV6 reports whether an IPv6 frame may be fragmented by the
// switch: it is a fragment, or a datagram this worker reassembled this
// round from fragments (IPv6 is never fragmented in transit otherwise).
func (w *worker) refragmentableV6(frame []byte) bool {
	var m packet.Meta
	if len(frame) == 0 || packet.Parse(frame, &m) != nil || m.IPVersion != 6 {
		return false
	}
	if m.FragHdrOff != 0 {
		return true
	}
	for i := range w.big[:w.bigN] {
		if len(w.big[i].buf) > 0 && &w.big[i].buf[0] == &frame[0] {
			return true
		}
	}
	return false
}

// fragID is the fragment id to refragment a reassembled datagram with:
// the one its fragments carried.
func (w *worker) fragID(frame []byte) uint32 {
	for i := range w.big[:w.bigN] {
		s := &w.big[i]
		if len(s.buf) > 0 && &s.buf[0] == &frame[0] {
			return s.pkt.Meta.FragID
		}
	}
	var m packet.Meta
	_ = packet.Parse(frame, &m)
	return m.FragID
}

// txBuf lends the next tx frame of this worker's queue on port pi (a
// scratch buffer without I/O); txCommit queues it with n bytes. A full
// ring drops the frame, counted against inPort.
func (w *worker) txBuf(pi, inPort int, frame []byte, tr *traceRec) ([]byte, bool) {
	q := w.queues[pi]
	if q == nil {
		return w.sinkBuf, true
	}
	tb := &w.tx[pi]
	if tb.used == tb.lent {
		if tb.used > 0 {
			w.flushPort(pi)
		}
		n, err := q.AllocTx(tb.descs)
		if err != nil || n == 0 {
			w.dropped(DropTxRingFull, frame, inPort, tr)
			return nil, false
		}
		tb.lent, tb.used = n, 0
	}
	return q.FrameCap(tb.descs[tb.used]), true
}

func (w *worker) txCommit(pi, n int) {
	q := w.queues[pi]
	if q == nil {
		if w.sink != nil {
			w.sink(pi, w.sinkBuf[:n])
		}
		w.ctr.forwarded.inc()
		return
	}
	tb := &w.tx[pi]
	tb.descs[tb.used].Len = uint32(n)
	tb.used++
}

// flushPort transmits the frames filled for port pi. Frames lent but not
// filled go back with the next AllocTx.
func (w *worker) flushPort(pi int) {
	tb := &w.tx[pi]
	if tb.used == 0 {
		return
	}
	n, err := w.queues[pi].Transmit(tb.descs[:tb.used])
	w.ctr.forwarded.add(uint64(n))
	if n < tb.used {
		if err != nil {
			w.ctr.drops[DropTxError].add(uint64(tb.used - n))
		} else {
			w.ctr.drops[DropTxRingFull].add(uint64(tb.used - n))
		}
	} else if err != nil {
		// Queued, but the kick failed (e.g. link down): the frames go
		// out with the next successful kick or are lost with the link.
		w.ctr.drops[DropTxError].inc()
	}
	tb.used, tb.lent = 0, 0
}

func (w *worker) flushTx() {
	for pi := range w.tx {
		if w.queues[pi] != nil {
			w.flushPort(pi)
		}
	}
}
