package policy

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func ruleEqual(a, b Rule) bool {
	return a.Name == b.Name && a.Action == b.Action && a.InPort == b.InPort && a.OutPort == b.OutPort &&
		a.Proto == b.Proto && a.Family == b.Family && a.ICMPType == b.ICMPType &&
		slices.Equal(a.Src, b.Src) && slices.Equal(a.Dst, b.Dst) &&
		slices.Equal(a.SrcPorts, b.SrcPorts) && slices.Equal(a.DstPorts, b.DstPorts)
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   Rule
		string string // canonical form
	}{
		{"allow", Rule{ICMPType: -1}, "allow"},
		{"deny", Rule{Action: Deny, ICMPType: -1}, "deny"},
		{
			"allow in=vm1 proto=tcp dst=198.18.0.0/24,2001:db8::/32 dport=22,80,8000-8080",
			Rule{InPort: "vm1", Proto: 6, Dst: pfx("198.18.0.0/24", "2001:db8::/32"),
				DstPorts: []PortRange{{22, 22}, {80, 80}, {8000, 8080}}, ICMPType: -1},
			"allow in=vm1 proto=tcp dst=198.18.0.0/24,2001:db8::/32 dport=22,80,8000-8080",
		},
		{"deny  proto=udp sport=53", Rule{Action: Deny, Proto: 17, SrcPorts: []PortRange{{53, 53}}, ICMPType: -1}, "deny proto=udp sport=53"},
		{"allow proto=icmp type=8", Rule{Proto: 1, ICMPType: 8}, "allow proto=icmp type=8"},
		{"allow proto=icmp icmp-type=13", Rule{Proto: 1, ICMPType: 13}, "allow proto=icmp type=13"},
		{"allow proto=icmpv6 type=128", Rule{Proto: 58, ICMPType: 128}, "allow proto=icmpv6 type=128"},
		{"allow proto=icmp6", Rule{Proto: 58, ICMPType: -1}, "allow proto=icmpv6"},
		// Keys in any order and case; the canonical form orders them.
		{
			"DENY dport=443 PROTO=TCP out=uplink name=no-https in=vm2 family=ipv4 src=198.18.0.0/15 dst=198.19.1.1",
			Rule{Name: "no-https", Action: Deny, InPort: "vm2", OutPort: "uplink", Proto: 6, Family: 4,
				Src: pfx("198.18.0.0/15"), Dst: pfx("198.19.1.1/32"), DstPorts: []PortRange{{443, 443}}, ICMPType: -1},
			"deny name=no-https in=vm2 out=uplink proto=tcp family=4 src=198.18.0.0/15 dst=198.19.1.1/32 dport=443",
		},
		{"allow family=6", Rule{Family: 6, ICMPType: -1}, "allow family=6"},
		{"allow family=IPv6 src=2001:db8::1", Rule{Family: 6, Src: pfx("2001:db8::1/128"), ICMPType: -1}, "allow family=6 src=2001:db8::1/128"},
		{"allow src=0.0.0.0/0,::/0", Rule{Src: pfx("0.0.0.0/0", "::/0"), ICMPType: -1}, "allow src=0.0.0.0/0,::/0"},
		{"allow proto=sctp sport=0-65535 dport=0,65535", Rule{Proto: 132, SrcPorts: []PortRange{{0, 65535}},
			DstPorts: []PortRange{{0, 0}, {65535, 65535}}, ICMPType: -1}, "allow proto=sctp sport=0-65535 dport=0,65535"},
		{"allow proto=udp dport=80-80,007", Rule{Proto: 17, DstPorts: []PortRange{{80, 80}, {7, 7}}, ICMPType: -1}, "allow proto=udp dport=80,7"},
		{"allow proto=gre", Rule{Proto: 47, ICMPType: -1}, "allow proto=gre"},
		{"allow proto=89", Rule{Proto: 89, ICMPType: -1}, "allow proto=89"},
		{"allow proto=0", Rule{ICMPType: -1}, "allow"}, // 0 = any
		{"allow proto=006", Rule{Proto: 6, ICMPType: -1}, "allow proto=tcp"},
		{"\tallow\n name=a.b_c-d:1/2@x \t", Rule{Name: "a.b_c-d:1/2@x", ICMPType: -1}, "allow name=a.b_c-d:1/2@x"},
	} {
		got, err := ParseRule(tc.in)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tc.in, err)
			continue
		}
		if !ruleEqual(got, tc.want) {
			t.Errorf("ParseRule(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.string {
			t.Errorf("ParseRule(%q).String() = %q, want %q", tc.in, s, tc.string)
		}
		back, err := ParseRule(got.String())
		if err != nil || !ruleEqual(back, got) {
			t.Errorf("round trip of %q: %#v, %v", got.String(), back, err)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	const ascii = ` (printable ASCII without spaces, quotes, '=', ',', '#', '\')`
	for _, tc := range []struct{ in, want string }{
		{"", `policy: rule "": missing action (want allow or deny)`},
		{"   ", `policy: rule "   ": missing action (want allow or deny)`},
		{"proto=tcp", `policy: rule "proto=tcp": missing action before "proto=tcp" (want allow or deny)`},
		{"permit proto=tcp", `policy: rule "permit proto=tcp": unknown action "permit" (want allow or deny)`},
		{"allow prot=tcp", `policy: rule "allow prot=tcp": unknown key "prot" (known: name, in, out, proto, family, src, dst, sport, dport, type)`},
		{"allow tcp", `policy: rule "allow tcp": token "tcp" is not key=value`},
		{"allow =tcp", `policy: rule "allow =tcp": token "=tcp" has no key`},
		{"allow proto=", `policy: rule "allow proto=": key "proto" has an empty value`},
		{"allow proto=tcp proto=udp", `policy: rule "allow proto=tcp proto=udp": duplicate key "proto"`},
		{"allow type=8 icmp-type=8 proto=icmp", `policy: rule "allow type=8 icmp-type=8 proto=icmp": duplicate key "icmp-type" ("type" already given)`},
		{"allow proto=tpc", `policy: rule "allow proto=tpc": proto "tpc": unknown protocol (want tcp, udp, icmp, icmpv6, sctp, gre or a number 0-255)`},
		{"allow proto=256", `policy: rule "allow proto=256": proto "256": number outside 0-255`},
		{"allow family=5", `policy: rule "allow family=5": family "5": want 4, 6, ipv4 or ipv6`},
		{"allow dst=198.18.0.0/33", `policy: rule "allow dst=198.18.0.0/33": dst "198.18.0.0/33": bad prefix length "33" (want 0-32)`},
		{"allow dst=2001:db8::/129", `policy: rule "allow dst=2001:db8::/129": dst "2001:db8::/129": bad prefix length "129" (want 0-128)`},
		{"allow dst=198.18.0.0/", `policy: rule "allow dst=198.18.0.0/": dst "198.18.0.0/": bad prefix length "" (want 0-32)`},
		{"allow dst=198.18.0/24", `policy: rule "allow dst=198.18.0/24": dst "198.18.0/24": bad address: ParseAddr("198.18.0"): IPv4 address too short`},
		{"allow dst=198.18.0.5/24", `policy: rule "allow dst=198.18.0.5/24": dst "198.18.0.5/24": host bits set (the network is 198.18.0.0/24)`},
		{"allow src=fe80::1%eth0", `policy: rule "allow src=fe80::1%eth0": src "fe80::1%eth0": zoned address not allowed`},
		{"allow dst=::ffff:198.18.0.0/120", `policy: rule "allow dst=::ffff:198.18.0.0/120": dst "::ffff:198.18.0.0/120": IPv4-mapped prefix never matches IPv4 packets (write 198.18.0.0/24)`},
		{"allow dst=198.18.0.0/24,,10.0.0.0/8", `policy: rule "allow dst=198.18.0.0/24,,10.0.0.0/8": dst "198.18.0.0/24,,10.0.0.0/8": empty list element`},
		{"allow proto=tcp dport=8080-80", `policy: rule "allow proto=tcp dport=8080-80": dport "8080-80": range 8080-80 has lo > hi`},
		{"allow proto=tcp dport=70000", `policy: rule "allow proto=tcp dport=70000": dport "70000": port 70000 outside 0-65535`},
		{"allow proto=udp sport=1-65536", `policy: rule "allow proto=udp sport=1-65536": sport "1-65536": port 65536 outside 0-65535`},
		{"allow proto=tcp dport=http", `policy: rule "allow proto=tcp dport=http": dport "http": bad port "http" (want a number 0-65535)`},
		{"allow proto=tcp dport=-5", `policy: rule "allow proto=tcp dport=-5": dport "-5": bad port "" (want a number 0-65535)`},
		{"allow proto=tcp sport=,", `policy: rule "allow proto=tcp sport=,": sport ",": empty list element`},
		{"allow dport=22", `policy: rule "allow dport=22": dport needs proto tcp, udp or sctp (proto is any)`},
		{"allow proto=icmp sport=22", `policy: rule "allow proto=icmp sport=22": sport needs proto tcp, udp or sctp (proto is icmp)`},
		{"allow type=8", `policy: rule "allow type=8": type=8 needs proto icmp or icmpv6`},
		{"allow proto=tcp type=0", `policy: rule "allow proto=tcp type=0": type=0 needs proto icmp or icmpv6`},
		{"allow proto=icmp type=0", `policy: rule "allow proto=icmp type=0": type 0 never opens an icmp connection (query types: 8 echo, 13 timestamp, 15 information, 17 address mask; replies and errors follow their connection)`},
		{"allow proto=icmpv6 type=8", `policy: rule "allow proto=icmpv6 type=8": type 8 never opens an icmpv6 connection (query types: 128 echo, 139 node information; replies and errors follow their connection)`},
		{"allow proto=icmp type=300", `policy: rule "allow proto=icmp type=300": type "300": want a number 0-255`},
		{"allow proto=icmp family=6", `policy: rule "allow proto=icmp family=6": family 6 conflicts with proto icmp (IPv4 only)`},
		{"allow family=4 dst=2001:db8::/32", `policy: rule "allow family=4 dst=2001:db8::/32": family 4 conflicts with dst 2001:db8::/32`},
		{"allow proto=icmp src=2001:db8::/32", `policy: rule "allow proto=icmp src=2001:db8::/32": proto icmp is IPv4 only but src has 2001:db8::/32`},
		{"allow src=198.18.0.0/15 dst=2001:db8::/32", `policy: rule "allow src=198.18.0.0/15 dst=2001:db8::/32": src is IPv4 only and dst IPv6 only: the rule never matches`},
		{"allow name=default", `policy: rule "allow name=default": name "default" is reserved for the default action`},
		{"allow name=a,b", `policy: rule "allow name=a,b": name "a,b": character ',' not allowed` + ascii},
		{`allow in=vm"1`, `policy: rule "allow in=vm\"1": in "vm\"1": character '"' not allowed` + ascii},
		{"allow out=pörtchen", `policy: rule "allow out=pörtchen": out "pörtchen": character 'ö' not allowed` + ascii},
	} {
		_, err := ParseRule(tc.in)
		if err == nil {
			t.Errorf("ParseRule(%q) succeeded, want %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseRule(%q):\n got %s\nwant %s", tc.in, err, tc.want)
		}
		var re *RuleError
		if !errors.As(err, &re) || re.Text != tc.in {
			t.Errorf("ParseRule(%q): error %T does not carry the rule text", tc.in, err)
		}
	}
}

// Rules built as literals print in a form that parses back to the same rule.
func TestRuleStringRoundTrip(t *testing.T) {
	for _, r := range []Rule{
		{ICMPType: -1},
		{Name: "x", Action: Deny, InPort: "a", OutPort: "b", Proto: 17, Family: 6, Src: pfx("2001:db8::/32", "::/0"),
			Dst: pfx("2001:db8:1::1/128"), SrcPorts: []PortRange{{1, 2}, {3, 3}}, DstPorts: []PortRange{{0, 65535}}, ICMPType: -1},
		{Proto: 58, ICMPType: 139},
		{Proto: 1, Family: 4, Src: pfx("0.0.0.0/0"), ICMPType: 17},
		{Proto: 200, Dst: pfx("198.18.255.255/32", "2001:db8::/64"), ICMPType: -1},
	} {
		s := r.String()
		back, err := ParseRule(s)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", s, err)
			continue
		}
		if !ruleEqual(back, r) {
			t.Errorf("round trip of %q: got %#v, want %#v", s, back, r)
		}
		txt, err := r.MarshalText()
		if err != nil || string(txt) != s {
			t.Errorf("MarshalText = %q, %v; want %q", txt, err, s)
		}
		var u Rule
		if err := u.UnmarshalText(txt); err != nil || !ruleEqual(u, r) {
			t.Errorf("UnmarshalText(%q) = %#v, %v", txt, u, err)
		}
	}
	// A literal that leaves ICMPType at 0 on a non-ICMP rule means "any".
	if s := (Rule{Proto: 6}).String(); s != "allow proto=tcp" {
		t.Errorf("String = %q", s)
	}
	if _, err := (Rule{Proto: 6, DstPorts: []PortRange{{9, 1}}}).MarshalText(); err == nil {
		t.Error("MarshalText of an invalid rule succeeded")
	}
}

func TestActionAndModeText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Action
	}{{"allow", Allow}, {"Deny", Deny}} {
		var a Action
		if err := a.UnmarshalText([]byte(tc.in)); err != nil || a != tc.want {
			t.Errorf("Action.UnmarshalText(%q) = %v, %v", tc.in, a, err)
		}
	}
	var a Action
	if err := a.UnmarshalText([]byte("drop")); err == nil || err.Error() != `policy: unknown action "drop" (want allow or deny)` {
		t.Errorf("Action.UnmarshalText(drop): %v", err)
	}
	if _, err := Action(7).MarshalText(); err == nil || Action(7).String() != "action(7)" {
		t.Errorf("Action(7): %v %s", err, Action(7))
	}
	var m InvalidMode
	if err := m.UnmarshalText([]byte("MONITOR")); err != nil || m != InvalidMonitor {
		t.Errorf("InvalidMode.UnmarshalText(MONITOR) = %v, %v", m, err)
	}
	if err := m.UnmarshalText([]byte("log")); err == nil || err.Error() != `policy: unknown invalid mode "log" (want drop or monitor)` {
		t.Errorf("InvalidMode.UnmarshalText(log): %v", err)
	}
	if b, err := InvalidDrop.MarshalText(); err != nil || string(b) != "drop" {
		t.Errorf("InvalidDrop.MarshalText = %q, %v", b, err)
	}
	if _, err := InvalidMode(2).MarshalText(); err == nil || InvalidMode(2).String() != "invalid-mode(2)" {
		t.Errorf("InvalidMode(2): %v %s", err, InvalidMode(2))
	}
}
