package l2

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// model is the obvious map-based MAC table that Table must agree with.
type model struct {
	m         map[uint64]mEntry
	limit     map[uint16]int
	capacity  int
	maxAgeSec uint32

	learned, moved, conflicts, limitDrops, fullDrops, ignored, aged uint64
}

type mEntry struct {
	port   uint16
	static bool
	seen   uint32
}

func (m *model) expired(e mEntry, nowSec uint32) bool {
	return !e.static && int32(nowSec-e.seen) > int32(m.maxAgeSec)
}

func (m *model) count(network uint16, dynamicOnly bool) int {
	n := 0
	for k, e := range m.m {
		if (network == 0 || uint16(k>>48) == network) && !(dynamicOnly && e.static) {
			n++
		}
	}
	return n
}

func (m *model) learn(network uint16, mac packet.MAC, port uint16, nowSec uint32) LearnResult {
	if !validNetwork(network) || mac.IsMulticast() || mac == (packet.MAC{}) {
		m.ignored++
		return LearnIgnored
	}
	k := makeKey(network, mac)
	e, ok := m.m[k]
	switch {
	case ok && e.static:
		if e.port != port {
			m.conflicts++
		}
		return LearnStatic
	case ok && m.expired(e, nowSec):
		m.learned++
		m.m[k] = mEntry{port: port, seen: nowSec}
		return LearnNew
	case ok && e.port == port:
		if int32(nowSec-e.seen) > 0 {
			e.seen = nowSec
			m.m[k] = e
		}
		return LearnRefreshed
	case ok:
		m.moved++
		m.m[k] = mEntry{port: port, seen: nowSec}
		return LearnMoved
	}
	if lim := m.limit[network]; lim > 0 && m.count(network, true) >= lim {
		m.limitDrops++
		return LearnLimit
	}
	if len(m.m) >= m.capacity {
		m.fullDrops++
		return LearnFull
	}
	m.learned++
	m.m[k] = mEntry{port: port, seen: nowSec}
	return LearnNew
}

func (m *model) addStatic(network uint16, mac packet.MAC, port uint16) error {
	switch {
	case !validNetwork(network):
		return ErrNetwork
	case mac.IsMulticast():
		return ErrMulticastMAC
	case mac == (packet.MAC{}):
		return ErrZeroMAC
	}
	k := makeKey(network, mac)
	if _, ok := m.m[k]; !ok && len(m.m) >= m.capacity {
		return ErrFull
	}
	m.m[k] = mEntry{port: port, static: true}
	return nil
}

// fuzzReader hands out the fuzz input a byte at a time, zeros when done.
type fuzzReader []byte

func (r *fuzzReader) next() byte {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return b
}

const maxFuzzInput = 320 // bytes: 2 of config, 4 per operation

var fuzzNets = [...]uint16{1, 2, 3, 1, 2, 0, 4095, 0xffff}

func fuzzMAC(b byte) packet.MAC {
	switch b % 16 {
	case 12:
		return packet.MAC{0x01, 0x00, 0x5e, 0, 0, 1}
	case 13:
		return packet.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	case 14:
		return packet.MAC{}
	case 15:
		return packet.MAC{0x02, 0xff, 0xff, 0xff, 0xff, 0xfe} // sorts last
	}
	return mac(int(b % 16))
}

// FuzzTable runs a sequence of operations decoded from the input against a
// Table and the model, comparing every result, every lookup and the
// counters after each operation, and the raw slots now and then.
func FuzzTable(f *testing.F) {
	f.Add([]byte{3, 2, 0, 0, 1, 1, 0, 0, 1, 2, 9, 10, 0, 0, 1, 1, 7, 255})
	f.Add([]byte{0, 0, 8, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0})
	f.Add([]byte{1, 1, 4, 0, 1, 5, 0, 0, 1, 1, 6, 0, 0, 3, 10, 7, 0, 5, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return // long inputs make minimization crawl, and find nothing short ones can't
		}
		r := fuzzReader(data)
		cfg := Config{Capacity: 1 + int(r.next()%24), MaxAge: time.Duration(1+r.next()%5) * time.Second}
		tb, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := &model{m: map[uint64]mEntry{}, limit: map[uint16]int{}, capacity: cfg.Capacity, maxAgeSec: uint32(cfg.MaxAge / time.Second)}
		now := int64(0)
		for op := 0; len(r) > 0 && op < maxFuzzInput; op++ {
			code := r.next() % 12
			net, mc, port := fuzzNets[r.next()%8], fuzzMAC(r.next()), uint16(r.next()%4)
			nowSec := seconds(now)
			switch code {
			case 0, 1, 2, 3:
				if got, want := tb.Learn(net, mc, port, now), m.learn(net, mc, port, nowSec); got != want {
					t.Fatalf("op %d: Learn(%d, %s, %d, %d) = %v, model %v", op, net, macString(mc), port, now, got, want)
				}
			case 4:
				got, want := tb.AddStatic(net, mc, port), m.addStatic(net, mc, port)
				if !errors.Is(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("op %d: AddStatic(%d, %s, %d) = %v, model %v", op, net, macString(mc), port, got, want)
				}
			case 5:
				k := makeKey(net, mc)
				_, want := m.m[k]
				want = want && validNetwork(net)
				delete(m.m, k)
				if got := tb.Delete(net, mc); got != want {
					t.Fatalf("op %d: Delete(%d, %s) = %v, model %v", op, net, macString(mc), got, want)
				}
			case 6:
				fnet, fport := net, int(port)
				if fnet == 3 {
					fnet = 0
				}
				if fport == 3 {
					fport = -1
				}
				want := 0
				if fnet == 0 || validNetwork(fnet) {
					for k, e := range m.m {
						if !e.static && (fnet == 0 || uint16(k>>48) == fnet) && (fport < 0 || int(e.port) == fport) {
							delete(m.m, k)
							want++
						}
					}
				}
				if got := tb.Flush(fnet, fport); got != want {
					t.Fatalf("op %d: Flush(%d, %d) = %d, model %d", op, fnet, fport, got, want)
				}
			case 7:
				budget := int(mc[5]) * 5 // 0..75: partial sweeps and full ones
				got := tb.Age(now, budget)
				removed := 0
				for k, e := range m.m {
					if _, r := tb.find(k); r == findAbsent && m.expired(e, nowSec) {
						delete(m.m, k)
						removed++
					}
				}
				if got != removed || budget == 0 && got != 0 {
					t.Fatalf("op %d: Age(%d, %d) = %d, %d expired entries went", op, now, budget, got, removed)
				}
				m.aged += uint64(got)
			case 8:
				limit := int(port)
				if mc[5] == 11 {
					limit = -1
				}
				got := tb.SetLimit(net, limit)
				var want error
				switch {
				case !validNetwork(net):
					want = ErrNetwork
				case limit < 0:
					want = ErrLimit
				default:
					m.limit[net] = limit
				}
				if !errors.Is(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("op %d: SetLimit(%d, %d) = %v, model %v", op, net, limit, got, want)
				}
			case 9:
				now += int64(mc[5]) * int64(300*time.Millisecond)
			case 10:
				now += int64(port) * int64(4*time.Second)
			case 11:
				now -= int64(mc[5]%4) * int64(400*time.Millisecond) // clocks of workers disagree a little
			}
			compare(t, op, tb, m, now, net, mc, op%8 == 0)
		}
		compare(t, -1, tb, m, now, 1, mac(0), true)
		s := tb.Stats()
		for _, net := range []uint16{1, 2, 3} {
			ns := s.Network(net)
			if ns.Dynamic != m.count(net, true) || ns.Static+ns.Dynamic != m.count(net, false) || ns.Limit != m.limit[net] {
				t.Fatalf("network %d stats %+v, model %d dynamic of %d, limit %d", net, ns, m.count(net, true), m.count(net, false), m.limit[net])
			}
		}
		if got, want := [7]uint64{s.Learned, s.Moved, s.StaticConflicts, s.LimitDrops, s.FullDrops, s.Ignored, s.Aged},
			[7]uint64{m.learned, m.moved, m.conflicts, m.limitDrops, m.fullDrops, m.ignored, m.aged}; got != want {
			t.Fatalf("Stats %+v, model %v", s, want)
		}
	})
}

// compare checks the operation's key and the counts after every operation,
// and everything (all lookups, List, raw slots) when deep.
func compare(t *testing.T, op int, tb *Table, m *model, now int64, net uint16, mc packet.MAC, deep bool) {
	t.Helper()
	nowSec := seconds(now)
	lookup := func(net uint16, mc packet.MAC) {
		e, ok := m.m[makeKey(net, mc)]
		ok = ok && validNetwork(net) && !m.expired(e, nowSec)
		if p, hit := tb.Lookup(net, mc, now); hit != ok || ok && p != e.port {
			t.Fatalf("op %d: Lookup(%d, %s, %d) = %d, %v; model %+v, %v", op, net, macString(mc), now, p, hit, e, ok)
		}
	}
	lookup(net, mc)
	for _, net := range []uint16{1, 2, 3} {
		if got, want := tb.Len(net), m.count(net, false); got != want {
			t.Fatalf("op %d: Len(%d) = %d, model %d", op, net, got, want)
		}
	}
	if got, want := tb.Len(0), len(m.m); got != want {
		t.Fatalf("op %d: Len(0) = %d, model %d", op, got, want)
	}
	c := &tb.ctr // Stats builds a map: too slow for every operation
	got := [7]uint64{c.learned.Load(), c.moved.Load(), c.conflicts.Load(), c.limitDrops.Load(), c.fullDrops.Load(), c.ignored.Load(), c.aged.Load()}
	want := [7]uint64{m.learned, m.moved, m.conflicts, m.limitDrops, m.fullDrops, m.ignored, m.aged}
	if got != want {
		t.Fatalf("op %d: counters %v, model %v", op, got, want)
	}
	if !deep {
		return
	}
	for _, net := range []uint16{1, 2, 3} {
		for b := range 16 {
			lookup(net, fuzzMAC(byte(b)))
		}
	}
	checkInvariants(t, tb)
	var wantList []Entry
	for k, e := range m.m {
		if m.expired(e, nowSec) {
			continue
		}
		le := Entry{Network: uint16(k >> 48), MAC: keyMACOf(k), Port: e.port, Static: e.static}
		if !e.static {
			le.Age = time.Duration(max(int32(nowSec-e.seen), 0)) * time.Second
		}
		wantList = append(wantList, le)
	}
	slices.SortFunc(wantList, func(a, b Entry) int {
		if a.Network != b.Network {
			return int(a.Network) - int(b.Network)
		}
		return slices.Compare(a.MAC[:], b.MAC[:])
	})
	if gotList := tb.List(0, now); !slices.Equal(gotList, wantList) {
		t.Fatalf("op %d: List\n got %+v\nwant %+v", op, gotList, wantList)
	}
}
