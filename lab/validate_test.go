package lab

import (
	"strings"
	"testing"
)

func TestValidateRejects(t *testing.T) {
	host := func(names ...string) []Host {
		var hs []Host
		for _, n := range names {
			hs = append(hs, Host{Name: n})
		}
		return hs
	}
	link := func(mod func(*Link)) []Link {
		l := Link{Name: "l0", A: Endpoint{Host: "a", Addrs: []string{"198.18.0.1/24"}}, B: Endpoint{Host: "b"}}
		mod(&l)
		return []Link{l}
	}
	cases := []struct {
		name string
		topo Topology
		want []string
	}{
		{"no hosts", Topology{}, []string{"lab: no hosts"}},
		{"bad prefix", Topology{Prefix: "CT", Hosts: host("a")}, []string{`prefix "CT": want 2 to 6 lower-case letters`}},
		{"duplicate host", Topology{Hosts: host("a", "a")}, []string{`host "a": duplicate host name`}},
		{"bad host name", Topology{Hosts: host("A_1")}, []string{`host "A_1": invalid name`}},
		{"v4 outside ranges", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.Addrs = []string{"10.0.0.1/24"} })},
			[]string{`link "l0": end A: address 10.0.0.1 outside the allowed test ranges 198.18.0.0/15 and 2001:db8::/32`}},
		{"v6 outside ranges", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.B.Addrs = []string{"fd00::1/64"} })},
			[]string{`link "l0": end B: address fd00::1 outside the allowed test ranges`}},
		{"prefix wider than range", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.Addrs = []string{"198.18.0.1/8"} })},
			[]string{`prefix /8 is wider than the allowed range 198.18.0.0/15`}},
		{"not a CIDR", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.Addrs = []string{"198.18.0.1"} })},
			[]string{`invalid address "198.18.0.1" (want CIDR`}},
		{"MTU too big", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.MTU = 70000 })},
			[]string{`link "l0": MTU 70000 out of range 68..65535`}},
		{"MTU too small", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.MTU = 67 })},
			[]string{`link "l0": MTU 67 out of range 68..65535`}},
		{"queues too many", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.Queues = 65 })},
			[]string{`link "l0": queue count 65 out of range 1..64`}},
		{"queues negative", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.Queues = -1 })},
			[]string{`link "l0": queue count -1 out of range 1..64`}},
		{"unknown host", Topology{Hosts: host("a"), Links: link(func(l *Link) {})},
			[]string{`link "l0": end B: unknown host "b"`}},
		{"A in switch", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.Host = "" })},
			[]string{`link "l0": end A must be in a host`}},
		{"both ends in one host", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.B.Host = "a" })},
			[]string{`link "l0": both ends in host "a"`}},
		{"switch ifname given", Topology{Hosts: host("a"), Links: link(func(l *Link) { l.B = Endpoint{IfName: "sw0"} })},
			[]string{`end B: switch-side interface names are generated`}},
		{"ifname too long", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.IfName = "abcdefghijklmnop" })},
			[]string{`invalid interface name "abcdefghijklmnop"`}},
		{"duplicate link and ifname", Topology{Hosts: host("a", "b"), Links: []Link{
			{Name: "x", A: Endpoint{Host: "a", IfName: "e0"}, B: Endpoint{Host: "b"}},
			{Name: "x", A: Endpoint{Host: "a", IfName: "e0"}},
		}}, []string{`link "x": duplicate link name`, `duplicate interface name "e0" in host "a"`}},
		{"multicast MAC", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.A.MAC = "01:00:5e:00:00:01" })},
			[]string{`MAC 01:00:5e:00:00:01 is multicast`}},
		{"duplicate MAC", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) {
			l.A.MAC, l.B.MAC = "02:00:00:00:00:01", "02:00:00:00:00:01"
		})}, []string{`duplicate MAC 02:00:00:00:00:01`}},
		{"duplicate address", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) { l.B.Addrs = []string{"198.18.0.1/24"} })},
			[]string{`duplicate address 198.18.0.1`}},
		{"v6 on a v6-less link", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) {
			l.DisableIPv6, l.B.Addrs = true, []string{"2001:db8::2/64"}
		})}, []string{`IPv6 address 2001:db8::2/64 on a link with DisableIPv6`}},
		{"neighbor outside", Topology{Hosts: host("a", "b"), Links: link(func(l *Link) {
			l.A.Neighbors = []Neighbor{{IP: "192.0.2.1", MAC: "02:00:00:00:00:09"}}
		})}, []string{`neighbor: address 192.0.2.1 outside the allowed test ranges`}},
		{"route", Topology{Hosts: []Host{{Name: "a", Routes: []Route{{Dst: "198.19.0.0/16"}, {Dst: "default", Via: "8.8.8.8"}, {Dst: "198.19.1.0/24", Dev: "nope"}}}}},
			[]string{`route "198.19.0.0/16": needs Via or Dev`, `route "default": gateway: address 8.8.8.8 outside`, `host has no interface "nope"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.topo.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", c.topo)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	topo := Topology{
		Hosts: []Host{{Name: "a", Routes: []Route{{Dst: "default", Via: "198.18.0.2"}, {Dst: "2001:db8:1::/48", Dev: "e0"}}}, {Name: "b"}},
		Links: []Link{
			{Name: "ab", A: Endpoint{Host: "a", IfName: "e0", MAC: "02:00:00:00:00:01", Addrs: []string{"198.18.0.1/24", "2001:db8::1/64"}},
				B: Endpoint{Host: "b", Addrs: []string{"198.18.0.2/24"}}, MTU: 9000, Queues: 64},
			{Name: "p0", A: Endpoint{Host: "b", IfName: "p0", Neighbors: []Neighbor{{IP: "198.19.255.1", MAC: "02:00:00:00:00:02"}}}},
		},
	}
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	n := topo.normalized()
	if n.Prefix != DefaultPrefix || n.Links[1].MTU != 1500 || n.Links[1].Queues != 1 || n.Links[0].B.IfName != "ab" {
		t.Errorf("defaults not filled in: %+v", n)
	}
	if len(topo.Links[1].A.Addrs) != 0 || topo.Links[1].MTU != 0 {
		t.Error("normalized changed the caller's topology")
	}
}

func TestNames(t *testing.T) {
	for range 100 {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		if name := switchIfName("ctswit", id, MaxLinks-1); len(name) > 15 {
			t.Fatalf("switch interface name %q longer than 15", name)
		}
	}
}
