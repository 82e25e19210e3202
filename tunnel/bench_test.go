package tunnel

import "testing"

// benchConfigs are the endpoints the benchmarks run: the common gretap
// with a key, Geneve over IPv4 (no UDP checksum, the default) and Geneve
// over IPv6 (UDP checksum on, the default, so the payload is summed).
func benchConfigs() []Config {
	return []Config{
		{Name: "gretap+key", Kind: GRETap, Local: local4, Remote: remote4, Key: u32(7)},
		{Name: "geneve4", Kind: Geneve, Local: local4, Remote: remote4, VNI: 100},
		{Name: "geneve6+csum", Kind: Geneve, Local: local6, Remote: remote6, VNI: 100},
	}
}

var benchSizes = []struct {
	name  string
	ipLen int
}{{"64B", 46}, {"1400B", 1400}}

func BenchmarkEncap(b *testing.B) {
	for _, c := range benchConfigs() {
		e := MustEndpoint(c)
		for _, sz := range benchSizes {
			inner := buildInner(b, innerSpec{df: true, ipLen: sz.ipLen})
			buf := make([]byte, 2048)
			b.Run(c.Name+"/"+sz.name, func(b *testing.B) {
				b.SetBytes(int64(len(inner)))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if _, err := e.Encap(buf, underSrcMAC, underDstMAC, inner, uint64(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecap is Table.Receive (Decap + Match), the receive fast path.
func BenchmarkDecap(b *testing.B) {
	for _, c := range benchConfigs() {
		snd := MustEndpoint(c)
		tbl := mustTable(b, MustEndpoint(peer(c)))
		for _, sz := range benchSizes {
			f := mustEncap(b, snd, buildInner(b, innerSpec{df: true, ipLen: sz.ipLen}), 1)
			b.Run(c.Name+"/"+sz.name, func(b *testing.B) {
				b.SetBytes(int64(len(f)))
				b.ReportAllocs()
				var d Decapsulated
				for b.Loop() {
					if _, r := tbl.Receive(f, &d); r != ReasonNone {
						b.Fatal(r)
					}
				}
			})
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	e := MustEndpoint(benchConfigs()[0])
	inner := buildInner(b, innerSpec{df: true, ipLen: 1400, tags: 1})
	b.ReportAllocs()
	for b.Loop() {
		_, _ = e.Decide(inner, e.PathMTU(1500, 1))
	}
}
