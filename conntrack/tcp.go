package conntrack

import (
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// TCP tracking with Linux nf_conntrack semantics: a per-direction window
// model (td_end / td_maxend / td_maxwin / td_maxack / td_scale), a state
// table indexed by the packet's dominant flag, and the special cases that
// keep real stacks working through port reuse, RFC 5961 challenge ACKs and
// lost ACKs. Outcomes are ACCEPT, IGNORE (pass without learning from the
// packet) and INVALID.

// Flag index of a segment: RST > SYN(/ACK) > FIN > ACK > none.
const (
	idxSYN = iota
	idxSYNACK
	idxFIN
	idxACK
	idxRST
	idxNone
)

func tcpIndex(f uint8) uint8 {
	switch {
	case f&packet.TCPFlagRST != 0:
		return idxRST
	case f&packet.TCPFlagSYN != 0:
		if f&packet.TCPFlagACK != 0 {
			return idxSYNACK
		}
		return idxSYN
	case f&packet.TCPFlagFIN != 0:
		return idxFIN
	case f&packet.TCPFlagACK != 0:
		return idxACK
	}
	return idxNone
}

// Pseudo-states of the transition table.
const (
	sIV State = 100 // invalid
	sIG State = 101 // ignore
)

const (
	sNO = StateNone
	sSS = TCPSynSent
	sSR = TCPSynRecv
	sES = TCPEstablished
	sFW = TCPFinWait
	sCW = TCPCloseWait
	sLA = TCPLastAck
	sTW = TCPTimeWait
	sCL = TCPClose
	sS2 = TCPSynSent2
)

// tcpTable is Linux's tcp_conntracks table: tcpTable[dir][index][old].
var tcpTable = [2][6][numTCPStates]State{
	{ // original
		/* syn    */ {sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2},
		/* synack */ {sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR},
		/* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack    */ {sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV},
		/* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
	{ // reply
		/* syn    */ {sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2},
		/* synack */ {sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR},
		/* fin    */ {sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV},
		/* ack    */ {sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG},
		/* rst    */ {sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL},
		/* none   */ {sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV},
	},
}

// tcpFlat is tcpTable laid out for a lookup indexed by one byte
// (dir<<7 | index<<4 | old), which needs no bounds checks; unused slots
// are invalid.
var tcpFlat = func() (f [256]State) {
	for i := range f {
		f[i] = sIV
	}
	for d := range tcpTable {
		for i := range tcpTable[d] {
			for o, st := range tcpTable[d][i] {
				f[d<<7|i<<4|o] = st
			}
		}
	}
	return
}()

func tcpTransition(dir, index uint8, old State) State {
	return tcpFlat[dir<<7|index<<4|uint8(old)&15]
}

// validTCPFlags: the combinations of FIN/SYN/RST/ACK/URG a real stack sends
// (PSH, ECE and CWR are ignored), as Linux's tcp_valid_flags.
var validTCPFlags = func() (v [0x40]bool) {
	const f, s, r, a, u = packet.TCPFlagFIN, packet.TCPFlagSYN, packet.TCPFlagRST, packet.TCPFlagACK, packet.TCPFlagURG
	for _, x := range []uint8{s, s | u, s | a, r, r | a, f | a, f | a | u, a, a | u} {
		v[x] = true
	}
	return
}()

func tcpFlagsValid(f uint8) bool {
	return validTCPFlags[f&^(packet.TCPFlagECE|packet.TCPFlagCWR|packet.TCPFlagPSH)&0x3f]
}

// tcpSeg is what the tracker reads from one segment.
type tcpSeg struct {
	seq, ack, end uint32
	win           uint16
	flags         uint8
	index         uint8
	opts          []byte
}

func before(a, b uint32) bool { return int32(a-b) < 0 }
func after(a, b uint32) bool  { return int32(b-a) < 0 }

type tcpAction uint8

const (
	tcpAccept tcpAction = iota
	tcpIgnore
	tcpInvalid
	tcpReopen // kill the entry and track the packet as a new connection
	tcpKill   // accepted, but the entry dies now (a RST was the only answer)
)

// tcpNew initialises a fresh entry from its first segment (Linux tcp_new).
func tcpNew(c *conn, seg *tcpSeg, z *zone) Why {
	switch tcpTransition(0, seg.index, sNO) {
	case sSS:
		c.tcp = tcpConn{}
		d := &c.tcp.seen[0]
		d.end = seg.end
		d.maxWin = max(uint32(seg.win), 1)
		d.maxEnd = d.end
		parseWindowOptions(seg.opts, d)
	case sES:
		if !z.cfg.Loose {
			return Why{Reason: ReasonTCPNoPickup, A: uint32(seg.flags)}
		}
		// Mid-stream pickup: the history is lost (a VM migration, a restart
		// without a snapshot), so trust the flow: both directions liberal.
		c.tcp = tcpConn{}
		d := &c.tcp.seen[0]
		d.end = seg.end
		d.maxWin = max(uint32(seg.win), 1)
		d.maxEnd = d.end + d.maxWin
		c.tcp.seen[0].flags = tcpFlagSackPerm | tcpFlagBeLiberal
		c.tcp.seen[1].flags = tcpFlagSackPerm | tcpFlagBeLiberal
	default:
		return Why{Reason: ReasonTCPInvalidNew, A: uint32(seg.flags)}
	}
	c.tcp.lastIndex = idxNone
	c.state = sNO
	return Why{}
}

// parseWindowOptions reads window scale and SACK-permitted into d, like
// Linux tcp_options: an empty option area leaves d untouched.
func parseWindowOptions(opts []byte, d *tcpDir) {
	if len(opts) == 0 {
		return
	}
	d.scale = 0
	d.flags &= tcpFlagBeLiberal
	var o packet.TCPOptions
	_ = packet.ParseTCPOptions(opts, &o) // a malformed tail ends parsing, as in Linux
	if o.SACKPermitted {
		d.flags |= tcpFlagSackPerm
	}
	if o.HasWScale {
		d.scale = min(o.WScale, 14)
		d.flags |= tcpFlagWindowScale
	}
}

// highestSACK returns the highest right edge of the SACK blocks after sack.
func highestSACK(opts []byte, sack uint32) uint32 {
	if len(opts) == 0 {
		return sack
	}
	var o packet.TCPOptions
	_ = packet.ParseTCPOptions(opts, &o)
	for i := 0; i < o.NumSACK && i < len(o.SACK); i++ {
		if after(o.SACK[i].Right, sack) {
			sack = o.SACK[i].Right
		}
	}
	return sack
}

func (c *conn) tcpEstablished() bool { return c.state == sES && c.status&stAssured != 0 }

// tcpCanEarlyDrop: states in which a RST needs no sequence check (the tuple
// may already be reused) and which table pressure may evict.
func tcpCanEarlyDrop(s State) bool {
	switch s {
	case sFW, sLA, sTW, sCL, sCW:
		return true
	}
	return false
}

// tcpPacket runs one segment through the state machine and the window
// check (Linux nf_conntrack_tcp_packet). dir is 0 for original, 1 for reply.
// On accept it sets the entry's state and deadline.
func (s *Shard) tcpPacket(c *conn, dir uint8, seg *tcpSeg, z *zone, why *Why) tcpAction {
	t := &c.tcp
	old := c.state
	index := seg.index
	newState := tcpTransition(dir, index, old)
	skipWindow := false

	switch newState {
	case sSS:
		if old < sTW {
			break
		}
		// A SYN on a closed or aborted connection: reopen it.
		if (t.seen[dir].flags|t.seen[1-dir].flags)&tcpFlagCloseInit != 0 ||
			(t.lastDir == dir && t.lastIndex == idxRST) {
			return tcpReopen
		}
		fallthrough
	case sIG:
		if index == idxSYNACK && t.lastIndex == idxSYN && t.lastDir != dir && seg.ack == t.lastEnd {
			// This SYN/ACK answers a SYN we ignored: client and server are
			// in sync, we are not. Resynchronise from the remembered SYN.
			old = sSS
			newState = sSR
			ld := &t.seen[t.lastDir]
			ld.end = t.lastEnd
			ld.maxEnd = t.lastEnd
			ld.maxWin = max(uint32(t.lastWin), 1)
			ld.scale = t.lastScale
			t.lastFlags &^= tcpLastChallengeACK
			ld.flags = t.lastFlags
			sd := &t.seen[dir]
			*sd = tcpDir{flags: sd.flags & tcpFlagBeLiberal}
			break
		}
		t.lastIndex = index
		t.lastDir = dir
		t.lastSeq = seg.seq
		t.lastEnd = seg.end
		t.lastWin = seg.win
		if index == idxSYN && dir == 0 {
			// Remember the SYN's options in case the server answers it.
			var d tcpDir
			parseWindowOptions(seg.opts, &d)
			t.lastFlags, t.lastScale = 0, 0
			if d.flags&tcpFlagWindowScale != 0 {
				t.lastFlags |= tcpFlagWindowScale
				t.lastScale = d.scale
			}
			if d.flags&tcpFlagSackPerm != 0 {
				t.lastFlags |= tcpFlagSackPerm
			}
			// RFC 5961: the peer may answer with a challenge ACK, which in
			// LAST_ACK must not be taken for the ACK of the last FIN.
			if old == sLA {
				t.lastFlags |= tcpLastChallengeACK
			}
		}
		if old == sSS && index == idxACK && dir == 1 {
			// Possibly a challenge ACK to our SYN: a RST with this
			// sequence must then pass.
			t.lastAck = seg.ack
		}
		*why = Why{Reason: ReasonTCPIgnoredPkt, A: uint32(index), B: uint32(dir), C: uint32(old)}
		return tcpIgnore
	case sIV:
		*why = Why{Reason: ReasonTCPStateTable, A: uint32(index), B: uint32(dir), C: uint32(old)}
		return tcpInvalid
	case sTW:
		if old == sLA && index == idxACK && t.lastDir != dir && t.lastIndex == idxSYN &&
			t.lastFlags&tcpLastChallengeACK != 0 {
			t.lastFlags &^= tcpLastChallengeACK
			*why = Why{Reason: ReasonTCPChallengeACK}
			return tcpIgnore
		}
	case sS2:
		t.lastFlags |= tcpLastSimOpen
	case sSR:
		if dir == 1 && index == idxACK && t.lastFlags&tcpLastSimOpen != 0 {
			newState = sES
		}
	case sCL:
		if index != idxRST {
			break
		}
		if tcpCanEarlyDrop(old) {
			// Closing: the tuple may already be reused, our edges are stale.
			skipWindow = true
			break
		}
		peer := &t.seen[1-dir]
		if peer.flags&tcpFlagMaxAckSet != 0 && t.lastIndex != idxSYN {
			if seg.seq == 0 && !c.tcpEstablished() {
				// Most likely the answer to a SYN we let through.
				break
			}
			if before(seg.seq, peer.maxAck) && !z.cfg.IgnoreInvalidRST {
				*why = Why{Reason: ReasonTCPInvalidRST, A: seg.seq, B: peer.maxAck}
				return tcpInvalid
			}
			if !c.tcpEstablished() || seg.seq == peer.maxAck {
				break
			}
			if t.lastIndex == idxACK && t.lastDir == dir && seg.seq == t.lastEnd {
				break // RST right behind our own data: part of a train
			}
			// In-window but not exact (RFC 5961): keep the state so a
			// challenge ACK can follow; the RST timeout still applies.
			newState = old
		}
		if ((c.status&stSeenReply != 0 && t.lastIndex == idxSYN) ||
			(c.status&stAssured == 0 && t.lastIndex == idxACK)) && seg.ack == t.lastEnd {
			// RST answering a SYN or half-open ACK we let through: it may
			// acknowledge segments we ignored.
			skipWindow = true
			break
		}
		if old == sSS && t.lastIndex == idxACK && t.lastDir == 1 && seg.seq == t.lastAck {
			// RST answering a challenge ACK we let through earlier.
			skipWindow = true
		}
	}

	if !skipWindow {
		switch tcpInWindow(c, dir, seg, z, why) {
		case tcpIgnore:
			return tcpIgnore
		case tcpInvalid:
			s.tcpHandleInvalid(c, dir, index, z)
			return tcpInvalid
		}
	}

	// In-window from here on.
	t.lastIndex = index
	t.lastDir = dir
	c.state = newState
	if old != newState && newState == sFW {
		t.seen[dir].flags |= tcpFlagCloseInit
	}

	to := &z.to
	stateTO := to.tcp[newState]
	var timeout uint32
	switch {
	case int(t.retrans) >= z.cfg.MaxRetrans && stateTO > to.tcpRetrans:
		timeout = to.tcpRetrans
	case index == idxRST:
		timeout = to.tcp[sCL]
	case (t.seen[0].flags|t.seen[1].flags)&tcpFlagDataUnacked != 0 && stateTO > to.tcpUnack:
		timeout = to.tcpUnack
	case t.lastWin == 0 && stateTO > to.tcpRetrans:
		timeout = to.tcpRetrans
	default:
		timeout = stateTO
	}

	if c.status&stSeenReply == 0 {
		if seg.flags&packet.TCPFlagRST != 0 {
			// The only answer was a RST: there is no connection.
			return tcpKill
		}
		if index == idxSYN && old == sSS {
			// A retransmitted SYN does not renew the entry, or port reuse
			// could keep a stale one alive forever.
			return tcpAccept
		}
		if newState == sES && timeout > to.tcpUnack {
			// Picked up mid-stream and unanswered: keep it short.
			timeout = to.tcpUnack
		}
	} else if c.status&stAssured == 0 && (old == sSR || old == sES) && newState == sES {
		c.status |= stAssured
	}
	s.refresh(c, timeout)
	return tcpAccept
}

// tcpHandleInvalid shortens the life of an assured connection whose FIN or
// RST exchange conntrack found out of window, so a desynchronised entry does
// not linger for days (Linux nf_tcp_handle_invalid).
func (s *Shard) tcpHandleInvalid(c *conn, dir, index uint8, z *zone) {
	if c.status&stAssured == 0 || (index != idxRST && index != idxFIN) {
		return
	}
	t := &c.tcp
	if t.lastDir != dir && (t.lastIndex == idxFIN || t.lastIndex == idxRST) {
		remaining := int32(c.deadline - s.nowTick)
		if remaining < int32(durTicks(int64(120*time.Second))) {
			return
		}
		if unack := z.to.tcpUnack; remaining > int32(unack) {
			s.refresh(c, unack)
		}
		return
	}
	t.lastIndex = index
	t.lastDir = dir
}

// maxAckWindow is Linux's MAXACKWINDOW: how far below the receiver's highest
// sequence an ACK may lag before it is considered overly delayed.
func maxAckWindow(sender *tcpDir) uint32 { return max(sender.maxWin, 66000) }

// tcpInWindow is Linux's tcp_in_window. Checks:
//
//	I.   seq <= sender.td_maxend                       (else INVALID, or IGNORE on a small overshoot)
//	II.  end >= sender.td_end - receiver.td_maxwin     (else IGNORE: old data retransmitted)
//	III. sack <= receiver.td_end                       (else INVALID: ACK for unseen data)
//	IV.  sack >= receiver.td_end - MAXACKWINDOW         (else IGNORE: overly delayed ACK)
//
// Liberal senders (per connection, or be_liberal on the zone) pass every
// check but learn nothing from a packet that failed one.
func tcpInWindow(c *conn, dir uint8, seg *tcpSeg, z *zone, why *Why) tcpAction {
	t := &c.tcp
	sender := &t.seen[dir]
	receiver := &t.seen[1-dir]
	seq, ack, end := seg.seq, seg.ack, seg.end
	sack := ack
	win := uint32(seg.win)
	syn := seg.flags&packet.TCPFlagSYN != 0
	hasACK := seg.flags&packet.TCPFlagACK != 0

	if receiver.flags&tcpFlagSackPerm != 0 {
		sack = highestSACK(seg.opts, sack)
	}

	if sender.maxWin == 0 {
		if syn {
			tcpInitSender(sender, receiver, seg, dir)
			if !hasACK {
				return tcpAccept // simultaneous open
			}
		} else {
			// Middle of a connection whose history we lack: use the packet.
			sender.end = end
			swin := win << sender.scale
			sender.maxWin = max(swin, 1)
			sender.maxEnd = end + sender.maxWin
			if receiver.maxWin == 0 {
				// Nothing seen the other way yet: let III and IV pass.
				receiver.end = sack
				receiver.maxEnd = sack
			} else if sack == receiver.end+1 {
				receiver.end++ // likely a reply to a keepalive
			}
		}
	} else if syn && after(end, sender.end) && (c.state == sSS || c.state == sSR) {
		// RFC 793: a reinitialised TCP may reuse the tuple with higher
		// sequence numbers; re-init this direction from the new SYN(/ACK).
		tcpInitSender(sender, receiver, seg, dir)
		if dir == 1 && !hasACK {
			return tcpAccept
		}
	}

	if !hasACK {
		ack = receiver.end
		sack = ack
	} else if seg.flags&(packet.TCPFlagACK|packet.TCPFlagRST) == packet.TCPFlagACK|packet.TCPFlagRST && ack == 0 {
		// Stacks that send RST+ACK with a zero ack.
		ack = receiver.end
		sack = ack
	}
	if seg.flags&packet.TCPFlagRST != 0 && seq == 0 && c.state == sSS {
		// RST answering a SYN.
		seq = sender.end
		end = seq
	}

	// A liberal sender passes every check, but learns nothing from a
	// packet that failed one.
	liberal := sender.flags&tcpFlagBeLiberal != 0 || z.cfg.BeLiberal

	if !before(seq, sender.maxEnd+1) {
		overshot := end - sender.maxEnd + 1
		ackOK := after(sack, receiver.end-maxAckWindow(sender)-1)
		inRecvWin := receiver.maxWin != 0 && after(end, sender.end-receiver.maxWin-1)
		if inRecvWin && ackOK && overshot <= receiver.maxWin && before(sack, receiver.end+1) {
			// Some stacks send a little past the advertised window. Remember
			// the data so the peer's ACK for it is not "over upper bound".
			sender.end = end
			sender.flags |= tcpFlagDataUnacked
			return failed(liberal, tcpIgnore, why, Why{Reason: ReasonTCPOvershoot, A: overshot})
		}
		return failed(liberal, tcpInvalid, why, Why{Reason: ReasonTCPSeqOver, A: seq, B: sender.maxEnd + 1, C: end})
	}
	if !before(sack, receiver.end+1) {
		return failed(liberal, tcpInvalid, why, Why{Reason: ReasonTCPAckOver, A: sack, B: receiver.end + 1})
	}
	if receiver.maxWin != 0 && !after(end, sender.end-receiver.maxWin-1) {
		return failed(liberal, tcpIgnore, why, Why{Reason: ReasonTCPSeqUnder, A: end, B: sender.end - receiver.maxWin - 1})
	}
	if lower := receiver.end - maxAckWindow(sender) - 1; !after(sack, lower) {
		return failed(liberal, tcpIgnore, why, Why{Reason: ReasonTCPAckUnder, A: sack, B: lower})
	}

	if !syn {
		win <<= sender.scale
	}
	if swin := win + (sack - ack); sender.maxWin < swin {
		sender.maxWin = swin
	}
	if after(end, sender.end) {
		sender.end = end
		sender.flags |= tcpFlagDataUnacked
	}
	if hasACK {
		if sender.flags&tcpFlagMaxAckSet == 0 {
			sender.maxAck = ack
			sender.flags |= tcpFlagMaxAckSet
		} else if after(ack, sender.maxAck) {
			sender.maxAck = ack
		}
	}

	if receiver.maxWin != 0 && after(end, sender.maxEnd) {
		receiver.maxWin += end - sender.maxEnd
	}
	if after(sack+win, receiver.maxEnd-1) {
		receiver.maxEnd = sack + win
		if win == 0 {
			receiver.maxEnd++
		}
	}
	if ack == receiver.end {
		receiver.flags &^= tcpFlagDataUnacked
	}

	// Count identical ACK-only segments: retransmissions.
	if seg.index == idxACK {
		if t.lastDir == dir && t.lastSeq == seq && t.lastAck == ack && t.lastEnd == end && t.lastWin == seg.win {
			if t.retrans < 255 {
				t.retrans++
			}
		} else {
			t.lastDir = dir
			t.lastSeq = seq
			t.lastAck = ack
			t.lastEnd = end
			t.lastWin = seg.win
			t.retrans = 0
		}
	}
	return tcpAccept
}

func failed(liberal bool, a tcpAction, why *Why, w Why) tcpAction {
	if liberal {
		return tcpAccept
	}
	*why = w
	return a
}

// tcpInitSender initialises a direction from its SYN or SYN/ACK. Window
// scaling applies only if both SYNs carried the option (RFC 7323).
func tcpInitSender(sender, receiver *tcpDir, seg *tcpSeg, dir uint8) {
	sender.end = seg.end
	sender.maxEnd = seg.end
	sender.maxWin = max(uint32(seg.win), 1)
	parseWindowOptions(seg.opts, sender)
	if dir == 1 && !(sender.flags&tcpFlagWindowScale != 0 && receiver.flags&tcpFlagWindowScale != 0) {
		sender.scale = 0
		receiver.scale = 0
	}
}
