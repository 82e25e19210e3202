package filter

import "testing"

// The benchmark expressions: five outer primitives, and a tunnel one.
const (
	benchExpr5     = "ip and tcp and dst port 22 and tcp-syn and src net 10.0.0.0/8"
	benchExprInner = "gre-key 42 and inner (tcp dport 22 and tcp-syn and host 198.18.1.2)"
)

func TestMatchAllocs(t *testing.T) {
	frames := [][]byte{frameTCP4(t, 22, "S"), frameGREKeyEth(t), frameGeneve(t), frameGeneveGRE(t),
		frameIP6HBH(t), frameVLANTCP4(t), frameARP(t), nil, {1, 2, 3}}
	exprs := []string{benchExpr5, benchExprInner, "inner inner inner tcp", "ether src 02:00:5e:10:00:01 or vlan 100",
		"host 2001:db8::1 or inner host 2001:db8::2", "len > 60 or icmp-type 8 or vni 7", ""}
	for _, e := range exprs {
		f := MustCompile(e)
		for i, fr := range frames {
			if n := testing.AllocsPerRun(100, func() { f.Match(fr) }); n != 0 {
				t.Errorf("%q on frame %d: %v allocations per Match", e, i, n)
			}
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name, expr string
		frame      []byte
		want       bool
	}{
		{"5prims", benchExpr5, frameTCP4(b, 22, "S"), true},
		{"5prims_miss", benchExpr5, frameTCP4(b, 443, "S"), false},
		{"inner_gre", benchExprInner, frameGREKeyEth(b), true},
		{"inner_geneve_miss", "inner tcp dport 22", frameGeneve(b), false},
	}
	for _, c := range cases {
		f := MustCompile(c.expr)
		if f.Match(c.frame) != c.want {
			b.Fatalf("%s: Match != %v", c.name, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				f.Match(c.frame)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(benchExprInner); err != nil {
			b.Fatal(err)
		}
	}
}
