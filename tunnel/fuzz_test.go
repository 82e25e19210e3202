package tunnel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
)

// Fuzz modes: how the fuzzed bytes become a frame.
const (
	modeRaw  = iota // the bytes are the whole frame
	modeIPv4        // the bytes follow a valid outer Ethernet + IPv4 header
	modeIPv6        // ... + IPv6 header
	modeDeep        // GRE: after a valid C+K GRE header; Geneve: IPv4 UDP with a zero checksum
	numModes
)

// outerFrame builds Ethernet + IP (valid lengths and checksum) around l4,
// by hand: the fuzz loop should not spend its time in gopacket.
func outerFrame(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	eth := []byte{2, 0xaa, 0, 0, 0, 1, 2, 0xaa, 0, 0, 0, 2, 0x08, 0x00}
	if src.Is6() {
		eth[12], eth[13] = 0x86, 0xdd
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6], ip[7] = proto, 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		return append(append(eth, ip...), l4...)
	}
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[6] = 0x40
	ip[8], ip[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], ^naiveFold(naiveSum(ip, 0)))
	return append(append(eth, ip...), l4...)
}

func udpSegment(src, dst netip.Addr, port uint16, payload []byte, csum bool) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], port)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u = append(u, payload...)
	if csum {
		c := ^naiveFold(naiveSum(u, pseudo(src, dst, 17, len(u))))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(u[6:], c)
	}
	return u
}

func greFuzzFrame(mode uint8, data []byte) []byte {
	if len(data) > 9000 {
		data = data[:9000]
	}
	switch mode % numModes {
	case modeIPv4:
		return outerFrame(remote4, local4, packet.ProtoGRE, data)
	case modeIPv6:
		return outerFrame(remote6, local6, packet.ProtoGRE, data)
	case modeDeep:
		return outerFrame(remote4, local4, packet.ProtoGRE, greHdr(0xa000, 0x6558, 8, 0, data))
	}
	return data
}

func geneveFuzzFrame(mode uint8, data []byte) []byte {
	if len(data) > 9000 {
		data = data[:9000]
	}
	switch mode % numModes {
	case modeIPv4:
		return outerFrame(remote4, local4, packet.ProtoUDP, udpSegment(remote4, local4, 6081, data, true))
	case modeIPv6:
		return outerFrame(remote6, local6, packet.ProtoUDP, udpSegment(remote6, local6, 6081, data, true))
	case modeDeep:
		return outerFrame(remote4, local4, packet.ProtoUDP, udpSegment(remote4, local4, 6081, data, false))
	}
	return data
}

// fuzzTable is the receiving side the fuzz targets run against.
func fuzzTable(tb testing.TB) (*reasonFixture, *Endpoint) {
	fx := newReasonFixture(tb)
	return fx, fx.tapK8
}

// checkDecap runs everything that accepts an untrusted frame and checks
// the invariants: no panic, known reasons, and a successful decap's views
// inside the input at the offsets it reports.
func checkDecap(t *testing.T, fx *reasonFixture, frame []byte) {
	var d Decapsulated
	r := Decap(frame, 6081, &d)
	if int(r) >= NumReasons {
		t.Fatalf("reason %d out of range", r)
	}
	if r == ReasonNone || r == ReasonGeneveOAM {
		if d.PayloadOff < 0 || d.PayloadOff+len(d.Payload) > len(frame) {
			t.Fatalf("payload [%d:+%d] outside a frame of %d", d.PayloadOff, len(d.Payload), len(frame))
		}
		if len(d.Payload) > 0 && &d.Payload[0] != &frame[d.PayloadOff] {
			t.Fatal("payload is not a view of the frame at PayloadOff")
		}
		if len(d.Options)%4 != 0 || len(d.Options) > packet.GeneveMaxOptionsLen {
			t.Fatalf("options of %d bytes", len(d.Options))
		}
		if len(d.Options) > 0 && !within(frame, d.Options) {
			t.Fatal("options are not a view of the frame")
		}
	}
	if r == ReasonNone {
		switch d.Kind {
		case GRETap, Geneve:
			if len(d.Payload) < packet.EthernetHeaderLen || d.InnerProto != packet.EtherTypeTEB {
				t.Fatalf("%s payload of %d bytes, proto %#x", d.Kind, len(d.Payload), d.InnerProto)
			}
		case GREIP:
			v := d.Payload[0] >> 4
			if !(v == 4 && d.InnerProto == packet.EtherTypeIPv4 || v == 6 && d.InnerProto == packet.EtherTypeIPv6) {
				t.Fatalf("gre-ip payload version %d, proto %#x", v, d.InnerProto)
			}
		default:
			t.Fatalf("kind %v on success", d.Kind)
		}
		if d.Kind != Geneve && (d.VNI != 0 || d.OAM || d.Critical) || d.Kind == Geneve && (d.HasKey || d.HasSeq) {
			t.Fatalf("fields of the other protocol set: %+v", d)
		}
	}
	var d2 Decapsulated
	ep, r2 := fx.tbl.Receive(frame, &d2)
	if r != ReasonNone && r2 != r || r2 == ReasonNone && ep == nil || int(r2) >= NumReasons {
		t.Fatalf("Receive = %v %s after Decap %s", ep, r2, r)
	}
	if ep, mtu, ok := fx.tbl.LearnPMTU(frame, 1); ok && (ep == nil || mtu < MinPMTU4 || mtu > 0xffff) {
		t.Fatalf("LearnPMTU = %v %d", ep, mtu)
	}
	// The frame as an inner frame: the transmit side must not panic either.
	for _, e := range []*Endpoint{fx.sTapSeq, fx.sIPK7, fx.sGen6} {
		_ = e.Overhead(frame)
		_, _ = e.Decide(frame, 1500)
		buf := make([]byte, 14+e.HeaderLen()+len(frame))
		_, _ = e.Encap(buf, underSrcMAC, underDstMAC, frame, 1)
	}
}

// within reports whether sub is a subslice of b.
func within(b, sub []byte) bool {
	for i := range b {
		if &b[i] == &sub[0] {
			return i+len(sub) <= len(b)
		}
	}
	return false
}

func FuzzDecapGRE(f *testing.F) {
	for _, s := range greSeeds(f) {
		f.Add(s.mode, s.data)
	}
	fx, _ := fuzzTable(f)
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		checkDecap(t, fx, greFuzzFrame(mode, data))
	})
}

func FuzzDecapGeneve(f *testing.F) {
	for _, s := range geneveSeeds(f) {
		f.Add(s.mode, s.data)
	}
	fx, _ := fuzzTable(f)
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		checkDecap(t, fx, geneveFuzzFrame(mode, data))
	})
}

type fuzzSeed struct {
	name string
	mode uint8
	data []byte
}

// greSeeds are the GRE frames of the reason tests, whole (raw mode) and
// as the bytes after the outer IP header.
func greSeeds(tb testing.TB) []fuzzSeed {
	var out []fuzzSeed
	fx := newReasonFixture(tb)
	for i, c := range fx.cases(tb) {
		var m packet.Meta
		if packet.Parse(c.frame, &m) != nil || m.IPVersion == 0 || m.L4Proto != packet.ProtoGRE {
			if i%4 == 0 { // a few non-GRE frames too
				out = append(out, fuzzSeed{seedName("raw", c.name), modeRaw, c.frame})
			}
			continue
		}
		out = append(out, fuzzSeed{seedName("raw", c.name), modeRaw, c.frame})
		mode := uint8(modeIPv4)
		if m.IPVersion == 6 {
			mode = modeIPv6
		}
		out = append(out, fuzzSeed{seedName("l4", c.name), mode, c.frame[m.L4Off:m.End]})
	}
	inner := buildInner(tb, innerSpec{udp: true})
	out = append(out, fuzzSeed{"deep-inner", modeDeep, inner}, fuzzSeed{"deep-short", modeDeep, inner[:13]})
	return out
}

func geneveSeeds(tb testing.TB) []fuzzSeed {
	var out []fuzzSeed
	fx := newReasonFixture(tb)
	for _, c := range fx.cases(tb) {
		var m packet.Meta
		if packet.Parse(c.frame, &m) != nil || m.L4Proto != packet.ProtoUDP || !m.L4Complete {
			continue
		}
		out = append(out, fuzzSeed{seedName("raw", c.name), modeRaw, c.frame})
		mode := uint8(modeIPv4)
		if m.IPVersion == 6 {
			mode = modeIPv6
		}
		out = append(out, fuzzSeed{seedName("udp", c.name), mode, c.frame[m.L4Off+8 : m.End]})
	}
	inner := buildInner(tb, innerSpec{})
	out = append(out, fuzzSeed{"deep-opts", modeDeep, append(geneveHdr(0, false, true, 0x6558, 100,
		[]genOpt{{class: 0x0102, typ: 0x80, data: []byte{1, 2, 3, 4}}, {class: 9, typ: 9}}, 0), inner...)})
	return out
}

func seedName(prefix, s string) string {
	b := []byte(prefix + "_")
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b = append(b, c)
		default:
			if b[len(b)-1] != '_' {
				b = append(b, '_')
			}
		}
	}
	return string(bytes.TrimRight(b, "_"))
}

// encapSeed is one FuzzEncapDecap input.
type encapSeed struct {
	name        string
	sel, flags  uint8
	key, vni    uint32
	hash        uint64
	opts, inner []byte
}

func encapSeeds(tb testing.TB) []encapSeed {
	tcp4 := buildInner(tb, innerSpec{df: true})
	udp6 := buildInner(tb, innerSpec{v6: true, udp: true, tags: 1})
	pad := buildInner(tb, innerSpec{ipLen: 40, padTo: 60})
	arp := arpFrame(tb)
	opts := []byte{0x01, 0x02, 0x80, 0x01, 1, 2, 3, 4, 0xff, 0xff, 0x01, 0x00}
	return []encapSeed{
		{"gretap4", 0, 0x04, 7, 0, 1, nil, tcp4},
		{"gre4-csum-seq", 1, 0x0d, 8, 0, 2, nil, tcp4},
		{"geneve4-opts", 2, 0x00, 0, 100, 3, opts, tcp4},
		{"gretap6", 4, 0x01, 0, 0, 4, nil, udp6},
		{"gre6", 5, 0x08, 0, 0, 5, nil, udp6},
		{"geneve6", 6, 0x02, 0, 0xffffff, 6, opts, pad},
		{"gretap4-inherit-arp", 8, 0x00, 0, 0, 7, nil, arp},
		{"geneve4-unset-pad", 18, 0x01, 0, 1, 8, nil, pad},
		{"gre4-arp", 1, 0, 0, 0, 9, nil, arp},
	}
}

// fuzzConfig turns the fuzzer's selectors into a valid configuration.
func fuzzConfig(sel, flags uint8, key, vni uint32, opts []byte) Config {
	c := Config{Name: "f", Kind: Kind(sel%3) + GRETap, Local: local4, Remote: remote4}
	if sel&4 != 0 {
		c.Local, c.Remote = local6, remote6
	} else {
		c.DF = DFPolicy((sel >> 3) % 3)
	}
	c.Checksum = ChecksumMode(flags & 3 % 3)
	c.TTL = flags >> 4 * 16
	if c.Kind.IsGRE() {
		if flags&4 != 0 {
			c.Key = &key
		}
		c.Seq = flags&8 != 0
		return c
	}
	c.VNI = vni & 0xffffff
	total := 0
	for len(opts) >= 4 {
		n := int(opts[3]&0x1f) * 4
		n = min(n, (len(opts)-4)&^3)
		if total+4+n > packet.GeneveMaxOptionsLen {
			break
		}
		c.Options = append(c.Options, GeneveOption{Class: binary.BigEndian.Uint16(opts), Type: opts[2], Data: opts[4 : 4+n]})
		total += 4 + n
		opts = opts[4+n:]
	}
	return c
}

// FuzzEncapDecap: whatever the configuration and inner frame, what one
// side encapsulates the other decapsulates to exactly the carried frame,
// and the MTU arithmetic agrees with the bytes: the frame fits a path MTU
// of exactly its outer length and not one byte less.
func FuzzEncapDecap(f *testing.F) {
	for _, s := range encapSeeds(f) {
		f.Add(s.sel, s.flags, s.key, s.vni, s.hash, s.opts, s.inner)
	}
	f.Fuzz(func(t *testing.T, sel, flags uint8, key, vni uint32, hash uint64, opts, inner []byte) {
		if len(inner) > 9000 {
			inner = inner[:9000]
		}
		c := fuzzConfig(sel, flags, key, vni, opts)
		snd, err := NewEndpoint(c)
		if err != nil {
			t.Fatalf("config %+v: %v", c, err)
		}
		rcv := MustEndpoint(peer(c))
		tbl := mustTable(t, rcv)
		buf := make([]byte, 14+snd.HeaderLen()+len(inner))
		n, err := snd.Encap(buf, underSrcMAC, underDstMAC, inner, hash)
		ii := inspect(inner)
		switch {
		case errors.Is(err, ErrInnerTruncated) && len(inner) < 14:
			return
		case errors.Is(err, ErrNotIP) && c.Kind == GREIP && ii.ipVer == 0:
			if a, _ := snd.Decide(inner, 1500); a != DropNotIP {
				t.Fatalf("Decide on non-IP for gre-ip: %v", a)
			}
			return
		case err != nil:
			t.Fatalf("Encap: %v", err)
		}
		fr := buf[:n]
		want := inner[:ii.end]
		if c.Kind == GREIP {
			want = inner[ii.l3off:ii.end]
		}
		var m packet.Meta
		if err := packet.Parse(fr, &m); err != nil {
			t.Fatalf("our own frame does not parse: %v", err)
		}
		// (An IPv6 UDP checksum of 0 is legal for a tunnel, RFC 6935, but
		// not for the general-purpose verifier.)
		if m.L4Proto == packet.ProtoUDP && packet.UDP(m.L4(fr)).Checksum() != 0 && !packet.VerifyL4Checksum(fr, &m) {
			t.Fatal("our own UDP checksum does not verify")
		}
		if c.Kind == Geneve && (packet.UDP(m.L4(fr)).Checksum() != 0) != (snd.Config().Checksum == ChecksumOn) {
			t.Fatal("UDP checksum presence does not follow the config")
		}
		var d Decapsulated
		ep, r := tbl.Receive(fr, &d)
		if r != ReasonNone || ep != rcv {
			t.Fatalf("Receive: %v %s (%+v)", ep, r, c)
		}
		if !bytes.Equal(d.Payload, want) {
			t.Fatalf("payload differs:\n got %x\nwant %x", d.Payload, want)
		}
		if d.Kind != c.Kind || d.VNI != c.VNI || d.HasSeq != c.Seq || d.HasKey != (c.Key != nil) {
			t.Fatalf("decapsulated %+v from %+v", d, c)
		}
		l3 := n - 14
		if a, _ := snd.Decide(inner, l3); a != Fits {
			t.Fatalf("Decide at the exact outer length %d: %v", l3, a)
		}
		if a, _ := snd.Decide(inner, l3-1); a == Fits {
			t.Fatalf("Decide one byte short of %d: fits", l3)
		}
		if ii.ipVer != 0 && snd.Overhead(inner)+ii.end-ii.l3off != l3 {
			t.Fatalf("Overhead %d + IP length %d != outer length %d", snd.Overhead(inner), ii.end-ii.l3off, l3)
		}
	})
}
