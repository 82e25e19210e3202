package tunnel

import "testing"

// TestZeroAllocs holds the per-packet functions to zero allocations, on
// their success and refusal paths.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation may allocate")
	}
	fx := newReasonFixture(t)
	inner := buildInner(t, innerSpec{df: true, ipLen: 1400})
	buf := make([]byte, 2048)
	var d Decapsulated
	check := func(what string, f func()) {
		t.Helper()
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocs/op", what, n)
		}
	}
	for _, c := range encapConfigs() {
		e := MustEndpoint(c)
		check(c.Name+" Encap", func() { _, _ = e.Encap(buf, underSrcMAC, underDstMAC, inner, 12345) })
		check(c.Name+" Encap short buffer", func() { _, _ = e.Encap(buf[:10], underSrcMAC, underDstMAC, inner, 1) })
		check(c.Name+" Overhead", func() { _ = e.Overhead(inner) })
		check(c.Name+" InnerMTU", func() { _ = e.InnerMTU(inner, 1500) })
		check(c.Name+" Decide", func() { _, _ = e.Decide(inner, 1400) })
		check(c.Name+" PathMTU", func() { _ = e.PathMTU(1500, 1) })
		f := mustEncap(t, e, inner, 1)
		port := e.Config().DstPort
		check(c.Name+" Decap", func() {
			if Decap(f, port, &d) != ReasonNone {
				t.Fatal("decap failed")
			}
		})
	}
	for _, c := range fx.cases(t) {
		check("Receive "+c.name, func() { _, _ = fx.tbl.Receive(c.frame, &d) })
	}
	check("CheckSeq", func() { _ = fx.tapSeq.CheckSeq(5) })
	var cnt Counters
	check("Counters.Inc", func() { cnt.Inc(ReasonGREVersion) })
	g := fx.sGen4
	gf := mustEncap(t, g, inner, 9)
	check("Decap geneve", func() { _ = Decap(gf, 6081, &d) })
}
