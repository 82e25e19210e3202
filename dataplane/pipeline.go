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
			w.forward(&batch[i], &w.results[i], now)
		}
	}
}

// forward switches one tracked frame inside its virtual network.
func (w *worker) forward(it *item, res *conntrack.Result, now int64) {
	w.ctr.processed.inc()
	inPort := int(it.inPort)
	n := w.sw.ports[inPort].net
	frame := it.pkt.Frame
	eth := packet.Ethernet(frame)
	src, dst := eth.Src(), eth.Dst()
	if src.IsMulticast() {
		w.ctr.drops[DropSrcMulticast].inc()
		return
	}
	macs := w.sw.macs
	macs.Learn(n.id, src, uint16(inPort), now)
	out := -1
	if !dst.IsMulticast() {
		if p, ok := macs.Lookup(n.id, dst, now); ok {
			out = int(p)
			if out == inPort {
				w.ctr.drops[DropHairpin].inc()
				return
			}
		}
	}
	key := it.pkt.Tuple()
	dec := n.policy.Load().Check(res.Verdict, res.Reply, &key, inPort, out)
	if !dec.Allow {
		switch dec.Reason {
		case policy.DeniedByRule:
			w.ctr.drops[DropPolicyRule].inc()
		case policy.DeniedByDefault:
			w.ctr.drops[DropPolicyDefault].inc()
		default:
			w.ctr.drops[DropCTInvalid].inc()
		}
		return
	}
	if out >= 0 {
		w.emit(out, frame)
		return
	}
	sent := false
	for _, pi := range n.ports {
		if pi != inPort {
			w.emit(pi, frame)
			sent = true
		}
	}
	if !sent {
		w.ctr.drops[DropNoPort].inc()
	}
}

// emit copies a frame into a tx frame of this worker's queue on port pi.
func (w *worker) emit(pi int, frame []byte) {
	p := w.sw.ports[pi]
	if len(frame) > p.maxFrame {
		w.ctr.drops[DropMTUExceeded].inc()
		return
	}
	q := w.queues[pi]
	if q == nil {
		if w.sink != nil {
			w.sink(pi, frame)
		}
		w.ctr.forwarded.inc()
		return
	}
	tb := &w.tx[pi]
	if tb.used == tb.lent {
		if tb.used > 0 {
			w.flushPort(pi)
		}
		n, err := q.AllocTx(tb.descs)
		if err != nil || n == 0 {
			w.ctr.drops[DropTxRingFull].inc()
			return
		}
		tb.lent, tb.used = n, 0
	}
	d := &tb.descs[tb.used]
	d.Len = uint32(copy(q.FrameCap(*d), frame))
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
