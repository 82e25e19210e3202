package packet

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestGREFlagCombos builds every C/K/S combination with gopacket and checks
// the view, ValidateGRE and Parse against it.
func TestGREFlagCombos(t *testing.T) {
	inner := innerTCP4(t)
	for mask := 0; mask < 8; mask++ {
		c, k, s := mask&1 != 0, mask&2 != 0, mask&4 != 0
		t.Run(fmt.Sprintf("C=%v,K=%v,S=%v", c, k, s), func(t *testing.T) {
			g := &layers.GRE{ChecksumPresent: c, KeyPresent: k, SeqPresent: s,
				Protocol: layers.EthernetTypeIPv4, Key: 0x01020304 + uint32(mask), Seq: 0xfffffff0 + uint32(mask)}
			frame := greFrame(t, g, inner)
			var m Meta
			if err := Parse(frame, &m); err != nil {
				t.Fatal(err)
			}
			eq(t, "L4Proto", m.L4Proto, uint8(ProtoGRE))
			eq(t, "L4Complete", m.L4Complete, true)
			v := GRE(m.L4(frame))
			if err := ValidateGRE(v); err != nil {
				t.Fatal(err)
			}
			wantLen := 4
			for _, b := range []bool{c, k, s} {
				if b {
					wantLen += 4
				}
			}
			eq(t, "HeaderLen", v.HeaderLen(), wantLen)
			dec := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeGRE).(*layers.GRE)
			compareGRE(t, v, dec)
			if k {
				eq(t, "Key", v.Key(), 0x01020304+uint32(mask))
			}
			if s {
				eq(t, "Seq", v.Seq(), 0xfffffff0+uint32(mask))
			}
			eqBytes(t, "Payload", v.Payload(), inner)
			// The payload parses as the inner packet.
			var im Meta
			if err := ParseIP(v.Payload(), &im); err != nil {
				t.Fatal(err)
			}
			eq(t, "inner L4Proto", im.L4Proto, uint8(ProtoTCP))
			if c {
				v[len(v)-1] ^= 0x40
				eq(t, "ValidChecksum after corruption", v.ValidChecksum(), false)
			}
		})
	}
}

// TestGRESetters builds a header with the setters and has gopacket decode it.
func TestGRESetters(t *testing.T) {
	b := make([]byte, 16)
	g := GRE(b)
	g.SetFlags(true, true, true)
	g.SetProtocol(EtherTypeTEB)
	g.SetKey(0xcafebabe)
	g.SetSeq(99)
	g.SetChecksum(0)
	g.SetChecksum(^Fold(Sum(b, 0)))
	if err := ValidateGRE(b); err != nil {
		t.Fatal(err)
	}
	var dec layers.GRE
	if err := dec.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	eq(t, "C", dec.ChecksumPresent, true)
	eq(t, "K", dec.KeyPresent, true)
	eq(t, "S", dec.SeqPresent, true)
	eq(t, "Protocol", uint16(dec.Protocol), uint16(EtherTypeTEB))
	eq(t, "Key", dec.Key, uint32(0xcafebabe))
	eq(t, "Seq", dec.Seq, uint32(99))
	eq(t, "ValidChecksum", g.ValidChecksum(), true)

	// Setters for absent fields are no-ops; getters read zero.
	b2 := make([]byte, 8)
	g2 := GRE(b2)
	g2.SetFlags(false, true, false)
	g2.SetSeq(5)
	g2.SetChecksum(7)
	eqBytes(t, "only flags written", b2, []byte{0x20, 0, 0, 0, 0, 0, 0, 0})
	eq(t, "Seq absent", g2.Seq(), uint32(0))
	eq(t, "Checksum absent", g2.Checksum(), uint16(0))
	eq(t, "ValidChecksum absent", g2.ValidChecksum(), true)
	g2.SetKey(0x11223344)
	eq(t, "Key", g2.Key(), uint32(0x11223344))
}

func TestGeneveOptions(t *testing.T) {
	inner := tcp4Frame(t, tcpData(), nil)
	cases := []struct {
		name string
		oam  bool
		crit bool
		opts []genOpt
	}{
		{"no options", false, false, nil},
		{"one option", false, false, []genOpt{{0x0101, 0x01, []byte{1, 2, 3, 4}}}},
		{"oam + critical", true, true, []genOpt{{0x0102, 0x80, nil}}},
		{"several, mixed critical", false, true, []genOpt{
			{0x0000, 0x00, nil},
			{0x0103, 0x85, []byte{9, 9, 9, 9, 8, 8, 8, 8}},
			{0xfff0, 0x7f, bytes.Repeat([]byte{0xab}, 56)},
			{0x0104, 0xff, []byte{1, 2, 3, 4}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gb := geneveBytes(c.oam, c.crit, EtherTypeTEB, 0xabcdef, c.opts, inner)
			if err := ValidateGeneve(gb); err != nil {
				t.Fatal(err)
			}
			g := Geneve(gb)
			optLen := 0
			for _, o := range c.opts {
				optLen += 4 + len(o.data)
			}
			eq(t, "Version", g.Version(), uint8(0))
			eq(t, "OptionsLen", g.OptionsLen(), optLen)
			eq(t, "HeaderLen", g.HeaderLen(), 8+optLen)
			eq(t, "OAM", g.OAM(), c.oam)
			eq(t, "Critical", g.Critical(), c.crit)
			eq(t, "Protocol", g.Protocol(), uint16(EtherTypeTEB))
			eq(t, "VNI", g.VNI(), uint32(0xabcdef))
			eq(t, "reserved byte", gb[7], uint8(0))
			eqBytes(t, "Payload", g.Payload(), inner)
			eq(t, "len(Options)", len(g.Options()), optLen)

			i := 0
			for off := 0; ; i++ {
				opt, next, err := g.NextOption(off)
				if err != nil {
					t.Fatal(err)
				}
				if opt == nil {
					eq(t, "end offset", off, optLen)
					break
				}
				w := c.opts[i]
				eq(t, "Class", opt.Class(), w.class)
				eq(t, "Type", opt.Type(), w.typ)
				eq(t, "Critical", opt.Critical(), w.typ&0x80 != 0)
				eq(t, "DataLen", opt.DataLen(), len(w.data))
				eqBytes(t, "Data", opt.Data(), w.data)
				eq(t, "next", next, off+4+len(w.data))
				off = next
			}
			eq(t, "count", i, len(c.opts))

			// gopacket agrees when carried in UDP/6081.
			frame := geneveFrame(t, gb)
			dec := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeGeneve)
			if dec == nil {
				t.Fatal("gopacket found no Geneve layer")
			}
			compareGeneve(t, g, dec.(*layers.Geneve))
		})
	}
}

func TestGeneveNested(t *testing.T) {
	// Geneve in Geneve: the inner header is found by parsing the outer
	// payload (Ethernet) down to its UDP payload.
	innerG := geneveBytes(false, false, EtherTypeIPv4, 7, []genOpt{{1, 2, []byte{3, 3, 3, 3}}}, innerTCP4(t))
	innerFrame := geneveFrame(t, innerG)
	outer := geneveBytes(false, true, EtherTypeTEB, 8, []genOpt{{1, 0x81, nil}}, innerFrame)
	if err := ValidateGeneve(outer); err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := Parse(Geneve(outer).Payload(), &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "inner L4Proto", m.L4Proto, uint8(ProtoUDP))
	ig := Geneve(UDP(m.L4(Geneve(outer).Payload())).Payload())
	if err := ValidateGeneve(ig); err != nil {
		t.Fatal(err)
	}
	eq(t, "inner VNI", ig.VNI(), uint32(7))
	opt, _, err := ig.NextOption(0)
	if err != nil || opt == nil {
		t.Fatal(opt, err)
	}
	eqBytes(t, "inner option data", opt.Data(), []byte{3, 3, 3, 3})
	eq(t, "outer option critical", func() bool { o, _, _ := Geneve(outer).NextOption(0); return o.Critical() }(), true)
}

func TestGeneveSetters(t *testing.T) {
	b := make([]byte, 8)
	g := Geneve(b)
	g.SetVersionOptionsLen(GeneveMaxOptionsLen)
	eq(t, "max OptionsLen", g.OptionsLen(), 252)
	g.SetVersionOptionsLen(0)
	g.SetOAM(true)
	g.SetCritical(true)
	g.SetCritical(false)
	g.SetVNI(0xffffffff) // only 24 bits fit
	eq(t, "OAM", g.OAM(), true)
	eq(t, "Critical", g.Critical(), false)
	eq(t, "VNI", g.VNI(), uint32(0xffffff))
	eq(t, "reserved", b[7], uint8(0))
	eqBytes(t, "bytes", b, []byte{0, 0x80, 0, 0, 0xff, 0xff, 0xff, 0})
	o := GeneveOption(make([]byte, 4))
	o.SetDataLen(124)
	eq(t, "max DataLen", o.DataLen(), 124)
	eq(t, "clamped Data", len(o.Data()), 0)
}

func TestGeneveIteratorEdges(t *testing.T) {
	g := Geneve(geneveWithRawOpts([]byte{0, 1, 2, 0}))
	for _, off := range []int{-1, 5, 1 << 30} {
		if _, _, err := g.NextOption(off); err != ErrGeneveOptOffset {
			t.Errorf("off %d: err = %v", off, err)
		}
	}
	opt, next, err := g.NextOption(4)
	if opt != nil || next != 4 || err != nil {
		t.Errorf("at end: %v %d %v", opt, next, err)
	}
	// An empty view iterates to nothing.
	opt, _, err = Geneve(nil).NextOption(0)
	if opt != nil || err != nil {
		t.Errorf("nil view: %v %v", opt, err)
	}
}
