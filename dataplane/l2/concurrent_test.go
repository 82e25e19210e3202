package l2

import (
	"errors"
	"github.com/ctswitch/ctswitch/packet"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkInvariants scans the raw slots of a quiescent table: no in-flight
// states left, no duplicate keys, every key reachable within its home's run,
// and the counters equal to what the slots hold.
func checkInvariants(t testing.TB, tb *Table) {
	t.Helper()
	seen := map[uint64]int{}
	var dyn, stat [numNetworks]int32
	var total, tombs int64
	for i := range tb.slots {
		k := tb.slots[i].key.Load()
		v := tb.slots[i].val.Load()
		switch {
		case k == 0:
			continue
		case k == keyTomb:
			tombs++
			continue
		case k&flagMask != 0:
			t.Fatalf("slot %d: in-flight key %#x left behind", i, k)
		case !validNetwork(uint16(k >> 48)):
			t.Fatalf("slot %d: key %#x of bad network", i, k)
		}
		if j, dup := seen[k]; dup {
			t.Fatalf("key %#x in slots %d and %d", k, j, i)
		}
		seen[k] = i
		if v&valFrozen != 0 {
			t.Fatalf("slot %d: frozen value %#x left behind", i, v)
		}
		h := tb.home(k)
		if d := int((uint64(i) - h) & tb.mask); d > tb.loadMaxDist(h) || d >= tb.maxProbe {
			t.Fatalf("slot %d: key %#x at distance %d beyond its run (%d)", i, k, d, tb.loadMaxDist(h))
		}
		if j, r := tb.find(k); r != findPublished || j != i {
			t.Fatalf("slot %d: find(%#x) = %d, %d", i, k, j, r)
		}
		if v&valStatic != 0 {
			stat[k>>48]++
		} else {
			dyn[k>>48]++
		}
		total++
	}
	for n := range numNetworks {
		if dyn[n] != tb.dyn[n].Load() || stat[n] != tb.stat[n].Load() {
			t.Fatalf("network %d: slots hold %d dynamic + %d static, counters say %d + %d",
				n, dyn[n], stat[n], tb.dyn[n].Load(), tb.stat[n].Load())
		}
	}
	if total != tb.total.Load() || tombs != tb.tombs.Load() {
		t.Fatalf("slots hold %d entries + %d tombstones, counters say %d + %d", total, tombs, tb.total.Load(), tb.tombs.Load())
	}
	if total > tb.capacity {
		t.Fatalf("%d entries over capacity %d", total, tb.capacity)
	}
}

// TestConcurrent: learners and lookups on overlapping MACs from several
// goroutines while a control goroutine ages, flushes, deletes and adds
// statics, then the invariants of the quiescent table.
func TestConcurrent(t *testing.T) {
	const (
		learners = 3
		macs     = 400
		staticP  = 100
	)
	iters := 40000
	if testing.Short() {
		iters = 5000
	}
	tb := newTable(t, Config{Capacity: 1024, MaxAge: 10 * time.Second})
	if err := tb.SetLimit(1, 300); err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, learners+1)
	for w := 1; w <= learners; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range iters {
				net := uint16(1 + r.IntN(2))
				m := mac(r.IntN(macs))
				now := clock.Load()
				switch res := tb.Learn(net, m, uint16(w), now); res {
				case LearnIgnored:
					errs <- "unicast MAC ignored"
					return
				case LearnLimit:
					if net != 1 {
						errs <- "limit hit in a network without one"
						return
					}
				}
				if p, ok := tb.Lookup(net, mac(r.IntN(macs)), now); ok && (p < 1 || p > learners) && p != staticP {
					errs <- "lookup returned a port nobody wrote"
					return
				}
			}
		}()
	}
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		r := rand.New(rand.NewPCG(99, 7))
		for i := 0; !done.Load(); i++ {
			now := clock.Add(int64(50 * time.Millisecond))
			tb.Age(now, 64)
			switch i % 16 {
			case 3:
				tb.Flush(1, 1+r.IntN(learners))
			case 7:
				if err := tb.AddStatic(2, mac(r.IntN(macs)), staticP); err != nil && !isFull(err) {
					errs <- "AddStatic: " + err.Error()
					return
				}
			case 11:
				tb.Delete(2, mac(r.IntN(macs)))
			case 15:
				if i%256 == 15 {
					tb.Flush(0, -1)
				}
			}
			if i%64 == 0 {
				tb.List(0, now)
				tb.Stats()
			}
		}
	}()
	wg.Wait()
	done.Store(true)
	cwg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	now := clock.Load()
	tb.Age(now, tb.Stats().Slots) // drop what expired, so Len and List agree
	checkInvariants(t, tb)
	if n := tb.Stats().Network(1).Dynamic; n > 300 {
		t.Fatalf("network 1: %d dynamic entries over its limit", n)
	}
	list := tb.List(0, now)
	byNet := map[uint16]int{}
	for i, e := range list {
		if i > 0 && makeKey(list[i-1].Network, list[i-1].MAC) >= makeKey(e.Network, e.MAC) {
			t.Fatalf("List out of order or duplicated at %d", i)
		}
		if (e.Port < 1 || e.Port > learners) && !(e.Static && e.Port == staticP) {
			t.Fatalf("entry %+v has a port nobody wrote", e)
		}
		byNet[e.Network]++
	}
	if tb.Len(0) != len(list) || tb.Len(1) != byNet[1] || tb.Len(2) != byNet[2] {
		t.Fatalf("Len %d/%d/%d, List %d/%d/%d", tb.Len(0), tb.Len(1), tb.Len(2), len(list), byNet[1], byNet[2])
	}

	// Learn everything once more, sequentially: every MAC then looks up to
	// the port just written (or its static port, or it is over the limit).
	for net := uint16(1); net <= 2; net++ {
		for i := range macs {
			res := tb.Learn(net, mac(i), 2, now)
			p, ok := tb.Lookup(net, mac(i), now)
			switch res {
			case LearnNew, LearnRefreshed, LearnMoved:
				if !ok || p != 2 {
					t.Fatalf("net %d mac %d: %v then lookup %d %v", net, i, res, p, ok)
				}
			case LearnStatic:
				if !ok || p != staticP {
					t.Fatalf("net %d mac %d: static, lookup %d %v", net, i, p, ok)
				}
			case LearnLimit:
				if ok || net != 1 {
					t.Fatalf("net %d mac %d: limit, lookup %d %v", net, i, p, ok)
				}
			default:
				t.Fatalf("net %d mac %d: %v", net, i, res)
			}
		}
	}
	checkInvariants(t, tb)
	t.Logf("stats %+v", tb.Stats())
}

func isFull(err error) bool { return err != nil && errors.Is(err, ErrFull) }

// TestConcurrentSameMACs races goroutines inserting the same fresh MACs, the
// case where duplicates would appear.
func TestConcurrentSameMACs(t *testing.T) {
	const workers, macs = 4, 64
	rounds := 300
	if testing.Short() {
		rounds = 30
	}
	tb := newTable(t, Config{Capacity: 256})
	var news atomic.Int64
	for round := range rounds {
		var start, wg sync.WaitGroup
		start.Add(1)
		news.Store(0)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				for i := range macs {
					if tb.Learn(1, mac(round*macs+i), uint16(w), 0) == LearnNew {
						news.Add(1)
					}
				}
			}()
		}
		start.Done()
		wg.Wait()
		checkInvariants(t, tb)
		if tb.Len(1) != macs {
			t.Fatalf("round %d: %d entries, want %d", round, tb.Len(1), macs)
		}
		if n := news.Load(); n != macs {
			t.Fatalf("round %d: %d LearnNew for %d MACs", round, n, macs)
		}
		for i := range macs {
			if p, ok := tb.Lookup(1, mac(round*macs+i), 0); !ok || p >= workers {
				t.Fatalf("round %d mac %d: %d %v", round, i, p, ok)
			}
		}
		tb.Flush(0, -1)
	}
}

// gate stops one goroutine at one hook stage until released.
type gate struct {
	fired   atomic.Bool
	arrived chan struct{}
	resume  chan struct{}
}

type gateKey struct {
	stage hookStage
	port  uint16
}

// setGates installs testHook for the duration of a test. The map is not
// written after this, so hooks may read it from any goroutine.
func setGates(t *testing.T, keys ...gateKey) map[gateKey]*gate {
	gates := map[gateKey]*gate{}
	for _, k := range keys {
		gates[k] = &gate{arrived: make(chan struct{}), resume: make(chan struct{})}
	}
	testHook = func(st hookStage, port uint16) {
		if g := gates[gateKey{st, port}]; g != nil && g.fired.CompareAndSwap(false, true) {
			g.arrived <- struct{}{}
			<-g.resume
		}
	}
	t.Cleanup(func() { testHook = nil })
	return gates
}

// TestInsertRaces forces the interleavings of two inserts of one MAC that
// end up in different slots: that takes a removal between their probes,
// which frees a slot nearer the home for the second one. A learns on port 1,
// B on port 2; C, in the home slot at first, is deleted by the script.
func TestInsertRaces(t *testing.T) {
	type env struct {
		tb      *Table
		k       uint64 // the raced key
		g       map[gateKey]*gate
		learn   func(port uint16) chan LearnResult
		deleteC func()
	}
	at := func(e env, st hookStage, port uint16) *gate { return e.g[gateKey{st, port}] }
	tests := []struct {
		name     string
		gates    []gateKey
		script   func(e env) (a, b LearnResult)
		wantPort uint16
		wantA    LearnResult
		wantB    LearnResult
	}{
		{
			// B publishes in the freed slot while A waits to claim: A's rescan
			// finds B's copy, backs out and applies its learn to B's copy.
			name:  "published copy wins",
			gates: []gateKey{{hookBeforeClaim, 1}},
			script: func(e env) (LearnResult, LearnResult) {
				a := e.learn(1)
				<-at(e, hookBeforeClaim, 1).arrived
				e.deleteC()
				rb := <-e.learn(2)
				at(e, hookBeforeClaim, 1).resume <- struct{}{}
				return <-a, rb
			},
			wantPort: 1, wantA: LearnMoved, wantB: LearnNew,
		},
		{
			// Both pending and both see it: A, farther from home, backs out.
			name:  "nearer pending copy wins",
			gates: []gateKey{{hookBeforeClaim, 1}, {hookAfterClaim, 2}},
			script: func(e env) (LearnResult, LearnResult) {
				a := e.learn(1)
				<-at(e, hookBeforeClaim, 1).arrived
				e.deleteC()
				b := e.learn(2)
				<-at(e, hookAfterClaim, 2).arrived
				at(e, hookBeforeClaim, 1).resume <- struct{}{}
				ra := <-a
				at(e, hookAfterClaim, 2).resume <- struct{}{}
				return ra, <-b
			},
			wantPort: 2, wantA: LearnRefreshed, wantB: LearnNew,
		},
		{
			// B rescanned before A claimed, so only A sees the race: A, nearer,
			// marks B dead and B's publishing CAS fails.
			name:  "farther pending copy marked dead",
			gates: []gateKey{{hookBeforeClaim, 2}, {hookBeforeClaim, 1}, {hookBeforePublish, 2}},
			script: func(e env) (LearnResult, LearnResult) {
				b := e.learn(2)
				<-at(e, hookBeforeClaim, 2).arrived
				e.deleteC()
				a := e.learn(1)
				<-at(e, hookBeforeClaim, 1).arrived
				at(e, hookBeforeClaim, 2).resume <- struct{}{}
				<-at(e, hookBeforePublish, 2).arrived
				at(e, hookBeforeClaim, 1).resume <- struct{}{}
				ra := <-a
				at(e, hookBeforePublish, 2).resume <- struct{}{}
				return ra, <-b
			},
			wantPort: 1, wantA: LearnNew, wantB: LearnRefreshed,
		},
		{
			// A remover holds B's published copy when A rescans: A backs out
			// and leaves the decision to the remover (which keeps it here).
			name:  "locked copy wins",
			gates: []gateKey{{hookBeforeClaim, 1}},
			script: func(e env) (LearnResult, LearnResult) {
				a := e.learn(1)
				<-at(e, hookBeforeClaim, 1).arrived
				e.deleteC()
				rb := <-e.learn(2)
				i, _ := e.tb.find(e.k)
				e.tb.slots[i].key.Store(e.k | flagLock)
				at(e, hookBeforeClaim, 1).resume <- struct{}{}
				ra := <-a
				e.tb.slots[i].key.Store(e.k)
				return ra, rb
			},
			wantPort: 2, wantA: LearnRefreshed, wantB: LearnNew,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, Config{Capacity: 64})
			k, c := collidingMACs(tb)
			if r := tb.Learn(1, c, 9, 0); r != LearnNew {
				t.Fatal(r)
			}
			if i, _ := tb.find(makeKey(1, c)); uint64(i) != tb.home(makeKey(1, k)) {
				t.Fatal("C is not in K's home slot")
			}
			e := env{tb: tb, k: makeKey(1, k), g: setGates(t, tt.gates...)}
			e.learn = func(port uint16) chan LearnResult {
				ch := make(chan LearnResult, 1)
				go func() { ch <- tb.Learn(1, k, port, 0) }()
				return ch
			}
			deleted := make(chan bool, 1)
			e.deleteC = func() { deleted <- tb.Delete(1, c) }
			ra, rb := tt.script(e)
			testHook = nil
			if !<-deleted {
				t.Fatal("Delete(C) found nothing")
			}
			if ra != tt.wantA || rb != tt.wantB {
				t.Fatalf("results A %v, B %v; want %v, %v", ra, rb, tt.wantA, tt.wantB)
			}
			checkInvariants(t, tb)
			if p, ok := tb.Lookup(1, k, 0); !ok || p != tt.wantPort || tb.Len(1) != 1 {
				t.Fatalf("lookup %d %v, want %d; Len %d", p, ok, tt.wantPort, tb.Len(1))
			}
			if s := tb.Stats(); s.Learned != 2 { // C and K, once
				t.Fatalf("Learned = %d", s.Learned)
			}
		})
	}
}

// collidingMACs returns two MACs of network 1 with the same home slot.
func collidingMACs(tb *Table) (k, c packet.MAC) {
	homes := map[uint64]int{}
	for i := 1; ; i++ {
		h := tb.home(makeKey(1, mac(i)))
		if j, ok := homes[h]; ok {
			return mac(i), mac(j)
		}
		homes[h] = i
	}
}

// TestInFlightStates puts one key in each state another goroutine would
// leave it in for a moment, and checks what each call does meanwhile.
func TestInFlightStates(t *testing.T) {
	tb := newTable(t, Config{Capacity: 64})
	m := mac(1)
	k := makeKey(1, m)
	tb.Learn(1, m, 1, 0)
	i, _ := tb.find(k)
	s := &tb.slots[i]
	v := s.val.Load()

	// A remover holds the key and froze the value.
	s.key.Store(k | flagLock)
	s.val.Store(v | valFrozen)
	if r := tb.Learn(1, m, 2, 5*sec); r != LearnRefreshed {
		t.Errorf("Learn on a locked key = %v", r)
	}
	if _, ok := tb.Lookup(1, m, 0); ok {
		t.Error("Lookup hit a locked key")
	}
	if tb.Delete(1, m) {
		t.Error("Delete of a locked key")
	}
	if err := tb.AddStatic(1, m, 3); !errors.Is(err, ErrBusy) {
		t.Errorf("AddStatic on a key locked forever = %v", err)
	}
	if tb.Flush(0, -1) != 0 || tb.Age(1<<40, tb.Stats().Slots) != 0 || len(tb.List(0, 0)) != 0 {
		t.Error("control plane touched a locked key")
	}
	if s.val.Load() != v|valFrozen {
		t.Error("a frozen value was written")
	}

	// Unlocked, value still frozen (the remover unfreezes first, so only a
	// reader that loaded the value early sees this): learning must not write.
	s.key.Store(k)
	if r := tb.Learn(1, m, 2, 5*sec); r != LearnRefreshed || s.val.Load() != v|valFrozen {
		t.Errorf("Learn on a frozen value = %v, value %#x", r, s.val.Load())
	}
	s.val.Store(v)

	// A pending insert of the key by someone else.
	s.key.Store(k | flagPend)
	if r := tb.Learn(1, m, 2, 0); r != LearnRefreshed {
		t.Errorf("Learn on a pending key = %v", r)
	}
	if _, ok := tb.Lookup(1, m, 0); ok {
		t.Error("Lookup hit a pending key")
	}
	s.key.Store(k)
	checkInvariants(t, tb)
	if r := tb.Learn(1, m, 2, 0); r != LearnMoved {
		t.Errorf("Learn after the states cleared = %v", r)
	}
}
