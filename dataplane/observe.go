package dataplane

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Observation: capture taps and packet traces for the operator. Workers
// load the set of observers once per round; with none registered the
// per-packet path does no extra work, and a traced packet carries its
// record with it (through hand-offs and the reorder buffer) so each step
// is written by the worker that runs it, with no sharing.

// TapPoint says where a tap sees frames.
type TapPoint uint8

const (
	TapRx   TapPoint = 1 << iota // received on the port, before parsing
	TapTx                        // sent on the port
	TapDrop                      // dropped; the port is the input port
)

func (p TapPoint) String() string {
	switch p {
	case TapRx:
		return "rx"
	case TapTx:
		return "tx"
	case TapDrop:
		return "drop"
	}
	return fmt.Sprintf("points(%#x)", uint8(p))
}

// observers is an immutable set, replaced as a whole on every change.
type observers struct {
	taps   []*Tap
	traces []*Trace
}

func (sw *Switch) updateObservers(fn func(o *observers)) {
	sw.obsMu.Lock()
	defer sw.obsMu.Unlock()
	var next observers
	if cur := sw.obs.Load(); cur != nil {
		next.taps = append(next.taps, cur.taps...)
		next.traces = append(next.traces, cur.traces...)
	}
	fn(&next)
	if len(next.taps) == 0 && len(next.traces) == 0 {
		sw.obs.Store(nil)
		return
	}
	sw.obs.Store(&next)
}

func (sw *Switch) portIndex(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	i, ok := sw.portIdx[name]
	if !ok {
		return 0, fmt.Errorf("no port %q (ports: %v)", name, sw.PortNames())
	}
	return i, nil
}

// TapConfig says what a tap captures.
type TapConfig struct {
	Port   string            // "" for every port
	Points TapPoint          // any combination (default: TapRx|TapTx)
	Match  func([]byte) bool // nil: every frame; called on worker threads, must not allocate or block
	Snap   int               // bytes kept of each frame (default and maximum: the largest frame)
	Slots  int               // frames buffered between reads (default 4096)
}

// CapturedFrame is one frame a tap saw.
type CapturedFrame struct {
	Time  time.Time
	Port  string
	Queue int
	Point TapPoint
	Drop  Drop // for TapDrop
	Len   int  // the frame's length on the wire
	Data  []byte
	// LostBefore is how many matching frames the tap had lost (buffer
	// full) before this one: a reader that stops after this frame lost
	// exactly these.
	LostBefore uint64
}

// Tap copies chosen frames out of the workers for the control plane (a
// pcap capture). Workers write under a mutex, which only capturing
// workers take; the reader swaps whole buffers, so it holds the lock for
// a moment per batch. Frames arriving while the buffer is full are
// counted as Lost.
type Tap struct {
	sw     *Switch
	port   int
	points TapPoint
	match  func([]byte) bool

	mu       sync.Mutex
	recs     []tapRec
	n        int
	spare    []tapRec
	lost     atomic.Uint64
	captured atomic.Uint64
	notify   chan struct{}
	closed   atomic.Bool
}

type tapRec struct {
	lost   uint64
	stamp  int64
	port   int32
	queue  int32
	point  TapPoint
	drop   Drop
	length int
	data   []byte
}

// AddTap starts capturing; Close the tap to stop.
func (sw *Switch) AddTap(cfg TapConfig) (*Tap, error) {
	pi, err := sw.portIndex(cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("tap: %w", err)
	}
	if cfg.Points == 0 {
		cfg.Points = TapRx | TapTx
	}
	if cfg.Points&^(TapRx|TapTx|TapDrop) != 0 {
		return nil, fmt.Errorf("tap: unknown points %#x", uint8(cfg.Points))
	}
	if cfg.Snap <= 0 || cfg.Snap > sw.frameCap {
		cfg.Snap = sw.frameCap
	}
	if cfg.Slots == 0 {
		cfg.Slots = 4096
	}
	if cfg.Slots < 1 || cfg.Slots > 1<<20 {
		return nil, fmt.Errorf("tap: %d slots: must be 1..%d", cfg.Slots, 1<<20)
	}
	t := &Tap{sw: sw, port: pi, points: cfg.Points, match: cfg.Match, notify: make(chan struct{}, 1)}
	t.recs, t.spare = newTapRecs(cfg.Slots, cfg.Snap), newTapRecs(cfg.Slots, cfg.Snap)
	sw.updateObservers(func(o *observers) { o.taps = append(o.taps, t) })
	return t, nil
}

func newTapRecs(n, snap int) []tapRec {
	mem := make([]byte, n*snap)
	recs := make([]tapRec, n)
	for i := range recs {
		recs[i].data = mem[i*snap : i*snap : (i+1)*snap]
	}
	return recs
}

// wants reports whether the tap captures at this point of port pi.
func (t *Tap) wants(pi int, point TapPoint) bool {
	return t.points&point != 0 && (t.port < 0 || t.port == pi)
}

// record copies a frame in; worker threads.
func (t *Tap) record(stamp int64, pi, queue int, point TapPoint, drop Drop, frame []byte) {
	if t.match != nil && !t.match(frame) {
		return
	}
	t.mu.Lock()
	if t.n == len(t.recs) {
		t.mu.Unlock()
		t.lost.Add(1)
		return
	}
	r := &t.recs[t.n]
	t.n++
	r.stamp, r.port, r.queue, r.point, r.drop, r.length = stamp, int32(pi), int32(queue), point, drop, len(frame)
	r.lost = t.lost.Load()
	r.data = r.data[:copy(r.data[:cap(r.data)], frame)]
	t.mu.Unlock()
	t.captured.Add(1)
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// Read calls fn for captured frames, in batches, until ctx ends, the tap
// is closed, or fn fails. Data is valid only during fn. One reader.
func (t *Tap) Read(ctx context.Context, fn func(*CapturedFrame) error) error {
	var cf CapturedFrame
	for {
		t.mu.Lock()
		batch := t.recs[:t.n]
		t.recs, t.spare = t.spare, t.recs
		t.n = 0
		t.mu.Unlock()
		for i := range batch {
			r := &batch[i]
			cf = CapturedFrame{
				Time: t.sw.wallOf(r.stamp), Port: t.sw.ports[r.port].name,
				Queue: int(r.queue), Point: r.point, Drop: r.drop, Len: r.length, Data: r.data, LostBefore: r.lost,
			}
			if err := fn(&cf); err != nil {
				return err
			}
		}
		if t.closed.Load() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.notify:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Lost is the number of frames that matched while the buffer was full.
func (t *Tap) Lost() uint64 { return t.lost.Load() }

// Captured is the number of frames copied in.
func (t *Tap) Captured() uint64 { return t.captured.Load() }

// Close stops the tap; frames already copied can still be Read.
func (t *Tap) Close() {
	if t.closed.Swap(true) {
		return
	}
	t.sw.updateObservers(func(o *observers) {
		o.taps = removeItem(o.taps, t)
	})
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

func removeItem[T comparable](s []T, x T) []T {
	out := s[:0]
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// TraceConfig says which packets a trace follows.
type TraceConfig struct {
	Count int               // packets to trace (1..1000)
	Port  string            // "" for every port
	Match func([]byte) bool // nil: every frame; called on worker threads, must not allocate or block
}

// TraceStep is one step of a traced packet's path.
type TraceStep struct {
	Stage  string `json:"stage"`
	Worker int    `json:"worker"`
	Detail string `json:"detail"`
}

// TraceRecord is the path of one packet through the switch.
type TraceRecord struct {
	Time      time.Time   `json:"time"`
	Port      string      `json:"port"`
	Len       int         `json:"len"`
	Synthetic bool        `json:"synthetic,omitempty"`
	Steps     []TraceStep `json:"steps"`
	Outcome   string      `json:"outcome"` // "sent to vm2", "flooded to 3 ports", "dropped: ct_invalid"
	Sent      []string    `json:"sent,omitempty"`
	Dropped   string      `json:"dropped,omitempty"` // drop reason name
}

func (r *TraceRecord) step(worker int, stage, format string, args ...any) {
	r.Steps = append(r.Steps, TraceStep{Stage: stage, Worker: worker, Detail: fmt.Sprintf(format, args...)})
}

// traceRec is a record in flight: it travels with its packet.
type traceRec struct {
	trace *Trace
	rec   TraceRecord
}

// Trace follows the next Count matching packets through the pipeline.
type Trace struct {
	sw        *Switch
	port      int
	match     func([]byte) bool
	remaining atomic.Int64
	out       chan *TraceRecord
	stopped   atomic.Bool
}

// StartTrace registers a trace; read its records with Next.
func (sw *Switch) StartTrace(cfg TraceConfig) (*Trace, error) {
	pi, err := sw.portIndex(cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if cfg.Count < 1 || cfg.Count > 1000 {
		return nil, fmt.Errorf("trace: count %d: must be 1..1000", cfg.Count)
	}
	t := &Trace{sw: sw, port: pi, match: cfg.Match, out: make(chan *TraceRecord, cfg.Count)}
	t.remaining.Store(int64(cfg.Count))
	sw.updateObservers(func(o *observers) { o.traces = append(o.traces, t) })
	return t, nil
}

// claim reserves one of the trace's packets; worker threads.
func (t *Trace) claim(pi int, frame []byte) bool {
	if t.port >= 0 && t.port != pi {
		return false
	}
	if t.remaining.Load() <= 0 || (t.match != nil && !t.match(frame)) {
		return false
	}
	if t.remaining.Add(-1) < 0 {
		return false
	}
	return true
}

// Next returns the next finished record. The records of packets still
// in flight when the trace is stopped are discarded.
func (t *Trace) Next(ctx context.Context) (*TraceRecord, error) {
	select {
	case r := <-t.out:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stop unregisters the trace; packets not yet claimed are not traced.
func (t *Trace) Stop() {
	if t.stopped.Swap(true) {
		return
	}
	t.sw.updateObservers(func(o *observers) { o.traces = removeItem(o.traces, t) })
}

// finish hands a completed record to its reader; never blocks (the
// channel has room for every claimed packet).
func (tr *traceRec) finish() {
	r := &tr.rec
	r.setOutcome()
	select {
	case tr.trace.out <- r:
	default:
	}
}

// setOutcome sums the record up from its Sent and Dropped.
func (r *TraceRecord) setOutcome() {
	switch {
	case r.Dropped != "":
		r.Outcome = "dropped: " + r.Dropped
	case len(r.Sent) == 1:
		r.Outcome = "sent to " + r.Sent[0]
	case len(r.Sent) > 1:
		r.Outcome = fmt.Sprintf("flooded to %d ports", len(r.Sent))
	default:
		r.Outcome = "consumed"
	}
}

// Worker hooks. They run only when observers exist or the packet is
// traced.

// observeRx runs the rx taps and starts a trace record if a trace wants
// the frame.
func (w *worker) observeRx(frame []byte, pi int, stamp int64) *traceRec {
	obs := w.obs
	for _, t := range obs.taps {
		if t.wants(pi, TapRx) {
			t.record(stamp, pi, w.id, TapRx, DropNone, frame)
		}
	}
	for _, t := range obs.traces {
		if t.claim(pi, frame) {
			tr := &traceRec{trace: t}
			tr.rec.Time = t.sw.wallOf(stamp)
			tr.rec.Port = w.sw.ports[pi].name
			tr.rec.Len = len(frame)
			tr.rec.step(w.id, "rx", "port %s queue %d, %d bytes", w.sw.ports[pi].name, w.id, len(frame))
			return tr
		}
	}
	return nil
}

// dropped counts a drop and shows it to drop taps and the packet's trace.
func (w *worker) dropped(d Drop, frame []byte, pi int, tr *traceRec) {
	w.ctr.drops[d].inc()
	if w.obs != nil && pi >= 0 { // pi < 0: a frame the switch made, of no port
		for _, t := range w.obs.taps {
			if t.wants(pi, TapDrop) {
				t.record(Now(), pi, w.id, TapDrop, d, frame)
			}
		}
	}
	if tr != nil {
		tr.rec.step(w.id, "drop", "%s: %s", d.Name(), d.Help())
		tr.rec.Dropped = d.Name()
	}
}

// sent shows a transmitted frame to tx taps and the packet's trace.
func (w *worker) sent(pi int, frame []byte, tr *traceRec) {
	if w.obs != nil && pi >= 0 {
		for _, t := range w.obs.taps {
			if t.wants(pi, TapTx) {
				t.record(Now(), pi, w.id, TapTx, DropNone, frame)
			}
		}
	}
	if tr != nil {
		name := w.sw.ports[pi].name
		tr.rec.step(w.id, "output", "port %s queue %d", name, w.id)
		tr.rec.Sent = append(tr.rec.Sent, name)
	}
}

// tapOnly shows a frame to the taps of port pi at one point, without
// trace steps (the inner frames of a tunnel's port).
func (w *worker) tapOnly(pi int, point TapPoint, frame []byte) {
	for _, t := range w.obs.taps {
		if t.wants(pi, point) {
			t.record(Now(), pi, w.id, point, DropNone, frame)
		}
	}
}

// wallOf converts an arrival stamp to wall-clock time.
func (sw *Switch) wallOf(stamp int64) time.Time {
	return sw.wallBase.Add(time.Duration(stamp - sw.monoBase))
}
