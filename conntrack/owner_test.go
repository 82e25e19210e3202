package conntrack

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// TestOwnersAndControlPlane runs shards the way the dataplane will: one
// goroutine owns each shard, receives its packets in order and polls
// between batches, while the control plane lists, exports, flushes and
// reads stats concurrently. Run with -race.
func TestOwnersAndControlPlane(t *testing.T) {
	const shards, flows = 4, 400
	cfg := DefaultConfig()
	cfg.Shards = shards
	tbl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := int64(1e15)

	// The frames of every flow: SYN, SYN/ACK, ACK, data, ACK.
	var frames [][]byte
	for i := 0; i < flows; i++ {
		c, s := addr4(i), addr4(100000+i)
		cp := uint16(20000 + i)
		frames = append(frames,
			frameTCP4(c, s, cp, 80, 1000, 0, fS, 64240, wscaleOpts(7), 0),
			frameTCP4(s, c, 80, cp, 9000, 1001, fSA, 65160, wscaleOpts(7), 0),
			frameTCP4(c, s, cp, 80, 1001, 9001, fA, 502, nil, 0),
			frameTCP4(c, s, cp, 80, 1001, 9001, fA|fP, 502, nil, 100),
			frameTCP4(s, c, 80, cp, 9001, 1101, fA, 509, nil, 0),
		)
	}

	type work struct{ p *Packet }
	queues := make([]chan work, shards)
	results := make([]map[VerdictReason]int, shards)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for i := range queues {
		queues[i] = make(chan work, 64)
		results[i] = map[VerdictReason]int{}
		s := tbl.Shard(i)
		s.Own()
		wg.Add(1)
		go func(i int, s *Shard) {
			defer wg.Done()
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case w, ok := <-queues[i]:
					if !ok {
						return
					}
					r := s.Track(w.p, now)
					results[i][VerdictReason{r.Verdict, r.Why.Reason}]++
				case <-tick.C:
					s.Poll(now)
				case <-ctx.Done():
					return
				}
			}
		}(i, s)
	}

	// The control plane works while packets flow.
	ctlDone := make(chan error, 1)
	go func() {
		for k := 0; k < 20; k++ {
			if _, err := tbl.List(ctx, Filter{}, now); err != nil {
				ctlDone <- err
				return
			}
			if _, err := tbl.Stats(ctx); err != nil {
				ctlDone <- err
				return
			}
			var buf bytes.Buffer
			if _, err := tbl.Export(ctx, &buf, Filter{Proto: protoUDP}, now); err != nil {
				ctlDone <- err
				return
			}
			zone9 := uint16(9)
			if _, err := tbl.Flush(ctx, Filter{Zone: &zone9}, now); err != nil {
				ctlDone <- err
				return
			}
		}
		ctlDone <- nil
	}()

	// Dispatch in order: a classifier (the RX side) picks the owner.
	for _, f := range frames {
		p := &Packet{Frame: f}
		if err := packet.Parse(f, &p.Meta); err != nil {
			t.Fatal(err)
		}
		queues[tbl.Classify(p)] <- work{p}
	}
	if err := <-ctlDone; err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	cancel()

	total := map[VerdictReason]int{}
	for _, r := range results {
		for k, v := range r {
			total[k] += v
		}
	}
	if total[VerdictReason{VerdictNew, ReasonNone}] != flows || total[VerdictReason{VerdictEstablished, ReasonNone}] != 4*flows || len(total) != 2 {
		t.Fatalf("verdicts: %v", total)
	}
	for i := 0; i < shards; i++ {
		tbl.Shard(i).Release()
	}
	all, err := tbl.List(context.Background(), Filter{}, now)
	if err != nil || len(all) != flows {
		t.Fatalf("list after: %d %v", len(all), err)
	}
	busy := 0
	for i := 0; i < shards; i++ {
		if tbl.Shard(i).Len() > 0 {
			busy++
		}
	}
	if busy != shards {
		t.Fatalf("flows landed on %d of %d shards", busy, shards)
	}
}

type VerdictReason struct {
	V Verdict
	R Reason
}

// TestControlWithoutPollingOwner: a request to an owned shard whose owner
// never polls fails with ErrNoOwner when the context ends.
func TestControlWithoutPollingOwner(t *testing.T) {
	tbl, _ := New(DefaultConfig())
	tbl.Shard(0).Own()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Fill the request queue first so the next send blocks.
	for i := 0; i < cap(tbl.Shard(0).reqs); i++ {
		tbl.Shard(0).reqs <- func(*Shard) {}
	}
	if _, err := tbl.List(ctx, Filter{}, 0); err == nil {
		t.Fatal("list succeeded without an owner polling")
	}
}

// TestSymmetricOwner: both directions of every flow pick the same owner.
func TestSymmetricOwner(t *testing.T) {
	for i := 0; i < 1000; i++ {
		k := Key{Family: 4, Proto: protoTCP, SrcPort: uint16(i), DstPort: 443, Zone: uint16(i % 3)}
		a, b := addr4(i), addr4(i*7+3)
		copy(k.Src[:4], a[:])
		copy(k.Dst[:4], b[:])
		for n := 1; n <= 8; n++ {
			if k.Owner(n) != k.Reverse().Owner(n) {
				t.Fatalf("%s: owner %d vs reverse %d of %d", k, k.Owner(n), k.Reverse().Owner(n), n)
			}
		}
		if k.Hash() != k.Reverse().Hash() {
			t.Fatalf("%s: asymmetric hash", k)
		}
	}
}

// TestIncrementalExpiry: entries expire through Poll in bounded steps,
// established TCP survives, and lookups never return expired entries.
func TestIncrementalExpiry(t *testing.T) {
	tbl, _ := New(DefaultConfig())
	now := int64(1e15)
	const n = 10000
	for i := 0; i < n; i++ {
		if r := tbl.Process(frameUDP4(addr4(i), vmB, 5000, 53, 10), 0, now); r.Verdict != VerdictNew {
			t.Fatalf("udp %d: %s %s", i, r.Verdict, r.Why)
		}
	}
	handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	if tbl.Len() != n+1 {
		t.Fatalf("Len %d", tbl.Len())
	}
	later := now + int64(31*time.Second) + int64(2*time.Second) // past 30 s + a wheel slot
	s := tbl.Shard(0)
	s.Poll(later)
	if left := tbl.Len(); left != n+1-4096 {
		t.Fatalf("one Poll removed %d entries, want exactly its budget 4096", n+1-left)
	}
	for k := 0; k < 5; k++ {
		s.Poll(later)
	}
	if tbl.Len() != 1 {
		t.Fatalf("after polls Len %d, want 1 (the TCP flow)", tbl.Len())
	}
	st, _ := tbl.Stats(context.Background())
	if st.Expired != n {
		t.Fatalf("expired counter %d", st.Expired)
	}
	// The next UDP packet of an expired flow starts over.
	if r := tbl.Process(frameUDP4(addr4(1), vmB, 5000, 53, 10), 0, later); r.Verdict != VerdictNew {
		t.Fatalf("after expiry: %s", r.Verdict)
	}
	// Lookup-time expiry: without any Poll, a dead entry is not found.
	k := Key{Family: 4, Proto: protoUDP, SrcPort: 5000, DstPort: 53}
	a1 := addr4(1)
	copy(k.Src[:4], a1[:])
	copy(k.Dst[:4], vmB[:])
	if _, ok := tbl.Lookup(k, later+int64(31*time.Second)); ok {
		t.Fatal("lookup returned an expired entry")
	}
}

// TestEstablishedSurvivesWheelRevolutions: an entry whose deadline lies
// beyond the wheel's span is carried over revolutions, not expired early.
func TestEstablishedSurvivesWheelRevolutions(t *testing.T) {
	tbl, _ := New(DefaultConfig())
	now := int64(1e15)
	cseq, sseq := handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	tbl.Process(frameTCP4(vmB, vmA, 80, 1000, sseq, cseq, fA, 509, nil, 0), 0, now)
	for h := 1; h <= 48; h++ { // two days, polling every hour
		tbl.Poll(now + int64(h)*int64(time.Hour))
		tbl.Poll(now + int64(h)*int64(time.Hour))
	}
	k := Key{Family: 4, Proto: protoTCP, SrcPort: 1000, DstPort: 80}
	copy(k.Src[:4], vmA[:])
	copy(k.Dst[:4], vmB[:])
	e, ok := tbl.Lookup(k, now+48*int64(time.Hour))
	if !ok || e.State != TCPEstablished {
		t.Fatalf("established entry lost after two days idle: %v %+v", ok, e)
	}
	if want := 5*24*time.Hour - 48*time.Hour; e.Timeout < want-time.Second || e.Timeout > want+time.Second {
		t.Fatalf("remaining timeout %s, want about %s", e.Timeout, want)
	}
}

// TestZoneLimitEvictsOnOtherOwner: with owners running, a shard at a
// table-wide zone limit whose evictable entries live on another shard
// refuses the packet and asks that shard's owner to evict; after the owner
// polls, the retransmission gets in. The limit is never exceeded.
func TestZoneLimitEvictsOnOtherOwner(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Shards = 2
	zc := DefaultZoneConfig()
	zc.Limit = 2
	cfg.Zones = map[uint16]ZoneConfig{5: zc}
	tbl, _ := New(cfg)
	now := int64(1e15)
	parse := func(f []byte) *Packet {
		p := &Packet{Frame: f, Zone: 5}
		if err := packet.Parse(f, &p.Meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Fill the zone with two unreplied flows owned by shard 0.
	var onZero []*Packet
	for i := 0; len(onZero) < 3; i++ {
		p := parse(frameUDP4(addr4(i), vmB, 5000, 53, 10))
		if tbl.Classify(p) == 0 {
			onZero = append(onZero, p)
		}
	}
	var onOne *Packet
	for i := 1000; onOne == nil; i++ {
		p := parse(frameUDP4(addr4(i), vmB, 5000, 53, 10))
		if tbl.Classify(p) == 1 {
			onOne = p
		}
	}
	for _, p := range onZero[:2] {
		if r := tbl.Shard(0).Track(p, now); r.Verdict != VerdictNew {
			t.Fatalf("fill: %s %s", r.Verdict, r.Why)
		}
	}
	tbl.Shard(0).Own()
	tbl.Shard(1).Own()
	r := tbl.Shard(1).Track(onOne, now)
	if r.Verdict != VerdictInvalid || r.Why.Reason != ReasonZoneLimit || tbl.ZoneCount(5) != 2 {
		t.Fatalf("at the limit: %s %s, zone count %d", r.Verdict, r.Why, tbl.ZoneCount(5))
	}
	tbl.Shard(0).Poll(now) // the owner of the evictable entries honours the request
	if tbl.ZoneCount(5) != 1 {
		t.Fatalf("after the owner polled: zone count %d, want 1", tbl.ZoneCount(5))
	}
	if r := tbl.Shard(1).Track(onOne, now); r.Verdict != VerdictNew || tbl.ZoneCount(5) != 2 {
		t.Fatalf("retransmission: %s %s, zone count %d", r.Verdict, r.Why, tbl.ZoneCount(5))
	}
}

// TestControlAbandonedRequest: a request queued to an owner that stops
// polling returns ErrNoOwner when the context ends, instead of hanging,
// and never runs afterwards.
func TestControlAbandonedRequest(t *testing.T) {
	tbl, _ := New(DefaultConfig())
	s := tbl.Shard(0)
	s.Own()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	err := s.exec(ctx, func(*Shard) { ran = true })
	if !errors.Is(err, ErrNoOwner) {
		t.Fatalf("got %v, want ErrNoOwner", err)
	}
	s.Poll(0) // the owner comes back: the abandoned request must not run
	if ran {
		t.Fatal("abandoned request ran")
	}
}
