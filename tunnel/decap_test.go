package tunnel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket/layers"
)

// TestDecapRoundTrip: what one side encapsulates, the other side's table
// decapsulates to exactly the inner frame, for every kind and option.
func TestDecapRoundTrip(t *testing.T) {
	for _, c := range encapConfigs() {
		snd := MustEndpoint(c)
		rcv := MustEndpoint(peer(c))
		tbl := mustTable(t, rcv)
		for _, in := range encapInners {
			if c.Kind == GREIP && in.arp {
				continue
			}
			inner := in.build(t)
			t.Run(c.Name+"/"+in.name, func(t *testing.T) {
				want := inner[:trimmedLen(inner)]
				if c.Kind == GREIP {
					want = inner[l2Len(inner):trimmedLen(inner)]
				}
				// Fresh packets for each variant: a receiver with Seq
				// would refuse a repeat.
				variants := map[string]func([]byte) []byte{
					"plain":  func(f []byte) []byte { return f },
					"padded": func(f []byte) []byte { return append(f, make([]byte, 17)...) },
					"vlan":   outerVLAN,
				}
				for _, vn := range []string{"plain", "padded", "vlan"} {
					fr := variants[vn](mustEncap(t, snd, inner, 7))
					var d Decapsulated
					ep, r := tbl.Receive(fr, &d)
					if r != ReasonNone || ep != rcv {
						t.Fatalf("%s: Receive = %v, %v; want %s, none", vn, ep, r, rcv.Name())
					}
					eqBytes(t, vn+" payload", d.Payload, want)
					eqBytes(t, vn+" payload at offset", fr[d.PayloadOff:d.PayloadOff+len(d.Payload)], want)
					eq(t, "kind", d.Kind, c.Kind)
					eq(t, "outer src", d.Outer.Src, c.Local)
					eq(t, "outer dst", d.Outer.Dst, c.Remote)
					eq(t, "has key", d.HasKey, c.Key != nil)
					if c.Key != nil {
						eq(t, "key", d.Key, *c.Key)
					}
					eq(t, "has seq", d.HasSeq, c.Seq)
					eq(t, "has checksum", d.HasChecksum, snd.Config().Checksum == ChecksumOn)
					if c.Kind == Geneve {
						eq(t, "vni", d.VNI, c.VNI)
						crit := false
						for _, o := range c.Options {
							crit = crit || o.Critical()
						}
						eq(t, "critical", d.Critical, crit)
						eq(t, "oam", d.OAM, false)
						eqBytes(t, "options", d.Options, snd.tmpl[snd.ipLen+16:snd.hdrLen])
						eq(t, "inner proto", d.InnerProto, uint16(packet.EtherTypeTEB))
					}
					if c.Kind == GREIP {
						wantProto := uint16(packet.EtherTypeIPv4)
						if in.spec.v6 {
							wantProto = packet.EtherTypeIPv6
						}
						eq(t, "inner proto", d.InnerProto, wantProto)
					}
				}
			})
		}
	}
}

// outerVLAN inserts an 802.1Q tag into the outer frame.
func outerVLAN(f []byte) []byte {
	out := append([]byte(nil), f[:12]...)
	out = append(out, 0x81, 0x00, 0x00, 0x2a)
	return append(out, f[12:]...)
}

// reasonCase is one crafted frame and the reason it must get.
type reasonCase struct {
	name  string
	frame []byte
	want  Reason
}

// reasonFixture is a receiving table (we are local4/local6) and senders
// towards it.
type reasonFixture struct {
	tbl                                  *Table
	tapSeq, ipK7, tapK8, gen4, gen6      *Endpoint // receivers
	sTapSeq, sIPK7, sTapK8, sGen4, sGen6 *Endpoint // their peers, sending to us
	sTapSeqNoSeq                         *Endpoint
}

func newReasonFixture(t testing.TB) *reasonFixture {
	cfgs := []Config{
		{Name: "tapseq", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(7), Seq: true, Checksum: ChecksumOn},
		{Name: "ipk7", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(7)},
		{Name: "tapk8", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(8)},
		{Name: "gen4", Kind: Geneve, Local: local4, Remote: remote4, VNI: 100,
			Options: []GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{1, 2, 3, 4}}}},
		{Name: "gen6", Kind: Geneve, Local: local6, Remote: remote6, VNI: 5},
	}
	fx := &reasonFixture{}
	rcv := []**Endpoint{&fx.tapSeq, &fx.ipK7, &fx.tapK8, &fx.gen4, &fx.gen6}
	snd := []**Endpoint{&fx.sTapSeq, &fx.sIPK7, &fx.sTapK8, &fx.sGen4, &fx.sGen6}
	var eps []*Endpoint
	for i, c := range cfgs {
		*rcv[i] = MustEndpoint(c)
		*snd[i] = MustEndpoint(peer(c))
		eps = append(eps, *rcv[i])
	}
	noSeq := peer(cfgs[0])
	noSeq.Seq = false
	fx.sTapSeqNoSeq = MustEndpoint(noSeq)
	var err error
	if fx.tbl, err = NewTable(eps, TableConfig{}); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *reasonFixture) cases(t testing.TB) []reasonCase {
	inner := buildInner(t, innerSpec{df: true})
	inner6 := buildInner(t, innerSpec{v6: true})
	ip4 := inner[14:]
	enc := func(e *Endpoint, in []byte) []byte { return mustEncap(t, e, in, 3) }
	mut := func(f []byte, fn func(f []byte)) []byte {
		f = append([]byte(nil), f...)
		fn(f)
		return f
	}
	gre := func(flags, proto uint16, key uint32, payload []byte) []byte {
		return wrapIP(t, remote4, local4, layers.IPProtocolGRE, greHdr(flags, proto, key, 0, payload))
	}
	gen := func(h []byte, payload []byte) []byte {
		return wrapUDP(t, remote4, local4, 6081, append(h, payload...), false)
	}
	critOpt := []genOpt{{class: 0x0102, typ: 0x80, data: []byte{1, 2, 3, 4}}}
	g4 := enc(fx.sGen4, inner)
	t7 := enc(fx.sTapSeq, inner)
	cs := []reasonCase{
		{"ok gretap key 7 seq", t7, ReasonNone},
		{"ok gre-ip key 7", enc(fx.sIPK7, inner), ReasonNone},
		{"ok gretap key 8", enc(fx.sTapK8, inner), ReasonNone},
		{"ok geneve4", g4, ReasonNone},
		{"ok geneve6 with checksum", enc(fx.sGen6, inner6), ReasonNone},
		{"ok geneve6 zero checksum", wrapUDP(t, remote6, local6, 6081, append(geneveHdr(0, false, false, 0x6558, 5, nil, 0), inner...), true), ReasonNone},
		{"ok geneve4 zero checksum", wrapUDP(t, remote4, local4, 6081, append(geneveHdr(0, false, false, 0x6558, 100, nil, 0), inner...), true), ReasonNone},

		{"runt", t7[:12], ReasonTruncated},
		{"ip cut short", t7[:30], ReasonTruncated},
		{"gre header cut short", wrapIP(t, remote4, local4, layers.IPProtocolGRE, []byte{0x20, 0, 0x65, 0x58, 0, 0}), ReasonTruncated},
		{"geneve header cut short", wrapUDP(t, remote4, local4, 6081, []byte{0, 0, 0x65, 0x58}, false), ReasonTruncated},
		{"not ip", arpFrame(t), ReasonNotIP},
		{"bad ihl", mut(t7, func(f []byte) { f[14] = 0x44 }), ReasonBadIPHeader},
		{"bad ip checksum", mut(t7, func(f []byte) { f[24] ^= 0xff }), ReasonBadIPChecksum},
		{"outer fragment", mut(t7, func(f []byte) { f[20] |= 0x20; fixIPv4(f) }), ReasonOuterFragment},
		{"outer non-first fragment", mut(t7, func(f []byte) { f[20], f[21] = 0, 0x10; fixIPv4(f) }), ReasonOuterFragment},
		{"udp to another port", wrapUDP(t, remote4, local4, 53, []byte("dns?dns?"), false), ReasonNotTunnel},
		{"tcp", wrapIP(t, remote4, local4, layers.IPProtocolTCP, make([]byte, 20)), ReasonNotTunnel},
		{"esp", wrapIP(t, remote4, local4, layers.IPProtocolESP, make([]byte, 20)), ReasonNotTunnel},

		{"gre version 1", gre(0x2001, 0x6558, 8, inner), ReasonGREVersion},
		{"gre routing", gre(0x6000, 0x6558, 8, inner), ReasonGRERouting},
		{"gre strict source route", gre(0x2800, 0x6558, 8, inner), ReasonGREReserved},
		{"gre reserved flag", gre(0x2008, 0x6558, 8, inner), ReasonGREReserved},
		{"gre recursion", gre(0x2100, 0x6558, 8, inner), ReasonGREReserved},
		{"gre bad checksum", mut(t7, func(f []byte) { f[len(f)-1] ^= 1 }), ReasonGREBadChecksum},
		{"gre mpls", gre(0x2000, 0x8847, 8, inner), ReasonGREProtocol},
		{"gre key 9", gre(0x2000, 0x6558, 9, inner), ReasonGREKeyMismatch},
		{"gre no key", gre(0, 0x6558, 0, inner), ReasonGREKeyMismatch},
		{"gre-ip with tap-only key 8", gre(0x2000, 0x0800, 8, ip4), ReasonGREKindMismatch},
		{"gre seq missing", enc(fx.sTapSeqNoSeq, inner), ReasonGRESeqMissing},
		{"gre seq replayed", t7, ReasonGRESeqOrder},
		{"gretap payload too short", gre(0x2000, 0x6558, 8, inner[:10]), ReasonInnerMalformed},
		{"gre-ip v4 protocol, v6 packet", gre(0x2000, 0x0800, 7, inner6[14:]), ReasonInnerMalformed},
		{"gre-ip v6 short", gre(0x2000, 0x86dd, 7, inner6[14:40]), ReasonInnerMalformed},

		{"udp bad length", mut(wrapUDP(t, remote4, local4, 6081, append(geneveHdr(0, false, false, 0x6558, 100, nil, 0), inner...), true),
			func(f []byte) { binary.BigEndian.PutUint16(f[38:], binary.BigEndian.Uint16(f[38:])-1) }), ReasonUDPBadLength},
		{"udp bad checksum v6", mut(enc(fx.sGen6, inner6), func(f []byte) { f[len(f)-1] ^= 0x10 }), ReasonUDPBadChecksum},
		{"udp bad checksum v4", mut(gen(geneveHdr(0, false, true, 0x6558, 100, critOpt, 0), inner), func(f []byte) { f[len(f)-2] ^= 0x10 }), ReasonUDPBadChecksum},
		{"geneve version 1", gen(geneveHdr(1, false, false, 0x6558, 100, nil, 0), inner), ReasonGeneveVersion},
		{"geneve optlen past end", gen(geneveHdr(0, false, false, 0x6558, 100, nil, 63), inner[:60]), ReasonGeneveBadOptLen},
		{"geneve option past options", gen(geneveHdr(0, false, false, 0x6558, 100, []genOpt{{class: 1, typ: 1, data: make([]byte, 4), lenOverride: 5}}, 0), inner), ReasonGeneveBadOption},
		{"geneve unknown critical option", gen(geneveHdr(0, false, true, 0x6558, 100, []genOpt{{class: 0x0103, typ: 0x81}}, 0), inner), ReasonGeneveCritical},
		{"geneve oam", gen(geneveHdr(0, true, false, 0x6558, 100, nil, 0), inner), ReasonGeneveOAM},
		{"geneve ipv4 payload", gen(geneveHdr(0, false, false, 0x0800, 100, nil, 0), ip4), ReasonGeneveProtocol},
		{"geneve vni 101", gen(geneveHdr(0, false, false, 0x6558, 101, nil, 0), inner), ReasonGeneveUnknownVNI},
		{"geneve payload too short", gen(geneveHdr(0, false, false, 0x6558, 100, nil, 0), inner[:5]), ReasonInnerMalformed},

		{"gre from a stranger", wrapIP(t, other4, local4, layers.IPProtocolGRE, greHdr(0x2000, 0x6558, 8, 0, inner)), ReasonNoEndpoint},
		{"geneve from a stranger", wrapUDP(t, other6, local6, 6081, append(geneveHdr(0, false, false, 0x6558, 5, nil, 0), inner...), false), ReasonNoEndpoint},
		{"gre to another address", wrapIP(t, remote4, other4, layers.IPProtocolGRE, greHdr(0x2000, 0x6558, 8, 0, inner)), ReasonNoEndpoint},
		{"geneve6 vni 6", wrapUDP(t, remote6, local6, 6081, append(geneveHdr(0, false, false, 0x6558, 6, nil, 0), inner...), false), ReasonGeneveUnknownVNI},
	}
	return cs
}

// TestDecapReasons crafts a packet for every Reason, checks each gets it,
// and counts them: every Reason must have been seen.
func TestDecapReasons(t *testing.T) {
	fx := newReasonFixture(t)
	var cnt Counters
	for _, c := range fx.cases(t) {
		var d Decapsulated
		ep, r := fx.tbl.Receive(c.frame, &d)
		cnt.Inc(r)
		if r != c.want {
			t.Errorf("%s: reason %s (detail %v), want %s", c.name, r, d.Detail.Name(), c.want)
		}
		if r == ReasonNone && ep == nil {
			t.Errorf("%s: no endpoint on success", c.name)
		}
	}
	for _, r := range append([]Reason{ReasonNone}, Reasons()...) {
		if cnt.Get(r) == 0 {
			t.Errorf("reason %s never produced", r.Name())
		}
	}
	snap := cnt.Snapshot()
	var total uint64
	for _, n := range snap {
		total += n
	}
	eq(t, "total counted", total, uint64(len(fx.cases(t))))
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	rs := Reasons()
	eq(t, "len(Reasons())", len(rs), NumReasons-1)
	for _, r := range append(rs, ReasonNone) {
		n := r.Name()
		if n == "" || n == "unknown" || seen[n] || r.Help() == "" || r.String() != n {
			t.Errorf("reason %d: name %q help %q", r, n, r.Help())
		}
		for _, ch := range n {
			if !(ch >= 'a' && ch <= 'z' || ch == '_' || ch >= '0' && ch <= '9') {
				t.Errorf("reason name %q is not snake_case", n)
			}
		}
		seen[n] = true
	}
	eq(t, "out of range", Reason(200).Name(), "unknown")
	for _, n := range []string{"not_ip", "outer_fragment", "bad_ip_checksum", "gre_version", "gre_routing", "gre_bad_checksum",
		"gre_key_mismatch", "gre_seq_out_of_order", "geneve_version", "geneve_bad_optlen", "geneve_critical_option",
		"geneve_oam", "geneve_protocol", "udp_bad_checksum", "truncated", "no_endpoint"} {
		if !seen[n] {
			t.Errorf("missing reason %q", n)
		}
	}
}

// TestDecapDetail: a failure from the packet package's validation keeps
// its finer reason.
func TestDecapDetail(t *testing.T) {
	fx := newReasonFixture(t)
	f := mustEncap(t, fx.sTapK8, buildInner(t, innerSpec{}), 0)
	f[14] = 0x44
	var d Decapsulated
	eq(t, "reason", Decap(f, 6081, &d), ReasonBadIPHeader)
	eq(t, "detail", d.Detail, packet.ErrIPv4IHL)
}

// TestDecapIP decapsulates an outer packet handed over without its
// Ethernet header (as outer reassembly produces it).
func TestDecapIP(t *testing.T) {
	fx := newReasonFixture(t)
	inner := buildInner(t, innerSpec{})
	for _, e := range []*Endpoint{fx.sTapK8, fx.sGen4, fx.sGen6, fx.sIPK7} {
		f := mustEncap(t, e, inner, 0)
		var d Decapsulated
		if r := DecapIP(f[14:], 6081, &d); r != ReasonNone {
			t.Fatalf("%s: %s", e.Name(), r)
		}
		if _, r := fx.tbl.Match(&d); r != ReasonNone {
			t.Errorf("%s: Match %s", e.Name(), r)
		}
		want := inner
		if e.Kind() == GREIP {
			want = inner[14:]
		}
		eqBytes(t, "payload", d.Payload, want)
		eq(t, "payload offset", d.PayloadOff, e.HeaderLen())
	}
	var d Decapsulated
	eq(t, "not IP", DecapIP([]byte{0x10, 0, 0}, 6081, &d), ReasonNotIP)
	eq(t, "empty", DecapIP(nil, 6081, &d), ReasonTruncated)
	eq(t, "geneve disabled", DecapIP(mustEncap(t, fx.sGen4, inner, 0)[14:], 0, &d), ReasonNotTunnel)
}

// TestGeneveOptionWalk: options are walked by their declared lengths,
// zero-length ones included; data that looks like an option header is
// data; a critical option is refused unless configured, with or without
// the C bit; lengths past the options or the packet are refused.
func TestGeneveOptionWalk(t *testing.T) {
	fx := newReasonFixture(t)
	inner := buildInner(t, innerSpec{})
	// Option data that mimics an unknown critical option header.
	mimic := []byte{0x01, 0x03, 0x81, 0x00}
	many := make([]genOpt, 63)
	for i := range many {
		many[i] = genOpt{class: uint16(i), typ: 0x01}
	}
	cases := []struct {
		name     string
		crit     bool
		opts     []genOpt
		optLen   int
		want     Reason
		wantCrit bool
	}{
		{"none", false, nil, 0, ReasonNone, false},
		{"zero-length options", false, []genOpt{{class: 1, typ: 1}, {class: 2, typ: 2}}, 0, ReasonNone, false},
		{"understood critical", true, []genOpt{{class: 0x0102, typ: 0x80, data: []byte{9, 9, 9, 9}}}, 0, ReasonNone, true},
		{"understood critical, other data length", true, []genOpt{{class: 0x0102, typ: 0x80, data: make([]byte, 12)}}, 0, ReasonNone, true},
		{"data mimicking a critical header", false, []genOpt{{class: 5, typ: 5, data: mimic}, {class: 6, typ: 6}}, 0, ReasonNone, false},
		{"c bit without critical options", true, []genOpt{{class: 5, typ: 5}}, 0, ReasonNone, true},
		{"critical option without c bit", false, []genOpt{{class: 5, typ: 0x85}}, 0, ReasonGeneveCritical, true},
		{"unknown critical after known", true, []genOpt{{class: 0x0102, typ: 0x80}, {class: 0x0102, typ: 0x81}}, 0, ReasonGeneveCritical, true},
		{"63 options, 252 bytes", false, many, 0, ReasonNone, false},
		{"last option past the options", false, []genOpt{{class: 1, typ: 1}, {class: 2, typ: 2, data: make([]byte, 4), lenOverride: 2}}, 0, ReasonGeneveBadOption, false},
		{"option length 31 in a short area", false, []genOpt{{class: 1, typ: 1, lenOverride: 31}}, 0, ReasonGeneveBadOption, false},
		{"options area shorter than declared", false, []genOpt{{class: 1, typ: 1}}, 2, ReasonGeneveBadOption, false},
		{"options past the packet", false, nil, 40, ReasonGeneveBadOptLen, false},
	}
	for _, c := range cases {
		h := geneveHdr(0, false, c.crit, 0x6558, 100, c.opts, c.optLen)
		payload := inner
		if c.want == ReasonGeneveBadOptLen {
			payload = nil
		}
		if c.optLen == 2 {
			// declared 8 bytes of options, 4 present, then the inner frame
			// whose first bytes become the second "option".
			payload = append([]byte{0, 9, 0, 0x1f}, inner...)
		}
		f := wrapUDP(t, remote4, local4, 6081, append(h, payload...), false)
		var d Decapsulated
		_, r := fx.tbl.Receive(f, &d)
		if r != c.want {
			t.Errorf("%s: %s, want %s", c.name, r, c.want)
			continue
		}
		if r == ReasonNone || r == ReasonGeneveCritical {
			eq(t, c.name+" critical", d.Critical, c.wantCrit)
			eqBytes(t, c.name+" options", d.Options, h[8:])
		}
	}
}

// TestCheckSeq: the RFC 2890 window, including wrap-around at 2^32.
func TestCheckSeq(t *testing.T) {
	e := MustEndpoint(Config{Name: "s", Kind: GRETap, Local: local4, Remote: remote4, Seq: true})
	eq(t, "initial last", e.LastRxSeq(), ^uint32(0))
	steps := []struct {
		seq  uint32
		want bool
	}{
		{0, true}, {0, false}, {1, true}, {5, true}, {3, false}, {5, false}, {6, true},
		{6 + 1<<31, false},    // exactly half the space ahead: not "after"
		{6 + 1<<31 - 1, true}, // just inside the window
		{7, false},            // now far behind
		{0xfffffffe, true},    // 0x80000005 -> 0xfffffffe is ahead
		{0xffffffff, true},
		{0, true}, // wraps
		{1, true},
		{0xffffffff, false}, // behind after the wrap
		{0x80000000, true},  // 1 + 2^31 - 1
	}
	for i, s := range steps {
		if got := e.CheckSeq(s.seq); got != s.want {
			t.Fatalf("step %d: CheckSeq(%#x) = %v, want %v (last %#x)", i, s.seq, got, s.want, e.LastRxSeq())
		}
	}
	e.ResetRxSeq()
	eq(t, "after reset, 0", e.CheckSeq(0), true)
}

// TestCheckSeqConcurrent: several receivers racing on one endpoint accept
// each sequence number at most once and end at the highest.
func TestCheckSeqConcurrent(t *testing.T) {
	e := MustEndpoint(Config{Name: "s", Kind: GRETap, Local: local4, Remote: remote4, Seq: true})
	const n = 20000
	var accepted [4][]uint32
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint32(0); s < n; s++ {
				if e.CheckSeq(s) {
					accepted[w] = append(accepted[w], s)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, a := range accepted {
		for _, s := range a {
			if seen[s] {
				t.Fatalf("seq %d accepted twice", s)
			}
			seen[s] = true
		}
	}
	eq(t, "last", e.LastRxSeq(), uint32(n-1))
}

// TestMatchSeqAfterOtherChecks: a packet refused for a critical option or
// a kind mismatch does not consume a sequence number.
func TestSeqOnlyOnAccept(t *testing.T) {
	fx := newReasonFixture(t)
	inner := buildInner(t, innerSpec{})
	f0 := mustEncap(t, fx.sTapSeq, inner, 0) // seq 0
	bad := append([]byte(nil), f0...)
	bad[len(bad)-1] ^= 1 // GRE checksum now wrong
	var d Decapsulated
	_, r := fx.tbl.Receive(bad, &d)
	eq(t, "corrupted", r, ReasonGREBadChecksum)
	_, r = fx.tbl.Receive(f0, &d)
	eq(t, "the real seq 0 after a corrupted copy", r, ReasonNone)
}

func TestNewTableErrors(t *testing.T) {
	mk := func(c Config) *Endpoint { return MustEndpoint(c) }
	a := mk(Config{Name: "a", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(1)})
	cases := []struct {
		name string
		eps  []*Endpoint
		want string
	}{
		{"nil", []*Endpoint{nil}, "endpoint 0 is nil"},
		{"dup name", []*Endpoint{a, a}, "endpoint a: name used twice"},
		{"key and no key", []*Endpoint{a, mk(Config{Name: "b", Kind: GREIP, Local: local4, Remote: remote4})},
			"endpoints a and b share the path 198.18.0.1->198.18.0.2: both need a GRE key, or neither"},
		{"same key same kind", []*Endpoint{a, mk(Config{Name: "b", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(1)})},
			"endpoints a and b both receive gretap on the path 198.18.0.1->198.18.0.2 with key 1"},
		{"two keyless", []*Endpoint{mk(Config{Name: "x", Kind: GREIP, Local: local4, Remote: remote4}), mk(Config{Name: "y", Kind: GREIP, Local: local4, Remote: remote4})},
			"both receive gre on the path 198.18.0.1->198.18.0.2 with no key"},
		{"same vni", []*Endpoint{mk(Config{Name: "g1", Kind: Geneve, Local: local4, Remote: remote4, VNI: 3}), mk(Config{Name: "g2", Kind: Geneve, Local: local4, Remote: remote4, VNI: 3})},
			"endpoints g1 and g2 both receive geneve vni 3"},
		{"ports differ", []*Endpoint{mk(Config{Name: "g1", Kind: Geneve, Local: local4, Remote: remote4, VNI: 3}), mk(Config{Name: "g2", Kind: Geneve, Local: local4, Remote: other4, VNI: 3, DstPort: 6082})},
			"endpoint g2: geneve port 6082 differs from endpoint g1's 6081"},
	}
	for _, c := range cases {
		_, err := NewTable(c.eps, TableConfig{})
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewTable(nil, TableConfig{PMTUExpiry: -1}); err == nil {
		t.Error("negative expiry accepted")
	}
	// Same key on both kinds, and the same VNI on two paths, are fine.
	b := mk(Config{Name: "b", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(1)})
	g1 := mk(Config{Name: "g1", Kind: Geneve, Local: local4, Remote: remote4, VNI: 3})
	g2 := mk(Config{Name: "g2", Kind: Geneve, Local: local4, Remote: other4, VNI: 3})
	tbl, err := NewTable([]*Endpoint{g2, b, a, g1}, TableConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tbl.Endpoints() {
		names = append(names, e.Name())
	}
	eq(t, "sorted", fmt.Sprint(names), "[a b g1 g2]")
	eq(t, "by name", tbl.Endpoint("g2"), g2)
	eq(t, "geneve port", tbl.GenevePort(), uint16(6081))
}
