package dataplane

import (
	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
)

// process runs the owner's part of the pipeline over frames in arrival
// order: conntrack (in batches, so its lookups are pipelined), then per
// frame MAC learning and lookup, policy, and transmission.
func (w *worker) process(items []item, now int64) {
	for len(items) > 0 {
		n := min(len(items), maxTrack)
		batch := items[:n]
		items = items[n:]
		pk := w.track[:0]
		for _, it := range batch {
			pk = append(pk, it.pkt)
		}
		w.shard.TrackBatch(pk, now, w.results)
		for i := range batch {
			it := &batch[i]
			if it.trace == nil {
				w.forward(it, &w.results[i], now)
				continue
			}
			w.traceConntrack(it, &w.results[i])
			w.forward(it, &w.results[i], now)
			it.trace.finish()
		}
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
	if out >= 0 {
		w.emit(out, frame, inPort, tr)
		return
	}
	sent := false
	for _, pi := range n.ports {
		if pi != inPort {
			w.emit(pi, frame, inPort, tr)
			sent = true
		}
	}
	if !sent {
		w.dropped(DropNoPort, frame, inPort, tr)
	}
}

// emit copies a frame into a tx frame of this worker's queue on port pi.
func (w *worker) emit(pi int, frame []byte, inPort int, tr *traceRec) {
	p := w.sw.ports[pi]
	if len(frame) > p.maxFrame {
		w.dropped(DropMTUExceeded, frame, inPort, tr)
		return
	}
	q := w.queues[pi]
	if q == nil {
		if w.sink != nil {
			w.sink(pi, frame)
		}
		w.ctr.forwarded.inc()
		if tr != nil || w.obs != nil {
			w.sent(pi, frame, tr)
		}
		return
	}
	tb := &w.tx[pi]
	if tb.used == tb.lent {
		if tb.used > 0 {
			w.flushPort(pi)
		}
		n, err := q.AllocTx(tb.descs)
		if err != nil || n == 0 {
			w.dropped(DropTxRingFull, frame, inPort, tr)
			return
		}
		tb.lent, tb.used = n, 0
	}
	d := &tb.descs[tb.used]
	d.Len = uint32(copy(q.FrameCap(*d), frame))
	tb.used++
	if tr != nil || w.obs != nil {
		w.sent(pi, frame, tr)
	}
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
