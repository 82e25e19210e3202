package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

// Desc is an AF_XDP descriptor: a frame's UMEM address and length.
type Desc = xdp.Desc

// Queue states; see acquire.
const (
	qIdle int32 = iota
	qBusy
	qClosed
)

// maxKicks bounds the sendto calls one Transmit or Flush makes: the kernel
// may legitimately keep refusing (EAGAIN under memory pressure), and the
// leftovers are retried by the next call.
const maxKicks = 8

// Queue is one AF_XDP socket: the (port, queue) pair a worker owns. Its UMEM
// is split in two: the first RingSize frames cycle through the fill and rx
// rings, the other RingSize frames through tx and completion.
//
// Receive/Wait hand out rx frames that stay valid until the next Receive
// or Wait; AllocTx lends free tx frames that the caller fills and passes to
// Transmit. Frames are not shared between queues: to forward, copy from an
// rx frame into a tx frame of the output queue.
type Queue struct {
	port      string // "ifname" for errors
	id        int
	xsk       *xdp.Socket
	fd        int
	umem      []byte
	frameSize uint64
	ringSize  int
	txBase    uint64 // first tx frame address
	refillAt  int    // refill the fill ring once this many slots are free
	budgetSet bool   // XDP_MAX_TX_SKB_BUDGET raised: one sendto drains a batch

	state atomic.Int32 // qIdle/qBusy/qClosed: catches concurrent use and use after Close
	life  sync.Mutex   // held by Stats and close: the fd stays valid while read

	rxPackets, rxBytes, rxBatches       atomic.Uint64
	txPackets, txBytes, txKicks         atomic.Uint64
	txRingFull, txErrors, txInvalidDesc atomic.Uint64
}

// QueueStats are a queue's counters. The Kernel part comes from the
// socket's XDP_STATISTICS.
type QueueStats struct {
	Queue                         int
	RxPackets, RxBytes, RxBatches uint64
	TxPackets, TxBytes            uint64
	TxKicks                       uint64 // sendto calls
	TxRingFull                    uint64 // frames Transmit could not queue; the caller still has them
	TxErrors                      uint64 // failed sendto calls
	TxInvalidDesc                 uint64 // batches refused for a bad descriptor
	Kernel                        KernelStats
	KernelErr                     error // why Kernel is empty, if it is
}

// KernelStats is struct xdp_statistics.
type KernelStats struct {
	RxDropped       uint64 // e.g. frame larger than a UMEM frame
	RxInvalidDescs  uint64
	TxInvalidDescs  uint64
	RxRingFull      uint64 // the switch did not keep up
	RxFillRingEmpty uint64 // no free frame to receive into
	TxRingEmpty     uint64
}

// Drops sums the frames lost on the way in or out.
func (s QueueStats) Drops() uint64 {
	k := s.Kernel
	return k.RxDropped + k.RxInvalidDescs + k.TxInvalidDescs + k.RxRingFull + k.RxFillRingEmpty
}

// ID returns the queue number on the interface.
func (q *Queue) ID() int { return q.id }

// FD returns the socket's file descriptor (for a caller's own poll loop).
func (q *Queue) FD() int { return q.fd }

// acquire marks the queue busy for one call. A second goroutine gets
// ErrBusy instead of racing on the rings, and a closed queue ErrClosed
// instead of touching unmapped rings.
func (q *Queue) acquire() error {
	if q.state.CompareAndSwap(qIdle, qBusy) {
		return nil
	}
	if q.state.Load() == qClosed {
		return fmt.Errorf("%s queue %d: %w", q.port, q.id, ErrClosed)
	}
	return fmt.Errorf("%s queue %d: %w", q.port, q.id, ErrBusy)
}

func (q *Queue) release() { q.state.Store(qIdle) }

// guard runs an asavie/xdp call and turns a panic into an error; the index
// and errno panics it can raise must not take the switch down.
func guard(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	fn()
	return nil
}

// refill gives the kernel every rx frame the switch is not holding.
func (q *Queue) refill(threshold int) error {
	if q.xsk.NumFreeFillSlots() < threshold {
		return nil
	}
	return guard(func() {
		q.xsk.Fill(q.xsk.GetDescs(q.xsk.NumFreeFillSlots(), true))
	})
}

// reclaim takes finished tx frames back from the completion ring.
func (q *Queue) reclaim() error {
	return guard(func() {
		if n := q.xsk.NumCompleted(); n > 0 {
			q.xsk.Complete(n)
		}
	})
}

func (q *Queue) txPending() int { return q.ringSize - q.xsk.NumFreeTxSlots() }

// Receive moves up to len(descs) received frames into descs and returns
// how many. It never blocks and makes no system call: copy mode fills the
// rx ring from the sender's softirq. Before that it returns the frames of
// the previous batch to the fill ring, so those are invalid from here on.
func (q *Queue) Receive(descs []Desc) (int, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	if err := q.refill(q.refillAt); err != nil {
		return 0, fmt.Errorf("%s queue %d: refill: %w", q.port, q.id, err)
	}
	n := min(q.xsk.NumReceived(), len(descs))
	if n == 0 {
		return 0, nil
	}
	var got []Desc
	if err := guard(func() { got = q.xsk.Receive(n) }); err != nil {
		return 0, fmt.Errorf("%s queue %d: receive: %w", q.port, q.id, err)
	}
	n = copy(descs, got)
	var bytes uint64
	for i := range n {
		bytes += uint64(descs[i].Len)
	}
	q.rxPackets.Add(uint64(n))
	q.rxBytes.Add(bytes)
	q.rxBatches.Add(1)
	return n, nil
}

// Wait refills the fill ring completely, pushes out pending tx frames, and
// then sleeps in poll(2) until frames are ready to Receive or timeout
// passes. It returns how many frames are ready. Frames of the previous
// Receive are invalid afterwards.
func (q *Queue) Wait(timeout time.Duration) (int, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	if err := q.refill(1); err != nil {
		return 0, fmt.Errorf("%s queue %d: refill: %w", q.port, q.id, err)
	}
	if err := q.kick(); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(timeout)
	for q.xsk.NumReceived() == 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		pfd := []unix.PollFd{{Fd: int32(q.fd), Events: unix.POLLIN}}
		_, err := unix.Poll(pfd, int((left+time.Millisecond-1)/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("%s queue %d: poll: %w", q.port, q.id, err)
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return 0, fmt.Errorf("%s queue %d: poll: socket error (revents %#x)", q.port, q.id, pfd[0].Revents)
		}
	}
	return q.xsk.NumReceived(), nil
}

// Frame returns the bytes of a frame in this queue's UMEM, or nil if d does
// not describe one (wrong queue, or out of bounds).
func (q *Queue) Frame(d Desc) []byte {
	off := d.Addr % q.frameSize
	if d.Addr >= uint64(len(q.umem)) || off+uint64(d.Len) > q.frameSize {
		return nil
	}
	return q.umem[d.Addr : d.Addr+uint64(d.Len) : d.Addr+uint64(d.Len)]
}

// FrameCap returns the whole tx frame for d, to write a frame of up to
// FrameSize bytes before setting d.Len; nil for a non-tx descriptor.
func (q *Queue) FrameCap(d Desc) []byte {
	if d.Addr < q.txBase || d.Addr >= uint64(len(q.umem)) || d.Addr%q.frameSize != 0 {
		return nil
	}
	return q.umem[d.Addr : d.Addr+q.frameSize : d.Addr+q.frameSize]
}

// AllocTx lends up to len(descs) free tx frames (Len = frame size) and
// returns how many. They stay the caller's until passed to Transmit; frames
// lent but not transmitted are lent again by the next AllocTx.
func (q *Queue) AllocTx(descs []Desc) (int, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	if err := q.reclaim(); err != nil {
		return 0, fmt.Errorf("%s queue %d: complete: %w", q.port, q.id, err)
	}
	var got []Desc
	if err := guard(func() { got = q.xsk.GetDescs(len(descs), false) }); err != nil {
		return 0, fmt.Errorf("%s queue %d: alloc: %w", q.port, q.id, err)
	}
	return copy(descs, got), nil
}

// Transmit queues frames lent by AllocTx (with their Len set) and makes the
// kernel send them. It returns how many it queued: fewer than len(descs)
// when the tx ring is full, and the caller keeps the rest.
//
// Copy mode (every mode on veth) transmits only inside a system call, at
// most XDP_MAX_TX_SKB_BUDGET (default 32) frames per call, so Transmit
// always kicks and kicks again while frames remain; Open raises the budget
// to the ring size where the kernel allows (>= 6.17), so one call is
// enough. Nothing is kicked when nothing is pending.
func (q *Queue) Transmit(descs []Desc) (int, error) {
	if err := q.acquire(); err != nil {
		return 0, err
	}
	defer q.release()
	for _, d := range descs {
		if d.Addr < q.txBase || d.Addr >= uint64(len(q.umem)) || d.Addr%q.frameSize != 0 || d.Len == 0 || uint64(d.Len) > q.frameSize {
			q.txInvalidDesc.Add(1)
			return 0, fmt.Errorf("%s queue %d: transmit: %w: addr %#x len %d (use frames from AllocTx, 0 < Len <= %d)",
				q.port, q.id, ErrInvalidDesc, d.Addr, d.Len, q.frameSize)
		}
	}
	if err := q.reclaim(); err != nil {
		return 0, fmt.Errorf("%s queue %d: complete: %w", q.port, q.id, err)
	}
	n := 0
	if len(descs) > 0 {
		// asavie's Transmit queues what fits and makes one sendto; it
		// panics on errors other than EAGAIN/EBUSY (ENETDOWN when the
		// link goes down), after the frames are queued.
		err := guard(func() { n = q.xsk.Transmit(descs) })
		q.txKicks.Add(1)
		var bytes uint64
		for _, d := range descs[:n] {
			bytes += uint64(d.Len)
		}
		q.txPackets.Add(uint64(n))
		q.txBytes.Add(bytes)
		if n < len(descs) {
			q.txRingFull.Add(uint64(len(descs) - n))
		}
		if err != nil {
			q.txErrors.Add(1)
			return n, fmt.Errorf("%s queue %d: transmit: %w", q.port, q.id, err)
		}
	}
	if err := q.kick(); err != nil {
		return n, err
	}
	return n, nil
}

// Flush pushes out tx frames an earlier Transmit left in the ring (the
// kernel refused more work then). Workers call it when idle.
func (q *Queue) Flush() error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	return q.kick()
}

// kick makes sendto calls while tx frames are pending, then reclaims.
func (q *Queue) kick() error {
	for range maxKicks {
		if q.txPending() == 0 {
			break
		}
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(q.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		q.txKicks.Add(1)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN || errno == unix.EBUSY || errno == unix.ENOBUFS {
			// Budget used up or no memory for skbs: go on next time.
			if q.budgetSet {
				break
			}
			continue
		}
		if errno != 0 {
			q.txErrors.Add(1)
			return fmt.Errorf("%s queue %d: sendto: %w", q.port, q.id, errno)
		}
	}
	if err := q.reclaim(); err != nil {
		return fmt.Errorf("%s queue %d: complete: %w", q.port, q.id, err)
	}
	return nil
}

// Stats returns the queue's counters; safe from any goroutine.
func (q *Queue) Stats() QueueStats {
	s := QueueStats{
		Queue:     q.id,
		RxPackets: q.rxPackets.Load(), RxBytes: q.rxBytes.Load(), RxBatches: q.rxBatches.Load(),
		TxPackets: q.txPackets.Load(), TxBytes: q.txBytes.Load(), TxKicks: q.txKicks.Load(),
		TxRingFull: q.txRingFull.Load(), TxErrors: q.txErrors.Load(), TxInvalidDesc: q.txInvalidDesc.Load(),
	}
	q.life.Lock()
	defer q.life.Unlock()
	if q.fd < 0 {
		s.KernelErr = fmt.Errorf("%s queue %d: %w", q.port, q.id, ErrClosed)
		return s
	}
	// Our own getsockopt: asavie's Stats dereferences rings that may not exist.
	var ks unix.XDPStatistics
	size := uint32(unsafe.Sizeof(ks))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(q.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&ks)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		s.KernelErr = fmt.Errorf("%s queue %d: XDP_STATISTICS: %w", q.port, q.id, errno)
		return s
	}
	s.Kernel = KernelStats{
		RxDropped: ks.Rx_dropped, RxInvalidDescs: ks.Rx_invalid_descs, TxInvalidDescs: ks.Tx_invalid_descs,
		RxRingFull: ks.Rx_ring_full, RxFillRingEmpty: ks.Rx_fill_ring_empty_descs, TxRingEmpty: ks.Tx_ring_empty_descs,
	}
	return s
}

// close waits up to timeout for the owner to leave its current call, then
// closes the socket. If the owner does not leave, the socket is left open
// (leaked) rather than unmapped under a running call.
func (q *Queue) close(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !q.state.CompareAndSwap(qIdle, qClosed) {
		if q.state.Load() == qClosed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s queue %d: still in use after %v, left open", q.port, q.id, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	q.life.Lock()
	defer q.life.Unlock()
	err := closeXSK(q.xsk)
	q.xsk, q.fd, q.umem = nil, -1, nil
	if err != nil {
		return fmt.Errorf("%s queue %d: %w", q.port, q.id, err)
	}
	return nil
}

// Stamp returns the arrival time the XDP program wrote in front of a
// received frame (CLOCK_MONOTONIC nanoseconds, the clock of Now), and false
// when the frame carries none (the kernel had no metadata room).
func (q *Queue) Stamp(d Desc) (int64, bool) {
	if d.Addr%q.frameSize < StampLen || d.Addr >= uint64(len(q.umem)) {
		return 0, false
	}
	m := q.umem[d.Addr-StampLen : d.Addr]
	ts := binary.NativeEndian.Uint64(m[0:8])
	if binary.NativeEndian.Uint32(m[8:12]) != stampMagic || binary.NativeEndian.Uint32(m[12:16]) != uint32(ts)^stampMagic {
		return 0, false
	}
	return int64(ts), true
}

// rxReady returns how many received frames wait in the rx ring. Unlike the
// other methods it may be called from any goroutine while the queue is
// open: it only reads the ring's two indexes (another worker uses it to
// see that a sleeping owner has nothing pending).
func (q *Queue) rxReady() int {
	if q.state.Load() == qClosed {
		return 0
	}
	return q.xsk.NumReceived()
}

// prepareWait gets the queue ready for its owner to sleep in poll(2): the
// fill ring refilled completely and pending tx frames pushed out.
func (q *Queue) prepareWait() error {
	if err := q.acquire(); err != nil {
		return err
	}
	defer q.release()
	if err := q.refill(1); err != nil {
		return fmt.Errorf("%s queue %d: refill: %w", q.port, q.id, err)
	}
	return q.kick()
}
