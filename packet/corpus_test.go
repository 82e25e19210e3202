package packet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzCorpus keeps the committed seed corpus under
// testdata/fuzz/FuzzXxx/seed-* complete and current: it rebuilds every seed
// from the packet builders and compares. To (re)write the corpus after
// changing seeds:
//
//	PACKET_WRITE_FUZZ_CORPUS=1 go test ./packet -run TestFuzzCorpus
//
// Crash inputs the fuzzer finds live beside the seeds under their hash
// names and are kept as regression cases.
func TestFuzzCorpus(t *testing.T) {
	regenerate := os.Getenv("PACKET_WRITE_FUZZ_CORPUS") == "1"
	write := func(target, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if regenerate {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var sb strings.Builder
		sb.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&sb, "[]byte(%q)\n", v)
			case uint8:
				fmt.Fprintf(&sb, "byte(%d)\n", v)
			case uint16:
				fmt.Fprintf(&sb, "uint16(%d)\n", v)
			case uint32:
				fmt.Fprintf(&sb, "uint32(%d)\n", v)
			default:
				t.Fatalf("unsupported %T", a)
			}
		}
		path := filepath.Join(dir, "seed-"+name)
		if regenerate {
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, []byte(sb.String())) {
			t.Errorf("%s missing or stale (%v): regenerate with PACKET_WRITE_FUZZ_CORPUS=1", path, err)
		}
	}

	for _, tp := range validPackets(t) {
		write("FuzzParse", tp.name, tp.frame)
		if len(tp.frame) > EthernetHeaderLen {
			write("FuzzParseIP", tp.name, tp.frame[EthernetHeaderLen:])
		}
		var m Meta
		if err := Parse(tp.frame, &m); err != nil {
			t.Fatal(err)
		}
		if m.L4Proto == ProtoTCP && m.L4Complete {
			write("FuzzTCPOptions", tp.name, []byte(TCP(m.L4(tp.frame)).Options()))
		}
		if m.L4Proto == ProtoICMP || m.L4Proto == ProtoICMPv6 {
			if body := ICMPv4(m.L4(tp.frame)).Body(); len(body) > 0 && body[0]>>4 >= 4 {
				write("FuzzParseQuoted", "from_"+tp.name, body)
			}
		}
	}
	// Malformed frames near the validation edges.
	base := tcp4Frame(t, tcpSYN(), nil)
	write("FuzzParse", "three_vlans", vlanFrame(base, [2]uint16{EtherTypeQinQ, 1}, [2]uint16{EtherTypeVLAN, 2}, [2]uint16{EtherTypeVLAN, 3}))
	write("FuzzParse", "ipv4_truncated_tcp", base[:40])
	write("FuzzParse", "ipv6_jumbo", func() []byte {
		f := ip6ExtFrame(t, ProtoHopByHop, [][]byte{{ProtoUDP, 0, 0xc2, 4, 0, 1, 0, 0}}, make([]byte, 8))
		IPv6(f[14:]).SetPayloadLength(0)
		return f
	}())
	nine := make([]byte, 0, 72)
	for i := 0; i < 9; i++ {
		nine = append(nine, dstOptsHeader(ProtoDstOpts)...)
	}
	write("FuzzParse", "ipv6_nine_ext", ip6ExtFrame(t, ProtoDstOpts, [][]byte{nine}, nil))
	write("FuzzParse", "ipv6_srh", ip6ExtFrame(t, ProtoRouting,
		[][]byte{routingHeader(ProtoUDP, 4, 1, testIP6Fin, testIP6Dst)}, []byte{0, 1, 0, 2, 0, 12, 0, 0, 1, 2, 3, 4}))

	for i, q := range quotedSeeds(t) {
		write("FuzzParseQuoted", fmt.Sprintf("quote_%d", i), q)
	}
	write("FuzzTCPOptions", "sack4", []byte{1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8})
	write("FuzzTCPOptions", "bad_len", []byte{TCPOptMSS, 1, 0, 0})
	write("FuzzTCPOptions", "overrun", []byte{TCPOptTimestamps, 10, 0, 0})
	write("FuzzTCPOptions", "wrong_fixed_len", []byte{TCPOptMSS, 3, 0, TCPOptWScale, 4, 0, 0, TCPOptSACK, 9, 0, 0, 0, 0, 0, 0, 0})
	for i, g := range greSeeds(t) {
		write("FuzzGRE", fmt.Sprintf("gre_%d", i), g)
	}
	for i, g := range geneveSeeds(t) {
		write("FuzzGeneve", fmt.Sprintf("geneve_%d", i), g)
	}
	ipHdr := ipOf(base)[:20]
	write("FuzzChecksumIncremental", "ipv4_ttl", ipHdr, uint16(4), uint32(0x3f06), uint8(0))
	write("FuzzChecksumIncremental", "ipv4_addr", ipHdr, uint16(6), uint32(0xcb00714d), uint8(1))
	write("FuzzChecksumIncremental", "bytes", ipHdr, uint16(8), uint32(0x0a000002), uint8(2))
	write("FuzzChecksumIncremental", "to_zero", []byte{0, 1, 0, 0}, uint16(0), uint32(0), uint8(0))
}
