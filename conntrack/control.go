package conntrack

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// TCPWindow is one direction's window-tracking state, as exported.
type TCPWindow struct {
	End      uint32 `json:"end"`     // highest seq+len sent
	MaxEnd   uint32 `json:"max_end"` // highest seq the peer's window allows
	MaxWin   uint32 `json:"max_win"` // largest (scaled) window advertised
	MaxAck   uint32 `json:"max_ack"` // highest ack sent
	Scale    uint8  `json:"scale"`   // window scale shift
	WScale   bool   `json:"wscale"`  // window scale option seen
	SackPerm bool   `json:"sack_perm"`
	Liberal  bool   `json:"liberal"`    // window checks off for this direction
	CloseIn  bool   `json:"close_init"` // this side sent the first FIN
	Unacked  bool   `json:"unacked"`    // data in flight
	MaxAckOK bool   `json:"max_ack_set"`
}

// TCPLast is the memory of the last packet that the special cases consult.
type TCPLast struct {
	Index   uint8  `json:"index"`
	Dir     uint8  `json:"dir"`
	Seq     uint32 `json:"seq"`
	Ack     uint32 `json:"ack"`
	End     uint32 `json:"end"`
	Win     uint16 `json:"win"`
	Scale   uint8  `json:"scale"`
	Flags   uint8  `json:"flags"`
	Retrans uint8  `json:"retrans"`
}

// Entry is a snapshot of one connection: everything the tracker needs to
// go on validating it (so it is also the unit of export and import).
type Entry struct {
	Orig      Key           `json:"-"`
	State     State         `json:"-"`
	SeenReply bool          `json:"seen_reply"`
	Assured   bool          `json:"assured"`
	Mark      uint32        `json:"mark"`
	Labels    [2]uint64     `json:"labels"` // 128-bit label, high word first
	Timeout   time.Duration `json:"-"`      // remaining
	Age       time.Duration `json:"-"`      // since creation
	TCP       [2]TCPWindow  `json:"tcp,omitempty"`
	Last      TCPLast       `json:"last,omitempty"`
	Shard     int           `json:"shard"`
}

// Liberal reports whether window checks are off for the connection.
func (e *Entry) Liberal() bool { return e.TCP[0].Liberal || e.TCP[1].Liberal }

func (s *Shard) entry(i uint32) Entry {
	c := s.at(i)
	e := Entry{
		Orig:      c.origKey(),
		SeenReply: c.status&stSeenReply != 0,
		Assured:   c.status&stAssured != 0,
		Mark:      c.mark,
		Timeout:   time.Duration(ticksDur(max(int32(c.deadline-s.nowTick), 0))),
		Age:       time.Duration(ticksDur(int32(s.nowTick - c.born))),
		Shard:     s.id,
	}
	if c.status&stHasLabels != 0 {
		e.Labels = s.labels[i]
	}
	if c.key.Proto == protoTCP {
		e.State = c.state
		for d := 0; d < 2; d++ {
			w := &c.tcp.seen[d]
			e.TCP[d] = TCPWindow{
				End: w.end, MaxEnd: w.maxEnd, MaxWin: w.maxWin, MaxAck: w.maxAck, Scale: w.scale,
				WScale:   w.flags&tcpFlagWindowScale != 0,
				SackPerm: w.flags&tcpFlagSackPerm != 0,
				Liberal:  w.flags&tcpFlagBeLiberal != 0,
				CloseIn:  w.flags&tcpFlagCloseInit != 0,
				Unacked:  w.flags&tcpFlagDataUnacked != 0,
				MaxAckOK: w.flags&tcpFlagMaxAckSet != 0,
			}
		}
		t := &c.tcp
		e.Last = TCPLast{Index: t.lastIndex, Dir: t.lastDir, Seq: t.lastSeq, Ack: t.lastAck, End: t.lastEnd,
			Win: t.lastWin, Scale: t.lastScale, Flags: t.lastFlags, Retrans: t.retrans}
	} else {
		e.State = simpleState(c)
	}
	return e
}

// restore writes e into a fresh entry (the inverse of entry).
func (s *Shard) restore(e *Entry) (uint32, Why) {
	ck, rev := e.Orig.canonical()
	h := ck.hash()
	if i := s.lookup(&ck, h); i != 0 {
		s.remove(i) // the imported state wins over what we picked up meanwhile
	}
	z := s.zone(e.Orig.Zone)
	if why := s.admit(z, e.Orig.Zone); !why.IsZero() {
		return 0, why
	}
	i := s.alloc()
	c := s.at(i)
	*c = conn{key: ck, mark: e.Mark, born: s.nowTick - durTicks(int64(e.Age))}
	s.refresh(c, durTicks(int64(e.Timeout)))
	if rev {
		c.status |= stOrigReversed
	}
	if e.SeenReply {
		c.status |= stSeenReply
	}
	if e.Assured {
		c.status |= stAssured
	}
	if e.Labels != ([2]uint64{}) {
		c.status |= stHasLabels
		s.labels[i] = e.Labels
	}
	if e.Orig.Proto == protoTCP {
		c.state = e.State
		for d := 0; d < 2; d++ {
			w := &e.TCP[d]
			cw := &c.tcp.seen[d]
			*cw = tcpDir{end: w.End, maxEnd: w.MaxEnd, maxWin: w.MaxWin, maxAck: w.MaxAck, scale: min(w.Scale, 14)}
			for _, f := range []struct {
				on  bool
				bit uint8
			}{{w.WScale, tcpFlagWindowScale}, {w.SackPerm, tcpFlagSackPerm}, {w.Liberal, tcpFlagBeLiberal},
				{w.CloseIn, tcpFlagCloseInit}, {w.Unacked, tcpFlagDataUnacked}, {w.MaxAckOK, tcpFlagMaxAckSet}} {
				if f.on {
					cw.flags |= f.bit
				}
			}
		}
		l := &e.Last
		c.tcp.lastIndex, c.tcp.lastDir, c.tcp.lastSeq, c.tcp.lastAck = l.Index, l.Dir, l.Seq, l.Ack
		c.tcp.lastEnd, c.tcp.lastWin, c.tcp.lastScale, c.tcp.lastFlags, c.tcp.retrans = l.End, l.Win, l.Scale, l.Flags, l.Retrans
	}
	s.insert(i, h)
	return i, Why{}
}

// Filter selects connections for List, Flush and Export. Zero fields match
// everything.
type Filter struct {
	Zone     *uint16
	Proto    uint8
	Addr     *Key // match either address against Addr.Src (a VM's flows)
	Tuple    *Key // exact connection, given in either direction
	Mark     *uint32
	MarkMask uint32 // with Mark: compare (mark & MarkMask); 0 means all bits
	State    *State
}

func (f *Filter) match(s *Shard, i uint32) bool {
	c := s.at(i)
	k := &c.key
	if f.Zone != nil && k.Zone != *f.Zone {
		return false
	}
	if f.Proto != 0 && k.Proto != f.Proto {
		return false
	}
	if f.Addr != nil && (k.Family != f.Addr.Family || (k.Src != f.Addr.Src && k.Dst != f.Addr.Src)) {
		return false
	}
	if f.Tuple != nil {
		ck, _ := f.Tuple.canonical()
		if ck != *k {
			return false
		}
	}
	if f.Mark != nil {
		mask := f.MarkMask
		if mask == 0 {
			mask = ^uint32(0)
		}
		if c.mark&mask != *f.Mark&mask {
			return false
		}
	}
	if f.State != nil {
		st := c.state
		if k.Proto != protoTCP {
			st = simpleState(c)
		}
		if st != *f.State {
			return false
		}
	}
	return true
}

// each calls fn for every live entry of the shard.
func (s *Shard) each(fn func(i uint32)) {
	for i := uint32(1); i < s.next; i++ {
		c := s.at(i)
		if c.status&stInUse != 0 && !s.expired(c) {
			fn(i)
		}
	}
}

// Poll is called by the owner between batches: it runs pending control
// requests and advances expiry by a bounded amount of work.
func (s *Shard) Poll(now int64) {
	now = s.clock(now)
	for {
		select {
		case req := <-s.reqs:
			req(s)
			continue
		default:
		}
		break
	}
	if z := s.evictWant.Swap(0); z != 0 {
		s.earlyDrop(int(z) - 1)
	}
	s.expire(4096)
	if len(s.defrag.pending) > 0 {
		s.expireFrags(now)
	}
}

// Own marks the shard as driven by an owner goroutine, which must call Poll
// regularly; control calls then become requests that Poll executes.
// Release hands the shard back to inline control calls.
func (s *Shard) Own()     { s.owned.Store(true) }
func (s *Shard) Release() { s.owned.Store(false) }

// ErrNoOwner is returned when a request waits too long for a shard's owner.
var ErrNoOwner = errors.New("conntrack: shard owner not polling")

// exec runs fn in the owner's context: as a request when an owner runs,
// inline otherwise (the caller then must not run packets concurrently).
func (s *Shard) exec(ctx context.Context, fn func(s *Shard)) error {
	if !s.owned.Load() {
		s.mu.Lock()
		defer s.mu.Unlock()
		fn(s)
		return nil
	}
	// state: 0 queued, 1 running, 2 abandoned by the caller. A request
	// abandoned before it starts never runs, so fn's captured state is not
	// raced; one already running is short and is waited for.
	var state atomic.Int32
	done := make(chan struct{})
	req := func(s *Shard) {
		if state.CompareAndSwap(0, 1) {
			fn(s)
		}
		close(done)
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return fmt.Errorf("shard %d: %w", s.id, ErrNoOwner)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if state.CompareAndSwap(0, 2) {
			return fmt.Errorf("shard %d: %w", s.id, ErrNoOwner)
		}
		<-done
		return nil
	}
}

func (t *Table) execAll(ctx context.Context, fn func(s *Shard)) error {
	for _, s := range t.shards {
		if err := s.exec(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}

// Process is the single-threaded convenience path (replay tool, tests):
// parse, classify, reassemble fragments and track on the owning shard. Do
// not use it while shards have owners.
func (t *Table) Process(frame []byte, zone uint16, now int64) Result {
	var p Packet
	p.Frame, p.Zone = frame, zone
	if err := packet.Parse(frame, &p.Meta); err != nil {
		s := t.shards[0]
		s.clock(now)
		return s.countResult(Result{Verdict: VerdictInvalid, Why: Why{Reason: ReasonMalformed, A: uint32(errCode(err))}})
	}
	s := t.shards[t.Classify(&p)]
	if p.IsFragment() {
		res, done := s.Defrag(&p, now)
		if !done {
			// Ports are unknown until reassembly (the key holds the
			// datagram ID there).
			res.Tuple = p.key
			res.Tuple.SrcPort, res.Tuple.DstPort = 0, 0
			return res
		}
		s = t.shards[t.Classify(&p)]
		r := s.Track(&p, now)
		r.Fragments = res.Fragments
		r.Tuple = p.key
		return r
	}
	r := s.Track(&p, now)
	r.Tuple = p.key
	return r
}

// Lookup returns the connection of tuple k (either direction). Inline only
// (no owners running), like Process.
func (t *Table) Lookup(k Key, now int64) (Entry, bool) {
	ck, _ := k.canonical()
	h := ck.hash()
	s := t.shards[ownerOf(h, len(t.shards))]
	s.clock(now)
	i := s.lookup(&ck, h)
	if i == 0 {
		return Entry{}, false
	}
	return s.entry(i), true
}

// Len returns the live entries of all shards (including expired ones not
// yet reclaimed). Safe from any goroutine: it reads the zone counters.
func (t *Table) Len() int {
	n := 0
	for i := range t.zoneCount {
		n += int(t.zoneCount[i].Load())
	}
	return n
}

// Poll runs Poll on every shard. Inline only.
func (t *Table) Poll(now int64) {
	for _, s := range t.shards {
		s.Poll(now)
	}
}

// List returns the connections matching f, from every shard.
func (t *Table) List(ctx context.Context, f Filter, now int64) ([]Entry, error) {
	var out []Entry
	err := t.execAll(ctx, func(s *Shard) {
		s.clock(now)
		s.each(func(i uint32) {
			if f.match(s, i) {
				out = append(out, s.entry(i))
			}
		})
	})
	return out, err
}

// Flush removes the connections matching f and returns how many.
func (t *Table) Flush(ctx context.Context, f Filter, now int64) (int, error) {
	n := 0
	err := t.execAll(ctx, func(s *Shard) {
		s.clock(now)
		s.each(func(i uint32) {
			if f.match(s, i) {
				s.remove(i)
				n++
			}
		})
	})
	return n, err
}

// SetMark sets a connection's mark: mark = (old &^ mask) | (value & mask).
// Owner only; ref comes from the Result of the packet just tracked.
func (s *Shard) SetMark(res *Result, value, mask uint32) {
	if res.ref == 0 {
		return
	}
	c := s.at(res.ref)
	c.mark = c.mark&^mask | value&mask
}

// SetLabels sets a connection's 128-bit label under a mask. Owner only.
func (s *Shard) SetLabels(res *Result, value, mask [2]uint64) {
	if res.ref == 0 {
		return
	}
	c := s.at(res.ref)
	l := s.labels[res.ref]
	for w := 0; w < 2; w++ {
		l[w] = l[w]&^mask[w] | value[w]&mask[w]
	}
	if l == ([2]uint64{}) {
		c.status &^= stHasLabels
		delete(s.labels, res.ref)
		return
	}
	c.status |= stHasLabels
	s.labels[res.ref] = l
}

// Stats are the table's counters summed over shards.
type Stats struct {
	Entries  int
	Capacity int
	Packets  uint64
	Verdicts map[string]uint64
	Reasons  map[string]uint64
	// InvalidReasons are the reasons of invalid verdicts only: why
	// packets were (or, in monitor mode, would have been) dropped.
	InvalidReasons map[string]uint64
	Inserted       uint64
	Deleted        uint64
	Expired        uint64
	EarlyDrop      uint64
	Fragments      int // datagrams pending reassembly
	PerShard       []ShardStats
}

// Stats collects counters from every shard.
func (t *Table) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Verdicts: map[string]uint64{}, Reasons: map[string]uint64{}, InvalidReasons: map[string]uint64{}}
	err := t.execAll(ctx, func(s *Shard) {
		ss := s.stats
		ss.Entries, ss.Capacity = s.count, s.capacity
		st.PerShard = append(st.PerShard, ss)
		st.Entries += s.count
		st.Capacity += s.capacity
		st.Packets += ss.Packets
		st.Inserted += ss.Inserted
		st.Deleted += ss.Deleted
		st.Expired += ss.Expired
		st.EarlyDrop += ss.EarlyDrop
		st.Fragments += len(s.defrag.pending)
		for v := Verdict(1); v < numVerdicts; v++ {
			if ss.Verdicts[v] != 0 {
				st.Verdicts[v.String()] += ss.Verdicts[v]
			}
		}
		for r := Reason(1); r < numReasons; r++ {
			if ss.Reasons[r] != 0 {
				st.Reasons[r.Name()] += ss.Reasons[r]
			}
			if ss.Invalid[r] != 0 {
				st.InvalidReasons[r.Name()] += ss.Invalid[r]
			}
		}
	})
	return st, err
}

// CensusKey groups connections for Census.
type CensusKey struct {
	Zone  uint16
	Proto uint8
	State State
}

// Census counts the live connections by zone, protocol and state. It visits
// every entry, one shard at a time in the shard's owner (about 2 ms per
// million entries), so it suits a metrics scrape, not a per-packet path.
func (t *Table) Census(ctx context.Context) (map[CensusKey]int, error) {
	out := map[CensusKey]int{}
	err := t.execAll(ctx, func(s *Shard) {
		s.each(func(i uint32) {
			c := s.at(i)
			st := c.state
			if c.key.Proto != protoTCP {
				st = simpleState(c)
			}
			out[CensusKey{Zone: c.key.Zone, Proto: c.key.Proto, State: st}]++
		})
	})
	return out, err
}

// EntryOf returns the connection the packet of res was tracked against,
// as the packet left it. Owner only, before the next packet (traces).
func (s *Shard) EntryOf(res *Result) (Entry, bool) {
	if res.ref == 0 || res.Shard != s.id {
		return Entry{}, false
	}
	if c := s.at(res.ref); c.status&stInUse == 0 {
		return Entry{}, false
	}
	return s.entry(res.ref), true
}

// Get returns the connection of tuple k (either direction), asking its
// owner; safe while owners run.
func (t *Table) Get(ctx context.Context, k Key, now int64) (Entry, bool, error) {
	ck, _ := k.canonical()
	h := ck.hash()
	var e Entry
	found := false
	err := t.shards[ownerOf(h, len(t.shards))].exec(ctx, func(s *Shard) {
		s.clock(now)
		if i := s.lookup(&ck, h); i != 0 {
			e, found = s.entry(i), true
		}
	})
	return e, found, err
}

// Discard removes the connection the packet of res just created (verdict
// new), as Linux destroys an unconfirmed entry when its first packet is
// dropped: a connection the policy refuses leaves nothing in the table.
// Owner only, before the next TrackBatch.
func (s *Shard) Discard(res *Result) bool {
	if res.Verdict != VerdictNew || res.ref == 0 || res.Shard != s.id {
		return false
	}
	if c := s.at(res.ref); c.status&stInUse == 0 {
		return false
	}
	s.remove(res.ref)
	res.ref = 0
	return true
}
