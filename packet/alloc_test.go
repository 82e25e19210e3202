package packet

import "testing"

// TestZeroAllocs holds the parse and verify paths to zero allocations,
// including the error paths (a ParseError in an error interface must not
// be boxed on the heap).
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	var m Meta
	var o TCPOptions
	for _, tp := range validPackets(t) {
		frame := tp.frame
		if err := Parse(frame, &m); err != nil {
			t.Fatal(err)
		}
		ip := frame[m.L3Off:]
		check := func(what string, f func()) {
			t.Helper()
			if n := testing.AllocsPerRun(100, f); n != 0 {
				t.Errorf("%s %s: %v allocs/op", tp.name, what, n)
			}
		}
		check("Parse", func() { _ = Parse(frame, &m) })
		if m.IPVersion != 0 {
			check("ParseIP", func() { _ = ParseIP(ip, &m) })
			check("ParseQuoted", func() { _ = ParseQuoted(ip[:min(len(ip), 48)], &m) })
			_ = Parse(frame, &m)
			check("VerifyL4Checksum", func() { _ = VerifyL4Checksum(frame, &m) })
			cp := append([]byte(nil), frame...)
			check("SetL4Checksum", func() { SetL4Checksum(cp, &m) })
			if m.L4Proto == ProtoTCP && m.L4Complete {
				opts := TCP(m.L4(frame)).Options()
				check("ParseTCPOptions", func() { _ = ParseTCPOptions(opts, &o) })
			}
		}
		check("Sum", func() { _ = Fold(Sum(frame, 0)) })
	}
	bad := [][]byte{make([]byte, 10), vlanFrame(make([]byte, 14), [2]uint16{EtherTypeVLAN, 1})[:16]}
	for _, b := range bad {
		if n := testing.AllocsPerRun(100, func() {
			if Parse(b, &m) == nil {
				t.Fatal("expected error")
			}
		}); n != 0 {
			t.Errorf("Parse error path: %v allocs/op", n)
		}
	}
	malformed := []byte{TCPOptMSS, 4, 1, 2, TCPOptTimestamps, 10, 0}
	if n := testing.AllocsPerRun(100, func() { _ = ParseTCPOptions(malformed, &o) }); n != 0 {
		t.Errorf("ParseTCPOptions error path: %v allocs/op", n)
	}
	g := geneveBytes(false, true, EtherTypeTEB, 1, []genOpt{{1, 0x80, []byte{1, 2, 3, 4}}, {2, 1, nil}}, nil)
	if n := testing.AllocsPerRun(100, func() {
		_ = ValidateGeneve(g)
		_ = ValidateGRE(g)
	}); n != 0 {
		t.Errorf("Validate*: %v allocs/op", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = UpdateChecksum16(1, 2, 3)
		_ = UpdateChecksum32(1, 2, 3)
		_ = UpdateChecksumBytes(1, g[:4], g[4:8])
		_ = PseudoHeaderSum6([16]byte{}, [16]byte{}, 6, 20)
	}); n != 0 {
		t.Errorf("checksum updates: %v allocs/op", n)
	}
}
