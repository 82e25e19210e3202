package ipfrag

import "testing"

func BenchmarkFragmentIPv4(b *testing.B) {
	frame := udp4(b, nil, ip4(), 1500)
	scratch := make([]byte, 14+1400)
	n := 0
	emit := func(f []byte) error { n += len(f); return nil }
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := FragmentIPv4(frame, 1400, scratch, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFragmentIPv6(b *testing.B) {
	frame := udp6(b, nil, 1500)
	scratch := make([]byte, 14+1280)
	n := 0
	emit := func(f []byte) error { n += len(f); return nil }
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := FragmentIPv6(frame, 1280, 1, scratch, emit); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReassemble2 adds the two fragments of a 1500-byte packet split
// at 1400: one op is one completed datagram.
func BenchmarkReassemble2(b *testing.B) {
	frame := udp4(b, nil, ip4(), 1500)
	frags := frag4(b, frame, 1400)
	r := NewReassembler(ReassemblerConfig{})
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Add(frags[0], 0)
		if _, res := r.Add(frags[1], 0); res.Status != Complete {
			b.Fatal(res)
		}
	}
}

func BenchmarkReassemble2IPv6(b *testing.B) {
	frame := udp6(b, nil, 1500)
	frags := frag6(b, frame, 1280, 1)
	r := NewReassembler(ReassemblerConfig{})
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Add(frags[0], 0)
		if _, res := r.Add(frags[1], 0); res.Status != Complete {
			b.Fatal(res)
		}
	}
}
