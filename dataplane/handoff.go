package dataplane

import (
	"sync/atomic"

	"github.com/ctswitch/ctswitch/conntrack"
)

// slot carries one frame between workers, or holds it while its owner
// waits for the other workers' watermarks (see worker.order). The frame is
// copied in: a UMEM rx frame is only valid until its queue's next Receive.
type slot struct {
	pkt    conntrack.Packet // classified; pkt.Frame points into buf
	stamp  int64            // arrival stamp (Now clock)
	inPort int
	buf    []byte    // fixed capacity: the largest frame any port receives
	trace  *traceRec // the packet's trace record, if traced
}

// fill copies pkt's frame into the slot and re-points the copy's Frame.
func (s *slot) fill(pkt *conntrack.Packet, stamp int64, inPort int, tr *traceRec) bool {
	if len(pkt.Frame) > cap(s.buf) {
		return false
	}
	s.buf = s.buf[:len(pkt.Frame)]
	copy(s.buf, pkt.Frame)
	s.pkt = *pkt
	s.pkt.Frame = s.buf
	s.stamp, s.inPort, s.trace = stamp, inPort, tr
	return true
}

func newSlots(n, frameCap int) []slot {
	mem := make([]byte, n*frameCap)
	slots := make([]slot, n)
	for i := range slots {
		slots[i].buf = mem[i*frameCap : i*frameCap : (i+1)*frameCap]
	}
	return slots
}

// handoff is a single-producer single-consumer ring from one worker to
// another: the producer is the worker that received frames owned by the
// consumer. Lock-free: the producer publishes head, the consumer tail, each
// on its own cache line, and each side caches the other's index so the
// shared lines are touched once per batch, not per frame.
type handoff struct {
	slots []slot
	mask  uint64

	_    [64]byte
	head atomic.Uint64 // next slot the producer writes; written by the producer
	_    [56]byte
	tail atomic.Uint64 // next slot the consumer reads; written by the consumer
	_    [56]byte

	// Producer-local.
	pHead, pTailCache uint64
	_                 [48]byte
	// Consumer-local.
	cTail, cHeadCache uint64
}

func newHandoff(size, frameCap int) *handoff {
	return &handoff{slots: newSlots(size, frameCap), mask: uint64(size - 1)}
}

// reserve returns the next free slot, or nil when the ring is full.
// Producer only; the slot is published by commit.
func (h *handoff) reserve() *slot {
	if h.pHead-h.pTailCache > h.mask {
		h.pTailCache = h.tail.Load()
		if h.pHead-h.pTailCache > h.mask {
			return nil
		}
	}
	return &h.slots[h.pHead&h.mask]
}

// room returns how many slots the producer can reserve. Producer only.
func (h *handoff) room() int {
	free := len(h.slots) - int(h.pHead-h.pTailCache)
	if free < len(h.slots) {
		h.pTailCache = h.tail.Load()
		free = len(h.slots) - int(h.pHead-h.pTailCache)
	}
	return free
}

// commit makes the slot reserve returned part of the ring's pending work.
// It is visible to the consumer after publish.
func (h *handoff) commit() { h.pHead++ }

// publish makes the committed slots visible to the consumer; it reports
// whether there was anything to publish.
func (h *handoff) publish() bool {
	if h.head.Load() == h.pHead {
		return false
	}
	h.head.Store(h.pHead)
	return true
}

// available returns how many slots the consumer may read. Consumer only.
func (h *handoff) available() int {
	if h.cTail == h.cHeadCache {
		h.cHeadCache = h.head.Load()
	}
	return int(h.cHeadCache - h.cTail)
}

// peek returns the i-th readable slot (i < available()). Consumer only.
func (h *handoff) peek(i int) *slot { return &h.slots[(h.cTail+uint64(i))&h.mask] }

// release gives n read slots back to the producer. Consumer only.
func (h *handoff) release(n int) {
	if n > 0 {
		h.cTail += uint64(n)
		h.tail.Store(h.cTail)
	}
}

// empty reports, from either side, whether the ring holds nothing unread.
func (h *handoff) empty() bool { return h.head.Load() == h.tail.Load() }
