package packet

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// checkMeta asserts the invariants every successful parse must satisfy.
func checkMeta(t *testing.T, b []byte, m *Meta) {
	t.Helper()
	if m.End < 0 || m.End > len(b) {
		t.Fatalf("End %d outside frame of %d", m.End, len(b))
	}
	if m.L3Off < 0 || m.L3Off > m.End {
		t.Fatalf("L3Off %d, End %d", m.L3Off, m.End)
	}
	if m.VLANCount < 0 || m.VLANCount > 2 || m.L3Off != EthernetHeaderLen+VLANTagLen*m.VLANCount && m.L3Off != 0 {
		t.Fatalf("VLANCount %d, L3Off %d", m.VLANCount, m.L3Off)
	}
	if m.IPVersion == 0 {
		if m.End != len(b) {
			t.Fatalf("non-IP End %d != len %d", m.End, len(b))
		}
		return
	}
	if m.L4Off < m.L3Off || m.L4Off > m.End {
		t.Fatalf("L4Off %d outside [%d, %d]", m.L4Off, m.L3Off, m.End)
	}
	if m.Padding != len(b)-m.End {
		t.Fatalf("Padding %d, len %d, End %d", m.Padding, len(b), m.End)
	}
	if m.FragHdrOff != 0 && (m.FragHdrOff < m.L3Off || m.FragHdrOff+IPv6FragmentHeaderLen > m.End) {
		t.Fatalf("FragHdrOff %d", m.FragHdrOff)
	}
	if m.FragOffset != 0 && (!m.Fragment || m.L4Complete) {
		t.Fatalf("non-first fragment: Fragment %v L4Complete %v", m.Fragment, m.L4Complete)
	}
	if !m.L4Complete {
		return
	}
	l4 := b[m.L4Off:m.End]
	switch m.L4Proto {
	case ProtoTCP:
		if d := TCP(l4).DataOffset(); d < TCPMinHeaderLen || d > len(l4) {
			t.Fatalf("complete TCP with data offset %d in %d bytes", d, len(l4))
		}
	case ProtoUDP:
		if len(l4) < UDPHeaderLen || UDP(l4).Length() < UDPHeaderLen {
			t.Fatalf("complete UDP of %d bytes, length %d", len(l4), UDP(l4).Length())
		}
	case ProtoICMP, ProtoICMPv6:
		if len(l4) < ICMPHeaderLen {
			t.Fatalf("complete ICMP of %d bytes", len(l4))
		}
	case ProtoGRE:
		if GRE(l4).HeaderLen() > len(l4) {
			t.Fatalf("complete GRE header %d in %d bytes", GRE(l4).HeaderLen(), len(l4))
		}
	}
}

// exerciseMeta runs every view over every offset Meta names, read-only on
// b and read-write on a copy.
func exerciseMeta(b []byte, m *Meta) {
	cp := append([]byte(nil), b...)
	for _, off := range []int{0, m.L3Off, m.L4Off, m.FragHdrOff, m.RoutingHdrOff, m.End} {
		if off >= 0 && off <= len(b) {
			exerciseViews(b[off:], false)
			if off <= m.End && m.End <= len(b) {
				exerciseViews(b[off:m.End], false)
			}
			exerciseViews(cp[off:], true)
		}
	}
	_ = m.L3(b)
	_ = m.L4(b)
}

func fuzzSeedsFrames(f *testing.F) [][]byte {
	var out [][]byte
	for _, tp := range validPackets(f) {
		out = append(out, tp.frame)
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, fr := range fuzzSeedsFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m Meta
		err := Parse(frame, &m)
		exerciseMeta(frame, &m) // even a partial Meta must be safe to use
		_ = VerifyL4Checksum(frame, &m)
		if err != nil {
			if _, ok := err.(ParseError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		checkMeta(t, frame, &m)
		if len(m.Trimmed(frame)) != m.End {
			t.Fatalf("Trimmed length %d, End %d", len(m.Trimmed(frame)), m.End)
		}
		// Trimming is idempotent: the trimmed frame parses the same.
		var mt Meta
		if err := Parse(m.Trimmed(frame), &mt); err != nil {
			t.Fatalf("trimmed frame: %v", err)
		}
		want := m
		if m.IPVersion != 0 {
			want.Padding = 0
		}
		if mt != want {
			t.Fatalf("trimmed Meta %+v\nwant %+v", mt, want)
		}
		// ParseIP agrees on the IP part.
		if m.IPVersion != 0 {
			var mi Meta
			if err := ParseIP(frame[m.L3Off:], &mi); err != nil {
				t.Fatalf("ParseIP: %v", err)
			}
			if mi.End+m.L3Off != m.End || mi.L4Off+m.L3Off != m.L4Off || mi.L4Proto != m.L4Proto ||
				mi.L4Complete != m.L4Complete || mi.Fragment != m.Fragment {
				t.Fatalf("ParseIP %+v vs Parse %+v", mi, m)
			}
		}
		// After SetL4Checksum the frame verifies.
		cp := append([]byte(nil), frame...)
		SetL4Checksum(cp, &m)
		if !VerifyL4Checksum(cp, &m) {
			t.Fatalf("VerifyL4Checksum false after SetL4Checksum (%+v)", m)
		}
		if !bytes.Equal(cp[:m.L4Off], frame[:m.L4Off]) || !bytes.Equal(cp[m.End:], frame[m.End:]) {
			t.Fatal("SetL4Checksum wrote outside the L4 segment")
		}
	})
}

func FuzzParseIP(f *testing.F) {
	for _, fr := range fuzzSeedsFrames(f) {
		if len(fr) > EthernetHeaderLen {
			f.Add(fr[EthernetHeaderLen:])
		}
	}
	f.Add([]byte{0x45})
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var m Meta
		err := ParseIP(pkt, &m)
		exerciseMeta(pkt, &m)
		_ = VerifyL4Checksum(pkt, &m)
		if err != nil {
			return
		}
		if m.L3Off != 0 || m.IPVersion != pkt[0]>>4 {
			t.Fatalf("L3Off %d IPVersion %d", m.L3Off, m.IPVersion)
		}
		checkMeta(t, pkt, &m)
		cp := append([]byte(nil), pkt...)
		SetL4Checksum(cp, &m)
		if !VerifyL4Checksum(cp, &m) {
			t.Fatalf("VerifyL4Checksum false after SetL4Checksum (%+v)", m)
		}
	})
}

func quotedSeeds(tb testing.TB) [][]byte {
	in4 := innerTCP4(tb)
	in6 := innerUDP6(tb)
	chain := ipOf(ip6ExtFrame(tb, ProtoHopByHop, [][]byte{hbhHeader(ProtoDstOpts), dstOptsHeader(ProtoTCP)},
		rawTCP(5, 6, TCPFlagSYN, nil)))
	icmpInner := ipOf(icmp4Frame(tb, ICMPv4EchoRequest, 0, 99, 1, []byte("abcdefgh")))
	return [][]byte{in4[:28], in4[:40], in4, in6[:48], in6, chain[:64], chain, icmpInner[:28],
		ipOf(ip4FragFrame(tb, 24, false))[:20]}
}

func FuzzParseQuoted(f *testing.F) {
	for _, q := range quotedSeeds(f) {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var m Meta
		err := ParseQuoted(pkt, &m)
		exerciseMeta(pkt, &m)
		if err != nil {
			return
		}
		checkMeta(t, pkt, &m)
		if m.FragOffset == 0 {
			// The ports or ICMP id must be there for conntrack.
			switch m.L4Proto {
			case ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6:
				if m.End-m.L4Off < 8 {
					t.Fatalf("quoted %d L4 bytes", m.End-m.L4Off)
				}
			}
		}
	})
}

// refTCPOptions is a second, deliberately plain implementation of the
// option rules to compare against.
func refTCPOptions(b []byte) (TCPOptions, bool) {
	var o TCPOptions
	for len(b) > 0 {
		if b[0] == 0 {
			break
		}
		if b[0] == 1 {
			b = b[1:]
			continue
		}
		if len(b) < 2 || b[1] < 2 || int(b[1]) > len(b) {
			return o, false
		}
		kind, n, d := b[0], int(b[1]), b[2:b[1]]
		switch {
		case kind == 2 && n == 4:
			o.MSS, o.HasMSS = binary.BigEndian.Uint16(d), true
		case kind == 3 && n == 3:
			o.WScale, o.HasWScale = d[0], true
		case kind == 4 && n == 2:
			o.SACKPermitted = true
		case kind == 8 && n == 10:
			o.HasTimestamps, o.TSVal, o.TSEcr = true, binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
		case kind == 5 && n >= 10 && (n-2)%8 == 0:
			o.NumSACK = 0
			for i := 0; i+8 <= len(d) && o.NumSACK < 4; i += 8 {
				o.SACK[o.NumSACK] = SACKBlock{binary.BigEndian.Uint32(d[i:]), binary.BigEndian.Uint32(d[i+4:])}
				o.NumSACK++
			}
		}
		b = b[n:]
	}
	return o, true
}

func FuzzTCPOptions(f *testing.F) {
	for _, tp := range validPackets(f) {
		var m Meta
		if Parse(tp.frame, &m) == nil && m.L4Proto == ProtoTCP && m.L4Complete {
			f.Add(TCP(m.L4(tp.frame)).Options())
		}
	}
	f.Add([]byte{TCPOptNOP, TCPOptNOP, TCPOptSACK, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4})
	f.Add([]byte{TCPOptMSS, 1})
	f.Add([]byte{TCPOptTimestamps, 10, 1})
	f.Add([]byte{TCPOptWScale})
	f.Fuzz(func(t *testing.T, opts []byte) {
		var o TCPOptions
		err := ParseTCPOptions(opts, &o)
		want, ok := refTCPOptions(opts)
		if (err == nil) != ok {
			t.Fatalf("err %v, reference ok %v", err, ok)
		}
		if o != want {
			t.Fatalf("got %+v\nref %+v", o, want)
		}
		if o.NumSACK < 0 || o.NumSACK > 4 {
			t.Fatalf("NumSACK %d", o.NumSACK)
		}
	})
}

func greSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for mask := 0; mask < 8; mask++ {
		frame := greFrame(tb, &layers.GRE{ChecksumPresent: mask&1 != 0, KeyPresent: mask&2 != 0,
			SeqPresent: mask&4 != 0, Protocol: layers.EthernetTypeIPv4, Key: 5, Seq: 6}, innerTCP4(tb))
		var m Meta
		if err := Parse(frame, &m); err != nil {
			tb.Fatal(err)
		}
		out = append(out, m.L4(frame))
	}
	return append(out, []byte{0x40, 0, 8, 0}, []byte{0, 1, 0x88, 0x0b}, []byte{0xb0, 0})
}

func FuzzGRE(f *testing.F) {
	for _, s := range greSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		exerciseViews(b, false)
		err := ValidateGRE(b)
		if err != nil {
			return
		}
		g := GRE(b)
		if g.Version() != 0 || g.HeaderLen() > len(b) || binary.BigEndian.Uint16(b)&greReservedMask != 0 {
			t.Fatalf("accepted bad header %x", b)
		}
		// gopacket agrees on what a valid header says.
		var dec layers.GRE
		if err := dec.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if dec.ChecksumPresent != g.ChecksumPresent() || dec.KeyPresent != g.KeyPresent() ||
			dec.SeqPresent != g.SeqPresent() || uint16(dec.Protocol) != g.Protocol() ||
			len(dec.Contents) != g.HeaderLen() || dec.Key != g.Key() || dec.Seq != g.Seq() ||
			(g.ChecksumPresent() && dec.Checksum != g.Checksum()) {
			t.Fatalf("gopacket disagrees on %x: %+v", b, dec)
		}
	})
}

func geneveSeeds(tb testing.TB) [][]byte {
	inner := innerTCP4(tb)
	return [][]byte{
		geneveBytes(false, false, EtherTypeIPv4, 1, nil, inner),
		geneveBytes(true, true, EtherTypeTEB, 0xffffff, []genOpt{{0x0102, 0x80, []byte{1, 2, 3, 4}},
			{0xffff, 0x01, nil}, {0x0103, 0x7f, bytes.Repeat([]byte{7}, 124)}}, inner),
		geneveWithRawOpts([]byte{0, 1, 2, 2, 1, 2, 3, 4}),
		{0x40, 0, 0x65, 0x58, 0, 0, 1, 0},
	}
}

func FuzzGeneve(f *testing.F) {
	for _, s := range geneveSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		exerciseViews(b, false)
		g := Geneve(b)
		verr := ValidateGeneve(b)
		total, n := 0, 0
		var ierr error
		for off := 0; ; n++ {
			if n > GeneveMaxOptionsLen/GeneveOptionHeaderLen {
				t.Fatal("iterator did not terminate")
			}
			opt, next, err := g.NextOption(off)
			if err != nil {
				ierr = err
				break
			}
			if opt == nil {
				break
			}
			if next <= off || len(opt) != opt.Len() || len(opt.Data()) != opt.DataLen() {
				t.Fatalf("option at %d: next %d len %d", off, next, len(opt))
			}
			total += opt.Len()
			off = next
		}
		if verr != nil {
			if verr != ErrGeneveTruncated && verr != ErrGeneveVersion && verr != ErrGeneveOptionsLen && ierr == nil {
				t.Fatalf("ValidateGeneve %v but iteration fine", verr)
			}
			return
		}
		if ierr != nil {
			t.Fatalf("valid header but iteration failed: %v", ierr)
		}
		if total != g.OptionsLen() || g.HeaderLen() > len(b) || g.Version() != 0 {
			t.Fatalf("options %d of %d, header %d of %d", total, g.OptionsLen(), g.HeaderLen(), len(b))
		}
	})
}

func FuzzChecksumIncremental(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}, uint16(8), uint32(0x3f01), uint8(0))
	f.Add([]byte{0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0xf7}, uint16(2), uint32(0xdeadbeef), uint8(1))
	f.Add([]byte{0xff, 0xff, 0, 0, 0, 0}, uint16(0), uint32(0), uint8(2))
	f.Add([]byte{0, 0, 0, 0}, uint16(0), uint32(1), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, pos uint16, nv uint32, kind uint8) {
		if len(data)%2 == 1 {
			data = data[:len(data)-1]
		}
		if len(data) < 4 {
			return
		}
		b := append([]byte(nil), data...)
		csum := ^Fold(Sum(b, 0))
		var got uint16
		switch kind % 3 {
		case 0:
			i := 2 * (int(pos) % (len(b) / 2))
			old := binary.BigEndian.Uint16(b[i:])
			binary.BigEndian.PutUint16(b[i:], uint16(nv))
			got = UpdateChecksum16(csum, old, uint16(nv))
		case 1:
			i := 2 * (int(pos) % (len(b)/2 - 1))
			old := binary.BigEndian.Uint32(b[i:])
			binary.BigEndian.PutUint32(b[i:], nv)
			got = UpdateChecksum32(csum, old, nv)
		case 2:
			i := 2 * (int(pos) % (len(b)/2 - 1))
			old := append([]byte(nil), b[i:i+4]...)
			binary.BigEndian.PutUint32(b[i:], nv)
			got = UpdateChecksumBytes(csum, old, b[i:i+4])
		}
		want := ^Fold(Sum(b, 0))
		if incrementalAgrees(got, want, b) {
			return
		}
		t.Fatalf("kind %d: incremental %#04x, full %#04x", kind%3, got, want)
	})
}
