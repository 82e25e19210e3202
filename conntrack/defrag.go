package conntrack

import (
	"encoding/binary"

	"github.com/ctswitch/ctswitch/packet"
)

// Reassembly of IPv4 and IPv6 fragments before tracking: connection state
// needs the ports, which only the first fragment carries, and a verdict on
// a datagram must cover all of it. Bounded: at most MaxPending datagrams,
// each at most 65535 bytes and maxFragsPerDatagram fragments, each
// discarded after Timeout. Overlapping fragments invalidate the datagram
// (RFC 5722): overlaps are how evasion attacks hide data from inspection.

const maxFragsPerDatagram = 64

type fragKey struct {
	src, dst [16]byte
	id       uint32
	zone     uint16
	proto    uint8
	family   uint8
}

type fragRange struct{ off, end int }

type datagram struct {
	key      fragKey
	deadline int64
	ranges   [maxFragsPerDatagram]fragRange
	n        int
	total    int // payload length once the last fragment is seen, else -1
	got      int // payload bytes received
	hdr      []byte
	data     []byte
	haveHead bool
}

type defragger struct {
	cfg     DefragConfig
	pending map[fragKey]*datagram
	spare   []*datagram
	out     []byte
}

func newDefragger(cfg DefragConfig) *defragger {
	return &defragger{cfg: cfg, pending: make(map[fragKey]*datagram)}
}

// Defrag adds a fragment (p.IsFragment) to its datagram. While the datagram
// is incomplete it returns a pending result (or an invalid one, if the
// fragment is rejected) and done=false. When this fragment completes the
// datagram, it rewrites p.Frame to the reassembled frame (shard-owned
// memory, valid until the next Defrag call on this shard), re-parses
// p.Meta and returns done=true with the number of fragments: classify p
// again and Track it on its owner. Owner only.
func (s *Shard) Defrag(p *Packet, now int64) (res Result, done bool) {
	now = s.clock(now)
	res = Result{Shard: s.id}
	d := s.defrag
	if d.cfg.Disabled {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonNotFirstFrag}
		return s.countResult(res), false
	}
	m := &p.Meta
	k := fragKey{src: p.key.Src, dst: p.key.Dst, id: m.FragID, zone: p.Zone, family: p.key.Family}
	if m.IPVersion == 4 {
		k.proto = m.L4Proto // IPv6 fragments of one datagram may differ only after the header
	}
	off := int(m.FragOffset)
	payloadStart := m.L4Off
	if m.IPVersion == 6 {
		payloadStart = m.FragHdrOff + 8
	}
	if payloadStart > m.End {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragMismatch}
		return s.countResult(res), false
	}
	payload := p.Frame[payloadStart:m.End]
	end := off + len(payload)
	minSize := d.cfg.MinFragSizeV4
	if m.IPVersion == 6 {
		minSize = d.cfg.MinFragSizeV6
	}
	switch {
	case end > 65535:
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragTooBig, A: uint32(end)}
		return s.countResult(res), false
	case m.MoreFragments && len(payload) < minSize:
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragTooSmall, A: uint32(len(payload)), B: uint32(minSize)}
		return s.countResult(res), false
	case m.MoreFragments && len(payload)%8 != 0:
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragMismatch}
		return s.countResult(res), false
	}

	dg := d.pending[k]
	if dg == nil {
		if len(d.pending) >= d.cfg.MaxPending {
			s.expireFrags(now)
			if len(d.pending) >= d.cfg.MaxPending {
				res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragTableFull, A: uint32(len(d.pending))}
				return s.countResult(res), false
			}
		}
		dg = d.get()
		dg.key = k
		dg.deadline = now + int64(d.cfg.Timeout)
		d.pending[k] = dg
	}

	// Overlap check. An exact duplicate (a retransmission) is harmless.
	for _, r := range dg.ranges[:dg.n] {
		if r.off == off && r.end == end {
			res.Verdict, res.Why = VerdictPending, Why{Reason: ReasonFragPending, A: uint32(dg.n), B: m.FragID}
			return s.countResult(res), false
		}
		if off < r.end && r.off < end {
			s.dropDatagram(dg)
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragOverlap, A: uint32(off), B: uint32(len(payload))}
			return s.countResult(res), false
		}
	}
	if (!m.MoreFragments && dg.total >= 0 && dg.total != end) ||
		(dg.total >= 0 && end > dg.total) || (!m.MoreFragments && end < dg.maxEnd()) ||
		dg.n == maxFragsPerDatagram {
		s.dropDatagram(dg)
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragMismatch}
		return s.countResult(res), false
	}
	if !m.MoreFragments {
		dg.total = end
	}
	dg.ranges[dg.n] = fragRange{off, end}
	dg.n++
	dg.got += len(payload)
	if len(dg.data) < end {
		if cap(dg.data) < end {
			nd := make([]byte, end, max(end, 2048))
			copy(nd, dg.data)
			dg.data = nd
		}
		dg.data = dg.data[:end]
	}
	copy(dg.data[off:end], payload)
	if off == 0 {
		// Keep the headers of the first fragment: L2, IP and (IPv6) the
		// extension headers before the fragment header.
		dg.hdr = append(dg.hdr[:0], p.Frame[:payloadStart]...)
		dg.haveHead = true
	}
	if dg.total < 0 || dg.got != dg.total || !dg.haveHead {
		res.Verdict, res.Why = VerdictPending, Why{Reason: ReasonFragPending, A: uint32(dg.n), B: m.FragID}
		return s.countResult(res), false
	}

	// Complete: build the whole datagram.
	n := dg.n
	frame, ok := d.assemble(dg, m)
	s.dropDatagram(dg)
	if !ok {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonFragMismatch}
		return s.countResult(res), false
	}
	p.Frame = frame
	if err := packet.Parse(frame, &p.Meta); err != nil {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonMalformed, A: uint32(errCode(err))}
		return s.countResult(res), false
	}
	res.Fragments = n
	return res, true
}

func (s *Shard) countResult(res Result) Result {
	s.stats.Packets++
	s.stats.Verdicts[res.Verdict]++
	if res.Why.Reason != ReasonNone {
		s.stats.Reasons[res.Why.Reason]++
		if res.Verdict == VerdictInvalid {
			s.stats.Invalid[res.Why.Reason]++
		}
	}
	return res
}

func (dg *datagram) maxEnd() int {
	e := 0
	for _, r := range dg.ranges[:dg.n] {
		e = max(e, r.end)
	}
	return e
}

func (d *defragger) get() *datagram {
	var dg *datagram
	if n := len(d.spare); n > 0 {
		dg = d.spare[n-1]
		d.spare = d.spare[:n-1]
	} else {
		dg = &datagram{}
	}
	dg.n, dg.total, dg.got, dg.haveHead = 0, -1, 0, false
	dg.hdr, dg.data = dg.hdr[:0], dg.data[:0]
	return dg
}

func (s *Shard) dropDatagram(dg *datagram) {
	d := s.defrag
	delete(d.pending, dg.key)
	d.spare = append(d.spare, dg)
}

// assemble writes headers + payload into the shard's output buffer and
// fixes the IP header: lengths, fragment fields, IPv4 header checksum; for
// IPv6 the fragment header is removed.
func (d *defragger) assemble(dg *datagram, m *packet.Meta) ([]byte, bool) {
	hl := len(dg.hdr)
	need := hl + dg.total
	if cap(d.out) < need {
		d.out = make([]byte, need, max(need, 65535+256))
	}
	out := d.out[:need]
	copy(out, dg.hdr)
	copy(out[hl:], dg.data[:dg.total])
	// Locate the IP header after L2 (the first fragment's layout).
	l3 := 14
	for l3+4 <= hl {
		et := binary.BigEndian.Uint16(out[l3-2:])
		if et != packet.EtherTypeVLAN && et != packet.EtherTypeQinQ {
			break
		}
		l3 += 4
	}
	if l3 >= hl {
		return nil, false
	}
	switch out[l3] >> 4 {
	case 4:
		ip := packet.IPv4(out[l3:])
		if need-l3 > 65535 {
			return nil, false
		}
		ip.SetTotalLength(uint16(need - l3))
		ip.SetFlagsFragment(ip.DF(), false, 0)
		ip.SetChecksum()
		return out, true
	case 6:
		// Find the "next header" byte that points at the fragment header:
		// the IPv6 header's, or the last extension header's before it.
		if hl < l3+40 {
			return nil, false
		}
		nhOff := l3 + 6
		pos := l3 + 40
		nh := out[nhOff]
		for pos < hl {
			if nh == packet.ProtoIPv6Frag {
				break
			}
			if pos+2 > hl {
				return nil, false
			}
			nhOff = pos
			size := (int(out[pos+1]) + 1) * 8
			if nh == 51 { // AH counts in 4-byte units
				size = (int(out[pos+1]) + 2) * 4
			}
			nh = out[pos]
			pos += size
		}
		// hdr ends with the fragment header; its first byte is the real
		// next header.
		if pos != hl-8 {
			return nil, false
		}
		out[nhOff] = out[pos]
		copy(out[pos:], out[hl:need])
		out = out[:need-8]
		payloadLen := len(out) - l3 - 40
		if payloadLen > 65535 {
			return nil, false
		}
		packet.IPv6(out[l3:]).SetPayloadLength(uint16(payloadLen))
		return out, true
	}
	return nil, false
}

// expireFrags discards datagrams past their deadline.
func (s *Shard) expireFrags(now int64) {
	for _, dg := range s.defrag.pending {
		if dg.deadline <= now {
			s.stats.Reasons[ReasonFragTimeout] += uint64(dg.n)
			s.stats.Invalid[ReasonFragTimeout] += uint64(dg.n)
			s.dropDatagram(dg)
		}
	}
}

// FragmentsPending returns the datagrams awaiting fragments. Owner only.
func (s *Shard) FragmentsPending() int { return len(s.defrag.pending) }
