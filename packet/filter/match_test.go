package filter

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

type matchCase struct {
	name  string
	frame func(testing.TB) []byte
	yes   []string // expressions that must match
	no    []string // expressions that must not
	// broken: gopacket cannot decode the frame (on purpose)
	broken bool
}

var matchCases = []matchCase{
	{
		name:  "ipv4 tcp syn",
		frame: func(tb testing.TB) []byte { return frameTCP4(tb, 443, "S") },
		yes: []string{"", "ip", "tcp", "proto 6", "proto 0x06", "host 10.0.0.1", "src host 10.0.0.1",
			"dst host 192.168.1.2", "net 10.0.0.0/8", "src net 10.0.0.0/24", "dst net 192.168.0.0/16",
			"net 0.0.0.0/0", "port 443", "dst port 443", "dport 443", "sport 40000", "tcp port 443",
			"tcp dst port 443", "tcp sport 40000", "portrange 400-500", "src portrange 40000-40000",
			"tcp-syn", "tcp-syn and not tcp-ack", "ether host 02:00:5e:10:00:01",
			"ether src 02:00:5e:10:00:01", "ether dst 02-00-5E-10-00-02", "ether dst host 2:0:5e:10:0:2",
			"len == 60", "len >= 60", "len <= 60", "len > 59", "len < 61", "len != 54", "len = 60",
			"TCP AND PORT 443", "ip && tcp", "udp || tcp", "!udp", "not (udp or icmp)", "not not tcp",
			"not inner tcp", "not gre", "tcp and (port 22 or port 443)", "host 10.0.0.1 && port 443 && tcp-syn",
		},
		no: []string{"ip6", "udp", "arp", "icmp", "vlan", "gre", "geneve", "proto 17", "host 10.0.0.2",
			"src host 192.168.1.2", "dst host 10.0.0.1", "net 10.1.0.0/16", "src net 192.168.0.0/16",
			"host 2001:db8::1", "net ::/0", "port 22", "src port 443", "dst port 40000", "udp port 443",
			"sctp port 443", "portrange 1-442", "tcp-ack", "tcp-fin", "tcp-rst", "tcp-psh", "tcp-urg",
			"ether host 02:00:5e:10:00:03", "ether src 02:00:5e:10:00:02", "ether dst 02:00:5e:10:00:01",
			"len > 60", "len < 60", "len == 54", "inner tcp", "inner ip", "vni 0", "gre-key 0",
			"icmp-type 8", "not tcp", "tcp and udp", "vlan 0",
		},
	},
	{
		name:  "vlan tcp ack psh",
		frame: frameVLANTCP4,
		yes: []string{"vlan", "vlan 100", "vlan 0x64", "vlan and ip", "vlan 100 and tcp port 8080",
			"tcp-ack", "tcp-psh", "tcp-ack and tcp-psh", "not tcp-syn", "host 192.168.1.2", "len == 63"},
		no: []string{"vlan 200", "vlan 0", "not vlan", "tcp-syn", "arp", "ip6", "port 443"},
	},
	{
		name:  "qinq udp",
		frame: frameQinQUDP4,
		yes:   []string{"vlan", "vlan 200", "vlan 300", "udp", "udp dst port 53", "port 53", "host 10.0.0.1"},
		no:    []string{"vlan 100", "tcp", "tcp port 53", "geneve", "inner udp"},
	},
	{
		name:  "ipv4 udp",
		frame: frameUDP4,
		yes: []string{"udp", "proto 17", "udp port 53", "udp dport 53", "src port 1234", "port 1234",
			"portrange 50-60", "not tcp-syn", "udp and not geneve"},
		no: []string{"tcp", "tcp port 53", "sctp", "tcp-syn", "geneve", "vni 0", "inner ip", "dst port 1234"},
	},
	{
		name:  "ipv6 hop-by-hop tcp syn",
		frame: frameIP6HBH,
		yes: []string{"ip6", "tcp", "proto 6", "tcp dport 22", "port 22", "tcp-syn", "host 2001:db8::1",
			"src host 2001:db8::1", "dst host 2001:DB8:0::2", "net 2001:db8::/32", "src net 2001:db8::/127",
			"net ::/0", "ip6 and tcp port 22"},
		no: []string{"ip", "proto 0", "udp", "host 10.0.0.1", "dst host 2001:db8::1", "net 2001:db9::/32",
			"net 0.0.0.0/0", "src net 2001:db8::2/128", "host ::ffff:10.0.0.1", "tcp-ack", "icmp6"},
	},
	{
		name:  "icmp echo",
		frame: frameICMP4Echo,
		yes:   []string{"icmp", "proto 1", "icmp-type 8", "icmp and icmp-type 8", "ip and not tcp"},
		no:    []string{"icmp6", "icmp-type 0", "tcp", "udp", "port 0", "tcp-syn", "proto 58"},
	},
	{
		name:  "icmpv6 echo",
		frame: frameICMP6Echo,
		yes:   []string{"icmp6", "proto 58", "icmp-type 128", "ip6 and icmp-type 128", "host 2001:db8::2"},
		no:    []string{"icmp", "icmp-type 8", "icmp-type 129", "ip", "port 0"},
	},
	{
		name:  "arp request",
		frame: frameARP,
		yes: []string{"arp", "host 10.0.0.1", "src host 10.0.0.1", "dst host 192.168.1.2",
			"net 192.168.1.0/24", "ether src 02:00:5e:10:00:01", "ether dst ff:ff:ff:ff:ff:ff", "not ip"},
		no: []string{"ip", "ip6", "tcp", "proto 0", "dst host 10.0.0.1", "port 0", "vlan", "len > 60"},
	},
	{
		name:  "gre key 42 over ipv4 carrying ethernet ipv4 ssh syn",
		frame: frameGREKeyEth,
		yes: []string{"gre", "ip", "proto 47", "gre-key 42", "gre-key 0x2a", "host 192.0.2.1",
			"ether src 02:00:5e:10:00:01", "inner tcp", "inner tcp dport 22", "inner tcp port 22",
			"inner tcp-syn", "inner (host 198.18.1.2 and tcp-syn)", "inner host 198.18.1.1",
			"inner ether src 02:c7:00:00:00:01", "inner ip", "inner not udp", "gre and inner tcp dport 22",
			"inner src net 198.18.0.0/15", "not tcp", "inner len == 60", "not inner vlan",
			"gre-key 42 and inner host 198.18.1.2", "not inner inner ip"},
		no: []string{"tcp", "tcp dport 22", "port 22", "tcp-syn", "host 198.18.1.2", "gre-key 43",
			"vni 42", "geneve", "inner udp", "inner tcp dport 23", "inner host 192.0.2.1",
			"inner ether src 02:00:5e:10:00:01", "inner gre", "inner inner ip", "inner ip6", "not inner tcp",
			"inner gre-key 42", "inner tcp-ack"},
	},
	{
		name:  "gre over ipv6 carrying bare ipv6 udp",
		frame: frameGREIP6,
		yes: []string{"ip6", "gre", "host 2001:db8:ffff::1", "inner ip6", "inner udp", "inner udp dport 443",
			"inner host 2001:db8::2", "inner src host 2001:db8::1", "inner net 2001:db8::/64",
			"inner len == 52", "inner not ether host 02:00:5e:10:00:01", "not gre-key 0"},
		no: []string{"ip", "udp", "port 443", "gre-key 0", "inner ip", "inner tcp",
			"inner ether host 02:00:5e:10:00:01", "inner ether src 02:00:5e:10:00:01", "inner vlan",
			"inner host 2001:db8:ffff::1", "inner len == 54", "inner inner ip6"},
	},
	{
		name:  "geneve vni 5001 carrying ethernet ipv4 udp",
		frame: frameGeneve,
		yes: []string{"udp", "geneve", "udp dst port 6081", "vni 5001", "vni 0x1389", "host 192.0.2.2",
			"inner udp", "inner udp dport 53", "inner port 53", "inner host 198.18.1.2",
			"inner ether dst 02:c7:00:00:00:02", "vni 5001 and inner (udp and port 53)", "inner ip",
			"not inner tcp", "inner sport 5000"},
		no: []string{"vni 5000", "gre", "gre-key 5001", "port 53", "host 198.18.1.2", "inner geneve",
			"inner vni 5001", "inner tcp", "inner dport 5000", "inner ip6", "inner inner udp"},
	},
	{
		name:  "geneve carrying gre carrying bare ipv4 icmp",
		frame: frameGeneveGRE,
		yes: []string{"geneve", "vni 7", "inner gre", "inner gre-key 9", "inner inner icmp",
			"inner inner icmp-type 8", "inner inner host 10.0.0.1", "inner vni 7 or inner inner ip",
			"inner (gre and inner (icmp and dst host 192.168.1.2))", "not inner inner inner ip",
			"inner host 198.18.1.1 and inner inner host 192.168.1.2", "inner inner not ether host 02:c7:00:00:00:01"},
		no: []string{"icmp", "inner icmp", "inner inner gre", "inner inner inner icmp", "vni 9",
			"gre-key 9", "inner vni 7", "inner inner ether host 02:c7:00:00:00:01"},
	},
	{
		name:  "geneve over ipv6 carrying bare ipv6 tcp syn",
		frame: frameGeneveIP6,
		yes: []string{"ip6", "geneve", "vni 77", "inner ip6", "inner tcp port 22", "inner tcp-syn",
			"inner host 2001:db8::1", "inner not ether host 02:00:5e:10:00:01", "inner len == 60"},
		no: []string{"inner ip", "inner ether host 02:00:5e:10:00:01", "inner vlan", "tcp", "vni 7",
			"inner host 2001:db8:ffff::1"},
	},
	{
		name:   "gre carrying ppp",
		frame:  frameGREPPP,
		broken: true, // the PPP payload is a stub
		yes:    []string{"gre", "gre-key 5", "not inner len >= 0"},
		no:     []string{"inner ip", "inner len >= 0", "gre-key 0"},
	},
	{
		name:  "padded 60-byte frame",
		frame: framePadded,
		yes:   []string{"len == 60", "udp port 53", "udp src port 1234", "not port 43690", "ip"},
		no:    []string{"len == 42", "port 43690", "tcp", "geneve"},
	},
	{
		name:   "gre header in the padding",
		frame:  frameGREInPadding,
		broken: true,
		yes:    []string{"ip", "gre", "proto 47", "not inner ip", "host 192.0.2.1"},
		no:     []string{"gre-key 42", "inner tcp", "inner ip", "inner ether host 02:c7:00:00:00:01"},
	},
	{
		name:  "ipv4 first fragment",
		frame: func(tb testing.TB) []byte { return frameIP4Frag(tb, true) },
		yes:   []string{"udp", "udp port 53", "src port 1234", "host 10.0.0.1"},
		no:    []string{"tcp", "port 54"},
	},
	{
		name:   "ipv4 second fragment",
		frame:  func(tb testing.TB) []byte { return frameIP4Frag(tb, false) },
		broken: true,
		yes:    []string{"ip", "udp", "proto 17", "host 192.168.1.2", "not port 53", "not geneve"},
		no:     []string{"port 53", "udp port 53", "src port 0", "portrange 0-65535", "geneve"},
	},
	{
		name:  "ipv6 first fragment",
		frame: func(tb testing.TB) []byte { return frameIP6Frag(tb, true) },
		yes:   []string{"ip6", "tcp", "tcp port 22", "tcp-syn", "proto 6"},
		no:    []string{"proto 44", "udp", "tcp-ack"},
	},
	{
		name:   "ipv6 second fragment",
		frame:  func(tb testing.TB) []byte { return frameIP6Frag(tb, false) },
		broken: true,
		yes:    []string{"ip6", "tcp", "proto 6", "host 2001:db8::2", "not tcp-syn", "not port 22"},
		no:     []string{"proto 44", "port 22", "tcp-syn", "portrange 0-65535"},
	},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			frame := c.frame(t)
			// The frames are what they claim: gopacket decodes them without error.
			p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			if el := p.ErrorLayer(); el != nil && !c.broken {
				t.Fatalf("gopacket: %v", el.Error())
			}
			check := func(expr string, want bool) {
				t.Helper()
				f, err := Compile(expr)
				if err != nil {
					t.Fatalf("Compile(%q): %v", expr, err)
				}
				if got := f.Match(frame); got != want {
					t.Errorf("%q: Match = %v, want %v (canonical %q)", expr, got, want, f.String())
				}
				// The canonical form means the same, and so does its negation.
				g := MustCompile(f.String())
				if got := g.Match(frame); got != want {
					t.Errorf("%q: canonical %q: Match = %v, want %v", expr, f.String(), got, want)
				}
				if expr != "" {
					n := MustCompile("not (" + expr + ")")
					if got := n.Match(frame); got == want {
						t.Errorf("not (%s): Match = %v, want %v", expr, got, !want)
					}
				}
			}
			for _, e := range c.yes {
				check(e, true)
			}
			for _, e := range c.no {
				check(e, false)
			}
		})
	}
}

// TestInnerSSH is the motivating case: a GRE-encapsulated ssh SYN matches
// "inner tcp dport 22" and not "tcp dport 22", and a plain ssh SYN the
// other way round.
func TestInnerSSH(t *testing.T) {
	inner, outer := MustCompile("inner tcp dport 22"), MustCompile("tcp dport 22")
	gre, plain := frameGREKeyEth(t), frameTCP4(t, 22, "S")
	if !inner.Match(gre) || outer.Match(gre) {
		t.Errorf("GRE ssh SYN: inner %v (want true), outer %v (want false)", inner.Match(gre), outer.Match(gre))
	}
	if inner.Match(plain) || !outer.Match(plain) {
		t.Errorf("plain ssh SYN: inner %v (want false), outer %v (want true)", inner.Match(plain), outer.Match(plain))
	}
}

// TestTruncated cuts every test frame at every length: Match must not panic,
// and primitives needing bytes beyond the cut must be false.
func TestTruncated(t *testing.T) {
	exprs := []string{"tcp port 22", "inner tcp dport 22", "host 10.0.0.1", "inner inner icmp",
		"vni 5001", "gre-key 42", "ether src 02:00:5e:10:00:01", "vlan 100", "tcp-syn", "icmp-type 8",
		"host 2001:db8::1", "inner host 2001:db8::2", "arp and host 10.0.0.1", "len >= 0"}
	var fs []*Filter
	for _, e := range exprs {
		fs = append(fs, MustCompile(e))
	}
	for _, c := range matchCases {
		frame := c.frame(t)
		for n := 0; n <= len(frame); n++ {
			cut := frame[:n:n]
			for _, f := range fs {
				f.Match(cut)
			}
		}
	}
	// A frame cut inside the inner TCP header has no inner ports.
	gre := frameGREKeyEth(t)
	cut := gre[:14+20+8+14+20+3] // one byte of the inner destination port
	if MustCompile("inner tcp dport 22").Match(cut) {
		t.Error("inner dport matched with the port cut off")
	}
	if !MustCompile("inner tcp").Match(cut) {
		t.Error("inner tcp should still match")
	}
}

// TestNilAndEmpty: nil and empty filters match everything.
func TestNilAndEmpty(t *testing.T) {
	var f *Filter
	if !f.Match(nil) || f.String() != "" {
		t.Error("nil filter")
	}
	for _, e := range []string{"", "   ", "\t\n"} {
		g := MustCompile(e)
		if !g.Match(nil) || !g.Match([]byte{1, 2, 3}) || g.String() != "" {
			t.Errorf("%q: want an empty filter matching everything", e)
		}
	}
	if MustCompile("len == 0").Match(nil) != true || MustCompile("ether host 00:00:00:00:00:00").Match(nil) {
		t.Error("len/ether on an empty frame")
	}
}
