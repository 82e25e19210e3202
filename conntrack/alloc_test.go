package conntrack

import (
	"testing"

	"github.com/ctswitch/ctswitch/packet"
)

// TestFastPathZeroAllocs holds the per-packet paths to zero allocations:
// classify, established tracking (single and batch), new connections,
// invalid verdicts and ICMP errors.
func TestFastPathZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Log("coverage instrumentation may allocate; checking anyway")
	}
	tbl, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	now := int64(1e15)
	cseq, sseq := handshake(t, tbl, 0, vmA, vmB, 1000, 80, now)
	ack := frameTCP4(vmA, vmB, 1000, 80, cseq, sseq, fA, 502, nil, 0)
	bad := frameTCP4(vmA, vmB, 1000, 80, cseq+50_000_000, sseq, fA, 502, nil, 10)
	udp := frameUDP4(vmA, vmB, 5000, 53, 10)
	unreach := icmpUnreach4(vmB, vmA, udp)
	var synSeq uint32
	newFailed := false
	mk := func(f []byte) *Packet {
		p := &Packet{Frame: f}
		if err := packet.Parse(f, &p.Meta); err != nil {
			t.Fatal(err)
		}
		tbl.Classify(p)
		return p
	}
	s := tbl.Shard(0)
	pAck, pBad := mk(ack), mk(bad)
	s.Track(mk(udp), now)
	pErr := mk(unreach)
	batch := []*Packet{pAck, pAck, pBad, pErr}
	out := make([]Result, len(batch))
	syn := frameTCP4(vmA, vmB, 2000, 80, 1, 0, fS, 64240, nil, 0)
	pSyn := mk(syn)
	for name, fn := range map[string]func(){
		"classify":    func() { tbl.Classify(pAck) },
		"established": func() { s.Track(pAck, now) },
		"invalid":     func() { s.Track(pBad, now) },
		"icmp error":  func() { s.Track(pErr, now) },
		"batch":       func() { s.TrackBatch(batch, now, out) },
		"new": func() {
			// A fresh SYN each run: flush the entry the last run created.
			synSeq++
			packet.TCP(syn[34:]).SetSeq(synSeq)
			packet.SetL4Checksum(syn, &pSyn.Meta)
			pSyn.classify()
			if r := s.Track(pSyn, now); r.Verdict != VerdictNew {
				newFailed = true
			}
			if i := s.lookup(&pSyn.ckey, pSyn.hash); i != 0 {
				s.remove(i)
			}
		},
	} {
		if n := testing.AllocsPerRun(200, fn); n != 0 {
			t.Errorf("%s: %.1f allocations per packet", name, n)
		}
	}
	if newFailed {
		t.Fatal("the SYN was not tracked as new: the allocation check measured the wrong path")
	}
	if r := s.Track(pBad, now); r.Verdict != VerdictInvalid {
		t.Fatalf("bad packet: %s", r.Verdict)
	}
	if r := s.Track(pErr, now); r.Verdict != VerdictRelated {
		t.Fatalf("icmp error: %s %s", r.Verdict, r.Why)
	}
}
