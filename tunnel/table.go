package tunnel

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// TableConfig tunes a Table.
type TableConfig struct {
	// PMTUExpiry is how long a learned path MTU is used before the full
	// link MTU is tried again (default DefaultPMTUExpiry, Linux's
	// ip_rt_mtu_expires).
	PMTUExpiry time.Duration
}

// Table is the receive side of a set of endpoints: it maps a decapsulated
// packet to its endpoint and learns path MTUs from underlay ICMP errors.
// A Table is immutable once built, so any number of goroutines may use it
// without locks; to change the set, build a new Table (from the same
// *Endpoint values for those that stay, which keeps their sequence
// numbers and path MTUs) and publish it, e.g. with an atomic.Pointer.
type Table struct {
	eps    []*Endpoint // sorted by name
	byName map[string]*Endpoint
	gre    map[greKey][2]*Endpoint // [0] GRETap, [1] GREIP
	geneve map[geneveKey]*Endpoint
	pairs  map[pairKey]*pair
	port   uint16 // the Geneve UDP port, 0 without Geneve endpoints
	expiry int64  // ns

	pmtuLearned atomic.Uint64
	pmtuIgnored atomic.Uint64
}

// pairKey is (our address, the remote's) in 16-byte form.
type pairKey struct{ local, remote [16]byte }

// greKey has no padding (hasKey is a uint32, not a bool), so the map
// hashes it as one block of memory rather than field by field.
type greKey struct {
	pairKey
	key    uint32
	hasKey uint32
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

type geneveKey struct {
	pairKey
	vni uint32
}

// pair is everything known about one (local, remote) underlay path.
type pair struct {
	eps    []*Endpoint // every endpoint on the path: they share its MTU
	gre    []*Endpoint
	geneve []*Endpoint
}

// NewTable indexes the endpoints for receiving. It refuses sets in which a
// packet could match two endpoints: two GRE endpoints of one kind with the
// same (local, remote, key), two Geneve endpoints with the same
// (local, remote, VNI); GRE endpoints on one (local, remote) pair that do
// not all use a key, or all not (a keyless packet would otherwise be
// ambiguous evidence of a misconfigured peer); and Geneve endpoints that
// disagree on the UDP port (the table listens on one).
func NewTable(endpoints []*Endpoint, tc TableConfig) (*Table, error) {
	t := &Table{
		byName: make(map[string]*Endpoint, len(endpoints)),
		gre:    make(map[greKey][2]*Endpoint),
		geneve: make(map[geneveKey]*Endpoint),
		pairs:  make(map[pairKey]*pair),
		expiry: int64(tc.PMTUExpiry),
	}
	if tc.PMTUExpiry < 0 {
		return nil, fmt.Errorf("tunnel table: negative pmtu expiry %v", tc.PMTUExpiry)
	}
	if t.expiry == 0 {
		t.expiry = int64(DefaultPMTUExpiry)
	}
	var portFrom *Endpoint
	for i, e := range endpoints {
		if e == nil {
			return nil, fmt.Errorf("tunnel table: endpoint %d is nil", i)
		}
		c := &e.cfg
		if o := t.byName[c.Name]; o != nil {
			return nil, fmt.Errorf("endpoint %s: name used twice", c.Name)
		}
		t.byName[c.Name] = e
		t.eps = append(t.eps, e)
		pk := pairKey{e.local, e.remote}
		p := t.pairs[pk]
		if p == nil {
			p = &pair{}
			t.pairs[pk] = p
		}
		p.eps = append(p.eps, e)
		path := fmt.Sprintf("%s->%s", c.Local, c.Remote)
		if c.Kind.IsGRE() {
			for _, o := range p.gre {
				if (o.cfg.Key != nil) != (c.Key != nil) {
					return nil, fmt.Errorf("endpoints %s and %s share the path %s: both need a GRE key, or neither",
						o.cfg.Name, c.Name, path)
				}
			}
			p.gre = append(p.gre, e)
			k := greKey{pairKey: pk}
			if c.Key != nil {
				k.key, k.hasKey = *c.Key, 1
			}
			slot := t.gre[k]
			i := 0
			if c.Kind == GREIP {
				i = 1
			}
			if o := slot[i]; o != nil {
				return nil, fmt.Errorf("endpoints %s and %s both receive %s on the path %s with %s",
					o.cfg.Name, c.Name, c.Kind, path, keyString(c.Key))
			}
			slot[i] = e
			t.gre[k] = slot
			continue
		}
		if portFrom != nil && portFrom.cfg.DstPort != c.DstPort {
			return nil, fmt.Errorf("endpoint %s: geneve port %d differs from endpoint %s's %d: a table receives on one port",
				c.Name, c.DstPort, portFrom.cfg.Name, portFrom.cfg.DstPort)
		}
		portFrom, t.port = e, c.DstPort
		k := geneveKey{pk, c.VNI}
		if o := t.geneve[k]; o != nil {
			return nil, fmt.Errorf("endpoints %s and %s both receive geneve vni %d on the path %s",
				o.cfg.Name, c.Name, c.VNI, path)
		}
		t.geneve[k] = e
		p.geneve = append(p.geneve, e)
	}
	slices.SortFunc(t.eps, func(a, b *Endpoint) int { return strings.Compare(a.cfg.Name, b.cfg.Name) })
	return t, nil
}

func keyString(k *uint32) string {
	if k == nil {
		return "no key"
	}
	return fmt.Sprintf("key %d", *k)
}

// Endpoints returns the endpoints sorted by name.
func (t *Table) Endpoints() []*Endpoint { return slices.Clone(t.eps) }

// Endpoint returns the endpoint called name, or nil.
func (t *Table) Endpoint(name string) *Endpoint { return t.byName[name] }

// GenevePort is the UDP port the table's Geneve endpoints receive on (0
// when it has none): what Receive passes to Decap, and what the XDP program
// should redirect.
func (t *Table) GenevePort() uint16 { return t.port }

// Receive decapsulates an underlay frame and matches it to its endpoint:
// Decap, then Match. On ReasonNone, d.Payload is the frame to switch in the
// endpoint's virtual network. Receive does not allocate.
func (t *Table) Receive(frame []byte, d *Decapsulated) (*Endpoint, Reason) {
	if r := Decap(frame, t.port, d); r != ReasonNone {
		return nil, r
	}
	return t.Match(d)
}

// Match finds the endpoint of a packet Decap accepted, by (outer dst =
// local, outer src = remote, kind, key or VNI), and applies the endpoint's
// own rules: the RFC 2890 sequence check for endpoints with Seq (done last,
// so a packet refused for another reason does not move the window), and
// for Geneve the critical options, each of which must be one the endpoint
// is configured with. The endpoint is returned whenever one was found,
// even if its rules then refused the packet (to count per endpoint).
func (t *Table) Match(d *Decapsulated) (*Endpoint, Reason) {
	pk := pairKey{d.Outer.Dst.As16(), d.Outer.Src.As16()}
	switch d.Kind {
	case GRETap, GREIP:
		slot, ok := t.gre[greKey{pk, d.Key, b2u(d.HasKey)}]
		if !ok {
			if p := t.pairs[pk]; p != nil && len(p.gre) > 0 {
				return nil, ReasonGREKeyMismatch
			}
			return nil, ReasonNoEndpoint
		}
		e := slot[0]
		if d.Kind == GREIP {
			e = slot[1]
		}
		if e == nil {
			return nil, ReasonGREKindMismatch
		}
		if e.seqOn {
			if !d.HasSeq {
				return e, ReasonGRESeqMissing
			}
			if !e.CheckSeq(d.Seq) {
				return e, ReasonGRESeqOrder
			}
		}
		return e, ReasonNone
	case Geneve:
		e := t.geneve[geneveKey{pk, d.VNI}]
		if e == nil {
			if p := t.pairs[pk]; p != nil && len(p.geneve) > 0 {
				return nil, ReasonGeneveUnknownVNI
			}
			return nil, ReasonNoEndpoint
		}
		if d.Critical && !e.understandsCritical(d.Options) {
			return e, ReasonGeneveCritical
		}
		return e, ReasonNone
	}
	return nil, ReasonNoEndpoint
}

// understandsCritical reports whether every critical option in opts is one
// the endpoint is configured with.
func (e *Endpoint) understandsCritical(opts []byte) bool {
	for off := 0; off+packet.GeneveOptionHeaderLen <= len(opts); {
		o := packet.GeneveOption(opts[off:])
		if o.Critical() && !slices.Contains(e.understood, uint32(o.Class())<<8|uint32(o.Type())) {
			return false
		}
		off += o.Len()
	}
	return true
}
