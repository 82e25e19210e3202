package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// encapConfigs are the kind/option combinations the byte-exact tests run.
func encapConfigs() []Config {
	crit := []GeneveOption{{Class: 0xffff, Type: 0x80, Data: []byte{0, 0, 0, 0xa}}, {Class: 0x0102, Type: 0x03, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}
	soft := []GeneveOption{{Class: 0x0103, Type: 0x01}, {Class: 0x0104, Type: 0x7f, Data: make([]byte, 60)}}
	return []Config{
		{Name: "gretap4", Kind: GRETap, Local: local4, Remote: remote4},
		{Name: "gretap4-key", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(0x1c8)},
		{Name: "gretap4-key-seq", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(0xffffffff), Seq: true},
		{Name: "gretap4-csum-key-seq", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(0), Seq: true, Checksum: ChecksumOn},
		{Name: "gretap4-csum", Kind: GRETap, Local: local4, Remote: remote4, Checksum: ChecksumOn},
		{Name: "gretap4-inherit-ttl", Kind: GRETap, Local: local4, Remote: remote4, DF: DFInherit, TTL: 7},
		{Name: "gretap4-unset", Kind: GRETap, Local: local4, Remote: remote4, DF: DFUnset, Seq: true},
		{Name: "gre4", Kind: GREIP, Local: local4, Remote: remote4},
		{Name: "gre4-csum-key-seq-inherit", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(99), Seq: true, Checksum: ChecksumOn, DF: DFInherit},
		{Name: "gretap6-csum-key", Kind: GRETap, Local: local6, Remote: remote6, Key: u32(5), Checksum: ChecksumOn},
		{Name: "gre6-seq", Kind: GREIP, Local: local6, Remote: remote6, Seq: true, TTL: 255},
		{Name: "geneve4", Kind: Geneve, Local: local4, Remote: remote4, VNI: 123},
		{Name: "geneve4-csum-unset", Kind: Geneve, Local: local4, Remote: remote4, VNI: 0xffffff, Checksum: ChecksumOn, DF: DFUnset},
		{Name: "geneve4-inherit", Kind: Geneve, Local: local4, Remote: remote4, VNI: 1, DF: DFInherit, DstPort: 7000},
		{Name: "geneve6", Kind: Geneve, Local: local6, Remote: remote6, VNI: 77},
		{Name: "geneve6-nocsum", Kind: Geneve, Local: local6, Remote: remote6, VNI: 78, Checksum: ChecksumOff},
		{Name: "geneve4-crit-opts", Kind: Geneve, Local: local4, Remote: remote4, VNI: 0x7b, Options: crit, SrcPortMin: 1000, SrcPortMax: 1003},
		{Name: "geneve6-soft-opts", Kind: Geneve, Local: local6, Remote: remote6, VNI: 9, Options: soft},
	}
}

type namedInner struct {
	name string
	spec innerSpec
	arp  bool
}

var encapInners = []namedInner{
	{name: "tcp4-df", spec: innerSpec{df: true, ecn: 0x28 | 1}},
	{name: "udp4-nodf-ce", spec: innerSpec{udp: true, ecn: 3, ipLen: 1400}},
	{name: "tcp6-ect1", spec: innerSpec{v6: true, ecn: 0xb8 | 1}},
	{name: "tcp4-vlan", spec: innerSpec{tags: 1, df: true}},
	{name: "udp6-qinq", spec: innerSpec{v6: true, udp: true, tags: 2}},
	{name: "tcp4-padded60", spec: innerSpec{df: true, ipLen: 40, padTo: 60}},
	{name: "udp4-frag", spec: innerSpec{udp: true, fragMF: true}},
	{name: "arp", arp: true},
}

func (n namedInner) build(tb testing.TB) []byte {
	if n.arp {
		return arpFrame(tb)
	}
	return buildInner(tb, n.spec)
}

// TestEncapByteExact encapsulates every inner frame with every
// configuration and decodes the result with gopacket, checking every
// field of the outer headers and the payload.
func TestEncapByteExact(t *testing.T) {
	for _, c := range encapConfigs() {
		e := MustEndpoint(c)
		var seq uint32
		lastID := -1
		for _, in := range encapInners {
			inner := in.build(t)
			if c.Kind == GREIP && in.arp {
				if _, err := e.Encap(make([]byte, 2048), underSrcMAC, underDstMAC, inner, 1); !errors.Is(err, ErrNotIP) {
					t.Errorf("%s/%s: err %v, want ErrNotIP", c.Name, in.name, err)
				}
				continue
			}
			t.Run(c.Name+"/"+in.name, func(t *testing.T) {
				for i := range 2 {
					hash := uint64(0x9e3779b97f4a7c15) * uint64(len(in.name))
					f := mustEncap(t, e, inner, hash)
					id := checkEncap(t, e, in, inner, f, hash, seq)
					seq++
					if id >= 0 {
						if id == lastID {
							t.Errorf("packet %d: outer IPv4 ID %d repeated with DF clear", i, id)
						}
						lastID = id
					}
				}
			})
		}
		if c.Seq {
			eq(t, c.Name+" NextTxSeq", e.NextTxSeq(), seq)
		}
	}
}

// checkEncap verifies one encapsulated frame field by field. It returns
// the outer IPv4 ID when DF is clear (which must be unique), else -1.
func checkEncap(t *testing.T, e *Endpoint, in namedInner, inner, f []byte, hash uint64, wantSeq uint32) int {
	t.Helper()
	c := e.Config()
	v6 := c.Local.Is6()
	l2 := l2Len(inner)
	payload := inner[:trimmedLen(inner)]
	if c.Kind == GREIP {
		payload = inner[l2:trimmedLen(inner)]
	}
	eq(t, "frame length", len(f), 14+e.HeaderLen()+len(payload))
	eqBytes(t, "payload", f[14+e.HeaderLen():], payload)

	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	eq(t, "outer eth src", eth.SrcMAC.String(), net.HardwareAddr(underSrcMAC[:]).String())
	eq(t, "outer eth dst", eth.DstMAC.String(), net.HardwareAddr(underDstMAC[:]).String())

	wantECN := uint8(0)
	if !in.arp {
		wantECN = in.spec.ecn & 3
		if wantECN == 3 {
			wantECN = 2
		}
	}
	proto := layers.IPProtocolGRE
	if c.Kind == Geneve {
		proto = layers.IPProtocolUDP
	}
	id := -1
	if v6 {
		eq(t, "ethertype", eth.EthernetType, layers.EthernetTypeIPv6)
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		eq(t, "ip6 payload length", int(ip.Length), len(f)-14-40)
		eq(t, "hop limit", ip.HopLimit, c.TTL)
		eq(t, "next header", ip.NextHeader, proto)
		eq(t, "src", ip.SrcIP.String(), c.Local.String())
		eq(t, "dst", ip.DstIP.String(), c.Remote.String())
		eq(t, "traffic class", ip.TrafficClass, wantECN)
		wantLabel := uint32(hash^hash>>32) & 0xfffff
		if wantLabel == 0 {
			wantLabel = 1
		}
		eq(t, "flow label", ip.FlowLabel, wantLabel)
	} else {
		eq(t, "ethertype", eth.EthernetType, layers.EthernetTypeIPv4)
		ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		eq(t, "ihl", ip.IHL, uint8(5))
		eq(t, "total length", int(ip.Length), len(f)-14)
		eq(t, "ttl", ip.TTL, c.TTL)
		eq(t, "protocol", ip.Protocol, proto)
		eq(t, "src", ip.SrcIP.String(), c.Local.String())
		eq(t, "dst", ip.DstIP.String(), c.Remote.String())
		eq(t, "tos", ip.TOS, wantECN)
		eq(t, "frag offset", ip.FragOffset, uint16(0))
		eq(t, "MF", ip.Flags&layers.IPv4MoreFragments != 0, false)
		if !checksumOK(f[14:34], 0) {
			t.Errorf("outer IPv4 header checksum %#04x invalid", ip.Checksum)
		}
		wantDF := true
		switch c.DF {
		case DFUnset:
			wantDF = false
		case DFInherit:
			wantDF = !in.arp && (in.spec.v6 || in.spec.df)
		}
		df := ip.Flags&layers.IPv4DontFragment != 0
		eq(t, "DF", df, wantDF)
		if df {
			eq(t, "ID with DF (atomic datagram)", ip.Id, uint16(0))
		} else {
			id = int(ip.Id)
		}
	}
	l4 := f[14+e.ipLen:]
	if c.Kind.IsGRE() {
		g, ok := p.Layer(layers.LayerTypeGRE).(*layers.GRE)
		if !ok {
			t.Fatalf("no GRE layer: %v", p)
		}
		eq(t, "GRE C", g.ChecksumPresent, c.Checksum == ChecksumOn)
		eq(t, "GRE K", g.KeyPresent, c.Key != nil)
		eq(t, "GRE S", g.SeqPresent, c.Seq)
		eq(t, "GRE R", g.RoutingPresent, false)
		eq(t, "GRE strict route", g.StrictSourceRoute, false)
		eq(t, "GRE recursion", g.RecursionControl, uint8(0))
		eq(t, "GRE flags", g.Flags, uint8(0))
		eq(t, "GRE version", g.Version, uint8(0))
		wantProto := layers.EthernetTypeTransparentEthernetBridging
		if c.Kind == GREIP {
			wantProto = layers.EthernetTypeIPv4
			if in.spec.v6 {
				wantProto = layers.EthernetTypeIPv6
			}
		}
		eq(t, "GRE protocol", g.Protocol, wantProto)
		if c.Key != nil {
			eq(t, "GRE key", g.Key, *c.Key)
		}
		if c.Seq {
			eq(t, "GRE seq", g.Seq, wantSeq)
		}
		if c.Checksum == ChecksumOn {
			if !checksumOK(l4, 0) {
				t.Errorf("GRE checksum %#04x invalid", g.Checksum)
			}
			eq(t, "GRE reserved1", binary.BigEndian.Uint16(l4[6:]), uint16(0))
		}
		eq(t, "GRE header length", len(g.Contents), e.HeaderLen()-e.ipLen)
	} else {
		u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if int(u.SrcPort) < int(c.SrcPortMin) || int(u.SrcPort) > int(c.SrcPortMax) {
			t.Errorf("UDP src port %d outside %d..%d", u.SrcPort, c.SrcPortMin, c.SrcPortMax)
		}
		// One flow, one port: the same hash maps to the same port.
		eq(t, "UDP src port for the same hash", uint16(u.SrcPort), e.srcLo+uint16(uint64(uint32(hash^hash>>32))*e.srcSpan>>32))
		eq(t, "UDP dst port", uint16(u.DstPort), c.DstPort)
		eq(t, "UDP length", int(u.Length), len(l4))
		if c.Checksum == ChecksumOn {
			if u.Checksum == 0 || !checksumOK(l4, pseudo(c.Local, c.Remote, 17, len(l4))) {
				t.Errorf("UDP checksum %#04x invalid", u.Checksum)
			}
		} else {
			eq(t, "UDP checksum (off)", u.Checksum, uint16(0))
		}
		// gopacket only knows port 6081, so decode the layer directly.
		g := &layers.Geneve{}
		if err := g.DecodeFromBytes(l4[8:], gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("geneve: %v", err)
		}
		eq(t, "geneve version", l4[8]>>6, uint8(0)) // gopacket reads 1 bit only
		eq(t, "geneve OAM", g.OAMPacket, false)
		crit := false
		optLen := 0
		for _, o := range c.Options {
			crit = crit || o.Type&0x80 != 0
			optLen += 4 + len(o.Data)
		}
		eq(t, "geneve C", g.CriticalOption, crit)
		eq(t, "geneve opt len", int(g.OptionsLength), optLen)
		eq(t, "geneve protocol", g.Protocol, layers.EthernetTypeTransparentEthernetBridging)
		eq(t, "geneve VNI", g.VNI, c.VNI)
		eq(t, "geneve reserved", l4[8+7], uint8(0))
		if len(g.Options) != len(c.Options) {
			t.Fatalf("geneve options: %d, want %d", len(g.Options), len(c.Options))
		}
		for i, o := range c.Options {
			got := g.Options[i]
			eq(t, fmt.Sprintf("option %d class", i), got.Class, o.Class)
			eq(t, fmt.Sprintf("option %d type", i), got.Type, o.Type)
			eq(t, fmt.Sprintf("option %d flags", i), got.Flags, uint8(0))
			eq(t, fmt.Sprintf("option %d length", i), int(got.Length), 4+len(o.Data))
			eqBytes(t, fmt.Sprintf("option %d data", i), got.Data, o.Data)
		}
	}
	if c.Kind != GREIP {
		// The payload decodes as the inner Ethernet frame.
		ip := gopacket.NewPacket(f[14+e.HeaderLen():], layers.LayerTypeEthernet, gopacket.Default)
		ie, ok := ip.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !ok || ie.SrcMAC.String() != vmMAC1.String() {
			t.Errorf("payload does not decode as the inner frame: %v", ip)
		}
	}
	return id
}

// TestEncapTrimsPadding: a 60-byte frame whose IP packet is 40 bytes is
// carried as 54 bytes, for every kind.
func TestEncapTrimsPadding(t *testing.T) {
	inner := buildInner(t, innerSpec{df: true, ipLen: 40, padTo: 60})
	eq(t, "inner length", len(inner), 60)
	for _, k := range []Kind{GRETap, GREIP, Geneve} {
		e := MustEndpoint(Config{Name: "p", Kind: k, Local: local4, Remote: remote4})
		f := mustEncap(t, e, inner, 1)
		want := 54
		if k == GREIP {
			want = 40
		}
		eq(t, k.String()+" carried payload", len(f)-14-e.HeaderLen(), want)
		eqBytes(t, k.String()+" payload", f[14+e.HeaderLen():], inner[54-want:54])
	}
}

func TestEncapErrors(t *testing.T) {
	e := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local4, Remote: remote4})
	inner := buildInner(t, innerSpec{})
	buf := make([]byte, 14+e.HeaderLen()+len(inner))
	if _, err := e.Encap(buf[:len(buf)-1], underSrcMAC, underDstMAC, inner, 0); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
	if n, err := e.Encap(buf, underSrcMAC, underDstMAC, inner, 0); err != nil || n != len(buf) {
		t.Errorf("exact buffer: n=%d err=%v", n, err)
	}
	if _, err := e.Encap(buf, underSrcMAC, underDstMAC, inner[:13], 0); !errors.Is(err, ErrInnerTruncated) {
		t.Errorf("runt inner: %v", err)
	}
	big := make([]byte, 70000)
	big[12], big[13] = 0x08, 0x06
	if _, err := e.Encap(make([]byte, 80000), underSrcMAC, underDstMAC, big, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge inner: %v", err)
	}
	ip := MustEndpoint(Config{Name: "i", Kind: GREIP, Local: local4, Remote: remote4})
	// An IPv4 header claiming more than the frame holds is not a usable IP
	// packet: GREIP refuses it, GRETap carries the frame as it is.
	bad := buildInner(t, innerSpec{})
	binary.BigEndian.PutUint16(bad[16:], uint16(len(bad)))
	if _, err := ip.Encap(make([]byte, 2048), underSrcMAC, underDstMAC, bad, 0); !errors.Is(err, ErrNotIP) {
		t.Errorf("gre with inconsistent IPv4 length: %v", err)
	}
	tap := MustEndpoint(Config{Name: "t", Kind: GRETap, Local: local4, Remote: remote4})
	f := mustEncap(t, tap, bad, 0)
	eqBytes(t, "opaque payload", f[14+tap.HeaderLen():], bad)
}

// TestEncapInPlace: with headroom in front of the inner frame, Encap can
// write over the same buffer, and overlapping buffers in general give the
// same bytes as separate ones.
func TestEncapInPlace(t *testing.T) {
	for _, c := range encapConfigs() {
		for _, in := range encapInners {
			if in.arp && c.Kind == GREIP {
				continue
			}
			inner := in.build(t)
			want := mustEncap(t, MustEndpoint(c), inner, 42)
			for _, shift := range []int{-8, 0, 1, 13, 40} {
				e := MustEndpoint(c)
				const at = 400
				buf := make([]byte, 2048)
				copy(buf[at:], inner)
				// shift 0: the payload lands exactly where it is.
				l2 := 0
				if c.Kind == GREIP {
					l2 = l2Len(inner)
				}
				start := at + l2 - 14 - e.HeaderLen() + shift
				n, err := e.Encap(buf[start:], underSrcMAC, underDstMAC, buf[at:at+len(inner)], 42)
				if err != nil {
					t.Fatal(err)
				}
				got := buf[start : start+n]
				if string(maskID(got)) != string(maskID(want)) {
					t.Errorf("%s/%s shift %d: in-place result differs", c.Name, in.name, shift)
				}
			}
		}
	}
}

// TestEncapSrcPortSpread: many flows spread over the port range; the range
// ends are reachable.
func TestEncapSrcPortSpread(t *testing.T) {
	e := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local4, Remote: remote4})
	small := MustEndpoint(Config{Name: "s", Kind: Geneve, Local: local4, Remote: remote4, SrcPortMin: 1000, SrcPortMax: 1003})
	inner := buildInner(t, innerSpec{})
	seen := map[uint16]bool{}
	seenSmall := map[uint16]bool{}
	h := uint64(1)
	for range 4000 {
		h = h*6364136223846793005 + 1442695040888963407
		f := mustEncap(t, e, inner, h)
		p := binary.BigEndian.Uint16(f[34:])
		if p < DefaultSrcPortMin || p > DefaultSrcPortMax {
			t.Fatalf("port %d out of range", p)
		}
		seen[p] = true
		f = mustEncap(t, small, inner, h)
		seenSmall[binary.BigEndian.Uint16(f[34:])] = true
	}
	if len(seen) < 3000 {
		t.Errorf("4000 flows used only %d source ports", len(seen))
	}
	eq(t, "ports used in 1000..1003", len(seenSmall), 4)
	for p := range seenSmall {
		if p < 1000 || p > 1003 {
			t.Errorf("port %d outside 1000..1003", p)
		}
	}
	// Extremes of the hash map to the ends of the range.
	for _, c := range []struct {
		h    uint64
		want uint16
	}{{0, 1000}, {0xffffffff, 1003}} {
		f := mustEncap(t, small, inner, c.h)
		eq(t, fmt.Sprintf("port for hash %#x", c.h), binary.BigEndian.Uint16(f[34:]), c.want)
	}
}

// TestEncapConcurrentSeq: several goroutines encapsulating towards one
// endpoint get distinct sequence numbers and (DF clear) distinct IDs.
func TestEncapConcurrentSeq(t *testing.T) {
	e := MustEndpoint(Config{Name: "s", Kind: GRETap, Local: local4, Remote: remote4, Seq: true, DF: DFUnset})
	inner := buildInner(t, innerSpec{})
	const workers, per = 4, 2000
	seqs := make([][]uint32, workers)
	ids := make([][]uint16, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for range per {
				n, err := e.Encap(buf, underSrcMAC, underDstMAC, inner, 0)
				if err != nil {
					t.Error(err)
					return
				}
				g := packet.GRE(buf[34:n])
				seqs[w] = append(seqs[w], g.Seq())
				ids[w] = append(ids[w], packet.IPv4(buf[14:n]).ID())
			}
		}()
	}
	wg.Wait()
	seenSeq := map[uint32]bool{}
	seenID := map[uint16]bool{}
	for w := range workers {
		for i, s := range seqs[w] {
			if s >= workers*per || seenSeq[s] {
				t.Fatalf("seq %d repeated or out of range", s)
			}
			seenSeq[s] = true
			if seenID[ids[w][i]] {
				t.Fatalf("IPv4 ID %d repeated", ids[w][i])
			}
			seenID[ids[w][i]] = true
		}
	}
}

// TestEncapIDsSharedPerPath: endpoints on the same (local, remote) pair
// draw IPv4 IDs from one counter, so their DF-clear packets never collide.
func TestEncapIDsSharedPerPath(t *testing.T) {
	a := MustEndpoint(Config{Name: "a", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(1), DF: DFUnset})
	b := MustEndpoint(Config{Name: "b", Kind: GREIP, Local: local4, Remote: remote4, Key: u32(2), DF: DFUnset})
	if a.ids != b.ids {
		t.Fatal("endpoints on one path use different ID counters")
	}
	inner := buildInner(t, innerSpec{})
	seen := map[uint16]bool{}
	for i := range 1000 {
		e := a
		if i%2 == 1 {
			e = b
		}
		id := packet.IPv4(mustEncap(t, e, inner, 0)[14:]).ID()
		if seen[id] {
			t.Fatalf("ID %d repeated", id)
		}
		seen[id] = true
	}
}

// TestEncapFragmentable clears DF for a packet about to be fragmented.
func TestEncapFragmentable(t *testing.T) {
	e := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local4, Remote: remote4})
	inner := buildInner(t, innerSpec{v6: true})
	buf := make([]byte, 512)
	n, err := e.EncapWith(buf, underSrcMAC, underDstMAC, inner, 0, Fragmentable)
	if err != nil {
		t.Fatal(err)
	}
	ip := packet.IPv4(buf[14:n])
	eq(t, "DF", ip.DF(), false)
	eq(t, "checksum", ip.ValidHeaderChecksum(), true)
	id1 := ip.ID()
	if _, err := e.EncapWith(buf, underSrcMAC, underDstMAC, inner, 0, Fragmentable); err != nil {
		t.Fatal(err)
	}
	if ip.ID() == id1 {
		t.Error("IDs repeat with Fragmentable")
	}
	if a, b := e.NextFragmentID(), e.NextFragmentID(); a == b {
		t.Error("NextFragmentID repeats")
	}
}

// maskID zeroes the outer IPv4 ID and header checksum (the ID counter is
// shared, so two runs differ there) in a copy.
func maskID(f []byte) []byte {
	f = append([]byte(nil), f...)
	if binary.BigEndian.Uint16(f[12:]) == 0x0800 {
		f[18], f[19], f[24], f[25] = 0, 0, 0, 0
	}
	return f
}
