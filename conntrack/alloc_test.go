package conntrack

import (
	"encoding/binary"
	"math/rand/v2"
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

// TestClassifyFastMatchesFields: the word-building fast path gives exactly
// the keys, direction and hash of the field-by-field path, over random
// IPv4/IPv6 TCP/UDP packets including equal addresses and equal ports.
func TestClassifyFastMatchesFields(t *testing.T) {
	if !nativeLE {
		t.Log("big-endian machine: the fast path is not used")
		return
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20000; i++ {
		var f []byte
		a, b := addr4(int(rng.Uint32())), addr4(int(rng.Uint32()))
		if rng.IntN(4) == 0 {
			b = a
		}
		sp, dp := uint16(rng.IntN(4)), uint16(rng.IntN(4))
		switch rng.IntN(3) {
		case 0:
			f = frameTCP4(a, b, sp, dp, 1, 2, fA, 100, nil, 0)
		case 1:
			f = frameUDP4(a, b, sp, dp, 3)
		default:
			f = frameUDP6(rng, sp, dp)
		}
		var fast, slow Packet
		fast.Frame, slow.Frame = f, f
		fast.Zone, slow.Zone = uint16(i), uint16(i)
		if err := packet.Parse(f, &fast.Meta); err != nil {
			t.Fatal(err)
		}
		slow.Meta = fast.Meta
		if !fast.classifyFast() {
			t.Fatalf("fast path declined %x", f)
		}
		slow.classifyFields()
		if fast.key != slow.key || fast.ckey != slow.ckey || fast.rev != slow.rev || fast.hash != slow.hash || fast.kind != slow.kind {
			t.Fatalf("packet %d: fast %+v/%v/%x, fields %+v/%v/%x", i, fast.ckey, fast.rev, fast.hash, slow.ckey, slow.rev, slow.hash)
		}
	}
}

// frameUDP6 is a UDP/IPv6 frame between two random 2001:db8:: addresses
// that often share a prefix.
func frameUDP6(rng *rand.Rand, sp, dp uint16) []byte {
	f := make([]byte, 14+40+8)
	packet.Ethernet(f).SetEtherType(packet.EtherTypeIPv6)
	ip := packet.IPv6(f[14:])
	ip.SetVersionClassFlow(0, 0)
	ip.SetPayloadLength(8)
	ip.SetNextHeader(packet.ProtoUDP)
	ip.SetHopLimit(64)
	var s, d [16]byte
	s[0], s[1], s[2], s[3] = 0x20, 0x01, 0x0d, 0xb8
	d = s
	if rng.IntN(2) == 0 {
		s[8] = byte(rng.IntN(3))
	}
	s[15], d[15] = byte(rng.IntN(3)), byte(rng.IntN(3))
	ip.SetSrc(s)
	ip.SetDst(d)
	binary.BigEndian.PutUint16(f[54:], sp)
	binary.BigEndian.PutUint16(f[56:], dp)
	binary.BigEndian.PutUint16(f[58:], 8)
	fixChecksums(f)
	return f
}
