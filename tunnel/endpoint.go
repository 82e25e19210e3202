package tunnel

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/ctswitch/ctswitch/packet"
)

// maxHeaderLen bounds HeaderLen: IPv6 + UDP + Geneve + the largest options.
const maxHeaderLen = packet.IPv6HeaderLen + packet.UDPHeaderLen + packet.GeneveHeaderLen + packet.GeneveMaxOptionsLen

// Endpoint is a compiled Config: the outer header template is built once
// and Encap only fills in the per-packet fields. The counters are atomics
// because several workers may encapsulate towards, or receive from, one
// endpoint at the same time; each sits on its own cache line so the TX and
// RX sides do not slow each other down.
type Endpoint struct {
	tag        int    // the owner's (SetTag)
	cfg        Config // normalized
	v6         bool
	csum       bool
	seqOn      bool
	ipLen      int // 20 or 40
	hdrLen     int
	proto      uint8 // outer IP protocol: 47 or 17
	srcLo      uint16
	srcSpan    uint64 // number of source ports
	local      [16]byte
	remote     [16]byte
	understood []uint32 // class<<8 | type of every configured option
	ids        *atomic.Uint32
	tmpl       [maxHeaderLen]byte

	_     [64]byte
	txSeq atomic.Uint32 // next sequence number to send
	_     [60]byte
	rxSeq atomic.Uint32 // last accepted sequence number
	_     [60]byte
	pmtu  atomic.Uint64 // learned path MTU: expiry (ms) << 16 | mtu; 0 when none
	_     [56]byte
}

// NewEndpoint validates c and compiles it.
func NewEndpoint(c Config) (*Endpoint, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	e := &Endpoint{cfg: c.normalized()}
	n := &e.cfg
	e.v6 = n.Local.Is6()
	e.csum = n.Checksum == ChecksumOn
	e.seqOn = n.Seq
	e.local, e.remote = n.Local.As16(), n.Remote.As16()
	e.ipLen = packet.IPv4MinHeaderLen
	if e.v6 {
		e.ipLen = packet.IPv6HeaderLen
	}
	if n.Kind.IsGRE() {
		e.proto = packet.ProtoGRE
		e.hdrLen = e.ipLen + packet.GREMinHeaderLen
		for _, on := range []bool{e.csum, n.Key != nil, n.Seq} {
			if on {
				e.hdrLen += 4
			}
		}
	} else {
		e.proto = packet.ProtoUDP
		e.hdrLen = e.ipLen + packet.UDPHeaderLen + packet.GeneveHeaderLen
		for _, o := range n.Options {
			e.hdrLen += packet.GeneveOptionHeaderLen + len(o.Data)
			e.understood = append(e.understood, uint32(o.Class)<<8|uint32(o.Type))
		}
		e.srcLo = n.SrcPortMin
		e.srcSpan = uint64(n.SrcPortMax) - uint64(n.SrcPortMin) + 1
	}
	e.ids = identBucket(e.local, e.remote, e.proto)
	e.rxSeq.Store(^uint32(0)) // RFC 2890 2.2: so that the first packet, seq 0, is "after" it
	e.buildTemplate()
	return e, nil
}

// MustEndpoint is NewEndpoint for tests and examples: it panics on error.
func MustEndpoint(c Config) *Endpoint {
	e, err := NewEndpoint(c)
	if err != nil {
		panic(err)
	}
	return e
}

func (e *Endpoint) buildTemplate() {
	c := &e.cfg
	t := e.tmpl[:e.hdrLen]
	if e.v6 {
		ip := packet.IPv6(t)
		ip.SetVersionClassFlow(0, 0)
		ip.SetNextHeader(e.proto)
		ip.SetHopLimit(c.TTL)
		ip.SetSrc(e.local)
		ip.SetDst(e.remote)
	} else {
		ip := packet.IPv4(t)
		ip.SetHeaderLen(packet.IPv4MinHeaderLen)
		ip.SetTTL(c.TTL)
		ip.SetProtocol(e.proto)
		ip.SetSrc(c.Local.As4())
		ip.SetDst(c.Remote.As4())
	}
	l4 := t[e.ipLen:]
	if c.Kind.IsGRE() {
		g := packet.GRE(l4)
		g.SetFlags(e.csum, c.Key != nil, c.Seq)
		if c.Kind == GRETap {
			g.SetProtocol(packet.EtherTypeTEB)
		}
		if c.Key != nil {
			g.SetKey(*c.Key)
		}
		return
	}
	packet.UDP(l4).SetDstPort(c.DstPort)
	g := packet.Geneve(l4[packet.UDPHeaderLen:])
	optLen := e.hdrLen - e.ipLen - packet.UDPHeaderLen - packet.GeneveHeaderLen
	g.SetVersionOptionsLen(optLen)
	g.SetProtocol(packet.EtherTypeTEB)
	g.SetVNI(c.VNI)
	off := packet.GeneveHeaderLen
	crit := false
	for _, o := range c.Options {
		opt := packet.GeneveOption(g[off:])
		opt.SetClass(o.Class)
		opt.SetType(o.Type)
		opt.SetDataLen(len(o.Data))
		copy(opt[packet.GeneveOptionHeaderLen:], o.Data)
		off += packet.GeneveOptionHeaderLen + len(o.Data)
		crit = crit || o.Critical()
	}
	// RFC 8926 3.4: C is set iff some option is critical, so a receiver
	// that does not parse options knows it must drop.
	g.SetCritical(crit)
}

// Config returns the endpoint's configuration with defaults filled in and
// Checksum resolved to ChecksumOn or ChecksumOff. It is a copy.
func (e *Endpoint) Config() Config {
	c := e.cfg
	if c.Key != nil {
		k := *c.Key
		c.Key = &k
	}
	c.Options = cloneOptions(c.Options)
	return c
}

// Name returns the configured name.
func (e *Endpoint) Name() string { return e.cfg.Name }

// Kind returns the encapsulation.
func (e *Endpoint) Kind() Kind { return e.cfg.Kind }

func (e *Endpoint) String() string { return e.cfg.String() }

// SetTag attaches a value of the owner's choosing (the dataplane: the
// endpoint's port), so what Receive returns leads to the owner's state
// without a lookup. Set it before the endpoint is in use.
func (e *Endpoint) SetTag(v int) { e.tag = v }

// Tag returns the value given to SetTag (0 if none).
func (e *Endpoint) Tag() int { return e.tag }

// HeaderLen is what Encap puts in front of the payload, outer Ethernet
// excluded: outer IP + GRE (with its optional fields), or + UDP + Geneve +
// options.
func (e *Endpoint) HeaderLen() int { return e.hdrLen }

// Overhead is the L3 overhead of carrying this inner frame: HeaderLen plus,
// for GRETap and Geneve, the inner frame's own L2 header (14 bytes plus 4
// per 802.1Q/802.1ad tag actually present). It is computed per frame
// because a tagged full-size frame does not fit where an untagged one does
// (incident 5 was a tunnel MTU planned 14 bytes short). For GREIP the inner
// L2 header is stripped, so the overhead is HeaderLen.
func (e *Endpoint) Overhead(inner []byte) int {
	if e.cfg.Kind == GREIP {
		return e.hdrLen
	}
	return e.hdrLen + inspect(inner).l3off
}

// InnerMTU is the largest inner IP packet (IP total length) that fits an
// underlay L3 MTU when carried like this inner frame (0 if nothing fits).
func (e *Endpoint) InnerMTU(inner []byte, underlayMTU int) int {
	return max(0, underlayMTU-e.Overhead(inner))
}

// CheckSeq applies the RFC 2890 receive rule to a GRE sequence number: it
// accepts seq only if it comes after the last accepted one (serial number
// arithmetic, a 2^31 window, so the counter may wrap) and then records it.
// The last accepted value starts at 2^32-1, so a fresh sender's 0 passes.
// Duplicates and late (reordered) packets are refused. It is safe from
// several goroutines: a compare-and-swap keeps the value monotonic.
func (e *Endpoint) CheckSeq(seq uint32) bool {
	for {
		last := e.rxSeq.Load()
		if int32(seq-last) <= 0 {
			return false
		}
		if e.rxSeq.CompareAndSwap(last, seq) {
			return true
		}
	}
}

// ResetRxSeq forgets the last accepted sequence number, e.g. after the peer
// restarted and began again from 0 (RFC 2890 offers no way to notice that).
func (e *Endpoint) ResetRxSeq() { e.rxSeq.Store(^uint32(0)) }

// LastRxSeq returns the last accepted sequence number (2^32-1 before any).
func (e *Endpoint) LastRxSeq() uint32 { return e.rxSeq.Load() }

// NextTxSeq returns the sequence number the next encapsulated packet gets.
func (e *Endpoint) NextTxSeq() uint32 { return e.txSeq.Load() }

// NextFragmentID returns a fresh identification for fragmenting an outer
// packet towards this endpoint (the IPv6 fragment header's 32 bits; the
// IPv4 ID is assigned by Encap). Unique per (local, remote, protocol),
// shared with other endpoints on the same path.
func (e *Endpoint) NextFragmentID() uint32 { return e.ids.Add(1) }

// IPv4 IDs must be unique per (src, dst, protocol) among packets that may
// be fragmented (RFC 791, RFC 6864), and several endpoints can share one
// pair of addresses (different keys or VNIs). So, as Linux does
// (ip_idents_reserve), the counters live in a fixed array of buckets chosen
// by a hash of that triple: endpoints on one path share a counter without
// knowing about each other. Random starting values avoid repeating the
// previous run's IDs after a restart. Each bucket has its own cache line.
const identBuckets = 256

var ipIdents [identBuckets]struct {
	v atomic.Uint32
	_ [60]byte
}

func init() {
	for i := range ipIdents {
		ipIdents[i].v.Store(rand.Uint32())
	}
}

func identBucket(local, remote [16]byte, proto uint8) *atomic.Uint32 {
	var k [33]byte
	copy(k[:16], local[:])
	copy(k[16:32], remote[:])
	k[32] = proto
	return &ipIdents[xxhash.Sum64(k[:])%identBuckets].v
}

// innerInfo is what Encap, Overhead and Decide need to know about an inner
// Ethernet frame, read from its real headers.
type innerInfo struct {
	l3off     int    // inner L2 header length: 14 + 4 per VLAN tag
	end       int    // bytes to carry: the IP packet's end (padding trimmed) or the whole frame
	ipVer     uint8  // 4 or 6 for a consistent IP packet, else 0
	etherType uint16 // innermost EtherType
	df        bool   // IPv4 DF
	tos       uint8  // IPv4 TOS / IPv6 traffic class
}

// inspect reads the inner frame's L2 header (at most two tags, as in
// packet.Parse) and, for IP, the length to trim to. An IP header whose
// lengths do not fit the frame is treated as opaque (non-IP) payload: it is
// carried as it is by the L2 kinds and refused by GREIP.
func inspect(f []byte) innerInfo {
	ii := innerInfo{l3off: packet.EthernetHeaderLen, end: len(f)}
	if len(f) < packet.EthernetHeaderLen {
		return ii
	}
	et := binary.BigEndian.Uint16(f[12:14])
	off := packet.EthernetHeaderLen
	for i := 0; i < 2 && (et == packet.EtherTypeVLAN || et == packet.EtherTypeQinQ) && len(f) >= off+packet.VLANTagLen; i++ {
		et = binary.BigEndian.Uint16(f[off+2 : off+4])
		off += packet.VLANTagLen
	}
	ii.l3off, ii.etherType = off, et
	switch et {
	case packet.EtherTypeIPv4:
		ip := packet.IPv4(f[off:])
		hl, tl := ip.HeaderLen(), int(ip.TotalLength())
		if len(ip) >= packet.IPv4MinHeaderLen && ip.Version() == 4 && hl >= packet.IPv4MinHeaderLen && hl <= tl && tl <= len(ip) {
			ii.ipVer, ii.end, ii.df, ii.tos = 4, off+tl, ip.DF(), ip.TOS()
		}
	case packet.EtherTypeIPv6:
		ip := packet.IPv6(f[off:])
		if n := packet.IPv6HeaderLen + int(ip.PayloadLength()); len(ip) >= packet.IPv6HeaderLen && ip.Version() == 6 && n <= len(ip) {
			ii.ipVer, ii.end, ii.tos = 6, off+n, ip.TrafficClass()
		}
	}
	return ii
}
