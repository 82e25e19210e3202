package lab

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// trafficLab: a and b joined directly by a veth pair; c with only a
// switch-side link in another subnet, so it has no route to a or b.
func trafficLab(t *testing.T) *Lab {
	t.Helper()
	return up(t, Topology{
		Hosts: []Host{{Name: "a"}, {Name: "b"}, {Name: "c"}},
		Links: []Link{
			{Name: "ab", Queues: 2,
				A: Endpoint{Host: "a", Addrs: []string{"198.18.20.1/24", "2001:db8:20::1/64"}},
				B: Endpoint{Host: "b", Addrs: []string{"198.18.20.2/24", "2001:db8:20::2/64"}}},
			{Name: "c0", A: Endpoint{Host: "c", Addrs: []string{"198.18.21.3/24"}}},
		},
	})
}

func TestTCPTransfer(t *testing.T) {
	requireRoot(t)
	l := trafficLab(t)
	ctx := t.Context()

	tr, err := l.TCPTransfer(ctx, "a", "b", netip.MustParseAddrPort("198.18.20.2:0"), 20<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Identical || tr.Bytes != 20<<20 || tr.Duration <= 0 || tr.Mbps <= 0 {
		t.Errorf("20 MB: %+v", tr)
	}
	t.Logf("20 MB a -> b: %v, %.0f Mbit/s", tr.Duration, tr.Mbps)

	// IPv6, a fixed port, a size that is no multiple of the chunks.
	for _, size := range []int64{0, 1, 1234567} {
		tr, err := l.TCPTransfer(ctx, "b", "a", netip.MustParseAddrPort("[2001:db8:20::1]:5201"), size)
		if err != nil || !tr.Identical || tr.Bytes != size {
			t.Errorf("%d bytes over IPv6: %+v %v", size, tr, err)
		}
	}
}

func TestTCPTransferFailsFast(t *testing.T) {
	requireRoot(t)
	l := trafficLab(t)
	ctx := t.Context()
	for _, c := range []struct {
		name, from, to, dst string
		size                int64
		want                string
	}{
		{"no route", "c", "b", "198.18.20.2:5001", 1 << 20, "connect from c: dial tcp 198.18.20.2:5001: connect: network is unreachable"},
		{"not the server's address", "a", "b", "198.18.20.1:0", 1 << 20, "listen in b: "},
		{"unknown host", "a", "zz", "198.18.20.2:0", 1, `unknown host "zz"`},
		{"outside the lab ranges", "a", "b", "10.0.0.1:80", 1, "outside the allowed test ranges"},
		{"negative size", "a", "b", "198.18.20.2:0", -1, "negative size"},
	} {
		t0 := time.Now()
		_, err := l.TCPTransfer(ctx, c.from, c.to, netip.MustParseAddrPort(c.dst), c.size)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "lab "+l.ID()+": tcp transfer") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("%s: took %v", c.name, d)
		}
	}

	// A deadline ends a transfer that would take far longer.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := l.TCPTransfer(cctx, "a", "b", netip.MustParseAddrPort("198.18.20.2:0"), 1<<40)
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("deadline: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("deadline: took %v", d)
	}
	// The port is free again: every socket was closed.
	if _, err := l.TCPTransfer(ctx, "a", "b", netip.MustParseAddrPort("198.18.20.2:5201"), 1000); err != nil {
		t.Error(err)
	}
	if _, err := l.TCPTransfer(ctx, "a", "b", netip.MustParseAddrPort("198.18.20.2:5201"), 1000); err != nil {
		t.Error(err)
	}
}

func TestUDPExchange(t *testing.T) {
	requireRoot(t)
	l := trafficLab(t)
	ctx := t.Context()
	for _, c := range []struct {
		dst         string
		count, size int
	}{{"198.18.20.2:0", 500, 1000}, {"[2001:db8:20::2]:7", 100, MinUDPSize}, {"198.18.20.2:7", 20, 8000}} {
		res, err := l.UDPExchange(ctx, "a", "b", netip.MustParseAddrPort(c.dst), c.count, c.size)
		if err != nil || res != (UDPResult{Sent: c.count, Echoed: c.count}) {
			t.Errorf("%+v: %+v %v", c, res, err)
		}
	}
	for _, c := range []struct {
		from, dst   string
		count, size int
		want        string
	}{
		{"c", "198.18.20.2:7", 10, 100, "network is unreachable"},
		{"a", "198.18.20.2:7", 10, 11, "size 11 out of range 12..65507"},
		{"a", "198.18.20.2:7", 0, 100, "count 0 out of range"},
	} {
		t0 := time.Now()
		_, err := l.UDPExchange(ctx, c.from, "b", netip.MustParseAddrPort(c.dst), c.count, c.size)
		if err == nil || !strings.Contains(err.Error(), c.want) || time.Since(t0) > time.Second {
			t.Errorf("%+v: %v in %v", c, err, time.Since(t0))
		}
	}
}

func TestPingIPv6(t *testing.T) {
	requireRoot(t)
	l := trafficLab(t)
	for _, c := range []struct{ from, dst string }{{"a", "2001:db8:20::2"}, {"b", "2001:db8:20::1"}, {"a", "2001:db8:20::1"}} {
		if _, err := l.Ping(c.from, c.dst, 3*time.Second); err != nil {
			t.Errorf("ping %s from %s: %v", c.dst, c.from, err)
		}
	}
	// Nobody has the address: neighbour discovery fails, Ping times out.
	t0 := time.Now()
	if _, err := l.Ping("a", "2001:db8:20::99", 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no echo reply within 500ms") {
		t.Errorf("ping of a missing neighbour: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("ping of a missing neighbour took %v", d)
	}
	if _, err := l.Ping("a", "2001:db9::1", time.Second); err == nil || !strings.Contains(err.Error(), "outside the allowed test ranges") {
		t.Errorf("ping outside the ranges: %v", err)
	}
}

func TestStreamIsDeterministic(t *testing.T) {
	var g stream
	g.seed(42)
	whole := make([]byte, 1000)
	g.fill(whole)
	g.seed(42)
	var cut []byte
	for _, n := range []int{3, 5, 8, 1, 0, 17, 966} {
		b := make([]byte, n)
		g.fill(b)
		cut = append(cut, b...)
	}
	if !bytes.Equal(whole, cut) {
		t.Error("stream depends on how it is cut")
	}
	g.seed(43)
	other := make([]byte, 1000)
	g.fill(other)
	if bytes.Equal(whole, other) {
		t.Error("seeds give the same stream")
	}
}
