package conntrack

import (
	"encoding/binary"
	"math/bits"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/ctswitch/ctswitch/packet"
)

// What Classify found in a packet.
const (
	kindInvalid = iota
	kindUntracked
	kindFragment
	kindTCP
	kindUDP
	kindICMPQuery
	kindICMPError
	kindOther
)

// Packet is the per-packet context a worker fills and reuses: the frame,
// its parsed headers and what Classify derived from them. Zero allocation:
// keep one per worker (or per batch slot) and overwrite it.
type Packet struct {
	// The fields tracking reads come first, so a context that is not
	// cached costs two cache lines, not four.
	Frame []byte
	Zone  uint16
	kind  uint8
	rev   bool
	hash  uint64
	ckey  Key // canonical key
	Meta  packet.Meta

	key Key // the packet's own tuple (for an ICMP error: the related connection's, in the error's direction)
	why Why // set when kind is kindInvalid

	icmpType uint8
	icmpCode uint8
}

// Tuple returns the tuple Classify derived (zero before Classify).
func (p *Packet) Tuple() Key { return p.key }

// Hash returns the symmetric flow hash Classify derived.
func (p *Packet) Hash() uint64 { return p.hash }

// IsFragment reports whether Classify found an IP fragment: it must go
// through Shard.Defrag before Track.
func (p *Packet) IsFragment() bool { return p.kind == kindFragment }

// Result is the tracker's verdict on one packet.
type Result struct {
	Verdict Verdict
	// Why explains invalid and ignored verdicts (and pending fragments).
	Why Why
	// State is the connection's state after the packet.
	State State
	// Tuple is the packet's tuple; for an ICMP error, the related
	// connection's tuple as seen in the error's direction. Filled by
	// Table.Process; on the fast path (Track, TrackBatch) read
	// Packet.Tuple instead, which saves a copy per packet.
	Tuple Key
	// Reply is true for packets in the connection's reply direction.
	Reply bool
	// Fragments > 0: this packet completed a datagram of that many
	// fragments, and the verdict is the datagram's.
	Fragments int
	// Shard is the owner that tracked the packet.
	Shard int
	ref   uint32
}

// Classify derives the packet's flow key and owner from p.Frame and p.Meta
// (filled by packet.Parse) and returns the owning shard. It reads only
// immutable configuration, so any worker may call it. Every packet gets an
// owner, even invalid ones, so that their verdicts are counted in one place.
func (t *Table) Classify(p *Packet) int {
	p.classify()
	return ownerOf(p.hash, len(t.shards))
}

func (p *Packet) classify() {
	if nativeLE && p.classifyFast() {
		return
	}
	p.classifyFields()
}

// nativeLE: on little-endian machines a Key's memory is exactly the encoding
// Key.hash hashes, which lets classifyFast build keys as whole words.
var nativeLE = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// classifyFast handles the common case, unfragmented TCP and UDP, on
// little-endian machines. It builds both keys as five 64-bit words in
// registers and stores each once: writing a key field by field and then
// reading it back in words for hashing stalls on store forwarding, which
// cost more than the rest of classification. It must agree exactly with
// classifyFields (TestClassifyFastMatchesFields).
func (p *Packet) classifyFast() bool {
	m := &p.Meta
	if m.Fragment || (m.L4Proto != protoTCP && m.L4Proto != protoUDP) || m.L4Off+4 > len(p.Frame) {
		return false
	}
	l3 := p.Frame[m.L3Off:]
	var s0, s1, d0, d1, fam uint64
	switch {
	case m.IPVersion == 4 && len(l3) >= 20:
		s0 = uint64(binary.LittleEndian.Uint32(l3[12:]))
		d0 = uint64(binary.LittleEndian.Uint32(l3[16:]))
		fam = 4
	case m.IPVersion == 6 && len(l3) >= 40:
		s0, s1 = binary.LittleEndian.Uint64(l3[8:]), binary.LittleEndian.Uint64(l3[16:])
		d0, d1 = binary.LittleEndian.Uint64(l3[24:]), binary.LittleEndian.Uint64(l3[32:])
		fam = 6
	default:
		return false
	}
	l4 := p.Frame[m.L4Off:]
	sp := uint64(binary.BigEndian.Uint16(l4[0:]))
	dp := uint64(binary.BigEndian.Uint16(l4[2:]))
	tail := uint64(p.Zone)<<32 | uint64(m.L4Proto)<<48 | fam<<56
	kw := (*[5]uint64)(unsafe.Pointer(&p.key))
	kw[0], kw[1], kw[2], kw[3], kw[4] = s0, s1, d0, d1, sp|dp<<16|tail

	// Canonical order as Key.reversedIsCanonical: addresses in network
	// byte order, then ports.
	var rev bool
	if a, b := bits.ReverseBytes64(s0), bits.ReverseBytes64(d0); a != b {
		rev = a > b
	} else if a, b := bits.ReverseBytes64(s1), bits.ReverseBytes64(d1); a != b {
		rev = a > b
	} else {
		rev = sp > dp
	}
	cw := (*[5]uint64)(unsafe.Pointer(&p.ckey))
	if rev {
		cw[0], cw[1], cw[2], cw[3], cw[4] = d0, d1, s0, s1, dp|sp<<16|tail
	} else {
		cw[0], cw[1], cw[2], cw[3], cw[4] = s0, s1, d0, d1, sp|dp<<16|tail
	}
	p.rev = rev
	p.hash = xxhash.Sum64(unsafe.Slice((*byte)(unsafe.Pointer(&p.ckey)), keySize))
	p.why = Why{}
	p.kind = kindUDP
	if m.L4Proto == protoTCP {
		p.kind = kindTCP
	}
	return true
}

// classifyFields is the general classification, field by field.
func (p *Packet) classifyFields() {
	m := &p.Meta
	p.why = Why{}
	p.key = Key{Zone: p.Zone}
	switch m.IPVersion {
	case 4:
		ip := packet.IPv4(p.Frame[m.L3Off:])
		p.key.Family = 4
		src, dst := ip.Src(), ip.Dst()
		copy(p.key.Src[:4], src[:])
		copy(p.key.Dst[:4], dst[:])
	case 6:
		ip := packet.IPv6(p.Frame[m.L3Off:])
		p.key.Family = 6
		p.key.Src, p.key.Dst = ip.Src(), ip.Dst()
	default:
		p.kind = kindUntracked
		p.setHash()
		return
	}
	p.key.Proto = m.L4Proto
	if m.Fragment {
		// Until reassembled, a fragment's flow is its datagram.
		p.kind = kindFragment
		p.key.SrcPort = uint16(m.FragID >> 16)
		p.key.DstPort = uint16(m.FragID)
		p.setHash()
		return
	}
	l4 := p.Frame[m.L4Off:m.End]
	switch m.L4Proto {
	case protoTCP:
		p.kind = kindTCP
		tcp := packet.TCP(l4)
		p.key.SrcPort, p.key.DstPort = tcp.SrcPort(), tcp.DstPort()
	case protoUDP:
		p.kind = kindUDP
		udp := packet.UDP(l4)
		p.key.SrcPort, p.key.DstPort = udp.SrcPort(), udp.DstPort()
	case protoICMP, protoICMPv6:
		p.classifyICMP(l4)
	case 33, 132, 136: // DCCP, SCTP, UDP-Lite: ports in the first 4 bytes
		p.kind = kindOther
		if len(l4) >= 4 {
			p.key.SrcPort = uint16(l4[0])<<8 | uint16(l4[1])
			p.key.DstPort = uint16(l4[2])<<8 | uint16(l4[3])
		}
	default:
		p.kind = kindOther
	}
	p.setHash()
}

func (p *Packet) setHash() {
	k, ck := &p.key, &p.ckey
	p.rev = k.reversedIsCanonical()
	if p.rev {
		ck.Src, ck.Dst = k.Dst, k.Src
		ck.SrcPort, ck.DstPort = k.DstPort, k.SrcPort
		if isICMPProto(k.Proto) {
			ck.SrcPort, ck.DstPort = k.SrcPort, k.DstPort
		}
		ck.Zone, ck.Proto, ck.Family = k.Zone, k.Proto, k.Family
	} else {
		*ck = *k
	}
	p.hash = ck.hash()
}

// ICMP query classes: the request type names the class; replies map to it.
func icmpQueryClass(v6 bool, typ uint8) (class uint8, request, ok bool) {
	if v6 {
		switch typ {
		case packet.ICMPv6EchoRequest, 139: // echo, node information query
			return typ, true, true
		case packet.ICMPv6EchoReply, 140:
			return typ - 1, false, true
		}
		return 0, false, false
	}
	switch typ {
	case packet.ICMPv4EchoRequest:
		return typ, true, true
	case packet.ICMPv4EchoReply:
		return packet.ICMPv4EchoRequest, false, true
	case packet.ICMPv4Timestamp, packet.ICMPv4InfoRequest, 17: // 17: address mask request
		return typ, true, true
	case packet.ICMPv4TimestampReply, packet.ICMPv4InfoReply, 18:
		return typ - 1, false, true
	}
	return 0, false, false
}

// icmpQueryKey fills the key fields of an ICMP query: the identifier, the
// class, and which endpoint asked. The requester bit depends only on the
// address order, so both directions still share one canonical key, while a
// query from each side with the same identifier stays two connections (as
// Linux, whose tuples carry the type).
func icmpQueryKey(k *Key, id uint16, class uint8, request bool) {
	k.SrcPort = id
	k.DstPort = uint16(class)
	srcIsLower := compareBytes16(&k.Src, &k.Dst) <= 0
	if srcIsLower != request {
		k.DstPort |= 0x100 // the requester is the higher address
	}
}

func (p *Packet) classifyICMP(l4 []byte) {
	v6 := p.key.Proto == protoICMPv6
	typ, code := l4[0], l4[1]
	p.icmpType, p.icmpCode = typ, code
	if v6 {
		switch typ {
		case 130, 131, 132, 133, 134, 135, 136, 137, 143:
			// Neighbour discovery, MLD, router discovery, redirects: link
			// housekeeping that stateful rules must never block.
			p.kind = kindUntracked
			return
		}
	}
	isErr := packet.ICMPv4IsError(typ)
	if v6 {
		isErr = packet.ICMPv6IsError(typ)
	}
	if !isErr {
		class, request, ok := icmpQueryClass(v6, typ)
		if !ok || code != 0 {
			p.kind = kindInvalid
			p.why = Why{Reason: ReasonICMPBadType, A: uint32(typ), B: uint32(code)}
			return
		}
		p.kind = kindICMPQuery
		icmpQueryKey(&p.key, uint16(l4[4])<<8|uint16(l4[5]), class, request)
		return
	}
	// An error: the related connection is the quoted packet's.
	body := l4[8:]
	var q packet.Meta
	if err := packet.ParseQuoted(body, &q); err != nil {
		p.kind = kindInvalid
		p.why = Why{Reason: ReasonICMPBadQuote, A: uint32(errCode(err))}
		return
	}
	if (q.IPVersion == 6) != v6 || q.Fragment && q.FragOffset != 0 {
		p.kind = kindInvalid
		p.why = Why{Reason: ReasonICMPBadQuote}
		return
	}
	inner := Key{Zone: p.Zone, Proto: q.L4Proto, Family: q.IPVersion}
	if v6 {
		ip := packet.IPv6(body[q.L3Off:])
		inner.Src, inner.Dst = ip.Src(), ip.Dst()
	} else {
		ip := packet.IPv4(body[q.L3Off:])
		s, d := ip.Src(), ip.Dst()
		copy(inner.Src[:4], s[:])
		copy(inner.Dst[:4], d[:])
	}
	ql4 := body[q.L4Off:q.End]
	switch q.L4Proto {
	case protoTCP, protoUDP, 33, 132, 136:
		inner.SrcPort = uint16(ql4[0])<<8 | uint16(ql4[1])
		inner.DstPort = uint16(ql4[2])<<8 | uint16(ql4[3])
	case protoICMP, protoICMPv6:
		class, request, ok := icmpQueryClass(v6, ql4[0])
		if !ok {
			p.kind = kindInvalid
			p.why = Why{Reason: ReasonICMPBadQuote}
			return
		}
		icmpQueryKey(&inner, uint16(ql4[4])<<8|uint16(ql4[5]), class, request)
	}
	// The error travels against the quoted packet: track it under the
	// quoted tuple reversed, which is the error's own direction.
	p.kind = kindICMPError
	p.key = inner.Reverse()
}

func errCode(err error) packet.ParseError {
	if pe, ok := err.(packet.ParseError); ok {
		return pe
	}
	return 0
}

func parseErrorName(code uint32) string {
	if code == 0 {
		return "quoted packet unusable"
	}
	return packet.ParseError(code).Error()
}

// Track runs one classified, non-fragment packet through the owner's table.
// Owner only.
func (s *Shard) Track(p *Packet, now int64) (res Result) {
	s.clock(now)
	s.track(p, &res)
	s.account(p, &res)
	return res
}

// TrackBatch tracks a batch of classified packets owned by this shard,
// writing out[i] for pkts[i], in order. With many connections the cost of a
// packet is its cache misses (index bucket, then entry), so the batch runs
// as a software pipeline: while packet j is tracked, the bucket of packet
// j+bucketAhead and the entry of packet j+entryAhead are prefetched (the
// entry the bucket's tag names, so only the right one). The prefetches are
// hints only, so inserts and deletes by the packets in between cannot make
// them wrong. A worker that calls Prefetch as it classifies has the first
// buckets in flight before the batch starts. Owner only; len(out) >=
// len(pkts).
func (s *Shard) TrackBatch(pkts []*Packet, now int64, out []Result) {
	s.clock(now)
	const bucketAhead, entryAhead = 16, 8
	n := len(pkts)
	if s.count < prefetchMinConns {
		n = 0 // the table fits in the caches: prefetching would only cost
	}
	for j := 0; j < min(bucketAhead, n); j++ {
		s.prefetchBucket(pkts[j])
	}
	for j := 0; j < min(entryAhead, n); j++ {
		s.prefetchEntry(pkts[j])
	}
	for j, p := range pkts {
		if k := j + bucketAhead; k < n {
			s.prefetchBucket(pkts[k])
		}
		if k := j + entryAhead; k < n {
			s.prefetchEntry(pkts[k])
		}
		r := &out[j]
		*r = Result{}
		s.track(p, r)
		s.account(p, r)
	}
}

// Prefetch starts loading the index bucket of a classified packet this
// shard owns, so that a later TrackBatch finds it cached. A hint: it
// changes nothing. Owner only.
func (s *Shard) Prefetch(p *Packet) {
	if s.count >= prefetchMinConns {
		s.prefetchBucket(p)
	}
}

// prefetchMinConns: below this many entries (128 B each, about 1 MiB: the
// size of a core's L2) a shard's table stays cached and is not prefetched.
const prefetchMinConns = 8 << 10

func (s *Shard) prefetchBucket(p *Packet) {
	prefetch(uintptr(unsafe.Pointer(&s.buckets[s.home(uint32(p.hash))])))
}

// prefetchEntry finds p's candidate entry in its bucket (prefetched
// earlier, so normally a cache hit) and prefetches both of its lines.
func (s *Shard) prefetchEntry(p *Packet) {
	if i := s.candidate(uint32(p.hash)); i != 0 {
		s.prefetchConn(i)
	}
}

func (s *Shard) prefetchConn(i uint32) {
	prefetchEntryLines(uintptr(unsafe.Pointer(s.at(i))))
}

func (s *Shard) account(p *Packet, res *Result) {
	res.Shard = s.id
	s.stats.Packets++
	s.stats.Verdicts[res.Verdict&7]++
	if res.Why.Reason != ReasonNone {
		s.stats.Reasons[res.Why.Reason%numReasons]++
		if res.Verdict == VerdictInvalid {
			s.stats.Invalid[res.Why.Reason%numReasons]++
		}
	}
}

func (s *Shard) track(p *Packet, res *Result) {
	switch p.kind {
	case kindUntracked:
		res.Verdict = VerdictUntracked
		return
	case kindInvalid:
		res.Verdict, res.Why = VerdictInvalid, p.why
		return
	case kindFragment:
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonNotFirstFrag}
		return
	}
	z := s.zone(p.Zone)
	if z.cfg.Checksum && !packet.VerifyL4Checksum(p.Frame, &p.Meta) {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonBadChecksum, A: uint32(p.key.Proto)}
		return
	}
	if p.kind == kindICMPError {
		s.trackICMPError(p, res)
		return
	}

	i := s.lookup(&p.ckey, p.hash)
	if i == 0 {
		s.trackNew(p, z, res)
		return
	}
	c := s.at(i)
	dir := uint8(0)
	if p.rev != (c.status&stOrigReversed != 0) {
		dir = 1
	}
	res.Reply = dir == 1
	res.ref = i

	switch p.kind {
	case kindTCP:
		var seg tcpSeg
		p.tcpSegment(&seg)
		if !tcpFlagsValid(seg.flags) {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonTCPFlags, A: uint32(seg.flags)}
			res.State = c.state
			return
		}
		switch s.tcpPacket(c, dir, &seg, z, &res.Why) {
		case tcpReopen:
			s.stats.Reasons[ReasonTCPReopen]++
			s.remove(i)
			*res = Result{}
			s.trackNew(p, z, res)
			return
		case tcpInvalid:
			res.Verdict, res.State = VerdictInvalid, c.state
			return
		case tcpIgnore:
			res.Verdict = VerdictIgnored
		case tcpKill:
			res.Verdict = acceptedVerdict(c, dir)
			res.State = c.state
			res.ref = 0
			s.remove(i)
			return
		default:
			res.Verdict = acceptedVerdict(c, dir)
		}
		if dir == 1 {
			c.status |= stSeenReply
		}
		res.State = c.state
		return
	case kindICMPQuery:
		if p.icmpRequest() == (dir == 1) {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonICMPUnexpected, A: uint32(p.icmpType), B: uint32(p.icmpCode)}
			res.State = simpleState(c)
			return
		}
	}
	s.simplePacket(c, p.kind, z)
	res.Verdict = acceptedVerdict(c, dir)
	if dir == 1 {
		c.status |= stSeenReply
	}
	res.State = simpleState(c)
}

func (p *Packet) icmpRequest() bool {
	_, request, _ := icmpQueryClass(p.key.Proto == protoICMPv6, p.icmpType)
	return request
}

// acceptedVerdict is Linux's ctinfo: NEW in the original direction until a
// reply has been seen, ESTABLISHED otherwise.
func acceptedVerdict(c *conn, dir uint8) Verdict {
	if dir == 0 && c.status&stSeenReply == 0 {
		return VerdictNew
	}
	return VerdictEstablished
}

func (p *Packet) tcpSegment(seg *tcpSeg) {
	m := &p.Meta
	tcp := packet.TCP(p.Frame[m.L4Off:m.End])
	seg.seq = tcp.Seq()
	seg.ack = tcp.Ack()
	seg.win = tcp.Window()
	seg.flags = tcp.Flags()
	seg.index = tcpIndex(seg.flags)
	off := tcp.DataOffset()
	seg.opts = p.Frame[m.L4Off+20 : m.L4Off+off]
	seg.end = seg.seq + uint32(m.End-m.L4Off-off)
	if seg.flags&packet.TCPFlagSYN != 0 {
		seg.end++
	}
	if seg.flags&packet.TCPFlagFIN != 0 {
		seg.end++
	}
}

// trackNew creates an entry for a packet that matched none, if its protocol
// allows it to open a connection and the table has room.
func (s *Shard) trackNew(p *Packet, z *zone, res *Result) {
	var seg tcpSeg
	switch p.kind {
	case kindTCP:
		p.tcpSegment(&seg)
		if !tcpFlagsValid(seg.flags) {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonTCPFlags, A: uint32(seg.flags)}
			return
		}
		if tcpTransition(0, seg.index, sNO) == sIV {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonTCPInvalidNew, A: uint32(seg.flags)}
			return
		}
		if seg.index != idxSYN && !z.cfg.Loose {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonTCPNoPickup, A: uint32(seg.flags)}
			return
		}
	case kindICMPQuery:
		if !p.icmpRequest() {
			res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonICMPBadType, A: uint32(p.icmpType), B: uint32(p.icmpCode)}
			return
		}
	}
	if why := s.admit(z, p.Zone); !why.IsZero() {
		res.Verdict, res.Why = VerdictInvalid, why
		return
	}
	i := s.alloc()
	c := s.at(i)
	*c = conn{key: p.ckey, born: s.nowTick}
	if p.rev {
		c.status = stOrigReversed
	}
	res.Verdict = VerdictNew
	if p.kind == kindTCP {
		if why := tcpNew(c, &seg, z); !why.IsZero() {
			s.freeSlot(i)
			res.Verdict, res.Why = VerdictInvalid, why
			return
		}
		switch s.tcpPacket(c, 0, &seg, z, &res.Why) {
		case tcpAccept:
		case tcpIgnore:
			res.Verdict = VerdictIgnored
			s.refresh(c, z.to.tcp[sSS])
		default: // invalid, or a kill/reopen a first packet cannot earn
			s.freeSlot(i)
			res.Verdict, res.State = VerdictInvalid, StateNone
			return
		}
		res.State = c.state
	} else {
		s.simplePacket(c, p.kind, z)
		res.State = simpleState(c)
	}
	s.insert(i, p.hash)
	res.ref = i
}

// simplePacket refreshes a UDP, ICMP or generic entry (Linux udp_packet,
// icmp_packet, generic_packet).
func (s *Shard) simplePacket(c *conn, kind uint8, z *zone) {
	to := &z.to
	var timeout uint32
	switch kind {
	case kindUDP:
		timeout = to.udpUnreplied
		// Still active two seconds after creation with traffic both ways:
		// a stream. Give it the long timeout and protect it from early drop.
		if c.status&stSeenReply != 0 && s.nowTick-c.born > to.udpStreamAge {
			timeout = to.udpStream
			c.status |= stAssured
		}
	case kindICMPQuery:
		timeout = to.icmp
	default:
		timeout = to.generic
	}
	s.refresh(c, timeout)
}

func simpleState(c *conn) State {
	switch {
	case c.status&stAssured != 0:
		return Assured
	case c.status&stSeenReply != 0:
		return Replied
	}
	return Unreplied
}

// trackICMPError relates an ICMP error to the connection of the packet it
// quotes (Linux nf_conntrack_inet_error): the connection must exist and the
// error must be addressed to the quoted packet's sender.
func (s *Shard) trackICMPError(p *Packet, res *Result) {
	i := s.lookup(&p.ckey, p.hash)
	if i == 0 {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonICMPNoConn}
		return
	}
	// p.key is the quoted tuple reversed, so its destination is the quoted
	// packet's source. Compare with the error's outer destination.
	var outerDst [16]byte
	m := &p.Meta
	if m.IPVersion == 4 {
		d := packet.IPv4(p.Frame[m.L3Off:]).Dst()
		copy(outerDst[:4], d[:])
	} else {
		outerDst = packet.IPv6(p.Frame[m.L3Off:]).Dst()
	}
	c := s.at(i)
	if outerDst != p.key.Dst {
		res.Verdict, res.Why = VerdictInvalid, Why{Reason: ReasonICMPAddrMismatch}
		return
	}
	res.Reply = p.rev != (c.status&stOrigReversed != 0)
	res.Verdict = VerdictRelated
	res.ref = i
	if c.key.Proto == protoTCP {
		res.State = c.state
	} else {
		res.State = simpleState(c)
	}
}
