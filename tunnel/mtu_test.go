package tunnel

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestMTUNumbers checks the overhead table (shared/reference/tunnels.md
// A.4) at an underlay MTU of 1500, and that each number is exact: an inner
// packet of InnerMTU bytes makes an outer packet of exactly 1500 bytes.
func TestMTUNumbers(t *testing.T) {
	opts24 := []GeneveOption{{Class: 1, Type: 1, Data: make([]byte, 8)}, {Class: 2, Type: 2, Data: make([]byte, 8)}}
	tlv8 := []GeneveOption{{Class: 0xffff, Type: 0x80, Data: []byte{0, 0, 0, 0xa}}}
	g4 := func(k Kind) Config { return Config{Name: "m", Kind: k, Local: local4, Remote: remote4} }
	with := func(c Config, f func(*Config)) Config { f(&c); return c }
	cases := []struct {
		name    string
		c       Config
		tags    int
		v6inner bool
		hdr     int // HeaderLen
		want    int // InnerMTU at 1500
	}{
		{"gretap", g4(GRETap), 0, false, 24, 1462},
		{"gretap+key", with(g4(GRETap), func(c *Config) { c.Key = u32(1) }), 0, false, 28, 1458},
		{"gretap+key+seq", with(g4(GRETap), func(c *Config) { c.Key = u32(1); c.Seq = true }), 0, false, 32, 1454},
		{"gretap+csum+key+seq", with(g4(GRETap), func(c *Config) { c.Key = u32(1); c.Seq = true; c.Checksum = ChecksumOn }), 0, false, 36, 1450},
		{"ip-gre", g4(GREIP), 0, false, 24, 1476},
		{"ip-gre+key", with(g4(GREIP), func(c *Config) { c.Key = u32(1) }), 0, false, 28, 1472},
		{"ip-gre+key+seq", with(g4(GREIP), func(c *Config) { c.Key = u32(1); c.Seq = true }), 0, false, 32, 1468},
		{"ip-gre+csum+key+seq", with(g4(GREIP), func(c *Config) { c.Key = u32(1); c.Seq = true; c.Checksum = ChecksumOn }), 0, false, 36, 1464},
		{"ip-gre, tagged inner (tags stripped)", g4(GREIP), 2, false, 24, 1476},
		{"geneve/ipv4", g4(Geneve), 0, false, 36, 1450},
		{"geneve/ipv4 csum", with(g4(Geneve), func(c *Config) { c.Checksum = ChecksumOn }), 0, false, 36, 1450},
		{"geneve/ipv4, one 8-byte TLV", with(g4(Geneve), func(c *Config) { c.Options = tlv8 }), 0, false, 44, 1442},
		{"geneve/ipv4, 24 bytes of options", with(g4(Geneve), func(c *Config) { c.Options = opts24 }), 0, false, 60, 1426},
		{"geneve/ipv6", Config{Name: "m", Kind: Geneve, Local: local6, Remote: remote6}, 0, false, 56, 1430},
		{"geneve/ipv6, ipv6 inner", Config{Name: "m", Kind: Geneve, Local: local6, Remote: remote6}, 0, true, 56, 1430},
		{"ip6gretap", Config{Name: "m", Kind: GRETap, Local: local6, Remote: remote6}, 0, false, 44, 1442},
		{"ip6gre", Config{Name: "m", Kind: GREIP, Local: local6, Remote: remote6}, 0, false, 44, 1456},
		{"gretap, one 802.1Q tag", g4(GRETap), 1, false, 24, 1458},
		{"gretap, QinQ", g4(GRETap), 2, false, 24, 1454},
		{"gretap+key, one tag", with(g4(GRETap), func(c *Config) { c.Key = u32(1) }), 1, false, 28, 1454},
		{"geneve/ipv4, one tag", g4(Geneve), 1, false, 36, 1446},
		{"geneve/ipv4, QinQ", g4(Geneve), 2, false, 36, 1442},
	}
	for _, c := range cases {
		e := MustEndpoint(c.c)
		probe := buildInner(t, innerSpec{tags: c.tags, v6: c.v6inner})
		eq(t, c.name+" HeaderLen", e.HeaderLen(), c.hdr)
		got := e.InnerMTU(probe, 1500)
		eq(t, c.name+" InnerMTU", got, c.want)
		eq(t, c.name+" Overhead", e.Overhead(probe), 1500-c.want)
		// Exactness: a packet of InnerMTU bytes fills the underlay MTU.
		full := buildInner(t, innerSpec{tags: c.tags, v6: c.v6inner, udp: true, ipLen: got})
		f := mustEncap(t, e, full, 1)
		eq(t, c.name+" outer L3 length at InnerMTU", len(f)-14, 1500)
		if a, n := e.Decide(full, 1500); a != Fits || n != got {
			t.Errorf("%s: Decide at InnerMTU = %v %d", c.name, a, n)
		}
		over := buildInner(t, innerSpec{tags: c.tags, v6: c.v6inner, udp: true, ipLen: got + 1})
		if a, _ := e.Decide(over, 1500); a == Fits {
			t.Errorf("%s: one byte over InnerMTU fits", c.name)
		}
	}
	e := MustEndpoint(g4(GRETap))
	eq(t, "InnerMTU floors at 0", e.InnerMTU(buildInner(t, innerSpec{}), 20), 0)
}

func TestDecide(t *testing.T) {
	tap := MustEndpoint(Config{Name: "t", Kind: GRETap, Local: local4, Remote: remote4})
	gre := MustEndpoint(Config{Name: "g", Kind: GREIP, Local: local4, Remote: remote4})
	gen6 := MustEndpoint(Config{Name: "v", Kind: Geneve, Local: local6, Remote: remote6})
	big := func(n int) []byte { // a non-IP frame of n bytes
		f := make([]byte, n)
		f[12], f[13] = 0x88, 0xb5
		return f
	}
	cases := []struct {
		name    string
		e       *Endpoint
		inner   []byte
		pmtu    int
		want    Action
		wantMTU int
	}{
		{"v4 df fits", tap, buildInner(t, innerSpec{df: true, ipLen: 1462}), 1500, Fits, 1462},
		{"v4 df too big", tap, buildInner(t, innerSpec{df: true, ipLen: 1463}), 1500, SendFragNeeded, 1462},
		{"v4 df too big, tagged", tap, buildInner(t, innerSpec{df: true, ipLen: 1462, tags: 1}), 1500, SendFragNeeded, 1458},
		{"v4 no df too big", tap, buildInner(t, innerSpec{ipLen: 1463, udp: true}), 1500, FragmentInner, 1462},
		{"v4 fragment, no df", tap, buildInner(t, innerSpec{ipLen: 1480, udp: true, fragMF: true}), 1500, FragmentInner, 1462},
		{"v4 fragment, df", tap, buildInner(t, innerSpec{ipLen: 1480, udp: true, fragMF: true, df: true}), 1500, SendFragNeeded, 1462},
		{"v4 learned pmtu", tap, buildInner(t, innerSpec{df: true, ipLen: 1400}), 1400, SendFragNeeded, 1362},
		{"v4 df, mtu below 68", tap, buildInner(t, innerSpec{df: true, ipLen: 200}), 100, DropTooBig, 62},
		{"v4 no df, mtu below 68", tap, buildInner(t, innerSpec{ipLen: 200}), 100, DropTooBig, 62},
		{"v4 df, mtu exactly 68", tap, buildInner(t, innerSpec{df: true, ipLen: 200}), 106, SendFragNeeded, 68},
		{"v6 fits", tap, buildInner(t, innerSpec{v6: true, ipLen: 1462}), 1500, Fits, 1462},
		{"v6 too big", tap, buildInner(t, innerSpec{v6: true, ipLen: 1500}), 1500, SendPacketTooBig, 1462},
		{"v6 too big, T = 1280", tap, buildInner(t, innerSpec{v6: true, ipLen: 1300}), 1318, SendPacketTooBig, 1280},
		{"v6 1280 over a tunnel that carries less", gen6, buildInner(t, innerSpec{v6: true, ipLen: 1280}), 1280, FragmentOuter, 1280},
		{"v6 1281 over a tunnel that carries less", gen6, buildInner(t, innerSpec{v6: true, ipLen: 1281}), 1280, SendPacketTooBig, 1280},
		{"v6 small over a small tunnel", gen6, buildInner(t, innerSpec{v6: true, ipLen: 1210}), 1280, Fits, 1210},
		{"padded small frame", tap, buildInner(t, innerSpec{df: true, ipLen: 40, padTo: 60}), 1500, Fits, 1462},
		{"non-ip fits", tap, arpFrame(t), 1500, Fits, 1462},
		{"non-ip exactly fits", tap, big(1476), 1500, Fits, 1462},
		{"non-ip too big", tap, big(1477), 1500, DropTooBig, 1462},
		{"gre-ip fits", gre, buildInner(t, innerSpec{ipLen: 1476, tags: 1}), 1500, Fits, 1476},
		{"gre-ip too big", gre, buildInner(t, innerSpec{ipLen: 1477, df: true}), 1500, SendFragNeeded, 1476},
		{"gre-ip non-ip", gre, arpFrame(t), 1500, DropNotIP, 0},
	}
	for _, c := range cases {
		a, n := c.e.Decide(c.inner, c.pmtu)
		if a != c.want || n != c.wantMTU {
			t.Errorf("%s: Decide = %v %d, want %v %d", c.name, a, n, c.want, c.wantMTU)
		}
	}
	for a := Fits; a < numActions; a++ {
		if a.String() == "" || a.String()[0] == 'a' {
			t.Errorf("action %d has no name", a)
		}
	}
}

// icmpFragNeeded builds the frame of an ICMP "fragmentation needed" from
// a router to dst quoting quote.
func icmpFragNeeded(t testing.TB, src, dst net.IP, mtu uint16, code uint8, quote []byte) []byte {
	return serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr(underDstMAC[:]), DstMAC: net.HardwareAddr(underSrcMAC[:]), EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: src, DstIP: dst},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, code), Id: 0, Seq: mtu},
		gopacket.Payload(quote))
}

func icmpPTB(t testing.TB, src, dst net.IP, mtu uint32, quote []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: dst}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(2, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	body := binary.BigEndian.AppendUint32(nil, mtu)
	return serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr(underDstMAC[:]), DstMAC: net.HardwareAddr(underSrcMAC[:]), EthernetType: layers.EthernetTypeIPv6},
		ip, ic, gopacket.Payload(append(body, quote...)))
}

func TestLearnPMTU(t *testing.T) {
	const sec = int64(time.Second)
	now := 1000 * sec
	tapA := MustEndpoint(Config{Name: "a", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(7)})
	ipB := MustEndpoint(Config{Name: "b", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(8)})
	genC := MustEndpoint(Config{Name: "c", Kind: Geneve, Local: local4, Remote: remote4, VNI: 10})
	genD := MustEndpoint(Config{Name: "d", Kind: Geneve, Local: local4, Remote: remote4, VNI: 11})
	farE := MustEndpoint(Config{Name: "e", Kind: GRETap, Local: local4, Remote: other4})
	gen6 := MustEndpoint(Config{Name: "f", Kind: Geneve, Local: local6, Remote: remote6, VNI: 1})
	tbl, err := NewTable([]*Endpoint{tapA, ipB, genC, genD, farE, gen6}, TableConfig{})
	if err != nil {
		t.Fatal(err)
	}
	inner := buildInner(t, innerSpec{df: true, ipLen: 1440})
	quoteOf := func(e *Endpoint, n int) []byte {
		f := mustEncap(t, e, inner, 0)
		return f[14 : 14+n]
	}
	r4, l4 := router4.AsSlice(), local4.AsSlice()

	// A router on the path to remote4 says 1400 about tapA's packet.
	fr := icmpFragNeeded(t, r4, l4, 1400, 4, quoteOf(tapA, 548))
	ep, mtu, ok := tbl.LearnPMTU(fr, now)
	if !ok || ep != tapA || mtu != 1400 {
		t.Fatalf("LearnPMTU = %v %d %v", ep, mtu, ok)
	}
	eq(t, "PathMTU", tapA.PathMTU(1500, now), 1400)
	eq(t, "PathMTU never above the link", tapA.PathMTU(1300, now), 1300)
	// The whole path shares it: same (local, remote), other keys and kinds.
	for _, e := range []*Endpoint{ipB, genC, genD} {
		eq(t, e.Name()+" shares the path MTU", e.PathMTU(1500, now), 1400)
	}
	eq(t, "another remote is unaffected", farE.PathMTU(1500, now), 1500)
	pm := tbl.PMTUs(now + 60*sec)
	if len(pm) != 4 || pm[0].Endpoint != "a" || pm[0].MTU != 1400 || pm[0].Remote != remote4 ||
		pm[0].Expires <= 8*time.Minute || pm[0].Expires > 9*time.Minute+time.Second {
		t.Errorf("PMTUs = %+v", pm)
	}
	// Expiry after 10 minutes.
	eq(t, "just before expiry", tapA.PathMTU(1500, now+int64(DefaultPMTUExpiry)-sec), 1400)
	eq(t, "after expiry", tapA.PathMTU(1500, now+int64(DefaultPMTUExpiry)+sec), 1500)
	eq(t, "PMTUs after expiry", len(tbl.PMTUs(now+int64(DefaultPMTUExpiry)+sec)), 0)

	// Never raised by a later report; lowered by a smaller one.
	if _, m, ok := tbl.LearnPMTU(icmpFragNeeded(t, r4, l4, 1450, 4, quoteOf(tapA, 548)), now+sec); !ok || m != 1400 {
		t.Errorf("raise: %d %v", m, ok)
	}
	if _, m, ok := tbl.LearnPMTU(icmpFragNeeded(t, r4, l4, 1300, 4, quoteOf(ipB, 28)), now+sec); !ok || m != 1300 {
		t.Errorf("lower via an 8-byte GRE quote: %d %v", m, ok)
	}
	eq(t, "lowered", tapA.PathMTU(1500, now+sec), 1300)
	// Floor: 552 for IPv4.
	if _, m, ok := tbl.LearnPMTU(icmpFragNeeded(t, r4, l4, 300, 4, quoteOf(tapA, 548)), now+2*sec); !ok || m != MinPMTU4 {
		t.Errorf("floor: %d %v", m, ok)
	}
	// A Geneve quote long enough to show the VNI picks that endpoint.
	for _, e := range []*Endpoint{tapA, ipB, genC, genD} {
		e.ClearPMTU()
	}
	if ep, m, ok := tbl.LearnPMTU(icmpFragNeeded(t, r4, l4, 1000, 4, quoteOf(genD, 44)), now); !ok || ep != genD || m != 1000 {
		t.Errorf("geneve by vni: %v %d %v", ep, m, ok)
	}
	// A pre-RFC 1191 router (MTU 0): the next plateau below the quoted
	// length (1440 + 14 + 24 = 1478 -> 1006).
	if _, m, ok := tbl.LearnPMTU(icmpFragNeeded(t, r4, farE.cfg.Local.AsSlice(), 0, 4, quoteOf(farE, 548)), now); !ok || m != 1006 {
		t.Errorf("plateau: %d %v", m, ok)
	}

	// IPv6 Packet Too Big: learned, floored at 1280.
	r6, l6 := router6.AsSlice(), local6.AsSlice()
	if ep, m, ok := tbl.LearnPMTU(icmpPTB(t, r6, l6, 1400, quoteOf(gen6, 1232)), now); !ok || ep != gen6 || m != 1400 {
		t.Errorf("ptb: %v %d %v", ep, m, ok)
	}
	if _, m, ok := tbl.LearnPMTU(icmpPTB(t, r6, l6, 1000, quoteOf(gen6, 100)), now); !ok || m != MinPMTU6 {
		t.Errorf("ptb floor: %d %v", m, ok)
	}
	eq(t, "v6 PathMTU", gen6.PathMTU(1500, now), 1280)

	// Ignored: messages that are not about our packets, or not believable.
	before := make(map[*Endpoint]int)
	for _, e := range tbl.Endpoints() {
		before[e] = e.PathMTU(9000, now)
	}
	stranger := MustEndpoint(Config{Name: "x", Kind: GRETap, Local: other4, Remote: remote4, Key: u32(7)})
	wrongKey := MustEndpoint(Config{Name: "y", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(9)})
	wrongKind := MustEndpoint(Config{Name: "z", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(7)})
	wrongVNI := MustEndpoint(Config{Name: "w", Kind: Geneve, Local: local4, Remote: remote4, VNI: 12})
	dns := wrapUDP(t, local4, remote4, 53, make([]byte, 40), false)[14:]
	badSum := icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(tapA, 548))
	badSum[len(badSum)-1] ^= 1
	for name, fr := range map[string][]byte{
		"quotes someone else's packet": icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(stranger, 548)),
		"sent to another address":      icmpFragNeeded(t, r4, other4.AsSlice(), 1200, 4, quoteOf(tapA, 548)),
		"unknown key":                  icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(wrongKey, 548)),
		"other kind with that key":     icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(wrongKind, 548)),
		"unknown vni":                  icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(wrongVNI, 548)),
		"udp to another port":          icmpFragNeeded(t, r4, l4, 1200, 4, dns),
		"bad icmp checksum":            badSum,
		"port unreachable":             icmpFragNeeded(t, r4, l4, 1200, 3, quoteOf(tapA, 548)),
		"mtu not below the packet":     icmpFragNeeded(t, r4, l4, 1482, 4, quoteOf(tapA, 548)),
		"quote too short":              icmpFragNeeded(t, r4, l4, 1200, 4, quoteOf(tapA, 24)),
		"not icmp":                     mustEncap(t, tapA, inner, 0),
		"runt":                         {1, 2, 3},
		"v6 ptb quoting v4":            icmpPTB(t, r6, l6, 1300, quoteOf(tapA, 548)),
	} {
		if ep, m, ok := tbl.LearnPMTU(fr, now); ok {
			t.Errorf("%s: learned %v %d", name, ep, m)
		}
	}
	for _, e := range tbl.Endpoints() {
		eq(t, e.Name()+" unchanged by ignored messages", e.PathMTU(9000, now), before[e])
	}
	learned, ignored := tbl.PMTUStats()
	eq(t, "learned", learned, uint64(8))
	eq(t, "ignored", ignored, uint64(13))
}

func TestPMTUExpiryConfigurable(t *testing.T) {
	e := MustEndpoint(Config{Name: "a", Kind: GRETap, Local: local4, Remote: remote4})
	tbl, err := NewTable([]*Endpoint{e}, TableConfig{PMTUExpiry: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	q := mustEncap(t, e, buildInner(t, innerSpec{ipLen: 1400}), 0)[14:]
	now := int64(5 * time.Second)
	if _, _, ok := tbl.LearnPMTU(icmpFragNeeded(t, router4.AsSlice(), local4.AsSlice(), 1300, 4, q[:100]), now); !ok {
		t.Fatal("not learned")
	}
	eq(t, "within a minute", e.PathMTU(1500, now+int64(59*time.Second)), 1300)
	eq(t, "after a minute", e.PathMTU(1500, now+int64(61*time.Second)), 1500)
	// Expired values do not block a higher report.
	if _, m, _ := tbl.LearnPMTU(icmpFragNeeded(t, router4.AsSlice(), local4.AsSlice(), 1350, 4, q[:100]), now+int64(2*time.Minute)); m != 1350 {
		t.Errorf("after expiry: %d", m)
	}
}
