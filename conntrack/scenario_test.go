package conntrack_test

// Scenario tests: exact packet sequences with the verdict and state Linux
// nf_conntrack (net/netfilter/nf_conntrack_proto_tcp.c, 2025 mainline) gives
// every packet. Source of truth: shared/reference/conntrack.md §3, §5.1, §8
// and shared/incidents.md. Every expectation below is derived from those
// semantics, with the rule that decides it written next to the step.
//
// Packetdrill translations: the local stack's ISN is fixed to 1000000 (L),
// as in the reference. Packetdrill "script -> live" mapping (§5.1):
//   < non-SYN seq = remote ISN + script value; < SYN seq = script value;
//   < ack = L + script value; > seq = L + script value;
//   > non-SYN ack = remote ISN + script value (remote ISN = the first
//   inbound SYN/SYN-ACK's seq; 0 before any).
// ">" is outgoing from the local stack. The conntrack original direction is
// the direction of the first packet: client tests (connect) have > as
// original, server tests (listen) have < as original.

import (
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/ctswitch/ctswitch/conntrack"
)

const (
	vNew       = conntrack.VerdictNew
	vEst       = conntrack.VerdictEstablished
	vRel       = conntrack.VerdictRelated
	vIgn       = conntrack.VerdictIgnored
	vInv       = conntrack.VerdictInvalid
	vUntracked = conntrack.VerdictUntracked
	vPending   = conntrack.VerdictPending

	sNone = conntrack.StateNone
	sSS   = conntrack.TCPSynSent
	sSR   = conntrack.TCPSynRecv
	sES   = conntrack.TCPEstablished
	sFW   = conntrack.TCPFinWait
	sCW   = conntrack.TCPCloseWait
	sLA   = conntrack.TCPLastAck
	sTW   = conntrack.TCPTimeWait
	sCL   = conntrack.TCPClose
	sS2   = conntrack.TCPSynSent2

	sUnreplied = conntrack.Unreplied
	sReplied   = conntrack.Replied
	sAssured   = conntrack.Assured
)

// L is the local stack's ISN in the packetdrill translations.
const L = uint32(1000000)

// ---------------------------------------------------------------------------
// 1. The six Linux packetdrill conntrack tests
// ---------------------------------------------------------------------------

// conntrack_syn_challenge_ack.pkt (client). The peer answers our SYN with a
// challenge ACK of an old incarnation; we RST it and re-SYN 10 ms later.
// File asserts: UNREPLIED SYN_SENT after the re-SYN, ESTABLISHED ASSURED at
// the end, INPUT and OUTPUT INVALID counters 0.
func TestScenarioPacketdrillSynChallengeACK(t *testing.T) {
	f := tcpFlow(t, "198.18.192.1:34500", "198.18.192.2:8080")
	out, in := f.c2s, f.s2c
	tbl := newTable(t, nil)
	steps := []step{
		// 0.1 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 8>
		{at: ms(100), p: out("S", L, 0, 65535, 0, pdSYNOpts(1, 8)...), v: vNew, st: sSS},
		// 0.1 < . 145824453:145824453(0) ack 643160523 win 240 <...> (no remote ISN yet)
		// REPLY ack in SYN_SENT -> sIG ("might be a half-open connection");
		// Linux remembers ack in last_ack. The IGNOREd reply still sets SEEN_REPLY.
		{at: ms(100), p: in(".", 145824453, L+643160523, 240, 0, pdSYNACKOpts(1460, 1, 1, 0)...),
			v: vIgn, st: sSS, why: conntrack.ReasonTCPIgnoredPkt},
		// +0.01 > R 643160523:643160523(0) win 0
		// ORIGINAL rst, SYN_SENT -> CLOSE: seq == last_ack of the challenge ACK seen
		// in SYN_SENT => skip the window check ("Reset in response to a
		// challenge-ack we let through earlier"). SEEN_REPLY is already set (by
		// the ignored ACK), so the entry is not killed; ctinfo ESTABLISHED.
		{at: ms(110), p: out("R", L+643160523, 0, 0, 0), v: vEst, st: sCL,
			after: expectEntry(tbl, f, 0, ms(110), entryWant{state: sCL, seenReply: bptr(true)})},
		// +0.01 (check) +0.01 > S 0:0(0) ... : SYN in CLOSE after this direction's
		// own RST => nf_ct_kill + NF_REPEAT: a fresh UNREPLIED SYN_SENT entry.
		{at: ms(130), p: out("S", L, 0, 65535, 0, pdSYNOpts(1, 8)...), v: vNew, st: sSS, reopen: true,
			after: expectEntry(tbl, f, 0, ms(130), entryWant{state: sSS, seenReply: bptr(false), assured: bptr(false), timeout: 120 * time.Second})},
		// +0.1 < S. 0:0(0) ack 1 win 250 <mss 1460,nop,nop,TS val 1 ecr 1,nop,wscale 0>
		{at: ms(230), p: in("S.", 0, L+1, 250, 0, pdSYNACKOpts(1460, 1, 1, 0)...), v: vEst, st: sSR},
		// +0.01 > . 1:1(0) ack 1 win 256 <nop,nop,TS val 1 ecr 1>
		{at: ms(240), p: out(".", L+1, 1, 256, 0, pdTSOpts(1, 1)...), v: vEst, st: sES,
			after: expectEntry(tbl, f, 0, ms(240), entryWant{state: sES, assured: bptr(true), seenReply: bptr(true)})},
	}
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, true); n != 0 {
		t.Errorf("INPUT invalid count %d, want 0", n)
	}
	if n := countVerdicts(steps, res, vInv, false); n != 0 {
		t.Errorf("OUTPUT invalid count %d, want 0", n)
	}
}

// openClientConn is the common opening of conntrack_inexact_rst.pkt and
// conntrack_rst_invalid.pkt (client; remote ISN 1):
//
//	0.1 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 8>
//	+0.1 < S. 1:1(0) ack 1 win 65535 <mss 1460>
//	+0 > . 1:1(0) ack 1 win 65535
//	+0 < . 1:1001(1000) ack 1 win 65535   (x3, 1000 bytes each)
//	+0 > . 1:1(0) ack 1001/2001/3001 win 65535
//
// The SYN/ACK has no wscale, so both scales are 0 (RFC 1323: both SYNs must
// carry it).
func openClientConn(f *flow) []step {
	out, in := f.c2s, f.s2c
	return []step{
		{at: ms(100), p: out("S", L, 0, 65535, 0, pdSYNOpts(1, 8)...), v: vNew, st: sSS},
		{at: ms(200), p: in("S.", 1, L+1, 65535, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(200), p: out(".", L+1, 2, 65535, 0), v: vEst, st: sES},
		{at: ms(200), p: in(".", 2, L+1, 65535, 1000), v: vEst, st: sES},
		{at: ms(200), p: in(".", 1002, L+1, 65535, 1000), v: vEst, st: sES},
		{at: ms(200), p: in(".", 2002, L+1, 65535, 1000), v: vEst, st: sES},
		{at: ms(200), p: out(".", L+1, 1002, 65535, 0), v: vEst, st: sES},
		{at: ms(200), p: out(".", L+1, 2002, 65535, 0), v: vEst, st: sES},
		{at: ms(200), p: out(".", L+1, 3002, 65535, 0), v: vEst, st: sES},
	}
}

// conntrack_inexact_rst.pkt (client). File asserts: CLOSE_WAIT after the ACK
// of the peer's FIN, CLOSE after our RST, and the peer's spurious inexact RST
// is not invalid (RSTs while closing skip the sequence checks,
// tcp_can_early_drop). INPUT/OUTPUT INVALID 0.
func TestScenarioPacketdrillInexactRST(t *testing.T) {
	f := tcpFlow(t, "198.18.192.1:34500", "198.18.192.2:8080")
	out, in := f.c2s, f.s2c
	tbl := newTable(t, nil)
	steps := append(openClientConn(f),
		// +0 > P. 1:1001(1000) ack 3001 win 65535
		step{at: ms(200), p: out("P.", L+1, 3002, 65535, 1000), v: vEst, st: sES},
		// +0.1 < F. 3001:3001(0) ack 1001 win 65535 : REPLY fin ES -> FIN_WAIT
		step{at: ms(300), p: in("F.", 3002, L+1001, 65535, 0), v: vEst, st: sFW},
		// +0 > . 1001:1001(0) ack 3002 win 65535 : ORIGINAL ack FW -> CLOSE_WAIT
		step{at: ms(300), p: out(".", L+1001, 3003, 65535, 0), v: vEst, st: sCW},
		// +1 close() => > R. 1001:1001(0) ack 3002 win 65535 : CW -> CLOSE (early-drop
		// state: checks skipped)
		step{at: ms(1300), p: out("R.", L+1001, 3003, 65535, 0), v: vEst, st: sCL},
		// +0.1 < R 2001:2001(0) win 0 : inexact, but already CLOSE => not invalid
		step{at: ms(1400), p: in("R", 2002, 0, 0, 0), v: vEst, st: sCL},
	)
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, true) + countVerdicts(steps, res, vInv, false); n != 0 {
		t.Errorf("invalid count %d, want 0", n)
	}
	e := lookup(t, tbl, f, 0, ms(1400))
	checkEntry(t, "final", e, entryWant{state: sCL, timeout: 10 * time.Second})
	// The SYN offered wscale 8, the SYN/ACK none: no scaling either way
	// (RFC 7323, tcp_init_sender); only the client offered SACK.
	if e.TCP[0].Scale != 0 || e.TCP[1].Scale != 0 || !e.TCP[0].SackPerm || e.TCP[1].SackPerm {
		t.Errorf("final: scale %d/%d sack_perm %v/%v, want 0/0 true/false", e.TCP[0].Scale, e.TCP[1].Scale, e.TCP[0].SackPerm, e.TCP[1].SackPerm)
	}
}

// conntrack_rst_invalid.pkt (client). File asserts: ESTABLISHED after each
// bad RST, INPUT INVALID -c 4, OUTPUT 0, CLOSE at the end.
//
// The script lists "> P. 1:1001" after the three bad RSTs (the kernel sent it
// at write() time, before them); the verdicts are the same in either order,
// the script order is kept.
func TestScenarioPacketdrillRSTInvalid(t *testing.T) {
	f := tcpFlow(t, "198.18.192.1:34500", "198.18.192.2:8080")
	tbl := newTable(t, nil)
	steps := append(openClientConn(f), rstInvalidTail(tbl, f, 0, false)...)
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, true); n != 4 {
		t.Errorf("INPUT invalid count %d, want 4", n)
	}
	if n := countVerdicts(steps, res, vInv, false); n != 0 {
		t.Errorf("OUTPUT invalid count %d, want 0", n)
	}
	checkEntry(t, "final", lookup(t, tbl, f, 0, ms(300)), entryWant{state: sCL})
}

// rstInvalidTail is the rest of conntrack_rst_invalid.pkt. With
// ignoreInvalidRST (nf_conntrack_tcp_ignore_invalid_rst=1) the RSTs below the
// peer's highest ACK pass (state kept ESTABLISHED, as for an inexact
// in-window RST); the out-of-window one still fails the window check.
func rstInvalidTail(tbl *conntrack.Table, f *flow, zone uint16, ignoreInvalidRST bool) []step {
	out, in := f.c2s, f.s2c
	// Peer's (original direction's) td_maxack is 3002 after the opening.
	belowMaxAck := func(p pkt) step {
		if ignoreInvalidRST {
			return step{at: ms(200), p: p, v: vEst, st: sES}
		}
		// seq < td_maxack of the other direction => INVALID "invalid rst"
		return step{at: ms(200), p: p, v: vInv, st: sES, why: conntrack.ReasonTCPInvalidRST}
	}
	s := []step{
		// +0.0 < R 0:0(0) win 0 : seq 1 < maxack 3002
		belowMaxAck(in("R", 1, 0, 0, 0)),
		// +0.0 < R 1000000:1000000(0) win 0 : seq 1000001 is not below maxack;
		// not the exact seq => state kept, then tcp_in_window: seq > td_maxend
		// (68537) and the overshoot (931465) exceeds the receiver's td_maxwin
		// (65535) => INVALID "SEQ is over upper bound".
		{at: ms(200), p: in("R", 1000001, 0, 0, 0), v: vInv, st: sES, why: conntrack.ReasonTCPSeqOver},
		// +0.0 < R 42:42(0) win 0 : seq 43 < maxack 3002
		belowMaxAck(in("R", 43, 0, 0, 0)),
		// +0.0 > P. 1:1001(1000) ack 3001 win 65535
		{at: ms(200), p: out("P.", L+1, 3002, 65535, 1000), v: vEst, st: sES},
		// +0.1 (read) +0 < . 3001:3001(0) ack 1001 win 65535
		{at: ms(300), p: in(".", 3002, L+1001, 65535, 0), v: vEst, st: sES},
	}
	// +0.0 < R. 3000:3000(0) ack 1001 win 0 : seq 3001 < maxack 3002
	r := belowMaxAck(in("R.", 3001, L+1001, 0, 0))
	r.at = ms(300)
	s = append(s, r,
		// +0.0 < R. 3001:3001(0) ack 1001 win 0 : seq == maxack => CLOSE
		step{at: ms(300), p: in("R.", 3002, L+1001, 0, 0), v: vEst, st: sCL},
	)
	if ignoreInvalidRST {
		// An accepted inexact RST keeps ESTABLISHED but takes the CLOSE
		// timeout (10 s) until a challenge ACK refreshes it.
		s[0].after = expectEntry(tbl, f, zone, ms(200), entryWant{state: sES, timeout: 10 * time.Second})
	}
	return s
}

// conntrack_synack_old.pkt (client). A SYN/ACK of an old incarnation
// (ack far beyond our SYN) is INVALID and must not poison the reply
// direction; the SYN retransmit keeps UNREPLIED SYN_SENT (timer not renewed);
// the correct SYN/ACK (ISN 145758918, whose end is one above check II's
// lower bound) is accepted. File asserts: OUTPUT INVALID 0, INPUT INVALID 1.
func TestScenarioPacketdrillSynackOld(t *testing.T) {
	f := tcpFlow(t, "198.18.192.1:34500", "198.18.192.2:8080")
	out, in := f.c2s, f.s2c
	tbl := newTable(t, nil)
	steps := []step{
		// 0.1 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 8>
		{at: ms(100), p: out("S", L, 0, 65535, 0, pdSYNOpts(1, 8)...), v: vNew, st: sSS},
		// 0.1 < S. 145824453:145824453(0) ack 643160523 win 240 <mss 1440,nop,nop,TS val 1 ecr 1,nop,wscale 0>
		// sender (reply) initialised from it, then ack 644160523 > td_end 1000001
		// => INVALID "ACK is over upper bound".
		{at: ms(100), p: in("S.", 145824453, L+643160523, 240, 0, pdSYNACKOpts(1440, 1, 1, 0)...),
			v: vInv, st: sSS, why: conntrack.ReasonTCPAckOver},
		// 1.01 > S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1015 ecr 0,nop,wscale 8>
		// SYN retransmit while unreplied: accepted, timer NOT renewed
		// (120 s from 0.1 => 119.09 s left at 1.01).
		{at: ms(1010), p: out("S", L, 0, 65535, 0, pdSYNOpts(1015, 8)...), v: vNew, st: sSS,
			after: expectEntry(tbl, f, 0, ms(1010), entryWant{state: sSS, seenReply: bptr(false), timeout: 120*time.Second - ms(910)})},
		// +0 < S. 145758918:145758918(0) ack 1 win 250 <mss 1460,nop,nop,TS val 1 ecr 1,nop,wscale 0>
		// end 145758919 > td_end(145824454) - receiver td_maxwin(65535) - 1 => in window.
		{at: ms(1010), p: in("S.", 145758918, L+1, 250, 0, pdSYNACKOpts(1460, 1, 1, 0)...), v: vEst, st: sSR},
		// +0 > P. 1:2(1) ack 4294901762 win 256 <nop,nop,TS val 1067 ecr 1>
		// ack = 145824453 + 4294901762 (mod 2^32) = 145758919.
		{at: ms(1010), p: out("P.", L+1, 145758919, 256, 1, pdTSOpts(1067, 1)...), v: vEst, st: sES,
			after: expectEntry(tbl, f, 0, ms(1010), entryWant{state: sES, assured: bptr(true)})},
	}
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, false); n != 0 {
		t.Errorf("OUTPUT invalid count %d, want 0", n)
	}
	if n := countVerdicts(steps, res, vInv, true); n != 1 {
		t.Errorf("INPUT invalid count %d, want 1", n)
	}
}

// conntrack_synack_reuse.pkt (server; < is the original direction). A new
// SYN on an ESTABLISHED entry is ignored, the server's challenge ACK passes,
// the client's RST (seq == challenge ack) closes, and the next SYN reopens.
// File asserts: SYN_RECV at the end and no invalid SYN/ACK (no invalid at
// all here).
func TestScenarioPacketdrillSynackReuse(t *testing.T) {
	f := tcpFlow(t, "198.18.192.2:34500", "198.18.192.1:8080")
	in, out := f.c2s, f.s2c
	synOpts := func(tsval uint32, ws uint8) []layers.TCPOption {
		return []layers.TCPOption{optMSS(1000), optNOP(), optWScale(ws), optTS(tsval, 0), optNOP(), optNOP()}
	}
	tsnn := func(val, ecr uint32) []layers.TCPOption {
		return []layers.TCPOption{optTS(val, ecr), optNOP(), optNOP()}
	}
	tbl := newTable(t, nil)
	steps := []step{
		// +0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7,TS val 1 ecr 0,nop,nop>
		{at: 0, p: in("S", 0, 0, 32792, 0, synOpts(1, 7)...), v: vNew, st: sSS},
		// +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,TS val 100 ecr 1,nop,wscale 8> (window: the kernel's, 65535)
		{at: 0, p: out("S.", L, 1, 65535, 0, pdSYNACKOpts(1460, 100, 1, 8)...), v: vEst, st: sSR},
		// +.01 < . 1:1(0) ack 1 win 257 <TS val 1 ecr 100,nop,nop>
		{at: ms(10), p: in(".", 1, L+1, 257, 0, tsnn(1, 100)...), v: vEst, st: sES,
			after: expectEntry(tbl, f, 0, ms(10), entryWant{state: sES, assured: bptr(true)})},
		// +0 < P. 1:101(100) ack 1 win 257 <TS val 2 ecr 100,nop,nop>
		{at: ms(10), p: in("P.", 1, L+1, 257, 100, tsnn(2, 100)...), v: vEst, st: sES},
		// +.001 > . 1:1(0) ack 101 win 256 <nop,nop,TS val 110 ecr 2>
		{at: ms(11), p: out(".", L+1, 101, 256, 0, pdTSOpts(110, 2)...), v: vEst, st: sES},
		// 1.0 < S 2000:2000(0) win 32792 <mss 1000,nop,wscale 7,TS val 233 ecr 0,nop,nop>
		// ORIGINAL syn in ES => sIG: accepted, remembered (last_index SYN).
		{at: ms(1000), p: in("S", 2000, 0, 32792, 0, synOpts(233, 7)...), v: vIgn, st: sES, why: conntrack.ReasonTCPIgnoredPkt},
		// +0 > . 1:1(0) ack 101 win 256 <nop,nop,TS val 112 ecr 2> : the challenge ACK, in window.
		{at: ms(1000), p: out(".", L+1, 101, 256, 0, pdTSOpts(112, 2)...), v: vEst, st: sES},
		// +0 < R. 101:101(0) ack 1 win 257 : seq == reply td_maxack (101) => CLOSE.
		{at: ms(1000), p: in("R.", 101, L+1, 257, 0), v: vEst, st: sCL},
		// 1.5 < S 2000:2000(0) win 32792 <mss 1000,nop,wscale 0,TS val 233 ecr 0,nop,nop>
		// SYN in CLOSE after this direction's RST => kill + fresh entry.
		{at: ms(1500), p: in("S", 2000, 0, 32792, 0, synOpts(233, 0)...), v: vNew, st: sSS, reopen: true,
			after: expectEntry(tbl, f, 0, ms(1500), entryWant{state: sSS, seenReply: bptr(false), assured: bptr(false)})},
		// Not in the script: the listener's SYN/ACK to that SYN, which the
		// file's final "conntrack -L | grep SYN_RECV" relies on.
		{at: ms(1500), p: out("S.", 3000000, 2001, 65535, 0, pdSYNACKOpts(1460, 120, 233, 8)...), v: vEst, st: sSR},
	}
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, true) + countVerdicts(steps, res, vInv, false); n != 0 {
		t.Errorf("invalid count %d, want 0", n)
	}
	checkEntry(t, "final", lookup(t, tbl, f, 0, ms(1500)), entryWant{state: sSR})
}

// conntrack_ack_loss_stall.pkt (server; < is original). 46 full segments,
// each ACKed, then a retransmission of the first (already ACKed, more than
// one receiver window back): "SEQ is under the lower bound" must be IGNORE,
// not INVALID, or the final dup ACK is never triggered.
func TestScenarioPacketdrillAckLossStall(t *testing.T) {
	f := tcpFlow(t, "198.18.192.2:34375", "198.18.192.1:8080")
	in, out := f.c2s, f.s2c
	tbl := newTable(t, nil)
	steps := []step{
		// +0 < S 0:0(0) win 32792 <mss 1000>
		{at: 0, p: in("S", 0, 0, 32792, 0, optMSS(1000)), v: vNew, st: sSS},
		// +0 > S. 0:0(0) ack 1 <mss 1460> (kernel window 65535)
		{at: 0, p: out("S.", L, 1, 65535, 0, optMSS(1460)), v: vEst, st: sSR},
		// +.01 < . 1:1(0) ack 1 win 65535
		{at: ms(10), p: in(".", 1, L+1, 65535, 0), v: vEst, st: sES},
	}
	now := ms(10)
	for n := uint32(1); n <= 65701; n += 1460 {
		now += ms(0.1)
		steps = append(steps, step{at: now, p: in("P.", n, L+1, 257, 1460), v: vEst, st: sES})
		if n == 23361 {
			now = ms(55) // "0.055 > . 1:1(0) ack 24821 win 65535"
		}
		steps = append(steps, step{at: now, p: out(".", L+1, n+1460, 65535, 0), v: vEst, st: sES})
	}
	if got := steps[len(steps)-1].p.desc; len(steps) != 3+2*46 {
		t.Fatalf("built %d steps (last %s), want %d", len(steps), got, 3+2*46)
	}
	now += ms(0.1)
	steps = append(steps,
		// +0.0001 < P. 1:1461(1460) ack 1 win 257 : end 1461 <= td_end(67161) -
		// receiver td_maxwin(65535) - 1 = 1625 => IGNORE.
		step{at: now, p: in("P.", 1, L+1, 257, 1460), v: vIgn, st: sES, why: conntrack.ReasonTCPSeqUnder},
		// +.0 > . 1:1(0) ack 67161 win 65535 : the dup ACK.
		step{at: now, p: out(".", L+1, 67161, 65535, 0), v: vEst, st: sES},
	)
	res := run(t, tbl, 0, steps)
	if n := countVerdicts(steps, res, vInv, true); n != 0 {
		t.Errorf("INPUT invalid count %d, want 0", n)
	}
}

// ---------------------------------------------------------------------------
// 2. Incident 1: mid-stream pickup after a VM live migration
// ---------------------------------------------------------------------------

// After migration the tracker first sees the client's retransmission at
// snd_una X, then the server's ACK for X+100000 (data it received before the
// move, far more than 64 KB past anything the tracker saw), then the stream
// continues. wscale 7 was negotiated before the capture: raw windows are 502.
//
// Linux, loose=1: the first packet creates an ESTABLISHED entry with both
// directions BE_LIBERAL+SACK_PERM, so no window check can fail; the timeout
// is capped at tcp_unack (300 s) while SEEN_REPLY is unset, which tcp_packet
// tests before the core sets it for the current packet (so the first reply
// is capped too). The next packet sets ASSURED. A liberal accept of a packet
// that failed a check returns before the window update (and before the
// retransmission bookkeeping that records last_win), so last_win stays 0
// from tcp_new and tcp_packet picks the tcp_retrans timeout (300 s): "last
// window 0 => RETRANS" applies for as long as every packet fails a check.
func TestScenarioIncidentMigrationPickup(t *testing.T) {
	const X, Y = uint32(557324635), uint32(2000000000)
	f := tcpFlow(t, "198.18.20.1:45678", "198.18.20.2:5201")
	ts := func(v uint32) []layers.TCPOption { return pdTSOpts(v, v-100) }

	t.Run("loose", func(t *testing.T) {
		tbl := newTable(t, nil)
		unack, retrans := 300*time.Second, 300*time.Second
		steps := []step{
			{at: 0, p: f.c2s("P.", X, Y, 502, 1448, ts(5000)...), v: vNew, st: sES,
				after: func(t *testing.T, _ conntrack.Result) {
					t.Helper()
					e := lookup(t, tbl, f, 0, 0)
					checkEntry(t, "after pickup", e, entryWant{state: sES, seenReply: bptr(false), assured: bptr(false), liberal: bptr(true), timeout: unack})
					for d := 0; d < 2; d++ {
						if !e.TCP[d].Liberal || !e.TCP[d].SackPerm {
							t.Errorf("after pickup: TCP[%d] liberal %v sack_perm %v, want both true", d, e.TCP[d].Liberal, e.TCP[d].SackPerm)
						}
					}
				}},
			// The server ACKs X+100000: AckOver for a strict tracker (the OVS
			// stall); liberal here.
			{at: ms(1), p: f.s2c(".", Y, X+100000, 502, 0, ts(9000)...), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, ms(1), entryWant{state: sES, seenReply: bptr(true), assured: bptr(false), timeout: unack})},
			{at: ms(2), p: f.c2s("P.", X+100000, Y, 502, 1448, ts(5001)...), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, ms(2), entryWant{state: sES, assured: bptr(true), timeout: retrans})},
			{at: ms(3), p: f.s2c(".", Y, X+101448, 502, 0, ts(9001)...), v: vEst, st: sES},
			{at: ms(4), p: f.s2c("P.", Y, X+101448, 502, 100, ts(9002)...), v: vEst, st: sES},
			{at: ms(5), p: f.c2s(".", X+101448, Y+100, 502, 0, ts(5002)...), v: vEst, st: sES},
		}
		seq := X + 101448
		for i := 0; i < 8; i++ {
			d := ms(6 + 2*float64(i))
			steps = append(steps,
				step{at: d, p: f.c2s("P.", seq, Y+100, 502, 1448, ts(5003+uint32(i))...), v: vEst, st: sES},
				step{at: d + ms(1), p: f.s2c(".", Y+100, seq+1448, 502, 0, ts(9003+uint32(i))...), v: vEst, st: sES})
			seq += 1448
		}
		run(t, tbl, 0, steps)
		checkEntry(t, "end", lookup(t, tbl, f, 0, ms(30)), entryWant{state: sES, assured: bptr(true), seenReply: bptr(true), liberal: bptr(true), timeout: retrans - ms(30-21)})
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() = %d, want 1", n)
		}
	})

	t.Run("loose_off", func(t *testing.T) {
		tbl := newTable(t, func(c *conntrack.Config) {
			z := conntrack.DefaultZoneConfig()
			z.Loose = false
			c.Zones = map[uint16]conntrack.ZoneConfig{7: z}
		})
		run(t, tbl, 7, []step{
			{at: 0, p: f.c2s("P.", X, Y, 502, 1448, ts(5000)...), v: vInv, st: sNone, why: conntrack.ReasonTCPNoPickup},
			{at: ms(1), p: f.s2c(".", Y, X+100000, 502, 0, ts(9000)...), v: vInv, st: sNone, why: conntrack.ReasonTCPNoPickup},
		})
		if n := tbl.Len(); n != 0 {
			t.Errorf("Len() = %d, want 0 (nothing created with loose off)", n)
		}
		wantGone(t, tbl, f, 7, ms(1))
		// The default zone still picks up.
		run(t, tbl, 0, []step{{at: ms(2), p: f.c2s("P.", X, Y, 502, 1448, ts(5000)...), v: vNew, st: sES}})
	})
}

// ---------------------------------------------------------------------------
// 3. Incident 2: short frames with non-zero Ethernet padding
// ---------------------------------------------------------------------------

// A connection without TCP options after the SYNs: every ACK and FIN/ACK is
// a 54-byte frame padded to 60 with non-zero bytes. Checksums are computed
// over the IP packet only, so all must pass and the close must walk
// FIN_WAIT -> CLOSE_WAIT -> LAST_ACK -> TIME_WAIT.
func TestScenarioIncidentPaddedShortFrames(t *testing.T) {
	f := tcpFlow(t, "198.18.21.1:51000", "198.18.21.2:80")
	pad := func(p pkt) pkt { return padded(p, 0xa5) }
	opening := func() []step {
		return []step{
			{at: 0, p: pad(f.c2s("S", 1000, 0, 64240, 0, optMSS(1460))), v: vNew, st: sSS},
			{at: ms(1), p: pad(f.s2c("S.", 5000, 1001, 65160, 0, optMSS(1460))), v: vEst, st: sSR},
			{at: ms(2), p: pad(f.c2s(".", 1001, 5001, 64240, 0)), v: vEst, st: sES},
			{at: ms(3), p: f.c2s("P.", 1001, 5001, 64240, 100), v: vEst, st: sES},
			{at: ms(4), p: pad(f.s2c(".", 5001, 1101, 65160, 0)), v: vEst, st: sES},
			{at: ms(5), p: f.s2c("P.", 5001, 1101, 65160, 200), v: vEst, st: sES},
		}
	}
	for _, s := range opening()[:3] {
		if len(s.p.frame) != 60 {
			t.Fatalf("test bug: %s is %d bytes, want a 60-byte padded frame", s.p.desc, len(s.p.frame))
		}
	}
	finAck := pad(f.s2c("F.", 5201, 1101, 65160, 0))
	closing := []step{
		// server closes first (Content-Length response done)
		{at: ms(6), p: finAck, v: vEst, st: sFW},
		{at: ms(7), p: pad(f.c2s(".", 1101, 5202, 64240, 0)), v: vEst, st: sCW},
		{at: ms(8), p: pad(f.c2s("F.", 1101, 5202, 64240, 0)), v: vEst, st: sLA},
		{at: ms(9), p: pad(f.s2c(".", 5202, 1102, 65160, 0)), v: vEst, st: sTW},
	}

	t.Run("padded", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, append(opening(), closing...))
		checkEntry(t, "end", lookup(t, tbl, f, 0, ms(9)), entryWant{state: sTW, assured: bptr(true), timeout: 120 * time.Second})
	})

	// Control: the same FIN/ACK with a genuinely wrong TCP checksum.
	t.Run("bad_checksum", func(t *testing.T) {
		tbl := newTable(t, nil)
		steps := append(opening(),
			// Invalid before any state processing; the entry is untouched.
			step{at: ms(6), p: badL4Checksum(finAck), v: vInv, st: stateAny, why: conntrack.ReasonBadChecksum,
				after: expectEntry(tbl, f, 0, ms(6), entryWant{state: sES})},
			// The retransmitted, intact FIN/ACK goes through.
			step{at: ms(206), p: finAck, v: vEst, st: sFW},
		)
		run(t, tbl, 0, steps)
	})

	t.Run("checksum_off", func(t *testing.T) {
		tbl := newTable(t, func(c *conntrack.Config) { c.Default.Checksum = false })
		steps := append(opening(), step{at: ms(6), p: badL4Checksum(finAck), v: vEst, st: sFW})
		run(t, tbl, 0, steps)
	})
}

// ---------------------------------------------------------------------------
// 4. wscale 7: the right window edge (tcp_in_window check I and the 2022
//    "bytes more than expected" IGNORE work-around)
// ---------------------------------------------------------------------------

// Handshake with wscale 7 both ways, then window 502 (= 64256 bytes) both
// ways. Window state after it (Linux):
//
//	orig:  td_end 1001, td_maxend 1001+65160 = 66161 (the SYN/ACK's window is
//	       never scaled), td_maxwin max(64240, 502<<7) = 64256, td_maxack 5001
//	reply: td_end 5001, td_maxend 5001+64256 = 69257, td_maxwin 65160,
//	       td_maxack 1001
//
// A client segment passes check I iff seq <= 66161. Beyond it, Linux
// IGNOREs ("%u bytes more than expected", td_end advanced) when the
// overshoot end - td_maxend + 1 <= receiver td_maxwin (65160) and the ACK
// is sane; otherwise INVALID "SEQ is over upper bound".
func TestScenarioWScale7RightEdge(t *testing.T) {
	f := tcpFlow(t, "198.18.30.1:50000", "198.18.30.2:443")
	ts := func(v uint32) []layers.TCPOption { return pdTSOpts(v, 7) }
	handshake := func(t *testing.T) *conntrack.Table {
		t.Helper()
		tbl := newTable(t, nil)
		run(t, tbl, 0, []step{
			{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460), optSACKPerm(), optTS(100, 0), optNOP(), optWScale(7)), v: vNew, st: sSS},
			{at: ms(1), p: f.s2c("S.", 5000, 1001, 65160, 0, optMSS(1460), optSACKPerm(), optTS(200, 100), optNOP(), optWScale(7)), v: vEst, st: sSR},
			{at: ms(2), p: f.c2s(".", 1001, 5001, 502, 0, ts(101)...), v: vEst, st: sES},
			{at: ms(3), p: f.s2c(".", 5001, 1001, 502, 0, ts(201)...), v: vEst, st: sES},
		})
		return tbl
	}
	win := func(t *testing.T, what string, got conntrack.TCPWindow, want conntrack.TCPWindow) {
		t.Helper()
		if got.End != want.End || got.MaxEnd != want.MaxEnd || got.MaxWin != want.MaxWin ||
			got.MaxAck != want.MaxAck || got.Scale != want.Scale || got.SackPerm != want.SackPerm {
			t.Errorf("%s: window %+v, want end %d max_end %d max_win %d max_ack %d scale %d sack_perm %v",
				what, got, want.End, want.MaxEnd, want.MaxWin, want.MaxAck, want.Scale, want.SackPerm)
		}
	}

	t.Run("window_state", func(t *testing.T) {
		tbl := handshake(t)
		e := lookup(t, tbl, f, 0, ms(3))
		win(t, "TCP[0]", e.TCP[0], conntrack.TCPWindow{End: 1001, MaxEnd: 66161, MaxWin: 64256, MaxAck: 5001, Scale: 7, SackPerm: true})
		win(t, "TCP[1]", e.TCP[1], conntrack.TCPWindow{End: 5001, MaxEnd: 69257, MaxWin: 65160, MaxAck: 1001, Scale: 7, SackPerm: true})
	})

	t.Run("seq_at_maxend", func(t *testing.T) {
		tbl := handshake(t)
		run(t, tbl, 0, []step{{at: ms(4), p: f.c2s("P.", 66161, 5001, 502, 100, ts(102)...), v: vEst, st: sES}})
		e := lookup(t, tbl, f, 0, ms(4))
		// td_end advances; the receiver's td_maxwin grows by end - td_maxend.
		if e.TCP[0].End != 66261 || e.TCP[1].MaxWin != 65260 {
			t.Errorf("after edge segment: TCP[0].End %d (want 66261), TCP[1].MaxWin %d (want 65260)", e.TCP[0].End, e.TCP[1].MaxWin)
		}
	})

	t.Run("one_byte_beyond_overshoot_ignored", func(t *testing.T) {
		tbl := handshake(t)
		run(t, tbl, 0, []step{
			// overshoot = 66262 - 66161 + 1 = 102 <= 65160 => IGNORE, td_end := 66262
			{at: ms(4), p: f.c2s("P.", 66162, 5001, 502, 100, ts(102)...), v: vIgn, st: sES, why: conntrack.ReasonTCPOvershoot},
			// ...so the server's ACK of it is not "ACK over upper bound".
			{at: ms(5), p: f.s2c(".", 5001, 66262, 502, 0, ts(202)...), v: vEst, st: sES},
		})
	})

	t.Run("one_byte_beyond_overshoot_limit", func(t *testing.T) {
		tbl := handshake(t)
		run(t, tbl, 0, []step{
			// end 131320: overshoot exactly 65160 = receiver td_maxwin => IGNORE
			{at: ms(4), p: f.c2s("P.", 66162, 5001, 502, 65158, ts(102)...), v: vIgn, st: sES, why: conntrack.ReasonTCPOvershoot},
		})
		tbl = handshake(t)
		run(t, tbl, 0, []step{
			// end 131321: overshoot 65161 > 65160 => INVALID
			{at: ms(4), p: f.c2s("P.", 66162, 5001, 502, 65159, ts(102)...), v: vInv, st: sES, why: conntrack.ReasonTCPSeqOver},
		})
	})

	t.Run("far_beyond", func(t *testing.T) {
		tbl := handshake(t)
		run(t, tbl, 0, []step{
			{at: ms(4), p: f.c2s("P.", 66161+70000, 5001, 502, 1448, ts(102)...), v: vInv, st: sES, why: conntrack.ReasonTCPSeqOver},
			// state untouched: the edge segment still passes
			{at: ms(5), p: f.c2s("P.", 66161, 5001, 502, 1, ts(103)...), v: vEst, st: sES},
		})
	})
}

// ---------------------------------------------------------------------------
// 5. ICMP / ICMPv6 errors related to UDP and TCP flows; ND/MLD untracked
// ---------------------------------------------------------------------------

// Linux nf_conntrack_inet_error: the quoted packet's tuple is inverted and
// looked up; the error is RELATED (RELATED_REPLY if it matched the reply
// tuple) iff the outer destination equals the destination of the matched
// direction's tuple (= the quoted packet's source). No match or a different
// outer destination => INVALID. The source of the error does not matter (a
// router on the path). Errors do not change the connection's state and do
// not set SEEN_REPLY.
func TestScenarioICMPErrors(t *testing.T) {
	reply := func(p pkt) pkt { p.reply = true; return p }

	t.Run("udp_port_unreachable", func(t *testing.T) {
		f := udpFlow(t, "198.18.40.1:5353", "198.18.40.2:53")
		tbl := newTable(t, nil)
		q := f.udpC2S(40)
		steps := []step{
			{at: 0, p: q, v: vNew, st: sUnreplied},
			// the server answers with port unreachable: reply direction
			{at: ms(1), p: reply(icmpErr(t, "198.18.40.2", "198.18.40.1", 3, 3, 0, q)), v: vRel, st: sUnreplied,
				after: expectEntry(tbl, f, 0, ms(1), entryWant{state: sUnreplied, seenReply: bptr(false)})},
			// outer destination 198.18.40.77 is not the quoted packet's source
			{at: ms(2), p: icmpErr(t, "198.18.40.2", "198.18.40.77", 3, 3, 0, q), v: vInv, st: sNone, why: conntrack.ReasonICMPAddrMismatch},
			// quoted packet of no known connection (source port 5354)
			{at: ms(3), p: icmpErr(t, "198.18.40.2", "198.18.40.1", 3, 3, 0, udpFlow(t, "198.18.40.1:5354", "198.18.40.2:53").udpC2S(40)),
				v: vInv, st: sNone, why: conntrack.ReasonICMPNoConn},
			// a reply, then an error travelling in the original direction
			// (the client's port unreachable about the server's datagram)
			{at: ms(4), p: f.udpS2C(80), v: vEst, st: sReplied},
			{at: ms(5), p: icmpErr(t, "198.18.40.1", "198.18.40.2", 3, 3, 0, f.udpS2C(80)), v: vRel, st: sReplied},
		}
		run(t, tbl, 0, steps)
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() = %d, want 1 (errors create nothing)", n)
		}
	})

	t.Run("tcp_frag_needed_from_router", func(t *testing.T) {
		f := tcpFlow(t, "198.18.41.1:40000", "198.18.42.2:443")
		tbl := newTable(t, nil)
		data := f.c2s("P.", 1001, 5001, 64240, 1400)
		steps := []step{
			{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
			{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
			{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
			{at: ms(3), p: data, v: vEst, st: sES},
			// midpoint router 198.19.41.1 -> client: type 3 code 4, MTU 1400,
			// quoting the first 548 bytes of the 1440-byte segment
			{at: ms(4), p: reply(icmpErr(t, "198.19.41.1", "198.18.41.1", 3, 4, 1400, data)), v: vRel, st: sES},
			{at: ms(5), p: icmpErr(t, "198.19.41.1", "198.18.41.99", 3, 4, 1400, data), v: vInv, st: sNone, why: conntrack.ReasonICMPAddrMismatch},
			{at: ms(6), p: icmpErr(t, "198.19.41.1", "198.18.41.1", 3, 4, 1400, tcpFlow(t, "198.18.41.1:40001", "198.18.42.2:443").c2s("P.", 1001, 5001, 64240, 1400)),
				v: vInv, st: sNone, why: conntrack.ReasonICMPNoConn},
			// the retransmission at the new size still belongs to the conn
			{at: ms(7), p: f.c2s("P.", 1001, 5001, 64240, 1360), v: vEst, st: sES},
		}
		run(t, tbl, 0, steps)
	})

	t.Run("icmp_echo_and_host_unreachable", func(t *testing.T) {
		tbl := newTable(t, nil)
		req := icmpEcho(t, "198.18.43.1", "198.18.43.2", 77, 1, false)
		req2 := icmpEcho(t, "198.18.43.1", "198.18.43.3", 78, 1, false)
		run(t, tbl, 0, []step{
			{at: 0, p: req, v: vNew, st: sUnreplied},
			{at: ms(1), p: icmpEcho(t, "198.18.43.2", "198.18.43.1", 77, 1, true), v: vEst, st: sReplied},
			{at: ms(2), p: req2, v: vNew, st: sUnreplied},
			// router: host unreachable about the second ping
			{at: ms(3), p: reply(icmpErr(t, "198.19.43.1", "198.18.43.1", 3, 1, 0, req2)), v: vRel, st: sUnreplied},
			// an echo reply nobody asked for cannot open a connection
			// (icmp valid_new[] has only the request types)
			{at: ms(4), p: icmpEcho(t, "198.18.43.9", "198.18.43.1", 99, 1, true), v: vInv, st: sNone, why: conntrack.ReasonICMPBadType},
		})
		if n := tbl.Len(); n != 2 {
			t.Errorf("Len() = %d, want 2", n)
		}
	})

	t.Run("icmpv6_packet_too_big", func(t *testing.T) {
		f := tcpFlow(t, "[2001:db8:1::1]:40000", "[2001:db8:2::2]:443")
		tbl := newTable(t, nil)
		data := f.c2s("P.", 1001, 5001, 64240, 1400)
		steps := []step{
			{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1440)), v: vNew, st: sSS},
			{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1440)), v: vEst, st: sSR},
			{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
			{at: ms(3), p: data, v: vEst, st: sES},
			{at: ms(4), p: reply(icmp6Err(t, "2001:db8:1::fe", "2001:db8:1::1", 2, 0, 1280, data)), v: vRel, st: sES},
			{at: ms(5), p: icmp6Err(t, "2001:db8:1::fe", "2001:db8:1::99", 2, 0, 1280, data), v: vInv, st: sNone, why: conntrack.ReasonICMPAddrMismatch},
			{at: ms(6), p: icmp6Err(t, "2001:db8:1::fe", "2001:db8:1::1", 2, 0, 1280, tcpFlow(t, "[2001:db8:1::1]:40001", "[2001:db8:2::2]:443").c2s("P.", 1001, 5001, 64240, 1400)),
				v: vInv, st: sNone, why: conntrack.ReasonICMPNoConn},
		}
		run(t, tbl, 0, steps)
	})

	t.Run("icmpv6_nd_mld_untracked", func(t *testing.T) {
		tbl := newTable(t, nil)
		target := func(a string) []byte { x := netipMust(a); return x[:] }
		lla := []byte{1, 1, 0x02, 0, 0, 0, 0, 0x01} // source link-layer address option
		ns := append(append([]byte{0, 0, 0, 0}, target("fe80::2")...), lla...)
		na := append(append([]byte{0x60, 0, 0, 0}, target("fe80::2")...), 2, 1, 0x02, 0, 0, 0, 0, 0x02)
		rs := append([]byte{0, 0, 0, 0}, lla...)
		ra := []byte{64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
		mldQuery := append([]byte{0x27, 0x10, 0, 0}, make([]byte, 16)...)
		mldReport := append([]byte{0, 0, 0, 0}, target("ff02::1:ff00:2")...)
		mld2Report := append([]byte{0, 0, 0, 1, 4, 0, 0, 0}, target("ff02::1:ff00:2")...)
		steps := []step{
			{at: 0, p: icmp6Msg(t, "fe80::1", "ff02::1:ff00:2", 135, ns, 255, false, "neighbor solicitation"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::2", "fe80::1", 136, na, 255, false, "neighbor advertisement"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::1", "ff02::2", 133, rs, 255, false, "router solicitation"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::fe", "ff02::1", 134, ra, 255, false, "router advertisement"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::fe", "ff02::1", 130, mldQuery, 1, true, "MLD query"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::1", "ff02::1:ff00:2", 131, mldReport, 1, true, "MLDv1 report"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::1", "ff02::2", 132, mldReport, 1, true, "MLDv1 done"), v: vUntracked, st: sNone},
			{at: 0, p: icmp6Msg(t, "fe80::1", "ff02::16", 143, mld2Report, 1, true, "MLDv2 report"), v: vUntracked, st: sNone},
		}
		run(t, tbl, 0, steps)
		if n := tbl.Len(); n != 0 {
			t.Errorf("Len() = %d, want 0 (ND/MLD is untracked)", n)
		}
	})
}

// ---------------------------------------------------------------------------
// 6. IP fragments: reassembly before tracking
// ---------------------------------------------------------------------------

// A 3000-byte UDP datagram (8-byte header + 2992) in three fragments. The
// held fragments are pending; the one that completes the datagram carries
// its verdict (new for the first datagram of the flow).
func TestScenarioFragments(t *testing.T) {
	cfg := func(c *conntrack.Config) { c.Defrag.MinFragSizeV4, c.Defrag.MinFragSizeV6 = 400, 400 }
	pend := func(p pkt) step { return step{p: p, v: vPending, st: sNone, why: conntrack.ReasonFragPending} }

	for _, fam := range []struct {
		name     string
		cli, srv string
		cuts     [][2]int
	}{
		{"ipv4", "198.18.50.1:5000", "198.18.50.2:6000", [][2]int{{0, 1200}, {1200, 2400}, {2400, 3000}}},
		{"ipv6", "[2001:db8:50::1]:5000", "[2001:db8:50::2]:6000", [][2]int{{0, 1232}, {1232, 2464}, {2464, 3000}}},
	} {
		t.Run(fam.name, func(t *testing.T) {
			f := udpFlow(t, fam.cli, fam.srv)

			t.Run("in_order", func(t *testing.T) {
				tbl := newTable(t, cfg)
				fr := fragments(t, f.udpC2S(2992), 0x1111, fam.cuts...)
				run(t, tbl, 0, []step{
					pend(fr[0]), pend(fr[1]),
					{p: fr[2], v: vNew, st: sUnreplied, after: func(t *testing.T, r conntrack.Result) {
						if r.Fragments != 3 {
							t.Errorf("completing fragment: Result.Fragments = %d, want 3", r.Fragments)
						}
					}},
					{at: ms(1), p: f.udpS2C(100), v: vEst, st: sReplied},
				})
			})

			t.Run("out_of_order", func(t *testing.T) {
				tbl := newTable(t, cfg)
				fr := fragments(t, f.udpC2S(2992), 0x2222, fam.cuts...)
				run(t, tbl, 0, []step{
					pend(fr[2]), pend(fr[0]),
					{p: fr[1], v: vNew, st: sUnreplied},
					{at: ms(1), p: f.udpS2C(100), v: vEst, st: sReplied},
					// a second datagram of the same flow, fragmented: established
					pend(fragments(t, f.udpC2S(2992), 0x2223, fam.cuts...)[1]),
				})
			})

			t.Run("overlap", func(t *testing.T) {
				tbl := newTable(t, cfg)
				p := f.udpC2S(2992)
				a := fragments(t, p, 0x3333, [2]int{0, 1200})
				b := fragments(t, p, 0x3333, [2]int{800, 2000})
				run(t, tbl, 0, []step{
					pend(a[0]),
					{p: b[0], v: vInv, st: sNone, why: conntrack.ReasonFragOverlap},
				})
				if n := tbl.Len(); n != 0 {
					t.Errorf("Len() = %d, want 0", n)
				}
			})

			t.Run("too_small", func(t *testing.T) {
				tbl := newTable(t, cfg)
				fr := fragments(t, f.udpC2S(2992), 0x4444, [2]int{0, 200})
				run(t, tbl, 0, []step{{p: fr[0], v: vInv, st: sNone, why: conntrack.ReasonFragTooSmall}})
				if n := tbl.Len(); n != 0 {
					t.Errorf("Len() = %d, want 0", n)
				}
			})
		})
	}
}

// ---------------------------------------------------------------------------
// 7. UDP timeouts (nf_conntrack_proto_udp.c)
// ---------------------------------------------------------------------------

// Unreplied: 30 s, refreshed by every packet. After a reply, still 30 s
// until the entry is more than 2 s old; the next packet after that makes it
// a stream: ASSURED, 120 s. (udp_packet tests SEEN_REPLY before the core
// sets it, so the first reply itself refreshes with 30 s.)
func TestScenarioUDPExpiry(t *testing.T) {
	f := udpFlow(t, "198.18.51.1:4000", "198.18.51.2:4001")

	t.Run("unreplied_expires", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, []step{
			{at: 0, p: f.udpC2S(10), v: vNew, st: sUnreplied,
				after: expectEntry(tbl, f, 0, 0, entryWant{state: sUnreplied, seenReply: bptr(false), assured: bptr(false), timeout: 30 * time.Second})},
			{at: sec(10), p: f.udpC2S(10), v: vNew, st: sUnreplied,
				after: expectEntry(tbl, f, 0, sec(10), entryWant{state: sUnreplied, timeout: 30 * time.Second})},
		})
		tbl.Poll(at(sec(39)))
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() after Poll at +39s = %d, want 1", n)
		}
		checkEntry(t, "+39s", lookup(t, tbl, f, 0, sec(39)), entryWant{state: stateAny, timeout: time.Second})
		tbl.Poll(at(sec(41)))
		if n := tbl.Len(); n != 0 {
			t.Errorf("Len() after Poll at +41s = %d, want 0 (30 s idle, unreplied)", n)
		}
		wantGone(t, tbl, f, 0, sec(41))
		run(t, tbl, 0, []step{
			{at: sec(42), p: f.udpC2S(10), v: vNew, st: sUnreplied,
				after: expectEntry(tbl, f, 0, sec(42), entryWant{state: sUnreplied, timeout: 30 * time.Second})},
		})
	})

	t.Run("replied_becomes_assured", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, []step{
			{at: 0, p: f.udpC2S(10), v: vNew, st: sUnreplied},
			{at: ms(500), p: f.udpS2C(10), v: vEst, st: sReplied,
				after: expectEntry(tbl, f, 0, ms(500), entryWant{state: sReplied, seenReply: bptr(true), assured: bptr(false), timeout: 30 * time.Second})},
			{at: sec(1), p: f.udpC2S(10), v: vEst, st: sReplied,
				after: expectEntry(tbl, f, 0, sec(1), entryWant{state: sReplied, assured: bptr(false), timeout: 30 * time.Second})},
			{at: sec(3), p: f.udpC2S(10), v: vEst, st: sAssured,
				after: expectEntry(tbl, f, 0, sec(3), entryWant{state: sAssured, assured: bptr(true), timeout: 120 * time.Second})},
		})
		tbl.Poll(at(sec(3 + 119)))
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() after Poll at +122s = %d, want 1", n)
		}
		tbl.Poll(at(sec(3 + 121)))
		if n := tbl.Len(); n != 0 {
			t.Errorf("Len() after Poll at +124s = %d, want 0", n)
		}
	})
}

// ---------------------------------------------------------------------------
// 8. Zone limits and table capacity
// ---------------------------------------------------------------------------

// When a zone (or the table) is full, a new connection may evict an entry
// Linux would early-drop (never assured); if every entry is assured the new
// one is invalid.
func TestScenarioLimits(t *testing.T) {
	fl := func(port uint16) *flow {
		return udpFlow(t, "198.18.52.1:"+itoa(int(port)), "198.18.52.2:53")
	}
	assure := func(f *flow, base time.Duration) []step {
		return []step{
			{at: base, p: f.udpC2S(10), v: vNew, st: sUnreplied},
			{at: base + ms(100), p: f.udpS2C(10), v: vEst, st: sReplied},
			{at: base + sec(3), p: f.udpC2S(10), v: vEst, st: sAssured},
		}
	}

	type limitCase struct {
		name   string
		cfg    func(*conntrack.Config)
		zone   uint16
		reason conntrack.Reason
	}
	for _, lc := range []limitCase{
		{"zone_limit", func(c *conntrack.Config) {
			z := conntrack.DefaultZoneConfig()
			z.Limit = 2
			c.Zones = map[uint16]conntrack.ZoneConfig{5: z}
		}, 5, conntrack.ReasonZoneLimit},
		{"max_conns", func(c *conntrack.Config) { c.MaxConns = 2 }, 5, conntrack.ReasonTableFull},
	} {
		t.Run(lc.name, func(t *testing.T) {
			t.Run("unassured_evicted", func(t *testing.T) {
				tbl := newTable(t, lc.cfg)
				f1, f2, f3 := fl(1001), fl(1002), fl(1003)
				run(t, tbl, lc.zone, []step{
					{at: 0, p: f1.udpC2S(10), v: vNew, st: sUnreplied},
					{at: ms(1), p: f2.udpC2S(10), v: vNew, st: sUnreplied},
					// full: early drop evicts one of the unreplied entries
					{at: ms(2), p: f3.udpC2S(10), v: vNew, st: sUnreplied},
				})
				if n := tbl.Len(); n != 2 {
					t.Errorf("Len() = %d, want 2", n)
				}
				lookup(t, tbl, f3, lc.zone, ms(2))
				_, ok1 := tbl.Lookup(f1.key(lc.zone), at(ms(2)))
				_, ok2 := tbl.Lookup(f2.key(lc.zone), at(ms(2)))
				if ok1 == ok2 {
					t.Errorf("f1 present %v, f2 present %v: want exactly one evicted", ok1, ok2)
				}
			})
			t.Run("all_assured", func(t *testing.T) {
				tbl := newTable(t, lc.cfg)
				f1, f2, f3 := fl(2001), fl(2002), fl(2003)
				a1, a2 := assure(f1, 0), assure(f2, ms(1))
				run(t, tbl, lc.zone, []step{a1[0], a2[0], a1[1], a2[1], a1[2], a2[2]}) // time order
				run(t, tbl, lc.zone, []step{
					{at: sec(4), p: f3.udpC2S(10), v: vInv, st: sNone, why: lc.reason},
					// existing flows are unaffected
					{at: sec(4), p: f1.udpS2C(10), v: vEst, st: sAssured},
				})
				if n := tbl.Len(); n != 2 {
					t.Errorf("Len() = %d, want 2", n)
				}
				wantGone(t, tbl, f3, lc.zone, sec(4))
				if lc.reason == conntrack.ReasonZoneLimit {
					// another zone is not limited
					run(t, tbl, 6, []step{{at: sec(4), p: f3.udpC2S(10), v: vNew, st: sUnreplied}})
					lookup(t, tbl, f3, 6, sec(4))
				}
			})
		})
	}
}

// ---------------------------------------------------------------------------
// 9. Extras (§8 of the reference)
// ---------------------------------------------------------------------------

// tcp_valid_flags[]: only S, S+U, S+A, R, R+A, F+A, F+A+U, A, A+U, with PSH,
// ECE and CWR ignored. A valid combination that cannot start a connection
// (tcp_conntracks[0][index][sNO] == sIV) is "invalid new".
func TestScenarioTCPFlags(t *testing.T) {
	tbl := newTable(t, nil)
	fl := func(port int) *flow { return tcpFlow(t, "198.18.60.1:"+itoa(port), "198.18.60.2:80") }
	inv := func(f *flow, flags string, why conntrack.Reason) step {
		return step{p: f.c2s(flags, 1000, 0, 64240, 0), v: vInv, st: sNone, why: why}
	}
	run(t, tbl, 0, []step{
		{p: fl(1).c2s("SP", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},  // SYN+PSH: valid in Linux (OVS: invalid)
		{p: fl(2).c2s("SEW", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS}, // ECN setup SYN
		inv(fl(3), "SF", conntrack.ReasonTCPFlags),
		inv(fl(4), "SR", conntrack.ReasonTCPFlags),
		inv(fl(5), "F", conntrack.ReasonTCPFlags), // FIN without ACK
		inv(fl(6), "", conntrack.ReasonTCPFlags),  // no flags at all
		inv(fl(7), "RP", conntrack.ReasonTCPInvalidNew),
		inv(fl(8), "S.", conntrack.ReasonTCPInvalidNew), // SYN/ACK cannot open
		inv(fl(9), "R", conntrack.ReasonTCPInvalidNew),
		inv(fl(10), "R.", conntrack.ReasonTCPInvalidNew),
		inv(fl(11), "F.", conntrack.ReasonTCPInvalidNew),
	})
	if n := tbl.Len(); n != 2 {
		t.Errorf("Len() = %d, want 2 (only the two SYNs create entries)", n)
	}
}

// Already-ACKed data retransmitted more than one receiver window back is
// IGNOREd (check II, "SEQ is under lower bound"), not invalid; a
// retransmission still inside the window is accepted.
func TestScenarioRetransmitAckedData(t *testing.T) {
	f := tcpFlow(t, "198.18.61.1:42000", "198.18.61.2:80")
	tbl := newTable(t, nil)
	steps := []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		// small server window: receiver td_maxwin 2000
		{at: ms(1), p: f.s2c("S.", 7000, 1001, 2000, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 1001, 7001, 64240, 0), v: vEst, st: sES},
	}
	for i := uint32(0); i < 4; i++ {
		d := ms(3 + 2*float64(i))
		steps = append(steps,
			step{at: d, p: f.c2s("P.", 1001+1000*i, 7001, 64240, 1000), v: vEst, st: sES},
			step{at: d + ms(1), p: f.s2c(".", 7001, 2001+1000*i, 2000, 0), v: vEst, st: sES})
	}
	steps = append(steps,
		// td_end 5001; lower bound 5001 - 2000 - 1 = 3000; end 2001 <= 3000
		step{at: ms(20), p: f.c2s("P.", 1001, 7001, 64240, 1000), v: vIgn, st: sES, why: conntrack.ReasonTCPSeqUnder},
		// end 4001 > 3000: a retransmission inside the window is accepted
		step{at: ms(21), p: f.c2s("P.", 3001, 7001, 64240, 1000), v: vEst, st: sES},
		step{at: ms(22), p: f.s2c(".", 7001, 5001, 2000, 0), v: vEst, st: sES},
	)
	run(t, tbl, 0, steps)
}

// e15d4cdf27cb: a SYN retransmitted while unreplied does not renew the
// SYN_SENT timer, so an entry expires 120 s after the first SYN even with
// retries every 10 s.
func TestScenarioSynSentNotRenewed(t *testing.T) {
	f := tcpFlow(t, "198.18.62.1:48000", "198.18.62.2:80")
	tbl := newTable(t, nil)
	for i := 0; i < 12; i++ {
		d := sec(float64(10 * i))
		run(t, tbl, 0, []step{{at: d, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS,
			after: expectEntry(tbl, f, 0, d, entryWant{state: sSS, seenReply: bptr(false), timeout: 120*time.Second - d})}})
	}
	tbl.Poll(at(sec(121)))
	if n := tbl.Len(); n != 0 {
		t.Errorf("Len() after Poll at +121s = %d, want 0 (120 s after the first SYN)", n)
	}
	run(t, tbl, 0, []step{{at: sec(130), p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS,
		after: expectEntry(tbl, f, 0, sec(130), entryWant{state: sSS, timeout: 120 * time.Second})}})
}

// closeConn is a handshake plus a client-initiated FIN close ending in
// TIME_WAIT (CLOSE_INIT set on the client side).
func closeConn(f *flow) []step {
	return []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
		{at: ms(3), p: f.c2s("F.", 1001, 5001, 64240, 0), v: vEst, st: sFW},
		{at: ms(4), p: f.s2c(".", 5001, 1002, 64240, 0), v: vEst, st: sCW},
		{at: ms(5), p: f.s2c("F.", 5001, 1002, 64240, 0), v: vEst, st: sLA},
		{at: ms(6), p: f.c2s(".", 1002, 5002, 64240, 0), v: vEst, st: sTW},
	}
}

// A SYN on a TIME_WAIT entry after a FIN close kills it and creates a
// fresh SYN_SENT entry from the SYN (-NF_REPEAT), from either side.
func TestScenarioReopenAfterClose(t *testing.T) {
	f := tcpFlow(t, "198.18.63.1:43000", "198.18.63.2:80")

	t.Run("client_reopens", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, append(closeConn(f),
			step{at: sec(1), p: f.c2s("S", 90000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS, reopen: true,
				after: func(t *testing.T, _ conntrack.Result) {
					t.Helper()
					e := lookup(t, tbl, f, 0, sec(1))
					checkEntry(t, "reopened", e, entryWant{state: sSS, seenReply: bptr(false), assured: bptr(false), timeout: 120 * time.Second})
					if e.TCP[0].End != 90001 || e.TCP[1].MaxWin != 0 {
						t.Errorf("reopened: TCP[0].End %d (want 90001), TCP[1].MaxWin %d (want 0: fresh entry)", e.TCP[0].End, e.TCP[1].MaxWin)
					}
				}},
			step{at: sec(1) + ms(1), p: f.s2c("S.", 70000, 90001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
			step{at: sec(1) + ms(2), p: f.c2s(".", 90001, 70001, 64240, 0), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, sec(1)+ms(2), entryWant{state: sES, assured: bptr(true)})},
		))
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() = %d, want 1", n)
		}
	})

	t.Run("server_reopens", func(t *testing.T) {
		// REPLY syn in TIME_WAIT -> sSS ("server may have switched role"):
		// the new entry's original direction is server -> client.
		tbl := newTable(t, nil)
		r := f.reversed()
		run(t, tbl, 0, closeConn(f))
		run(t, tbl, 0, []step{
			{at: sec(1), p: r.c2s("S", 333000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS, reopen: true},
			{at: sec(1) + ms(1), p: r.s2c("S.", 444000, 333001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		})
		checkEntry(t, "reopened by server", lookup(t, tbl, r, 0, sec(1)+ms(1)), entryWant{state: sSR, seenReply: bptr(true)})
		if n := tbl.Len(); n != 1 {
			t.Errorf("Len() = %d, want 1", n)
		}
	})
}

// After the peer's RST closed the entry, the client's new SYN is not a
// reopen (no CLOSE_INIT, last RST came from the other direction): it is
// IGNOREd and remembered; the SYN/ACK acking exactly it resynchronises the
// entry to the new connection (old state treated as SYN_SENT -> SYN_RECV).
func TestScenarioSynAfterPeerRSTResync(t *testing.T) {
	f := tcpFlow(t, "198.18.64.1:47000", "198.18.64.2:80")
	tbl := newTable(t, nil)
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
		// exact RST (seq == client's td_maxack) => CLOSE
		{at: ms(3), p: f.s2c("R.", 5001, 1001, 0, 0), v: vEst, st: sCL},
		{at: sec(1), p: f.c2s("S", 90000, 0, 64240, 0, optMSS(1460)), v: vIgn, st: sCL, why: conntrack.ReasonTCPIgnoredPkt},
		{at: sec(1) + ms(1), p: f.s2c("S.", 70000, 90001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: sec(1) + ms(2), p: f.c2s(".", 90001, 70001, 64240, 0), v: vEst, st: sES},
		{at: sec(1) + ms(3), p: f.s2c("P.", 70001, 90001, 64240, 100), v: vEst, st: sES},
	})
}

// RFC 5961: a SYN in LAST_ACK is ignored and flags IP_CT_EXP_CHALLENGE_ACK;
// the peer's ACK answering it must not be taken as the last ACK
// ("challenge-ack ignored", no state change). The next ACK is the real one.
func TestScenarioLastAckChallengeACK(t *testing.T) {
	f := tcpFlow(t, "198.18.65.1:49000", "198.18.65.2:80")
	tbl := newTable(t, nil)
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
		{at: ms(3), p: f.s2c("F.", 5001, 1001, 64240, 0), v: vEst, st: sFW},
		{at: ms(4), p: f.c2s("F.", 1001, 5002, 64240, 0), v: vEst, st: sLA},
		{at: ms(5), p: f.c2s("S", 200000, 0, 64240, 0, optMSS(1460)), v: vIgn, st: sLA, why: conntrack.ReasonTCPIgnoredPkt},
		{at: ms(6), p: f.s2c(".", 5002, 1002, 64240, 0), v: vIgn, st: sLA, why: conntrack.ReasonTCPChallengeACK},
		{at: ms(7), p: f.s2c(".", 5002, 1002, 64240, 0), v: vEst, st: sTW},
	})
}

// Simultaneous open: SYN both ways -> SYN_SENT2; the original side's
// SYN/ACK -> SYN_RECV; the reply side's SYN/ACK is a retransmitted SYN/ACK
// in SYN_RECV (ignored); the reply ACK completes thanks to the
// IP_CT_TCP_SIMULTANEOUS_OPEN flag.
func TestScenarioSimultaneousOpen(t *testing.T) {
	f := tcpFlow(t, "198.18.66.1:44000", "198.18.66.2:44001")
	tbl := newTable(t, nil)
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S", 5000, 0, 64240, 0, optMSS(1460)), v: vEst, st: sS2},
		{at: ms(2), p: f.c2s("S.", 1000, 5001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vIgn, st: sSR, why: conntrack.ReasonTCPIgnoredPkt},
		{at: ms(3), p: f.s2c(".", 5001, 1001, 64240, 0), v: vEst, st: sES,
			after: expectEntry(tbl, f, 0, ms(3), entryWant{state: sES, assured: bptr(true)})},
		{at: ms(3), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
	})
}

// be_liberal: tcp_in_window never fails (out-of-window data accepted, no
// window update), but the RST check in tcp_packet is separate: a RST below
// the peer's highest ACK stays INVALID. A RST far above the window is
// accepted (window check skipped), keeps ESTABLISHED as any inexact RST.
func TestScenarioBeLiberal(t *testing.T) {
	f := tcpFlow(t, "198.18.67.1:41000", "198.18.67.2:80")
	opening := []step{
		{at: 0, p: f.c2s("S", 100, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 900, 101, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 101, 901, 64240, 0), v: vEst, st: sES},
		{at: ms(3), p: f.s2c("P.", 901, 101, 64240, 1000), v: vEst, st: sES},
		// client's td_maxack := 1901
		{at: ms(4), p: f.c2s(".", 101, 1901, 64240, 0), v: vEst, st: sES},
	}
	// seq 200101 > td_maxend 66141, overshoot far above the receiver window
	outOfWindow := f.c2s("P.", 200101, 1901, 64240, 100)

	t.Run("liberal_zone", func(t *testing.T) {
		tbl := newTable(t, func(c *conntrack.Config) {
			z := conntrack.DefaultZoneConfig()
			z.BeLiberal = true
			c.Zones = map[uint16]conntrack.ZoneConfig{9: z}
		})
		run(t, tbl, 9, append(opening,
			step{at: ms(5), p: outOfWindow, v: vEst, st: sES},
			step{at: ms(6), p: f.s2c("R", 901, 0, 0, 0), v: vInv, st: sES, why: conntrack.ReasonTCPInvalidRST},
			step{at: ms(7), p: f.s2c("R", 1000901, 0, 0, 0), v: vEst, st: sES},
			step{at: ms(8), p: f.s2c("R", 1901, 0, 0, 0), v: vEst, st: sCL},
		))
	})

	t.Run("default_zone_control", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, append(opening,
			step{at: ms(5), p: outOfWindow, v: vInv, st: sES, why: conntrack.ReasonTCPSeqOver},
			step{at: ms(6), p: f.s2c("R", 901, 0, 0, 0), v: vInv, st: sES, why: conntrack.ReasonTCPInvalidRST},
			step{at: ms(7), p: f.s2c("R", 1000901, 0, 0, 0), v: vInv, st: sES, why: conntrack.ReasonTCPSeqOver},
			step{at: ms(8), p: f.s2c("R", 1901, 0, 0, 0), v: vEst, st: sCL},
		))
	})
}

// nf_conntrack_tcp_ignore_invalid_rst=1 on conntrack_rst_invalid.pkt: the
// three RSTs below td_maxack pass (ESTABLISHED kept, 10 s CLOSE timeout);
// only the out-of-window one (window check, not the RST check) is invalid.
func TestScenarioIgnoreInvalidRST(t *testing.T) {
	f := tcpFlow(t, "198.18.192.1:34500", "198.18.192.2:8080")
	tbl := newTable(t, func(c *conntrack.Config) {
		z := conntrack.DefaultZoneConfig()
		z.IgnoreInvalidRST = true
		c.Zones = map[uint16]conntrack.ZoneConfig{9: z}
	})
	steps := append(openClientConn(f), rstInvalidTail(tbl, f, 9, true)...)
	res := run(t, tbl, 9, steps)
	if n := countVerdicts(steps, res, vInv, true); n != 1 {
		t.Errorf("INPUT invalid count %d, want 1", n)
	}
	checkEntry(t, "final", lookup(t, tbl, f, 9, ms(300)), entryWant{state: sCL})
}

// handshake3 is a plain three-way handshake without window scaling
// (client ISN 1000, server ISN 5000, windows 64240).
func handshake3(f *flow) []step {
	return []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
	}
}

// Before any reply, a RST kills the entry at once (either direction). The
// server's RST answering the SYN is a reply-direction packet: established.
func TestScenarioRSTBeforeReply(t *testing.T) {
	f := tcpFlow(t, "198.18.68.1:45000", "198.18.68.2:81")
	tbl := newTable(t, nil)
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("R.", 0, 1001, 0, 0), v: vEst, st: sCL},
	})
	if n := tbl.Len(); n != 0 {
		t.Errorf("Len() = %d after RST answering the SYN, want 0", n)
	}
	// client retries: a fresh entry; then the client aborts it itself
	run(t, tbl, 0, []step{
		{at: sec(1), p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		{at: sec(1) + ms(1), p: f.c2s("R", 1001, 0, 0, 0), v: vNew, st: sCL},
	})
	if n := tbl.Len(); n != 0 {
		t.Errorf("Len() = %d after the client's RST, want 0", n)
	}
}

// be0502a3f2e9 and the RST train rule: in ESTABLISHED, a RST that is not
// below the peer's td_maxack but not exactly at it keeps ESTABLISHED (the
// peer will send a challenge ACK) with the 10 s CLOSE timeout; a RST whose
// seq is the end of this direction's own last ACK segment (a "train", e.g.
// data then RST) closes; so does an exact RST.
func TestScenarioInexactRSTEstablished(t *testing.T) {
	f := tcpFlow(t, "198.18.69.1:46000", "198.18.69.2:80")

	t.Run("in_window_inexact", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, append(handshake3(f),
			// client td_maxack = 5001; seq 5101 is in window, not exact
			step{at: ms(3), p: f.s2c("R", 5101, 0, 0, 0), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, ms(3), entryWant{state: sES, timeout: 10 * time.Second})},
			// the client's challenge ACK refreshes the timeout. The accepted
			// RST advanced the server's td_end to 5101 (DATA_UNACKNOWLEDGED)
			// and the ACK (5001) does not cover it: tcp_unack, 300 s.
			step{at: ms(4), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, ms(4), entryWant{state: sES, timeout: 300 * time.Second})},
			// the exact RST then closes
			step{at: ms(5), p: f.s2c("R", 5001, 0, 0, 0), v: vEst, st: sCL,
				after: expectEntry(tbl, f, 0, ms(5), entryWant{state: sCL, timeout: 10 * time.Second})},
		))
	})

	t.Run("rst_train", func(t *testing.T) {
		tbl := newTable(t, nil)
		run(t, tbl, 0, append(handshake3(f),
			// server: P. 5001:5020(19) ack 1001, then R 5020 (client's maxack is 5001)
			step{at: ms(3), p: f.s2c("P.", 5001, 1001, 64240, 19), v: vEst, st: sES},
			step{at: ms(3), p: f.s2c("R", 5020, 0, 0, 0), v: vEst, st: sCL},
		))
	})
}

// Timeout selection in tcp_packet: max_retrans identical ACK-only segments
// in a row => tcp_retrans (300 s); a zero window => tcp_retrans; otherwise
// the state's timeout (ESTABLISHED 5 days), tcp_unack while data is
// unacknowledged.
func TestScenarioTCPTimeoutSelection(t *testing.T) {
	f := tcpFlow(t, "198.18.70.1:47000", "198.18.70.2:80")
	estab, r300 := 432000*time.Second, 300*time.Second
	t.Run("max_retrans_default_3", func(t *testing.T) {
		tbl := newTable(t, nil)
		ack := func(d, want time.Duration) step {
			return step{at: d, p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, d, entryWant{state: sES, timeout: want})}
		}
		steps := handshake3(f)
		steps[2].after = expectEntry(tbl, f, 0, ms(2), entryWant{state: sES, timeout: estab})
		run(t, tbl, 0, append(steps,
			ack(ms(3), estab), // retrans 1
			ack(ms(4), estab), // retrans 2
			ack(ms(5), r300),  // retrans 3 >= max_retrans
			// data, unacknowledged: tcp_unack
			step{at: ms(6), p: f.s2c("P.", 5001, 1001, 64240, 100), v: vEst, st: sES,
				after: expectEntry(tbl, f, 0, ms(6), entryWant{state: sES, timeout: r300})},
			// all acknowledged again, new ACK (retrans reset): 5 days
			ack2(tbl, f, ms(7), 1001, 5101, 64240, estab),
			// a zero window: tcp_retrans
			ack2(tbl, f, ms(8), 1001, 5101, 0, r300),
		))
	})

	t.Run("max_retrans_1", func(t *testing.T) {
		tbl := newTable(t, func(c *conntrack.Config) { c.Default.MaxRetrans = 1 })
		run(t, tbl, 0, append(handshake3(f),
			ack2(tbl, f, ms(3), 1001, 5001, 64240, r300), // first repeat
		))
	})
}

func ack2(tbl *conntrack.Table, f *flow, d time.Duration, seq, ack uint32, win uint16, want time.Duration) step {
	return step{at: d, p: f.c2s(".", seq, ack, win, 0), v: vEst, st: sES,
		after: expectEntry(tbl, f, 0, d, entryWant{state: sES, timeout: want})}
}

// SACK: with SACK permitted by the receiver's SYN, the highest SACK right
// edge is the "ack" of checks III/IV, so a SACK block beyond the data the
// receiver has sent is "ACK over upper bound". Without SACK permitted the
// block is not looked at.
func TestScenarioSACK(t *testing.T) {
	run1 := func(t *testing.T, sackOK bool) *conntrack.Table {
		f := tcpFlow(t, "198.18.71.1:48000", "198.18.71.2:80")
		synOpts := []layers.TCPOption{optMSS(1460)}
		if sackOK {
			synOpts = append(synOpts, optNOP(), optNOP(), optSACKPerm())
		}
		tbl := newTable(t, nil)
		steps := []step{
			{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, synOpts...), v: vNew, st: sSS},
			{at: ms(1), p: f.s2c("S.", 5000, 1001, 64240, 0, synOpts...), v: vEst, st: sSR},
			{at: ms(2), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
			{at: ms(3), p: f.s2c("P.", 5001, 1001, 64240, 1000), v: vEst, st: sES},
			{at: ms(3), p: f.s2c("P.", 6001, 1001, 64240, 1000), v: vEst, st: sES},
			// client lost 5001:6001: ack 5001, SACK 6001:7001 (server td_end 7001): fine
			{at: ms(4), p: f.c2s(".", 1001, 5001, 64240, 0, optNOP(), optNOP(), optSACK(6001, 7001)), v: vEst, st: sES},
		}
		bad := step{at: ms(5), p: f.c2s(".", 1001, 5001, 64240, 0, optNOP(), optNOP(), optSACK(6001, 9001))}
		if sackOK {
			bad.v, bad.st, bad.why = vInv, sES, conntrack.ReasonTCPAckOver
		} else {
			bad.v, bad.st = vEst, sES
		}
		run(t, tbl, 0, append(steps, bad))
		return tbl
	}
	t.Run("sack_permitted", func(t *testing.T) { run1(t, true) })
	t.Run("no_sack_permitted", func(t *testing.T) { run1(t, false) })
}

// An ICMP error quoting only the IP header and the first 8 bytes of the
// transport header (RFC 792 minimum; the ports are all a tracker needs).
func TestScenarioICMPErrorMinimalQuote(t *testing.T) {
	f := tcpFlow(t, "198.18.72.1:40000", "198.18.72.2:443")
	tbl := newTable(t, nil)
	data := f.c2s("P.", 1001, 5001, 64240, 1400)
	e := icmpErrQuote(t, "198.19.72.1", "198.18.72.1", 3, 4, 1400, ipPacket(data.frame)[:28], "first 28 bytes of "+data.desc)
	e.reply = true
	run(t, tbl, 0, append(handshake3(f),
		step{at: ms(3), p: data, v: vEst, st: sES},
		step{at: ms(4), p: e, v: vRel, st: sES},
	))
}

// The SYN/ACK is lost on its way to the client: the client retransmits its
// SYN while conntrack is in SYN_RECV (ORIGINAL syn in sSR => sIG, remembered
// with its options); the server's retransmitted SYN/ACK acks exactly that
// SYN, so Linux resynchronises from the remembered values (old state taken
// as SYN_SENT -> SYN_RECV) and the client's ACK establishes.
func TestScenarioSynAckLost(t *testing.T) {
	f := tcpFlow(t, "198.18.73.1:49500", "198.18.73.2:443")
	synOpts := func(ts uint32) []layers.TCPOption {
		return []layers.TCPOption{optMSS(1460), optSACKPerm(), optTS(ts, 0), optNOP(), optWScale(7)}
	}
	synAckOpts := []layers.TCPOption{optMSS(1460), optSACKPerm(), optTS(10, 1), optNOP(), optWScale(7)}
	tbl := newTable(t, nil)
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, synOpts(1)...), v: vNew, st: sSS},
		{at: ms(1), p: f.s2c("S.", 5000, 1001, 65160, 0, synAckOpts...), v: vEst, st: sSR},
		{at: sec(1), p: f.c2s("S", 1000, 0, 64240, 0, synOpts(1001)...), v: vIgn, st: sSR, why: conntrack.ReasonTCPIgnoredPkt},
		{at: sec(1) + ms(1), p: f.s2c("S.", 5000, 1001, 65160, 0, synAckOpts...), v: vEst, st: sSR},
		{at: sec(1) + ms(2), p: f.c2s(".", 1001, 5001, 502, 0, pdTSOpts(1002, 10)...), v: vEst, st: sES,
			after: func(t *testing.T, _ conntrack.Result) {
				t.Helper()
				e := lookup(t, tbl, f, 0, sec(1)+ms(2))
				checkEntry(t, "established", e, entryWant{state: sES, assured: bptr(true)})
				// resynchronised with the remembered options: scale 7 both ways
				if e.TCP[0].Scale != 7 || e.TCP[1].Scale != 7 || e.TCP[0].MaxWin != 64256 {
					t.Errorf("scales %d/%d max_win[0] %d, want 7/7 and 502<<7 = 64256", e.TCP[0].Scale, e.TCP[1].Scale, e.TCP[0].MaxWin)
				}
			}},
	})
}

// Checksums of short UDP datagrams: a zero UDP checksum over IPv4 means
// "none" and is accepted; a wrong one is invalid; padding is not summed.
// An ICMP error with a wrong ICMP checksum is invalid too.
func TestScenarioChecksumsUDPICMP(t *testing.T) {
	f := udpFlow(t, "198.18.74.1:7000", "198.18.74.2:7001")
	tbl := newTable(t, nil)
	q := padded(f.udpC2S(4), 0xee) // 46-byte frame padded to 60
	zero := f.udpS2C(4)
	zero.frame[14+20+6], zero.frame[14+20+7] = 0, 0
	zero.desc += " (checksum 0)"
	e := icmpErr(t, "198.18.74.2", "198.18.74.1", 3, 3, 0, q)
	e.frame[14+20+2] ^= 0xff
	e.desc += " (corrupted ICMP checksum)"
	run(t, tbl, 0, []step{
		{at: 0, p: badL4Checksum(q), v: vInv, st: sNone, why: conntrack.ReasonBadChecksum},
		{at: ms(1), p: q, v: vNew, st: sUnreplied},
		{at: ms(2), p: zero, v: vEst, st: sReplied},
		{at: ms(3), p: e, v: vInv, st: sNone, why: conntrack.ReasonBadChecksum},
	})
}

// With several shards (one owner each), both directions of a connection,
// the ICMP errors about it and its reassembled fragments must all be
// tracked by the connection's owner, whatever the outer addresses.
func TestScenarioMultiShard(t *testing.T) {
	tbl := newTable(t, func(c *conntrack.Config) { c.Shards = 4 })
	for i := 0; i < 16; i++ {
		f := tcpFlow(t, "198.18.75.1:"+itoa(40000+i), "10.75."+itoa(i)+".2:443")
		data := f.c2s("P.", 1001, 5001, 64240, 1400)
		e := icmpErr(t, "10.75.255."+itoa(i+1), "198.18.75.1", 3, 4, 1400, data)
		e.reply = true
		res := run(t, tbl, 0, append(handshake3(f),
			step{at: ms(3), p: data, v: vEst, st: sES},
			step{at: ms(4), p: e, v: vRel, st: sES},
			step{at: ms(5), p: f.s2c(".", 5001, 2401, 64240, 0), v: vEst, st: sES},
		))
		for j := 1; j < len(res); j++ {
			if res[j].Shard != res[0].Shard {
				t.Errorf("flow %d: step %d tracked on shard %d, the connection's owner is %d", i, j+1, res[j].Shard, res[0].Shard)
			}
		}
		u := udpFlow(t, "[2001:db8:75::1]:"+itoa(5000+i), "[2001:db8:75::"+itoa(i+2)+"]:6000")
		fr := fragments(t, u.udpC2S(2992), uint32(0x7500+i), [2]int{0, 1232}, [2]int{1232, 2464}, [2]int{2464, 3000})
		ures := run(t, tbl, 0, []step{
			{at: ms(6), p: fr[0], v: vPending, st: sNone, why: conntrack.ReasonFragPending},
			{at: ms(6), p: fr[2], v: vPending, st: sNone, why: conntrack.ReasonFragPending},
			{at: ms(6), p: fr[1], v: vNew, st: sUnreplied},
			{at: ms(7), p: u.udpS2C(10), v: vEst, st: sReplied},
		})
		// the reply, fragmented too
		rf := fragments(t, u.udpS2C(1800), uint32(0x7600+i), [2]int{0, 1232}, [2]int{1232, 1808})
		ures = append(ures, run(t, tbl, 0, []step{
			{at: ms(8), p: rf[1], v: vPending, st: sNone, why: conntrack.ReasonFragPending},
			{at: ms(8), p: rf[0], v: vEst, st: sReplied},
		})...)
		if ures[2].Shard != ures[3].Shard || ures[2].Shard != ures[5].Shard {
			t.Errorf("udp flow %d: reassembled datagram on shard %d, its replies on shards %d and %d", i, ures[2].Shard, ures[3].Shard, ures[5].Shard)
		}
	}
	if n := tbl.Len(); n != 32 {
		t.Errorf("Len() = %d, want 32", n)
	}
}

// Transitions the state table marks sIV are invalid without any window
// check, and change nothing.
func TestScenarioStateTableInvalid(t *testing.T) {
	f := tcpFlow(t, "198.18.76.1:50500", "198.18.76.2:80")
	tbl := newTable(t, nil)
	st := conntrack.ReasonTCPStateTable
	run(t, tbl, 0, []step{
		{at: 0, p: f.c2s("S", 1000, 0, 64240, 0, optMSS(1460)), v: vNew, st: sSS},
		// ORIGINAL ack in SYN_SENT: no SYN/ACK seen yet
		{at: ms(1), p: f.c2s(".", 1001, 5001, 64240, 0), v: vInv, st: sSS, why: st},
		// ORIGINAL fin in SYN_SENT: wait for the SYN/ACK first
		{at: ms(2), p: f.c2s("F.", 1001, 5001, 64240, 0), v: vInv, st: sSS, why: st},
		{at: ms(3), p: f.s2c("S.", 5000, 1001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		// REPLY syn in SYN_RECV
		{at: ms(4), p: f.s2c("S", 6000, 0, 64240, 0, optMSS(1460)), v: vInv, st: sSR, why: st},
		{at: ms(5), p: f.c2s(".", 1001, 5001, 64240, 0), v: vEst, st: sES},
		// ORIGINAL syn/ack in ESTABLISHED
		{at: ms(6), p: f.c2s("S.", 1000, 5001, 64240, 0, optMSS(1460)), v: vInv, st: sES, why: st},
		{at: ms(7), p: f.s2c("P.", 5001, 1001, 64240, 10), v: vEst, st: sES},
	})
}

// A RST that answers a SYN conntrack let through in ESTABLISHED (ignored,
// remembered) with ack == that SYN's end closes without a window check
// ("RST sent to invalid SYN we had let through"). The client's next SYN is
// then ignored (the last RST came from the other side) and the SYN/ACK
// acking it resynchronises the entry.
func TestScenarioRSTAnswersIgnoredSYN(t *testing.T) {
	f := tcpFlow(t, "198.18.77.1:51500", "198.18.77.2:80")
	tbl := newTable(t, nil)
	run(t, tbl, 0, append(handshake3(f),
		step{at: ms(3), p: f.c2s("P.", 1001, 5001, 64240, 100), v: vEst, st: sES},
		step{at: ms(4), p: f.s2c(".", 5001, 1101, 64240, 0), v: vEst, st: sES},
		step{at: sec(1), p: f.c2s("S", 90000, 0, 64240, 0, optMSS(1460)), v: vIgn, st: sES, why: conntrack.ReasonTCPIgnoredPkt},
		step{at: sec(1) + ms(1), p: f.s2c("R.", 0, 90001, 0, 0), v: vEst, st: sCL},
		step{at: sec(2), p: f.c2s("S", 90000, 0, 64240, 0, optMSS(1460)), v: vIgn, st: sCL, why: conntrack.ReasonTCPIgnoredPkt},
		step{at: sec(2) + ms(1), p: f.s2c("S.", 70000, 90001, 64240, 0, optMSS(1460)), v: vEst, st: sSR},
		step{at: sec(2) + ms(2), p: f.c2s(".", 90001, 70001, 64240, 0), v: vEst, st: sES},
	))
}

// Config.MaxConns is split per shard, but ZoneConfig.Limit "caps the zone's
// connections across all shards". With several shards, a zone at its limit
// must still early-drop an unassured entry of that zone (the semantics of
// TestScenarioLimits), whichever shard owns it.
func TestScenarioZoneLimitAcrossShards(t *testing.T) {
	tbl := newTable(t, func(c *conntrack.Config) {
		c.Shards = 4
		z := conntrack.DefaultZoneConfig()
		z.Limit = 2
		c.Zones = map[uint16]conntrack.ZoneConfig{5: z}
	})
	for i := 0; i < 6; i++ {
		f := udpFlow(t, "198.18.78.1:"+itoa(1000+i), "198.18.78.2:53")
		// all unreplied, so there is always an evictable entry in zone 5
		run(t, tbl, 5, []step{{at: ms(float64(i)), p: f.udpC2S(10), v: vNew, st: sUnreplied}})
		if n := tbl.Len(); n > 2 {
			t.Errorf("after flow %d: Len() = %d, want <= 2", i, n)
		}
	}
}
