package packet

import (
	"bytes"
	"testing"

	"github.com/google/gopacket/layers"
)

func benchParse(b *testing.B, frame []byte) {
	var m Meta
	if err := Parse(frame, &m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		_ = Parse(frame, &m)
	}
}

func BenchmarkParseIPv4TCP(b *testing.B) { benchParse(b, tcp4Frame(b, tcpSYN(), nil)) }

func BenchmarkParseIPv6TCP(b *testing.B) { benchParse(b, tcp6Frame(b, tcpSYN(), nil)) }

func BenchmarkParseVLANIPv4UDP(b *testing.B) {
	benchParse(b, vlanFrame(udp4Frame(b, 1000, 53, make([]byte, 32)), [2]uint16{EtherTypeVLAN, 100}))
}

func BenchmarkParseIPv6ExtChain(b *testing.B) {
	benchParse(b, ip6ExtFrame(b, ProtoHopByHop, [][]byte{
		hbhHeader(ProtoRouting), routingHeader(ProtoDstOpts, 0, 0, testIP6Fin), dstOptsHeader(ProtoTCP),
	}, rawTCP(1, 2, TCPFlagSYN, nil)))
}

func BenchmarkTCPOptions(b *testing.B) {
	frame := tcp4Frame(b, tcpSYN(), nil)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		b.Fatal(err)
	}
	opts := TCP(m.L4(frame)).Options()
	var o TCPOptions
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseTCPOptions(opts, &o)
	}
}

func BenchmarkVerifyL4Checksum(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		// 64-byte frame: 14 + 20 + 20 + 10.
		{"64B", tcp4Frame(b, tcpData(), make([]byte, 10))},
		// 1500-byte IP packet: 20 + 20 + 1460.
		{"1500B", tcp4Frame(b, tcpData(), bytes.Repeat([]byte{0x5a}, 1460))},
		{"1500B_ipv6", tcp6Frame(b, tcpData(), bytes.Repeat([]byte{0x5a}, 1440))},
	} {
		b.Run(c.name, func(b *testing.B) {
			var m Meta
			if err := Parse(c.frame, &m); err != nil {
				b.Fatal(err)
			}
			if !VerifyL4Checksum(c.frame, &m) {
				b.Fatal("bad checksum")
			}
			b.ReportAllocs()
			b.SetBytes(int64(m.End - m.L4Off))
			for b.Loop() {
				_ = VerifyL4Checksum(c.frame, &m)
			}
		})
	}
}

func BenchmarkSum1500(b *testing.B) {
	buf := bytes.Repeat([]byte{0xa5, 0x3c, 0xff}, 500)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_ = Sum(buf, 0)
	}
}

func BenchmarkUpdateChecksum(b *testing.B) {
	old6 := ip6Bytes(testIP6Src)
	new6 := ip6Bytes(testIP6Dst)
	b.Run("16", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = UpdateChecksum16(c, 0x4000, 0x3f00)
		}
		_ = c
	})
	b.Run("32", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = UpdateChecksum32(c, 0x0a000001, 0xcb00714d)
		}
		_ = c
	})
	b.Run("IPv6Addr", func(b *testing.B) {
		b.ReportAllocs()
		c := uint16(0x1234)
		for b.Loop() {
			c = UpdateChecksumBytes(c, old6[:], new6[:])
		}
		_ = c
	})
}

func BenchmarkParseQuoted(b *testing.B) {
	q := innerTCP4(b)[:28]
	var m Meta
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseQuoted(q, &m)
	}
}

var _ = layers.LayerTypeTCP
