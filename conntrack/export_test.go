package conntrack

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	vmA    = [4]byte{198, 18, 1, 10}
	vmB    = [4]byte{198, 18, 2, 20}
	otherC = [4]byte{198, 18, 3, 30}
)

func strictConfig() Config {
	cfg := DefaultConfig()
	cfg.Default.Loose = false
	return cfg
}

// TestExportImportMovesFlow is incident 4: a connection tracked strictly
// (no pickup allowed) on one host is exported, imported on another, and the
// very next packets of the flow validate there with the same window state.
func TestExportImportMovesFlow(t *testing.T) {
	now := int64(1e15)
	src, err := New(strictConfig())
	if err != nil {
		t.Fatal(err)
	}
	cseq, sseq := handshake(t, src, 0, vmA, vmB, 40000, 443, now)
	// Some data each way so the windows have moved.
	for _, f := range [][]byte{
		frameTCP4(vmA, vmB, 40000, 443, cseq, sseq, fA|fP, 502, nil, 1000),
		frameTCP4(vmB, vmA, 443, 40000, sseq, cseq+1000, fA|fP, 509, nil, 1400),
	} {
		if r := src.Process(f, 0, now); r.Verdict != VerdictEstablished {
			t.Fatalf("data: %s %s", r.Verdict, r.Why)
		}
	}
	cseq += 1000
	sseq += 1400
	// An unrelated flow that must not move.
	handshake(t, src, 0, otherC, vmB, 1234, 80, now)

	var buf bytes.Buffer
	vm := Key{Family: 4}
	copy(vm.Src[:4], vmA[:])
	n, err := src.Export(context.Background(), &buf, Filter{Addr: &vm}, now)
	if err != nil || n != 1 {
		t.Fatalf("export: n=%d err=%v", n, err)
	}
	entries, err := ReadEntries(bytes.NewReader(buf.Bytes()))
	if err != nil || len(entries) != 1 {
		t.Fatalf("read: %d entries, %v", len(entries), err)
	}
	want := entries[0]

	later := now + int64(3*time.Second)
	dst, err := New(strictConfig())
	if err != nil {
		t.Fatal(err)
	}
	if k, err := dst.Import(context.Background(), entries, later); err != nil || k != 1 {
		t.Fatalf("import: %d %v", k, err)
	}
	got, ok := dst.Lookup(want.Orig, later)
	if !ok {
		t.Fatal("imported entry not found")
	}
	if got.TCP != want.TCP || got.Last != want.Last || got.State != TCPEstablished || !got.Assured || !got.SeenReply {
		t.Fatalf("imported state differs:\n got %+v\nwant %+v", got, want)
	}
	if d := want.Timeout - got.Timeout; d < -20*time.Millisecond || d > 20*time.Millisecond { // one tick
		t.Fatalf("remaining timeout changed by %s across the move (want %s, got %s)", d, want.Timeout, got.Timeout)
	}
	// The next packets validate: strict mode would call them invalid
	// (no pickup) if the state had not moved.
	for i, f := range [][]byte{
		frameTCP4(vmA, vmB, 40000, 443, cseq, sseq, fA|fP, 502, nil, 100),
		frameTCP4(vmB, vmA, 443, 40000, sseq, cseq+100, fA, 509, nil, 0),
	} {
		if r := dst.Process(f, 0, later); r.Verdict != VerdictEstablished {
			t.Fatalf("packet %d after the move: %s %s", i, r.Verdict, r.Why)
		}
	}
	// And an out-of-window packet is still caught: the windows moved too.
	if r := dst.Process(frameTCP4(vmA, vmB, 40000, 443, cseq+10_000_000, sseq, fA, 502, nil, 10), 0, later); r.Why.Reason != ReasonTCPSeqOver {
		t.Fatalf("out-of-window after move: %s %s", r.Verdict, r.Why)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := Entry{
		State: TCPFinWait, SeenReply: true, Assured: true, Mark: 0xdeadbeef,
		Labels: [2]uint64{1 << 63, 42}, Timeout: 90 * time.Second, Age: 5 * time.Hour,
		TCP: [2]TCPWindow{
			{End: 1, MaxEnd: 2, MaxWin: 3, MaxAck: 4, Scale: 7, WScale: true, SackPerm: true, CloseIn: true, MaxAckOK: true},
			{End: 5, MaxEnd: 6, MaxWin: 7, MaxAck: 8, Scale: 14, Liberal: true, Unacked: true},
		},
		Last: TCPLast{Index: idxFIN, Dir: 1, Seq: 9, Ack: 10, End: 11, Win: 12, Scale: 3, Flags: 5, Retrans: 2},
	}
	e.Orig.SetAddrs(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"))
	e.Orig.Proto, e.Orig.SrcPort, e.Orig.DstPort, e.Orig.Zone = protoTCP, 1, 2, 7
	var got Entry
	if err := UnmarshalEntry(MarshalEntry(nil, &e), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
	}
}

func TestImportRejectsBadStreams(t *testing.T) {
	var good bytes.Buffer
	if _, err := WriteEntries(&good, []Entry{{Orig: Key{Family: 4, Proto: protoUDP}, Timeout: time.Second}}); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	badFamily := append([]byte(nil), g...)
	badFamily[10] = 9
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "header"},
		"magic":     {[]byte("NOTCTSW\x01\x00\x00"), "not a ctswitch conntrack export"},
		"version":   {append([]byte("CTSWCT\x00\x09"), g[8:]...), "unsupported format version 9"},
		"truncated": {g[:len(g)-5], "record 0"},
		"no end":    {g[:len(g)-2], "no end marker"},
		"short":     {[]byte("CTSWCT\x00\x01\x00\x05abcde\x00\x00"), "bad conntrack record"},
		"family":    {badFamily, "family 9"},
	} {
		_, err := ReadEntries(bytes.NewReader(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", name, err, tc.want)
		}
	}
	if _, err := ReadEntries(bytes.NewReader(badFamily)); !errors.Is(err, ErrBadRecord) {
		t.Errorf("bad family: %v is not ErrBadRecord", err)
	}
}

func TestImportRespectsLimits(t *testing.T) {
	now := int64(1e15)
	src, _ := New(DefaultConfig())
	for i := 0; i < 5; i++ {
		src.Process(frameUDP4(addr4(i), vmB, 5000, 53, 10), 3, now)
	}
	entries, err := src.List(context.Background(), Filter{}, now)
	if err != nil || len(entries) != 5 {
		t.Fatalf("list: %d %v", len(entries), err)
	}
	cfg := DefaultConfig()
	zc := DefaultZoneConfig()
	zc.Limit = 3
	cfg.Zones = map[uint16]ZoneConfig{3: zc}
	dst, _ := New(cfg)
	// Unreplied UDP entries are evictable, so the zone keeps the newest 3.
	n, err := dst.Import(context.Background(), entries, now)
	if err != nil || n != 5 || dst.ZoneCount(3) != 3 {
		t.Fatalf("import into limited zone: n=%d err=%v count=%d", n, err, dst.ZoneCount(3))
	}
	// Assured entries are not evictable: the rest are refused, with a reason.
	for i := range entries {
		entries[i].Assured, entries[i].SeenReply = true, true
	}
	dst2, _ := New(cfg)
	n, err = dst2.Import(context.Background(), entries, now)
	if n != 3 || err == nil || !strings.Contains(err.Error(), "zone_limit") {
		t.Fatalf("import assured into limited zone: n=%d err=%v", n, err)
	}
}

func TestFlushByFilter(t *testing.T) {
	now := int64(1e15)
	tbl, _ := New(DefaultConfig())
	handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	handshake(t, tbl, 1, vmA, vmB, 1001, 80, now)
	tbl.Process(frameUDP4(vmA, vmB, 5000, 53, 10), 1, now)
	ctx := context.Background()
	zone1 := uint16(1)
	tcp := Filter{Zone: &zone1, Proto: protoTCP}
	if n, err := tbl.Flush(ctx, tcp, now); err != nil || n != 1 {
		t.Fatalf("flush zone 1 tcp: %d %v", n, err)
	}
	all, _ := tbl.List(ctx, Filter{}, now)
	if len(all) != 2 || tbl.Len() != 2 {
		t.Fatalf("after flush: %d listed, Len %d", len(all), tbl.Len())
	}
	// By exact tuple, given in the reply direction.
	k := Key{Family: 4, Proto: protoTCP, SrcPort: 80, DstPort: 1000}
	copy(k.Src[:4], vmB[:])
	copy(k.Dst[:4], vmA[:])
	if n, _ := tbl.Flush(ctx, Filter{Tuple: &k}, now); n != 1 {
		t.Fatalf("flush by reply tuple removed %d", n)
	}
	if n, _ := tbl.Flush(ctx, Filter{}, now); n != 1 || tbl.Len() != 0 {
		t.Fatalf("flush all: %d, Len %d", n, tbl.Len())
	}
}

func TestCensus(t *testing.T) {
	now := int64(1e15)
	tbl, _ := New(DefaultConfig())
	handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	handshake(t, tbl, 1, vmA, vmB, 1001, 80, now)
	handshake(t, tbl, 1, vmA, vmB, 1002, 80, now)
	tbl.Process(frameUDP4(vmA, vmB, 5000, 53, 10), 1, now)
	got, err := tbl.Census(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[CensusKey]int{
		{Zone: 0, Proto: protoTCP, State: TCPEstablished}: 1,
		{Zone: 1, Proto: protoTCP, State: TCPEstablished}: 2,
		{Zone: 1, Proto: 17, State: Unreplied}:            1,
	}
	if len(got) != len(want) {
		t.Fatalf("census %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("census[%+v] = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

// Stats.InvalidReasons counts only invalid verdicts' reasons; an ignored
// packet's reason is in Reasons alone.
func TestInvalidReasons(t *testing.T) {
	now := int64(1e15)
	tbl, _ := New(DefaultConfig())
	cseq, sseq := handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	// Far out of the window: invalid.
	if r := tbl.Process(frameTCP4(vmA, vmB, 1000, 80, cseq+1<<30, sseq, 0x10, 65535, nil, 0), 0, now); r.Verdict != VerdictInvalid {
		t.Fatalf("out of window: %v %v", r.Verdict, r.Why)
	}
	// A SYN on the established connection: ignored (and remembered).
	if r := tbl.Process(frameTCP4(vmA, vmB, 1000, 80, 5, 0, 0x02, 65535, nil, 0), 0, now); r.Verdict != VerdictIgnored {
		t.Fatalf("SYN on established: %v %v", r.Verdict, r.Why)
	}
	st, err := tbl.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.InvalidReasons["tcp_seq_over_upper_bound"] != 1 || len(st.InvalidReasons) != 1 {
		t.Errorf("invalid reasons %v", st.InvalidReasons)
	}
	if st.Reasons["tcp_ignored"] != 1 || st.InvalidReasons["tcp_ignored"] != 0 {
		t.Errorf("reasons %v, invalid %v", st.Reasons, st.InvalidReasons)
	}
}
