package dataplane

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/packet"
)

// A worker owns queue i of every port and conntrack shard i. It receives
// from its queues, hands each frame whose connection it does not own to
// the owner, and runs the pipeline (conntrack, policy, MAC switching, TX)
// for the frames it owns: its own and those handed to it.
//
// # Arrival order across workers
//
// Frames of one connection can arrive on different queues, so on
// different workers (incident 3: an ACK on one queue, the RST right behind
// it on another). The owner processes its frames in the order of their
// arrival stamps (written by the XDP program, see StampLen), and holds a
// frame stamped T until no other worker can still hand it an earlier one:
//
//   - Each worker reads the clock (c) before it receives, and once it has
//     emptied all its rx rings and published its hand-offs it stores c as
//     its watermark: every frame visible in its rings before c has been
//     handed off.
//   - A sleeping worker has handed off everything and received nothing
//     since; if its rx rings are still empty (peeked by the others) and it
//     is still in the same sleep, nothing visible before now can come
//     from it.
//   - The owner reads the others' watermarks before draining its hand-off
//     rings, takes the minimum as its limit, merges its own frames and the
//     hand-offs by stamp, processes those stamped up to the limit and
//     copies the rest into its reorder buffer for the next round.
//
// So if frame A was visible in any rx ring before frame B reached the XDP
// program, and both belong to one connection, A is processed before B
// and leaves first. A worker that stalls (descheduled) holds the others'
// frames at most SwitchConfig.OrderWait, after which they are processed anyway
// and the event is counted (order_wait_timeouts).
type worker struct {
	id     int
	sw     *Switch
	cpu    int
	queues []*Queue // by port index; nil entries (or none) without I/O
	shard  *conntrack.Shard
	in     []*handoff // in[k]: frames worker k hands to this one
	out    []*handoff // out[k]: frames this one hands to worker k
	efd    int        // eventfd: wakes the worker from poll

	_       [64]byte
	wm      atomic.Int64 // watermark, see above
	_       [56]byte
	state   atomic.Uint64 // odd while asleep; +1 on every transition
	_       [56]byte
	stopped atomic.Bool // the worker returned (failed or stopped)

	batch      int
	descs      []Desc
	rxPkts     []conntrack.Packet
	items      []item
	inTaken    []int
	reorder    []slot
	reorderUse []bool
	reorderN   int
	track      []*conntrack.Packet
	results    []conntrack.Result
	tx         []txBatch
	wakeOwner  []bool
	pollFds    []unix.PollFd
	waitSince  int64
	idleRound  bool    // the last round received nothing new
	qLast      []int64 // per port: stamp of the last frame taken from this worker's queue
	lastPoll   int64
	orderWait  int64

	obs *observers // loaded once per round; nil when nobody observes
	now int64      // the round's clock reading
	tun *tunWorker // nil without tunnels

	sinkBuf []byte // the "tx frame" without I/O
	fragBuf []byte // fragmentation output
	big     []slot // reassembled IP datagrams of this round (up to 64 KiB each)
	bigN    int

	// sink replaces transmission when the worker has no I/O (benchmarks,
	// fuzzing): it gets each frame the pipeline would send.
	sink func(port int, frame []byte)

	ctr workerCounters
}

// item is a frame the owner is about to process, wherever it lives: an rx
// frame of this iteration, a hand-off slot, or a reorder slot.
type item struct {
	stamp  int64
	pkt    *conntrack.Packet
	inPort int32
	staged int32     // index of its reorder slot, or -1
	trace  *traceRec // set for traced packets
	skip   bool      // consumed before tracking (a fragment held for its datagram)
}

// txBatch is the frames lent from one output queue and filled so far.
type txBatch struct {
	descs []Desc
	lent  int
	used  int
}

const maxTrack = 256 // packets per TrackBatch call

func newWorker(sw *Switch, id int) (*worker, error) {
	nports := len(sw.ports)
	batch := sw.cfg.Batch
	w := &worker{
		id: id, sw: sw, cpu: sw.cfg.CPUs[id%len(sw.cfg.CPUs)], shard: sw.ct.Shard(id), efd: -1,
		batch:     batch,
		descs:     make([]Desc, batch),
		rxPkts:    make([]conntrack.Packet, nports*batch),
		inTaken:   make([]int, sw.cfg.Workers),
		reorder:   newSlots(sw.cfg.ReorderSlots, sw.frameCap),
		track:     make([]*conntrack.Packet, 0, maxTrack),
		results:   make([]conntrack.Result, maxTrack),
		tx:        make([]txBatch, nports),
		qLast:     make([]int64, nports),
		wakeOwner: make([]bool, sw.cfg.Workers),
		orderWait: int64(sw.cfg.OrderWait),
	}
	w.reorderUse = make([]bool, len(w.reorder))
	w.sinkBuf = make([]byte, max(sw.frameCap, 65536+packet.EthernetHeaderLen+8))
	w.big = newSlots(4, 65536+packet.EthernetHeaderLen+8)
	w.fragBuf = make([]byte, 65536+packet.EthernetHeaderLen+8)
	if len(sw.tuns) > 0 {
		w.tun = newTunWorker(sw)
	}
	w.items = make([]item, 0, nports*batch+len(w.reorder)+sw.cfg.Workers*1024)
	for i := range w.tx {
		w.tx[i].descs = make([]Desc, batch)
	}
	hasIO := false
	w.queues = make([]*Queue, nports)
	for pi, p := range sw.ports {
		if p.port != nil {
			w.queues[pi] = p.port.Queue(id)
			if w.queues[pi] == nil {
				return nil, fmt.Errorf("worker %d: port %s has no queue %d", id, p.name, id)
			}
			hasIO = true
		}
	}
	if hasIO {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("worker %d: eventfd: %w", id, err)
		}
		w.efd = fd
		for _, q := range w.queues {
			if q != nil {
				w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(q.FD()), Events: unix.POLLIN})
			}
		}
		w.pollFds = append(w.pollFds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	return w, nil
}

func (w *worker) close() {
	if w.efd >= 0 {
		unix.Close(w.efd)
		w.efd = -1
	}
}

// run is the worker's goroutine, on a locked OS thread pinned to its CPU.
// The thread stays locked when run returns, so the runtime discards it
// with its affinity instead of reusing it.
func (w *worker) run() {
	defer w.sw.wg.Done()
	defer w.stopped.Store(true)
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(w.cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		w.sw.log.Warn("worker not pinned", "worker", w.id, "cpu", w.cpu, "err", err)
	}
	defer func() {
		if v := recover(); v != nil {
			w.sw.workerFailed(w.id, fmt.Errorf("panic: %v", v))
		}
	}()
	w.wm.Store(Now())
	for {
		select {
		case <-w.sw.stop:
			w.flushTx()
			w.publish()
			return
		default:
		}
		busy, err := w.iterate()
		if err != nil {
			w.sw.workerFailed(w.id, err)
			return
		}
		if w.waitSince != 0 && w.reorderN > 0 && w.idleRound {
			// Only waiting for another worker: let whatever shares this
			// CPU (it may be that worker's traffic source) run.
			schedYield()
		}
		if !busy {
			if err := w.idle(); err != nil {
				w.sw.workerFailed(w.id, err)
				return
			}
		}
	}
}

// iterate runs one round: receive, hand off, merge by stamp, process what
// the watermarks allow, hold the rest, transmit. It reports whether there
// was anything to do.
func (w *worker) iterate() (bool, error) {
	now := Now()
	w.now = now
	w.obs = w.sw.obs.Load()
	if w.tun != nil {
		w.tun.arenaN = 0 // last round's reassembled frames are processed or copied
	}
	w.bigN = 0
	w.items = w.items[:0]
	drained := true
	selfLimit := int64(math.MaxInt64)
	nrx := 0
	// Take no more than the hand-off rings and the reorder buffer can
	// absorb: what stays in an rx ring waits there (and the watermark
	// stays put) instead of being dropped here.
	budget := min(w.handoffRoom(), len(w.reorder)-w.reorderN)
	for pi, q := range w.queues {
		if q == nil {
			continue
		}
		want := min(len(w.descs), budget)
		if want == 0 {
			// Whatever waits in this ring came after its last frame taken.
			drained = false
			selfLimit = min(selfLimit, w.qLast[pi])
			continue
		}
		n, err := q.Receive(w.descs[:want])
		if err != nil {
			return false, err
		}
		budget -= n
		for _, d := range w.descs[:n] {
			stamp, ok := q.Stamp(d)
			if !ok {
				stamp = now
			}
			w.qLast[pi] = stamp
			w.ingress(&w.rxPkts[nrx], q.Frame(d), pi, stamp)
			nrx++
		}
		if n == want || q.rxReady() > 0 {
			// Frames left in the ring come after the last one taken.
			drained = false
			selfLimit = min(selfLimit, w.qLast[pi])
		}
	}
	w.publish()
	if drained {
		w.wm.Store(now)
	}
	// The others' watermarks first, then their hand-offs: everything they
	// handed off before publishing those watermarks is in the rings now.
	limit := min(w.limit(now), selfLimit)
	handed := 0
	room := len(w.reorder) - w.reorderN - len(w.items) // all of these might have to wait
	for k, h := range w.in {
		w.inTaken[k] = 0
		if h == nil {
			continue
		}
		n := h.available()
		if n > room {
			// The rest waits in the ring; nothing stamped after it may
			// go first.
			n = max(room, 0)
			limit = min(limit, h.peek(n).stamp)
		}
		room -= n
		for i := range n {
			s := h.peek(i)
			w.items = append(w.items, item{stamp: s.stamp, pkt: &s.pkt, inPort: int32(s.inPort), staged: -1, trace: s.trace})
		}
		w.inTaken[k] = n
		handed += n
	}
	w.ctr.handoffIn.add(uint64(handed))
	if w.reorderN > 0 {
		for i := range w.reorder {
			if w.reorderUse[i] {
				s := &w.reorder[i]
				w.items = append(w.items, item{stamp: s.stamp, pkt: &s.pkt, inPort: int32(s.inPort), staged: int32(i), trace: s.trace})
			}
		}
	}
	w.idleRound = nrx == 0 && handed == 0
	if len(w.items) == 0 {
		// Frames the switch made while receiving (an IP-GRE gateway's
		// ARP request) go out now, not with the next busy round.
		w.flushTx()
		w.maybePoll(now)
		return nrx > 0, nil
	}
	sortItems(w.items)
	cut := len(w.items)
	for cut > 0 && w.items[cut-1].stamp > limit {
		cut--
	}
	if cut < len(w.items) {
		switch {
		case w.waitSince == 0:
			w.waitSince = now
		case now-w.waitSince > w.orderWait:
			cut = len(w.items)
			w.ctr.orderWaitTO.inc()
			w.waitSince = 0
		}
	} else {
		w.waitSince = 0
	}
	w.process(w.items[:cut], now)
	for _, it := range w.items[:cut] {
		if it.staged >= 0 {
			w.reorderUse[it.staged] = false
			w.reorderN--
		}
	}
	for _, it := range w.items[cut:] {
		if it.staged < 0 {
			w.stage(it)
		}
	}
	for k, h := range w.in {
		if h != nil {
			h.release(w.inTaken[k])
		}
	}
	w.flushTx()
	w.ctr.batches.inc()
	w.ctr.busyNs.add(uint64(Now() - now))
	w.maybePoll(now)
	return true, nil
}

// handoffRoom is the fewest free slots of the outgoing hand-off rings.
func (w *worker) handoffRoom() int {
	room := math.MaxInt
	for _, h := range w.out {
		if h != nil {
			room = min(room, h.room())
		}
	}
	return room
}

// maybePoll lets the conntrack shard run control requests and expiry,
// at most every 100 µs while busy.
func (w *worker) maybePoll(now int64) {
	if now-w.lastPoll >= 100_000 {
		w.shard.Poll(now)
		w.lastPoll = now
	}
}

// sortItems sorts by stamp, stably: an insertion sort, since the merged
// runs are each already in order.
func sortItems(items []item) {
	for i := 1; i < len(items); i++ {
		it := items[i]
		j := i
		for j > 0 && items[j-1].stamp > it.stamp {
			items[j] = items[j-1]
			j--
		}
		items[j] = it
	}
}

// stage copies a frame the owner may not process yet into its reorder
// buffer.
func (w *worker) stage(it item) {
	if w.reorderN < len(w.reorder) {
		for i := range w.reorder {
			if !w.reorderUse[i] {
				if w.reorder[i].fill(it.pkt, it.stamp, int(it.inPort), it.trace) {
					w.reorderUse[i] = true
					w.reorderN++
					w.ctr.reordered.inc()
					if it.trace != nil {
						it.trace.rec.step(w.id, "reorder", "held: another worker may still hand over an earlier frame")
					}
					return
				}
				break
			}
		}
	}
	w.dropped(DropReorderFull, it.pkt.Frame, int(it.inPort), it.trace)
	if it.trace != nil {
		it.trace.finish()
	}
}

// limit is the latest stamp no other worker can still hand over an
// earlier frame for; now was read before anything else this round.
func (w *worker) limit(now int64) int64 {
	lim := int64(math.MaxInt64)
	for k, o := range w.sw.workers {
		if k == w.id {
			continue
		}
		if o.stopped.Load() {
			continue // failed: it hands nothing over any more
		}
		wm := o.wm.Load()
		if wm < lim {
			if s := o.state.Load(); s&1 == 1 && o.rxEmpty() && o.state.Load() == s {
				wm = now
			}
			lim = min(lim, wm)
		}
	}
	return lim
}

// rxEmpty reports, from any goroutine, whether the worker's rx rings are
// empty. Only while the ports are open (workers stop before they close).
func (w *worker) rxEmpty() bool {
	for _, q := range w.queues {
		if q != nil && q.rxReady() > 0 {
			return false
		}
	}
	return true
}

// ingress parses and classifies a received frame and sends it to its
// owner: this worker's items, or a hand-off ring.
func (w *worker) ingress(pkt *conntrack.Packet, frame []byte, inPort int, stamp int64) {
	var tr *traceRec
	if w.obs != nil {
		tr = w.observeRx(frame, inPort, stamp)
	}
	if w.sw.ports[inPort].kind == portUnderlay {
		w.ingressUnderlay(pkt, frame, inPort, stamp, tr)
		return
	}
	w.ingressFrame(pkt, frame, inPort, stamp, tr)
}

// ingressFrame is ingress for a frame of a network's port (for a tunnel
// endpoint: the inner frame).
func (w *worker) ingressFrame(pkt *conntrack.Packet, frame []byte, inPort int, stamp int64, tr *traceRec) {
	p := w.sw.ports[inPort]
	switch {
	case len(frame) < packet.EthernetHeaderLen:
		w.dropRx(DropRunt, frame, inPort, tr)
		return
	case len(frame) > p.maxFrame:
		w.dropRx(DropOversize, frame, inPort, tr)
		return
	}
	pkt.Zone = p.net.zone
	if err := packet.Parse(frame, &pkt.Meta); err != nil {
		if tr != nil {
			tr.rec.step(w.id, "parse", "%v", err)
		}
		w.dropRx(DropMalformed, frame, inPort, tr)
		return
	}
	// Trim L2 padding: every later length and checksum is the IP one.
	pkt.Frame = pkt.Meta.Trimmed(frame)
	// A fragment's owner comes from its datagram (addresses, protocol,
	// id), so all of one datagram meet on one worker, which reassembles
	// it (see defragItem).
	owner := w.sw.ct.Classify(pkt)
	if tr != nil {
		traceParsed(&tr.rec, w.id, pkt, len(frame), p.net)
		if owner == w.id {
			tr.rec.step(w.id, "owner", "worker %d (this one)", owner)
		} else {
			tr.rec.step(w.id, "owner", "worker %d: handed off", owner)
		}
	}
	if owner == w.id {
		// Start the index lookup now: by the time the batch is tracked
		// the bucket is cached (a hint; handed-off packets are
		// prefetched by their owner's TrackBatch).
		w.shard.Prefetch(pkt)
		w.items = append(w.items, item{stamp: stamp, pkt: pkt, inPort: int32(inPort), staged: -1, trace: tr})
		return
	}
	h := w.out[owner]
	s := h.reserve()
	if s == nil || !s.fill(pkt, stamp, inPort, tr) {
		w.dropRx(DropHandoffFull, frame, inPort, tr)
		return
	}
	h.commit()
	w.ctr.handoffOut.inc()
	w.wakeOwner[owner] = true
}

// dropRx drops a frame before it reached its owner.
func (w *worker) dropRx(d Drop, frame []byte, inPort int, tr *traceRec) {
	w.dropped(d, frame, inPort, tr)
	if tr != nil {
		tr.finish()
	}
}

// publish makes this round's hand-offs visible and wakes sleeping owners.
func (w *worker) publish() {
	for k, h := range w.out {
		if h != nil && h.publish() && w.wakeOwner[k] {
			w.sw.workers[k].wake()
		}
		w.wakeOwner[k] = false
	}
}

// wake interrupts the worker's poll if it sleeps. Any goroutine.
func (w *worker) wake() {
	if w.efd >= 0 && w.state.Load()&1 == 1 {
		var one = [8]byte{1}
		_, _ = unix.Write(w.efd, one[:])
	}
}

// idle sleeps until a queue has frames, another worker hands some over,
// or idlePoll passes.
func (w *worker) idle() error {
	if w.efd < 0 {
		return nil
	}
	if w.sw.cfg.Spin {
		// Push out what an earlier Transmit left in the rings; Receive
		// refills the fill rings.
		for _, q := range w.queues {
			if q != nil {
				if err := q.Flush(); err != nil {
					return err
				}
			}
		}
		w.maybePoll(Now())
		return nil
	}
	for _, q := range w.queues {
		if q != nil {
			if err := q.prepareWait(); err != nil {
				return err
			}
		}
	}
	w.shard.Poll(Now())
	s := w.state.Load()
	w.state.Store(s + 1) // asleep: from here on nothing is received until awake again
	if !w.rxEmpty() || w.inPending() {
		w.state.Store(s + 2)
		return nil
	}
	select {
	case <-w.sw.stop:
		w.state.Store(s + 2)
		return nil
	default:
	}
	for i := range w.pollFds {
		w.pollFds[i].Revents = 0
	}
	_, err := unix.Poll(w.pollFds, int(idlePoll/time.Millisecond))
	w.state.Store(s + 2)
	w.ctr.sleeps.inc()
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("poll: %w", err)
	}
	var buf [8]byte
	_, _ = unix.Read(w.efd, buf[:])
	return nil
}

func (w *worker) inPending() bool {
	for _, h := range w.in {
		if h != nil && !h.empty() {
			return true
		}
	}
	return false
}
