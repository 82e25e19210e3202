package ipfrag

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// Reassembler defaults and bounds.
const (
	DefaultMaxDatagrams = 64
	DefaultTimeout      = 5 * time.Second

	// HeaderRoom bounds the headers a datagram keeps from its first
	// fragment: L2 (up to 22 bytes) plus the IPv4 header (up to 60), or
	// plus the IPv6 header and the unfragmentable extension headers. A
	// first fragment with more is TooBig.
	HeaderRoom = 1088

	// maxData is the most fragment data a datagram can have: offsets are
	// 13 bits of 8 bytes and the IP length field is 16 bits.
	maxData = 0xffff

	// SlotBytes is the memory a Reassembler preallocates per datagram
	// (plus 3 KiB of bitmaps): NewReassembler takes MaxDatagrams of them.
	SlotBytes = HeaderRoom + maxData

	blocks     = (maxData + 7) / 8 // 8-byte blocks of data
	blockWords = (blocks + 63) / 64
)

// ReassemblerConfig bounds a Reassembler. Zero fields take the defaults.
type ReassemblerConfig struct {
	// MaxDatagrams is how many datagrams may be pending at once (default
	// 64). Each costs SlotBytes (~67 KiB) of memory, all taken at
	// NewReassembler.
	MaxDatagrams int
	// Timeout is how long a datagram may wait for its missing fragments,
	// from its first fragment's arrival (default 5 s; Linux uses 30 s
	// for ipfrag_time, which is long for a tunnel endpoint's memory).
	Timeout time.Duration
}

// Stats are a Reassembler's counters.
type Stats struct {
	Pending   int    // datagrams being reassembled now
	Fragments uint64 // fragments accepted and held (duplicates not counted)
	Completed uint64 // datagrams completed from fragments
	Atomic    uint64 // IPv6 atomic fragments (offset 0, M clear) returned at once, RFC 6946
	Discarded uint64 // held fragments thrown away with their datagram

	// Reasons counts Add results by reason, and Timeout counts the
	// datagrams expired (by Add or Expire).
	Reasons [NumReasons]uint64
}

type bitmap [blockWords]uint64

// fragKey identifies a datagram: RFC 791 (src, dst, protocol, id) for
// IPv4, RFC 8200 4.5 (src, dst, id) for IPv6, whose fragments may carry
// different next-header values, and for both the VLAN IDs, so equal tuples
// on two VLANs never mix.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	vids     [2]uint16
	proto    uint8
	family   uint8
}

type slot struct {
	key      fragKey
	hash     uint64
	deadline int64
	total    int // data length, once the last fragment is in; -1 before
	got      int // data bytes held
	maxEnd   int // highest data end seen
	frags    int // fragments held
	hlen     int // header bytes kept at buf[HeaderRoom-hlen:HeaderRoom]; 0 until offset 0 is in
	ipOff    int // offset of the IP header in the kept header (the L2 length)
	used     bool

	// have marks the 8-byte blocks received; starts and ends the first
	// and last block of each fragment held. Fragments held never overlap,
	// so a new one is an exact duplicate of a held one iff its blocks are
	// all had, one held fragment starts at its first block and one ends at
	// its last, and no fragment boundary lies in between.
	have, starts, ends bitmap

	buf []byte // SlotBytes: headers before HeaderRoom, data from it
}

// Reassembler puts IPv4 and IPv6 fragments back together. Its memory is
// fixed at NewReassembler: Add never allocates. Not safe for concurrent
// use: give each worker its own.
//
// Rules: a datagram is held for at most Timeout after its first fragment;
// at most MaxDatagrams are held (fragments of further datagrams are
// refused with TableFull once expired ones are gone); a datagram may not
// exceed 65535 bytes of IP; every fragment but the last carries a multiple
// of 8 bytes; a fragment that overlaps data already held discards the
// whole datagram (RFC 5722; applied to IPv4 too), except an exact
// duplicate (same offset, length, MF and data), which is ignored (RFC 8200
// 4.5 allows either). IPv6 atomic fragments are returned at once without
// their fragment header (RFC 6946).
type Reassembler struct {
	timeout int64
	slots   []slot
	free    []int32 // stack of unused slot indices
	index   []int32 // open addressing over slots by key, -1 = empty
	mask    uint64
	seed    uint64
	atomic  []byte // output for atomic fragments
	stats   Stats
}

// NewReassembler returns a Reassembler with all its memory allocated.
func NewReassembler(c ReassemblerConfig) *Reassembler {
	n := c.MaxDatagrams
	if n <= 0 {
		n = DefaultMaxDatagrams
	}
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	size := 1 << bits.Len(uint(2*n-1)) // load factor <= 1/2: probes stay short
	r := &Reassembler{
		timeout: int64(t),
		slots:   make([]slot, n),
		free:    make([]int32, n),
		index:   make([]int32, size),
		mask:    uint64(size - 1),
		seed:    rand.Uint64(),
		atomic:  make([]byte, maxL2Len+packet.IPv6HeaderLen+maxData),
	}
	mem := make([]byte, n*SlotBytes)
	for i := range r.slots {
		r.slots[i].buf = mem[i*SlotBytes : (i+1)*SlotBytes : (i+1)*SlotBytes]
		r.free[i] = int32(n - 1 - i)
	}
	for i := range r.index {
		r.index[i] = -1
	}
	return r
}

// Stats returns the counters.
func (r *Reassembler) Stats() Stats {
	s := r.stats
	s.Pending = len(r.slots) - len(r.free)
	return s
}

// frag is what parseFrag learns about a fragment.
type frag struct {
	key     fragKey
	l3      int    // L2 length
	off     int    // data offset in the datagram
	data    []byte // this fragment's data
	more    bool
	keep    int   // frame[:keep] is the header an offset-0 fragment gives its datagram
	nhOff   int   // IPv6: frame offset of the next-header byte naming the fragment header
	nextHdr uint8 // IPv6: the fragment header's next header
	atomic  bool  // IPv6 fragment header with offset 0 and M clear
}

func parseFrag(frame []byte, f *frag) Reason {
	l, ok := walkL2(frame)
	if !ok {
		return Truncated
	}
	f.l3 = l.l3
	f.key.vids = l.vids
	switch l.et {
	case packet.EtherTypeIPv4:
		return parseFrag4(frame, f)
	case packet.EtherTypeIPv6:
		return parseFrag6(frame, f)
	}
	return NotFragment
}

func parseFrag4(frame []byte, f *frag) Reason {
	ip := packet.IPv4(frame[f.l3:])
	if len(ip) < packet.IPv4MinHeaderLen {
		return Truncated
	}
	if ip.Version() != 4 {
		return NotFragment
	}
	hl, tl := ip.HeaderLen(), int(ip.TotalLength())
	switch {
	case hl < packet.IPv4MinHeaderLen || tl < hl:
		return BadLength
	case tl > len(ip):
		return Truncated
	case !ip.ValidHeaderChecksum():
		return BadChecksum
	}
	f.more, f.off = ip.MF(), int(ip.FragmentOffset())
	if !f.more && f.off == 0 {
		return NotFragment
	}
	f.data = ip[hl:tl]
	f.keep = f.l3 + hl
	src, dst := ip.Src(), ip.Dst()
	copy(f.key.src[:], src[:])
	copy(f.key.dst[:], dst[:])
	f.key.id = uint32(ip.ID())
	f.key.proto = ip.Protocol()
	f.key.family = 4
	switch {
	case len(f.data) == 0 || f.more && len(f.data)%8 != 0:
		return BadLength
	case hl+f.off+len(f.data) > 0xffff:
		return TooBig
	}
	return None
}

func parseFrag6(frame []byte, f *frag) Reason {
	ip := packet.IPv6(frame[f.l3:])
	if len(ip) < packet.IPv6HeaderLen {
		return Truncated
	}
	if ip.Version() != 6 {
		return NotFragment
	}
	end := packet.IPv6HeaderLen + int(ip.PayloadLength())
	if end > len(ip) {
		return Truncated
	}
	ip = ip[:end]
	// The fragment header follows the unfragmentable part: hop-by-hop,
	// destination options and routing headers only.
	nh, nhOff, off := ip[6], 6, packet.IPv6HeaderLen
	for i := 0; nh != packet.ProtoIPv6Frag; i++ {
		if nh != packet.ProtoHopByHop && nh != packet.ProtoRouting && nh != packet.ProtoDstOpts ||
			i == packet.MaxIPv6ExtHeaders {
			return NotFragment
		}
		if off+2 > end {
			return Truncated
		}
		n := (int(ip[off+1]) + 1) * 8
		if off+n > end {
			return Truncated
		}
		nh, nhOff = ip[off], off
		off += n
	}
	if off+packet.IPv6FragmentHeaderLen > end {
		return Truncated
	}
	fh := packet.IPv6Fragment(ip[off : off+packet.IPv6FragmentHeaderLen])
	f.off, f.more = int(fh.FragmentOffset()), fh.More()
	f.data = ip[off+packet.IPv6FragmentHeaderLen:]
	f.keep = f.l3 + off
	f.nhOff = f.l3 + nhOff
	f.nextHdr = fh.NextHeader()
	if f.off == 0 && !f.more {
		f.atomic = true
		return None
	}
	f.key.src, f.key.dst = ip.Src(), ip.Dst()
	f.key.id = fh.ID()
	f.key.family = 6
	switch {
	case len(f.data) == 0 || f.more && len(f.data)%8 != 0:
		return BadLength
	case off-packet.IPv6HeaderLen+f.off+len(f.data) > 0xffff:
		return TooBig
	}
	return None
}

func (r *Reassembler) hash(k *fragKey) uint64 {
	le := binary.LittleEndian
	h := r.seed
	for _, w := range [...]uint64{
		le.Uint64(k.src[0:8]), le.Uint64(k.src[8:16]),
		le.Uint64(k.dst[0:8]), le.Uint64(k.dst[8:16]),
		uint64(k.id) | uint64(k.vids[0])<<32 | uint64(k.vids[1])<<44 | uint64(k.proto)<<56,
	} {
		h = (h ^ w) * 0x9e3779b97f4a7c15
		h ^= h >> 31
	}
	h ^= uint64(k.family)
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

// find returns the index position of k, and its slot (or -1 and the empty
// position where it would go).
func (r *Reassembler) find(k *fragKey, h uint64) (pos uint64, idx int32) {
	for pos = h & r.mask; ; pos = (pos + 1) & r.mask {
		idx = r.index[pos]
		if idx < 0 || r.slots[idx].hash == h && r.slots[idx].key == *k {
			return pos, idx
		}
	}
}

// release frees slot i: off the index (backward-shift deletion, so no
// tombstones), bitmaps cleared, onto the free stack. Its buffer keeps its
// bytes until the slot is reused.
func (r *Reassembler) release(i int32) {
	s := &r.slots[i]
	pos, _ := r.find(&s.key, s.hash)
	for next := (pos + 1) & r.mask; ; next = (next + 1) & r.mask {
		j := r.index[next]
		if j < 0 {
			break
		}
		home := r.slots[j].hash & r.mask
		// j stays if its home lies cyclically in (pos, next].
		if pos <= next && pos < home && home <= next || pos > next && (pos < home || home <= next) {
			continue
		}
		r.index[pos] = j
		pos = next
	}
	r.index[pos] = -1
	w := (s.maxEnd/8 + 64) / 64 // words touched
	w = min(w, blockWords)
	clear(s.have[:w])
	clear(s.starts[:w])
	clear(s.ends[:w])
	s.used = false
	r.free = append(r.free, i)
}

// discard drops slot i's datagram and counts its fragments as discarded;
// the caller counts the reason.
func (r *Reassembler) discard(i int32) {
	r.stats.Discarded += uint64(r.slots[i].frags)
	r.release(i)
}

func (r *Reassembler) refuse(why Reason) ([]byte, Result) {
	r.stats.Reasons[why]++
	return nil, Result{Status: Dropped, Reason: why}
}

// refuseDiscard refuses the fragment and discards its datagram.
func (r *Reassembler) refuseDiscard(i int32, why Reason) ([]byte, Result) {
	r.discard(i)
	return r.refuse(why)
}

// Expire discards the datagrams whose Timeout has passed at now (ns on a
// monotonic clock, the clock Add is given) and returns how many. Add
// expires on its own when the table is full and when a fragment arrives
// for an expired datagram, so calling Expire is needed only to free memory
// and count timeouts promptly.
func (r *Reassembler) Expire(now int64) int {
	n := 0
	for i := range r.slots {
		if s := &r.slots[i]; s.used && now >= s.deadline {
			r.discard(int32(i))
			r.stats.Reasons[Timeout]++
			n++
		}
	}
	return n
}

// Add takes one frame at now (ns, monotonic). For a fragment that
// completes its datagram it returns the datagram as one Ethernet frame:
// the first fragment's L2 header and IP header (options and unfragmentable
// IPv6 extension headers included) with the length fixed, IPv4 MF and
// offset cleared (DF kept) and the header checksum recomputed, or the IPv6
// fragment header removed; then all the data. The frame lives in the
// Reassembler's memory and is valid until the next call of Add or Expire.
//
// Otherwise it returns nil and Held (stored, or Reason Duplicate) or
// Dropped with a Reason; NotFragment means frame needs no reassembly and
// was not touched. Add never modifies frame and never allocates.
func (r *Reassembler) Add(frame []byte, now int64) (complete []byte, res Result) {
	var f frag
	why := parseFrag(frame, &f)
	if why == None && !f.atomic && f.off == 0 && f.keep > HeaderRoom {
		why = TooBig
	}
	if why == TooBig {
		// The datagram can never complete: free its memory now.
		if _, i := r.find(&f.key, r.hash(&f.key)); i >= 0 {
			r.discard(i)
		}
	}
	if why != None {
		return r.refuse(why)
	}
	if f.atomic {
		return r.atomicFrag(frame, &f)
	}
	h := r.hash(&f.key)
	pos, i := r.find(&f.key, h)
	if i >= 0 && now >= r.slots[i].deadline {
		r.discard(i)
		r.stats.Reasons[Timeout]++
		pos, i = r.find(&f.key, h)
	}
	if i < 0 {
		if len(r.free) == 0 && r.Expire(now) > 0 {
			pos, _ = r.find(&f.key, h) // deletions moved entries
		}
		if len(r.free) == 0 {
			return r.refuse(TableFull)
		}
		i = r.free[len(r.free)-1]
		r.free = r.free[:len(r.free)-1]
		r.index[pos] = i
		s := &r.slots[i] // bitmaps are clear: release cleared them
		s.key, s.hash, s.deadline, s.used = f.key, h, now+r.timeout, true
		s.total, s.got, s.maxEnd, s.frags, s.hlen, s.ipOff = -1, 0, 0, 0, 0, 0
	}
	s := &r.slots[i]
	end := f.off + len(f.data)
	if s.total >= 0 && (end > s.total || f.more && end == s.total || !f.more && end != s.total) ||
		s.total < 0 && !f.more && end < s.maxEnd {
		return r.refuseDiscard(i, BadLength)
	}
	b0, b1 := f.off/8, (end+7)/8
	if anyBits(&s.have, b0, b1) {
		// The held fragment is the last one iff it ends at the total.
		if s.duplicate(b0, b1) && f.more == (s.total != end) &&
			bytes.Equal(s.buf[HeaderRoom+f.off:HeaderRoom+end], f.data) {
			r.stats.Reasons[Duplicate]++
			return nil, Result{Status: Held, Reason: Duplicate}
		}
		return r.refuseDiscard(i, Overlap)
	}

	copy(s.buf[HeaderRoom+f.off:HeaderRoom+end], f.data)
	setBits(&s.have, b0, b1)
	setBits(&s.starts, b0, b0+1)
	setBits(&s.ends, b1-1, b1)
	s.got += len(f.data)
	s.frags++
	s.maxEnd = max(s.maxEnd, end)
	if !f.more {
		s.total = end
	}
	if f.off == 0 {
		hdr := s.buf[HeaderRoom-f.keep : HeaderRoom]
		copy(hdr, frame[:f.keep])
		if f.key.family == 6 {
			hdr[f.nhOff] = f.nextHdr // the fragment header is not kept
		}
		s.hlen, s.ipOff = f.keep, f.l3
	}
	r.stats.Fragments++
	if s.total < 0 || s.got != s.total || s.hlen == 0 {
		return nil, Result{Status: Held}
	}
	return r.finish(i)
}

// duplicate reports whether the held fragments include exactly blocks
// [b0, b1) (given that some of those blocks are held).
func (s *slot) duplicate(b0, b1 int) bool {
	return allBits(&s.have, b0, b1) && anyBits(&s.starts, b0, b0+1) && anyBits(&s.ends, b1-1, b1) &&
		!anyBits(&s.starts, b0+1, b1) && !anyBits(&s.ends, b0, b1-1)
}

// finish builds the completed datagram of slot i in place and frees it.
func (r *Reassembler) finish(i int32) ([]byte, Result) {
	s := &r.slots[i]
	out := s.buf[HeaderRoom-s.hlen : HeaderRoom+s.total]
	ip := out[s.ipOff:]
	if s.key.family == 4 {
		if len(ip) > 0xffff {
			return r.refuseDiscard(i, TooBig)
		}
		h := packet.IPv4(ip)
		h.SetTotalLength(uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[6:8], binary.BigEndian.Uint16(ip[6:8])&(ipv4FlagReserved|ipv4FlagDF))
		h.SetChecksum()
	} else {
		pl := len(ip) - packet.IPv6HeaderLen
		if pl > 0xffff {
			return r.refuseDiscard(i, TooBig)
		}
		packet.IPv6(ip).SetPayloadLength(uint16(pl))
	}
	r.release(i)
	r.stats.Completed++
	return out, Result{Status: Complete}
}

// atomicFrag returns an IPv6 atomic fragment without its fragment header.
func (r *Reassembler) atomicFrag(frame []byte, f *frag) ([]byte, Result) {
	n := copy(r.atomic, frame[:f.keep])
	r.atomic[f.nhOff] = f.nextHdr
	n += copy(r.atomic[n:], f.data)
	out := r.atomic[:n]
	packet.IPv6(out[f.l3:]).SetPayloadLength(uint16(n - f.l3 - packet.IPv6HeaderLen))
	r.stats.Atomic++
	return out, Result{Status: Complete}
}

// anyBits reports whether any bit of b in [lo, hi) is set.
func anyBits(b *bitmap, lo, hi int) bool {
	for lo < hi {
		w := lo >> 6
		if b[w]&wordMask(lo, hi, w) != 0 {
			return true
		}
		lo = (w + 1) << 6
	}
	return false
}

// allBits reports whether every bit of b in [lo, hi) is set.
func allBits(b *bitmap, lo, hi int) bool {
	for lo < hi {
		w := lo >> 6
		if m := wordMask(lo, hi, w); b[w]&m != m {
			return false
		}
		lo = (w + 1) << 6
	}
	return true
}

// setBits sets the bits of b in [lo, hi).
func setBits(b *bitmap, lo, hi int) {
	for lo < hi {
		w := lo >> 6
		b[w] |= wordMask(lo, hi, w)
		lo = (w + 1) << 6
	}
}

// wordMask is the mask of the bits of word w in [lo, hi); lo is in word w.
func wordMask(lo, hi, w int) uint64 {
	s := uint(lo & 63)
	e := uint(min(hi-w<<6, 64))
	return (^uint64(0) >> (64 - (e - s))) << s
}
