package l2

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

const sec = int64(time.Second)

// mac returns a locally administered unicast address numbered i.
func mac(i int) packet.MAC { return packet.MAC{0x02, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)} }

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	tb, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return tb
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = success
		slots   int
	}{
		{"defaults", Config{}, "", 131072},
		{"one", Config{Capacity: 1}, "", 2},
		{"round up", Config{Capacity: 1000}, "", 2048},
		{"power of two", Config{Capacity: 1024}, "", 2048},
		{"negative capacity", Config{Capacity: -1}, "capacity -1 outside 1..16777216", 0},
		{"huge capacity", Config{Capacity: MaxCapacity + 1}, "capacity 16777217", 0},
		{"short age", Config{MaxAge: 999 * time.Millisecond}, "max age 999ms outside 1s..", 0},
		{"negative age", Config{MaxAge: -time.Second}, "max age -1s", 0},
		{"long age", Config{MaxAge: MaxMaxAge + time.Second}, "max age", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "l2: ") {
					t.Fatalf("err = %v, want ErrConfig containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tb.Stats().Slots; got != tt.slots {
				t.Errorf("slots = %d, want %d", got, tt.slots)
			}
		})
	}
	tb := newTable(t, Config{})
	if tb.MaxAge() != DefaultMaxAge || tb.Capacity() != DefaultCapacity {
		t.Errorf("defaults: %v %d", tb.MaxAge(), tb.Capacity())
	}
}

// step is one operation of a table-driven scenario.
type step struct {
	op      string // learn, lookup, static, limit, delete
	net     uint16
	mac     packet.MAC
	port    uint16
	now     int64
	want    LearnResult // learn
	wantOK  bool        // lookup: hit; static/limit: success; delete: found
	wantPrt uint16      // lookup
}

func runSteps(t *testing.T, tb *Table, steps []step) {
	t.Helper()
	for i, s := range steps {
		switch s.op {
		case "learn":
			if got := tb.Learn(s.net, s.mac, s.port, s.now); got != s.want {
				t.Fatalf("step %d: Learn(%d, %s, %d, %d) = %v, want %v", i, s.net, macString(s.mac), s.port, s.now, got, s.want)
			}
		case "lookup":
			p, ok := tb.Lookup(s.net, s.mac, s.now)
			if ok != s.wantOK || ok && p != s.wantPrt {
				t.Fatalf("step %d: Lookup(%d, %s, %d) = %d, %v, want %d, %v", i, s.net, macString(s.mac), s.now, p, ok, s.wantPrt, s.wantOK)
			}
		case "static":
			if err := tb.AddStatic(s.net, s.mac, s.port); (err == nil) != s.wantOK {
				t.Fatalf("step %d: AddStatic(%d, %s, %d) = %v", i, s.net, macString(s.mac), s.port, err)
			}
		case "limit":
			if err := tb.SetLimit(s.net, int(s.port)); (err == nil) != s.wantOK {
				t.Fatalf("step %d: SetLimit(%d, %d) = %v", i, s.net, s.port, err)
			}
		case "delete":
			if got := tb.Delete(s.net, s.mac); got != s.wantOK {
				t.Fatalf("step %d: Delete(%d, %s) = %v", i, s.net, macString(s.mac), got)
			}
		default:
			t.Fatalf("step %d: bad op %q", i, s.op)
		}
	}
}

func TestLearnResults(t *testing.T) {
	a, b := mac(1), mac(2)
	tests := []struct {
		name  string
		cfg   Config
		steps []step
		stats Stats // only the counters are compared
	}{
		{"new then refreshed", Config{}, []step{
			{op: "learn", net: 1, mac: a, port: 3, want: LearnNew},
			{op: "learn", net: 1, mac: a, port: 3, now: 5 * sec, want: LearnRefreshed},
			{op: "lookup", net: 1, mac: a, now: 5 * sec, wantOK: true, wantPrt: 3},
			{op: "lookup", net: 2, mac: a, now: 5 * sec},
		}, Stats{Learned: 1}},
		{"moved", Config{}, []step{
			{op: "learn", net: 1, mac: a, port: 3, want: LearnNew},
			{op: "learn", net: 1, mac: a, port: 4, want: LearnMoved},
			{op: "lookup", net: 1, mac: a, wantOK: true, wantPrt: 4},
			{op: "learn", net: 1, mac: a, port: 4, want: LearnRefreshed},
		}, Stats{Learned: 1, Moved: 1}},
		{"same MAC in two networks", Config{}, []step{
			{op: "learn", net: 1, mac: a, port: 3, want: LearnNew},
			{op: "learn", net: 2, mac: a, port: 4, want: LearnNew},
			{op: "lookup", net: 1, mac: a, wantOK: true, wantPrt: 3},
			{op: "lookup", net: 2, mac: a, wantOK: true, wantPrt: 4},
		}, Stats{Learned: 2}},
		{"static", Config{}, []step{
			{op: "static", net: 1, mac: a, port: 7, wantOK: true},
			{op: "learn", net: 1, mac: a, port: 7, want: LearnStatic},
			{op: "learn", net: 1, mac: a, port: 8, want: LearnStatic},
			{op: "lookup", net: 1, mac: a, now: 1000 * sec, wantOK: true, wantPrt: 7},
		}, Stats{StaticConflicts: 1}},
		{"limit", Config{}, []step{
			{op: "limit", net: 1, port: 1, wantOK: true},
			{op: "learn", net: 1, mac: a, port: 1, want: LearnNew},
			{op: "learn", net: 1, mac: b, port: 1, want: LearnLimit},
			{op: "lookup", net: 1, mac: b},
			{op: "learn", net: 2, mac: b, port: 1, want: LearnNew},
			{op: "learn", net: 1, mac: a, port: 2, want: LearnMoved}, // known MACs still move
		}, Stats{Learned: 2, LimitDrops: 1, Moved: 1}},
		{"full", Config{Capacity: 1}, []step{
			{op: "learn", net: 1, mac: a, port: 1, want: LearnNew},
			{op: "learn", net: 1, mac: b, port: 1, want: LearnFull},
			{op: "delete", net: 1, mac: a, wantOK: true},
			{op: "learn", net: 1, mac: b, port: 1, want: LearnNew},
		}, Stats{Learned: 2, FullDrops: 1}},
		{"ignored", Config{}, []step{
			{op: "learn", net: 1, mac: packet.MAC{0x01, 0, 0x5e, 0, 0, 1}, port: 1, want: LearnIgnored},
			{op: "learn", net: 1, mac: packet.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, port: 1, want: LearnIgnored},
			{op: "learn", net: 1, mac: packet.MAC{}, port: 1, want: LearnIgnored},
			{op: "learn", net: 0, mac: a, port: 1, want: LearnIgnored},
			{op: "learn", net: 4095, mac: a, port: 1, want: LearnIgnored},
			{op: "learn", net: 0xffff, mac: a, port: 1, want: LearnIgnored},
			{op: "lookup", net: 0, mac: a},
			{op: "lookup", net: 0xffff, mac: a},
		}, Stats{Ignored: 6}},
		{"expired entry is revived as new", Config{MaxAge: 10 * time.Second}, []step{
			{op: "learn", net: 1, mac: a, port: 1, want: LearnNew},
			{op: "lookup", net: 1, mac: a, now: 10*sec + sec - 1, wantOK: true, wantPrt: 1},
			{op: "lookup", net: 1, mac: a, now: 11 * sec},
			{op: "learn", net: 1, mac: a, port: 1, now: 11 * sec, want: LearnNew},
			{op: "lookup", net: 1, mac: a, now: 21 * sec, wantOK: true, wantPrt: 1},
			{op: "learn", net: 1, mac: a, port: 2, now: 40 * sec, want: LearnNew}, // expired and elsewhere: new, not moved
			{op: "lookup", net: 1, mac: a, now: 40 * sec, wantOK: true, wantPrt: 2},
		}, Stats{Learned: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTable(t, tt.cfg)
			runSteps(t, tb, tt.steps)
			got := tb.Stats()
			got.Entries, got.Static, got.Tombstones, got.Slots, got.Networks = 0, 0, 0, 0, nil
			if !reflect.DeepEqual(got, tt.stats) {
				t.Errorf("stats = %+v, want %+v", got, tt.stats)
			}
		})
	}
}

func TestRefreshWritesOnlyWhenSecondChanges(t *testing.T) {
	tb := newTable(t, Config{})
	a := mac(1)
	tb.Learn(1, a, 1, 10*sec)
	i, r := tb.find(makeKey(1, a))
	if r != findPublished {
		t.Fatal("not found")
	}
	before := tb.slots[i].val.Load()
	for _, now := range []int64{10 * sec, 10*sec + 1, 11*sec - 1, 9 * sec /* clock behind */} {
		if got := tb.Learn(1, a, 1, now); got != LearnRefreshed {
			t.Fatalf("Learn at %d = %v", now, got)
		}
		if v := tb.slots[i].val.Load(); v != before {
			t.Fatalf("Learn at %d wrote %#x -> %#x", now, before, v)
		}
	}
	tb.Learn(1, a, 1, 11*sec)
	if v := tb.slots[i].val.Load(); valSeenOf(v) != 11 {
		t.Fatalf("seen = %d after a learn at 11 s", valSeenOf(v))
	}
}

func TestLimits(t *testing.T) {
	tb := newTable(t, Config{})
	for _, tt := range []struct {
		net   uint16
		limit int
		want  error
	}{
		{0, 1, ErrNetwork}, {4095, 1, ErrNetwork}, {0xffff, 1, ErrNetwork}, {1, -1, ErrLimit},
		{1, 0, nil}, {4094, 5, nil}, {1, 1 << 40, nil},
	} {
		err := tb.SetLimit(tt.net, tt.limit)
		if !errors.Is(err, tt.want) || err != nil && !strings.HasPrefix(err.Error(), "l2: set limit of network") {
			t.Errorf("SetLimit(%d, %d) = %v, want %v", tt.net, tt.limit, err, tt.want)
		}
	}

	if err := tb.SetLimit(1, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if r := tb.Learn(1, mac(i), 1, 0); r != LearnNew {
			t.Fatalf("learn %d: %v", i, r)
		}
	}
	if r := tb.Learn(1, mac(3), 1, 0); r != LearnLimit {
		t.Fatalf("4th learn: %v", r)
	}
	// Statics don't count against the limit, and converting a dynamic
	// entry to static frees its place.
	if err := tb.AddStatic(1, mac(10), 1); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddStatic(1, mac(0), 1); err != nil {
		t.Fatal(err)
	}
	if r := tb.Learn(1, mac(3), 1, 0); r != LearnNew {
		t.Fatalf("learn after static conversion: %v", r)
	}
	if got := tb.Stats().Network(1); got != (NetworkStats{Dynamic: 3, Static: 2, Limit: 3}) {
		t.Fatalf("network 1 stats %+v", got)
	}
	if tb.Len(1) != 5 || tb.Len(0) != 5 || tb.Len(2) != 0 || tb.Len(4095) != 0 {
		t.Fatalf("Len: %d %d %d", tb.Len(1), tb.Len(0), tb.Len(2))
	}
	// Lowering keeps what is there; removing the limit lets learning go on.
	if err := tb.SetLimit(1, 1); err != nil {
		t.Fatal(err)
	}
	if r := tb.Learn(1, mac(4), 1, 0); r != LearnLimit {
		t.Fatalf("learn above lowered limit: %v", r)
	}
	if tb.Len(1) != 5 {
		t.Fatalf("lowering the limit removed entries: %d", tb.Len(1))
	}
	if err := tb.SetLimit(1, 0); err != nil {
		t.Fatal(err)
	}
	if r := tb.Learn(1, mac(4), 1, 0); r != LearnNew {
		t.Fatalf("learn without limit: %v", r)
	}
}

func TestStatic(t *testing.T) {
	tb := newTable(t, Config{Capacity: 2, MaxAge: 10 * time.Second})
	a, b, c := mac(1), mac(2), mac(3)
	tb.Learn(1, a, 1, 0)
	if err := tb.AddStatic(1, a, 9); err != nil { // replaces the dynamic entry
		t.Fatal(err)
	}
	if p, ok := tb.Lookup(1, a, 0); !ok || p != 9 {
		t.Fatalf("lookup after AddStatic: %d %v", p, ok)
	}
	if err := tb.AddStatic(1, a, 8); err != nil { // moves the static entry
		t.Fatal(err)
	}
	if got := tb.Stats().Network(1); got != (NetworkStats{Static: 1}) {
		t.Fatalf("stats %+v", got)
	}
	// Never ages, never flushed.
	if n := tb.Age(1<<40, tb.Stats().Slots); n != 0 {
		t.Fatalf("Age removed %d", n)
	}
	if n := tb.Flush(0, -1); n != 0 {
		t.Fatalf("Flush removed %d", n)
	}
	if p, ok := tb.Lookup(1, a, 1<<40); !ok || p != 8 {
		t.Fatalf("lookup much later: %d %v", p, ok)
	}
	if l := tb.List(1, 1<<40); len(l) != 1 || !l[0].Static || l[0].Age != 0 || l[0].Port != 8 {
		t.Fatalf("List: %+v", l)
	}

	for _, tt := range []struct {
		net  uint16
		mac  packet.MAC
		want error
		msg  string
	}{
		{0, b, ErrNetwork, "l2: add static 02:00:00:00:00:02 in network 0: network id outside 1..4094"},
		{4095, b, ErrNetwork, "network 4095"},
		{1, packet.MAC{0x01, 0x80, 0xc2, 0, 0, 0}, ErrMulticastMAC, "01:80:c2:00:00:00"},
		{1, packet.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrMulticastMAC, "multicast or broadcast"},
		{1, packet.MAC{}, ErrZeroMAC, "all-zero"},
	} {
		err := tb.AddStatic(tt.net, tt.mac, 1)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("AddStatic(%d, %s) = %v, want %v containing %q", tt.net, macString(tt.mac), err, tt.want, tt.msg)
		}
	}
	if err := tb.AddStatic(1, b, 1); err != nil {
		t.Fatal(err)
	}
	err := tb.AddStatic(1, c, 1)
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "2 of 2 entries") {
		t.Fatalf("AddStatic on a full table: %v", err)
	}
	if !tb.Delete(1, a) || tb.Delete(1, a) {
		t.Fatal("Delete of a static entry")
	}
	if err := tb.AddStatic(1, c, 1); err != nil {
		t.Fatal(err)
	}
}

func TestAging(t *testing.T) {
	tb := newTable(t, Config{Capacity: 64, MaxAge: 10 * time.Second})
	for i := range 10 {
		tb.Learn(1, mac(i), 1, int64(i)*sec) // seen at i seconds
	}
	tb.AddStatic(1, mac(100), 1)
	slots := tb.Stats().Slots
	if n := tb.Age(10*sec, slots); n != 0 {
		t.Fatalf("Age at 10 s removed %d", n)
	}
	// At 15 s the entries seen at 0..4 s are more than 10 s old.
	if n := tb.Age(15*sec, slots); n != 5 {
		t.Fatalf("Age at 15 s removed %d, want 5", n)
	}
	if got := len(tb.List(1, 15*sec)); got != 6 || tb.Len(1) != 6 {
		t.Fatalf("after aging: List %d, Len %d", got, tb.Len(1))
	}
	// Incremental: budget 1 per call, each slot examined once per sweep.
	total := 0
	for range slots {
		n := tb.Age(100*sec, 1)
		if n > 1 {
			t.Fatalf("budget 1 removed %d", n)
		}
		total += n
	}
	if total != 5 || tb.Len(1) != 1 || tb.Stats().Aged != 10 {
		t.Fatalf("incremental aging removed %d, Len %d, Aged %d", total, tb.Len(1), tb.Stats().Aged)
	}
	if tb.Age(100*sec, 0) != 0 || tb.Age(100*sec, -5) != 0 {
		t.Fatal("non-positive budget")
	}
	// A refresh keeps an entry alive; Age never removes what Lookup finds.
	tb.Learn(2, mac(1), 1, 0)
	tb.Learn(2, mac(1), 1, 9*sec)
	if tb.Age(19*sec, slots) != 0 {
		t.Fatal("refreshed entry aged")
	}
	if _, ok := tb.Lookup(2, mac(1), 19*sec); !ok {
		t.Fatal("refreshed entry missed")
	}
	// Negative clocks (any origin works).
	tb.Learn(3, mac(1), 1, -100*sec)
	if _, ok := tb.Lookup(3, mac(1), -90*sec); !ok {
		t.Fatal("negative clock: miss within MaxAge")
	}
	if _, ok := tb.Lookup(3, mac(1), -88*sec); ok {
		t.Fatal("negative clock: hit after MaxAge")
	}
}

func TestFlush(t *testing.T) {
	populate := func(t *testing.T) *Table {
		tb := newTable(t, Config{Capacity: 64})
		for n := uint16(1); n <= 2; n++ {
			for i := range 6 {
				tb.Learn(n, mac(i), uint16(i%3), 0) // ports 0,1,2 twice each
			}
			tb.AddStatic(n, mac(50), 1)
		}
		return tb
	}
	tests := []struct {
		net     uint16
		port    int
		want    int
		left1   int // entries left in network 1
		left2   int
		comment string
	}{
		{1, 1, 2, 5, 7, "one port of one network"},
		{1, -1, 6, 1, 7, "one network"},
		{0, 1, 4, 5, 5, "one port of all networks"},
		{0, -1, 12, 1, 1, "everything dynamic"},
		{1, 0, 2, 5, 7, "port 0 is a port"},
		{3, -1, 0, 7, 7, "empty network"},
		{4095, -1, 0, 7, 7, "bad network"},
		{0xffff, -1, 0, 7, 7, "reserved network"},
		{1, -2, 0, 7, 7, "bad port"},
		{1, 65536, 0, 7, 7, "port too large"},
	}
	for _, tt := range tests {
		t.Run(tt.comment, func(t *testing.T) {
			tb := populate(t)
			if got := tb.Flush(tt.net, tt.port); got != tt.want {
				t.Fatalf("Flush(%d, %d) = %d, want %d", tt.net, tt.port, got, tt.want)
			}
			if tb.Len(1) != tt.left1 || tb.Len(2) != tt.left2 || len(tb.List(1, 0)) != tt.left1 || len(tb.List(2, 0)) != tt.left2 {
				t.Fatalf("left %d/%d, want %d/%d", tb.Len(1), tb.Len(2), tt.left1, tt.left2)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	tb := newTable(t, Config{MaxAge: 10 * time.Second})
	a := mac(1)
	runSteps(t, tb, []step{
		{op: "delete", net: 1, mac: a},
		{op: "learn", net: 1, mac: a, port: 1, want: LearnNew},
		{op: "delete", net: 2, mac: a},
		{op: "delete", net: 0, mac: a},
		{op: "delete", net: 4095, mac: a},
		{op: "delete", net: 1, mac: a, wantOK: true},
		{op: "delete", net: 1, mac: a},
		{op: "lookup", net: 1, mac: a},
		{op: "learn", net: 1, mac: a, port: 1, want: LearnNew},
		{op: "delete", net: 1, mac: a, wantOK: true}, // expired but not aged: still there to delete
	})
	if tb.Len(1) != 0 || tb.Stats().Tombstones < 1 {
		t.Fatalf("Len %d, stats %+v", tb.Len(1), tb.Stats())
	}
}

func TestList(t *testing.T) {
	tb := newTable(t, Config{MaxAge: 100 * time.Second})
	type nm struct {
		n uint16
		m packet.MAC
	}
	var want []nm
	for _, n := range []uint16{3, 1, 4094, 2} {
		for _, m := range []packet.MAC{{0x02, 0xff, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 2}, {0x0a, 0, 0, 0, 0, 0}, {0x02, 0, 0, 0, 1, 0}} {
			want = append(want, nm{n, m})
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
	for i, e := range want {
		tb.Learn(e.n, e.m, uint16(i), int64(i)*sec)
	}
	tb.AddStatic(2, packet.MAC{0x02, 0, 0, 0, 0, 3}, 77)
	want = append(want, nm{2, packet.MAC{0x02, 0, 0, 0, 0, 3}})
	slices.SortFunc(want, func(a, b nm) int {
		if a.n != b.n {
			return int(a.n) - int(b.n)
		}
		return slices.Compare(a.m[:], b.m[:])
	})

	now := int64(len(want)) * sec
	got := tb.List(0, now)
	if len(got) != len(want) {
		t.Fatalf("List(0) has %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Network != want[i].n || got[i].MAC != want[i].m {
			t.Fatalf("List(0)[%d] = %d %s, want %d %s", i, got[i].Network, macString(got[i].MAC), want[i].n, macString(want[i].m))
		}
		if !got[i].Static && (got[i].Age <= 0 || got[i].Age > time.Duration(len(want))*time.Second) {
			t.Fatalf("entry %d: age %v", i, got[i].Age)
		}
	}
	if l := tb.List(2, now); len(l) != 5 || l[0].Network != 2 || l[4].Network != 2 {
		t.Fatalf("List(2) = %+v", l)
	}
	if tb.List(5, now) != nil || tb.List(4095, now) != nil {
		t.Fatal("List of empty/bad network")
	}
	// Expired entries are not listed (but count in Len until aged).
	if l := tb.List(0, 1000*sec); len(l) != 1 || !l[0].Static || tb.Len(0) != 17 {
		t.Fatalf("List much later = %+v, Len %d", l, tb.Len(0))
	}
}

func TestTombstoneReuse(t *testing.T) {
	tb := newTable(t, Config{Capacity: 4})
	for i := range 10000 {
		for j := range 4 {
			if r := tb.Learn(1, mac(i*4+j), 1, 0); r != LearnNew {
				t.Fatalf("round %d: learn %d: %v", i, j, r)
			}
		}
		if r := tb.Learn(1, mac(1<<20), 1, 0); r != LearnFull {
			t.Fatalf("round %d: learn beyond capacity: %v", i, r)
		}
		if n := tb.Flush(1, -1); n != 4 {
			t.Fatalf("round %d: flushed %d", i, n)
		}
	}
	if s := tb.Stats(); s.Entries != 0 || s.Tombstones > s.Slots {
		t.Fatalf("stats %+v", s)
	}
}

// TestProbeRunFull fills the 128 slots after a key's home with other keys:
// the key can't be placed, whatever the table's free space.
func TestProbeRunFull(t *testing.T) {
	tb := newTable(t, Config{Capacity: 4096})
	k := makeKey(1, mac(1))
	h := tb.home(k)
	for d := range maxProbeLimit {
		tb.slots[(h+uint64(d))&tb.mask].key.Store(makeKey(2, mac(1000+d)))
	}
	tb.raiseMaxDist(h, maxProbeLimit-1)
	if r := tb.Learn(1, mac(1), 1, 0); r != LearnFull {
		t.Fatalf("Learn into a full run = %v", r)
	}
	if err := tb.AddStatic(1, mac(1), 1); !errors.Is(err, ErrFull) {
		t.Fatalf("AddStatic into a full run = %v", err)
	}
	if _, ok := tb.Lookup(1, mac(1), 0); ok {
		t.Fatal("hit")
	}
	if s := tb.Stats(); s.FullDrops != 1 || s.Entries != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestLearnResultString(t *testing.T) {
	for r, want := range map[LearnResult]string{LearnRefreshed: "refreshed", LearnNew: "new", LearnMoved: "moved",
		LearnStatic: "static", LearnLimit: "limit", LearnFull: "full", LearnIgnored: "ignored", 200: "LearnResult(200)"} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	tb := newTable(t, Config{Capacity: 1024})
	a, b := mac(1), mac(2)
	tb.Learn(1, a, 1, 0)
	now := int64(0)
	for name, f := range map[string]func(){
		"Lookup hit":   func() { tb.Lookup(1, a, now) },
		"Lookup miss":  func() { tb.Lookup(1, b, now) },
		"Learn same":   func() { tb.Learn(1, a, 1, now) },
		"Learn second": func() { now += sec; tb.Learn(1, a, 1, now) },
		"Learn moved":  func() { tb.Learn(1, a, uint16(now), now); now++ },
		"Learn new":    func() { tb.Learn(1, b, 1, now); tb.Delete(1, b) },
		"Learn ignore": func() { tb.Learn(1, packet.MAC{1}, 1, now) },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
