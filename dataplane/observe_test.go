package dataplane

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/policy"
)

func stages(r *TraceRecord) string {
	var s []string
	for _, st := range r.Steps {
		s = append(s, st.Stage)
	}
	return strings.Join(s, ",")
}

func TestLiveTrace(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	now := Now()
	tr, err := sw.StartTrace(TraceConfig{Count: 2, Port: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	w.feed([][]byte{udp64(0, false)}, 0, now) // p0: not traced
	w.feed([][]byte{udp64(0, true)}, 1, now)  // p1: traced, reply to a known MAC
	w.feed([][]byte{udp64(0, true)[:10]}, 1, now)
	w.feed([][]byte{udp64(0, true)}, 1, now) // count exhausted
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	r, err := tr.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := stages(r); got != "rx,parse,owner,conntrack,mac,policy,output" {
		t.Errorf("stages %s", got)
	}
	if r.Outcome != "sent to p0" || r.Port != "p1" || r.Len != 60 {
		t.Errorf("record %+v", r)
	}
	if d := r.Steps[1].Detail; !strings.Contains(d, "udp 198.19.0.1:9 > 198.18.0.1:1024") || !strings.Contains(d, "14 bytes of L2 padding trimmed") {
		t.Errorf("parse step %q", d)
	}
	if d := r.Steps[3].Detail; !strings.HasPrefix(d, "established, state REPLIED, reply direction") {
		t.Errorf("conntrack step %q", d)
	}
	if d := r.Steps[4].Detail; !strings.Contains(d, "dst 02:00:00:00:00:02 on port p0") {
		t.Errorf("mac step %q", d)
	}
	r, err = tr.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != "dropped: runt" || stages(r) != "rx,drop" {
		t.Errorf("runt record %+v", r)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if r, err := tr.Next(short); err == nil {
		t.Errorf("a third record %+v from a trace of 2", r)
	}
}

func TestTraceShowsPolicyRuleAndWindows(t *testing.T) {
	rule, err := policy.ParseRule("deny name=no-ssh proto=tcp dport=22")
	if err != nil {
		t.Fatal(err)
	}
	sw := newIOLessSwitch(t, 2, 1, func(c *SwitchConfig) {
		c.Networks = []NetworkSpec{{Name: "lab", Policy: policy.Config{Rules: []policy.Rule{rule}}}}
	})
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	tr, _ := sw.StartTrace(TraceConfig{Count: 2})
	defer tr.Stop()
	a, b := "02:00:00:00:00:01", "02:00:00:00:00:02"
	now := Now()
	w.feed([][]byte{tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1000, 22, 1, 0, 0x02, nil)}, 0, now)
	w.feed([][]byte{tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1001, 80, 1, 0, 0x02, nil)}, 0, now)
	r, _ := tr.Next(t.Context())
	if r.Dropped != "policy_deny_rule" || !strings.Contains(r.Steps[5].Detail, `deny: rule 0 "no-ssh"`) {
		t.Errorf("denied: %+v", r)
	}
	r, _ = tr.Next(t.Context())
	if d := r.Steps[3].Detail; !strings.HasPrefix(d, "new, state SYN_SENT") || !strings.Contains(d, "orig end=2") {
		t.Errorf("conntrack step %q", d)
	}
	if r.Outcome != "flooded to 1 ports" && r.Outcome != "sent to p1" {
		t.Errorf("outcome %q", r.Outcome)
	}
	// Denied connections leave no entry, also when the SYN and its
	// retransmission share a batch.
	syn := tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1002, 22, 1, 0, 0x02, nil)
	w.feed([][]byte{syn, syn}, 0, now)
	es, _ := sw.ct.List(t.Context(), conntrack.Filter{}, now)
	if len(es) != 1 || es[0].Orig.DstPort != 80 {
		t.Errorf("entries after denied SYNs: %v", es)
	}
	if n := w.ctr.drops[DropPolicyRule].load(); n != 3 {
		t.Errorf("policy drops %d, want 3", n)
	}
}

func TestTap(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	isReply := func(f []byte) bool { return len(f) > 6 && f[5] == 2 } // dst MAC ...:02: the replies
	tap, err := sw.AddTap(TapConfig{Points: TapRx | TapTx | TapDrop, Match: isReply, Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	now := Now()
	w.feed([][]byte{udp64(0, false)}, 0, now)
	w.feed([][]byte{udp64(0, true)}, 1, now)
	w.feed([][]byte{udp64(0, true)}, 0, now) // hairpin drop
	for range 3 {
		w.feed([][]byte{udp64(0, true)}, 1, now) // the buffer holds 4
	}
	tap.Close()
	var got []string
	err = tap.Read(t.Context(), func(cf *CapturedFrame) error {
		got = append(got, cf.Port+"/"+cf.Point.String()+"/"+cf.Drop.Name())
		if cf.Len != len(cf.Data) || !bytes.Equal(cf.Data[:6], udp64(0, true)[:6]) {
			t.Errorf("captured %d/%d bytes % x", cf.Len, len(cf.Data), cf.Data[:6])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "p1/rx/none p0/tx/none p0/rx/none p0/drop/l2_hairpin"
	if strings.Join(got, " ") != want {
		t.Errorf("captured %v, want %s", got, want)
	}
	if tap.Lost() != 6 || tap.Captured() != 4 {
		t.Errorf("lost %d captured %d, want 6 and 4", tap.Lost(), tap.Captured())
	}
	if sw.obs.Load() != nil {
		t.Error("observers left after Close")
	}
}

func TestTapAllocs(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	now := Now()
	req, rep := [][]byte{udp64(7, false)}, [][]byte{udp64(7, true)}
	w.feed(req, 0, now)
	w.feed(rep, 1, now)
	tap, _ := sw.AddTap(TapConfig{Points: TapRx | TapTx, Slots: 1 << 14})
	defer tap.Close()
	if n := testing.AllocsPerRun(1000, func() { w.feed(req, 0, now) }); n != 0 {
		t.Errorf("%v allocations per captured packet", n)
	}
}

func TestTraceFrame(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, func(c *SwitchConfig) {
		c.Conntrack.Default = conntrack.DefaultZoneConfig()
		c.Conntrack.Default.Loose = false
	})
	w := sw.workers[0]
	w.sink = func(int, []byte) {}
	now := Now()
	a, b := "02:00:00:00:00:01", "02:00:00:00:00:02"
	syn := tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1000, 80, 100, 0, 0x02, nil)
	w.feed([][]byte{syn}, 0, now)
	w.feed([][]byte{tcpFrame(a, b, "198.18.0.2", "198.18.0.1", 80, 1000, 500, 101, 0x12, nil)}, 1, now)
	before, _ := sw.ct.List(t.Context(), conntrack.Filter{}, now)

	ack := tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1000, 80, 101, 501, 0x10, nil)
	r, err := sw.TraceFrame(t.Context(), "p0", ack)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Synthetic || r.Outcome != "sent to p1" || !strings.HasPrefix(r.Steps[3].Detail, "established, state ESTABLISHED") {
		t.Errorf("ack: %+v", r)
	}
	// The live entry did not move to ESTABLISHED, and nothing was sent.
	after, _ := sw.ct.List(t.Context(), conntrack.Filter{}, now)
	if len(before) != 1 || len(after) != 1 || after[0].State != before[0].State {
		t.Errorf("live table changed: %v -> %v", before, after)
	}
	// Out of window: invalid, with the numbers.
	bad := tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 1000, 80, 101+1<<30, 501, 0x10, nil)
	r, _ = sw.TraceFrame(t.Context(), "p0", bad)
	if r.Dropped != "ct_invalid" || !strings.Contains(r.Steps[3].Detail, "tcp_seq_over_upper_bound") {
		t.Errorf("out of window: %+v", r)
	}
	// Mid-stream without an entry, loose off: invalid.
	mid := tcpFrame(b, a, "198.18.0.1", "198.18.0.2", 2000, 80, 1, 1, 0x10, nil)
	r, _ = sw.TraceFrame(t.Context(), "p0", mid)
	if r.Dropped != "ct_invalid" {
		t.Errorf("mid-stream: %+v", r)
	}
	if _, err := sw.TraceFrame(t.Context(), "nope", ack); err == nil || !strings.Contains(err.Error(), `no port "nope"`) {
		t.Errorf("unknown port: %v", err)
	}
	if r, _ := sw.TraceFrame(t.Context(), "p0", ack[:10]); r.Dropped != "runt" {
		t.Errorf("runt: %+v", r)
	}
}

// A drop of a frame the switch made itself (no input port) reaches a
// drop tap of every port without a port index to report.
func TestTapDropWithoutPort(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	tap, _ := sw.AddTap(TapConfig{Points: TapDrop})
	w.obs = sw.obs.Load()
	w.dropped(DropTxRingFull, udp64(0, false), -1, nil)
	w.dropped(DropTxRingFull, udp64(0, false), 1, nil)
	tap.Close()
	n := 0
	if err := tap.Read(t.Context(), func(cf *CapturedFrame) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("read %d frames, %v; want the one of port p1", n, err)
	}
}
