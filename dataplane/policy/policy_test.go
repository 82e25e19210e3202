package policy

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ctswitch/ctswitch/conntrack"
)

var testPorts = PortMap{"vm1": 1, "vm2": 2, "up": 7}

// key builds a tuple; addresses of either family, ports (for ICMP: id and
// query type).
func key(proto uint8, src string, sport uint16, dst string, dport uint16) *conntrack.Key {
	k := &conntrack.Key{Proto: proto, SrcPort: sport, DstPort: dport}
	k.SetAddrs(netip.MustParseAddr(src), netip.MustParseAddr(dst))
	return k
}

func mustCompile(t testing.TB, def Action, mode InvalidMode, rules ...string) *Policy {
	t.Helper()
	cfg := Config{Default: def, Invalid: mode}
	for _, s := range rules {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	p, err := Compile(cfg, testPorts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	pass        = Decision{Allow: true, Rule: RuleNotEvaluated}
	dropInvalid = Decision{Rule: RuleNotEvaluated, Reason: Invalid}
	defAllow    = Decision{Allow: true, Rule: RuleDefault}
	defDeny     = Decision{Rule: RuleDefault, Reason: DeniedByDefault}
)

func allowed(i int16) Decision { return Decision{Allow: true, Rule: i} }
func denied(i int16) Decision  { return Decision{Rule: i, Reason: DeniedByRule} }

func TestCheckVerdicts(t *testing.T) {
	// A policy that denies every new connection, to tell "rules evaluated"
	// from "passed without evaluation".
	k := key(6, "198.18.0.1", 40000, "198.18.0.2", 80)
	for _, mode := range []InvalidMode{InvalidDrop, InvalidMonitor} {
		p := mustCompile(t, Deny, mode, "deny proto=udp")
		invalid := dropInvalid
		if mode == InvalidMonitor {
			invalid = pass
		}
		for _, tc := range []struct {
			v     conntrack.Verdict
			reply bool
			want  Decision
		}{
			{conntrack.VerdictNew, false, defDeny},
			{conntrack.VerdictEstablished, false, pass},
			{conntrack.VerdictEstablished, true, pass},
			{conntrack.VerdictRelated, true, pass},
			{conntrack.VerdictIgnored, false, pass},
			{conntrack.VerdictUntracked, false, pass},
			{conntrack.VerdictPending, false, pass},
			{conntrack.VerdictInvalid, false, invalid},
			{conntrack.VerdictInvalid, true, invalid},
			{0, false, dropInvalid},  // a zero Result: fail closed, monitor or not
			{99, false, dropInvalid}, // unknown verdict
		} {
			if got := p.Check(tc.v, tc.reply, k, 1, 2); got != tc.want {
				t.Errorf("mode %s: Check(%s, reply=%v) = %+v, want %+v", mode, tc.v, tc.reply, got, tc.want)
			}
		}
		wantMon := uint64(0)
		if mode == InvalidMonitor {
			wantMon = 2
		}
		if n := p.InvalidMonitored(); n != wantMon {
			t.Errorf("mode %s: InvalidMonitored = %d, want %d", mode, n, wantMon)
		}
	}
}

func TestCheckNew(t *testing.T) {
	type pkt struct {
		name      string
		k         *conntrack.Key
		in, out   int
		want      Decision
		wantReply bool // evaluate as a (never expected) NEW in the reply direction
	}
	for _, tc := range []struct {
		name  string
		def   Action
		rules []string
		pkts  []pkt
	}{
		{"empty config allows", Allow, nil, []pkt{
			{name: "tcp", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), want: defAllow},
		}},
		{"first match wins", Deny, []string{
			"allow proto=tcp dst=198.18.0.2 dport=80",
			"deny dst=198.18.0.0/24",
			"allow proto=tcp",
		}, []pkt{
			{name: "web", k: key(6, "198.18.0.1", 40000, "198.18.0.2", 80), want: allowed(0)},
			{name: "other port, same subnet", k: key(6, "198.18.0.1", 40000, "198.18.0.2", 81), want: denied(1)},
			{name: "udp to subnet", k: key(17, "198.18.0.1", 40000, "198.18.0.3", 80), want: denied(1)},
			{name: "tcp elsewhere", k: key(6, "198.18.0.1", 40000, "198.18.1.3", 80), want: allowed(2)},
			{name: "udp elsewhere", k: key(17, "198.18.0.1", 40000, "198.18.1.3", 80), want: defDeny},
		}},
		{"v4 CIDR edges", Deny, []string{
			"allow name=host dst=198.18.0.2/32",
			"allow name=slash15 src=198.18.0.0/15 dst=203.0.113.0/24",
			"allow name=any4 family=4 dst=0.0.0.0/0 proto=udp",
		}, []pkt{
			{name: "/32 exact", k: key(6, "10.0.0.1", 1, "198.18.0.2", 2), want: allowed(0)},
			{name: "/32 neighbour", k: key(6, "10.0.0.1", 1, "198.18.0.3", 2), want: defDeny},
			{name: "/15 low end", k: key(6, "198.18.0.0", 1, "203.0.113.9", 2), want: allowed(1)},
			{name: "/15 high end", k: key(6, "198.19.255.255", 1, "203.0.113.9", 2), want: allowed(1)},
			{name: "/15 just past", k: key(6, "198.20.0.0", 1, "203.0.113.9", 2), want: defDeny},
			{name: "/15 just below", k: key(6, "198.17.255.255", 1, "203.0.113.9", 2), want: defDeny},
			{name: "/0 any v4", k: key(17, "1.2.3.4", 1, "255.255.255.255", 2), want: allowed(2)},
			{name: "v4 rules vs v6 key with the same leading bytes", k: key(17, "c612::1", 1, "c612:2::", 2), want: defDeny},
			{name: "/0 does not match v6", k: key(17, "2001:db8::1", 1, "2001:db8::2", 2), want: defDeny},
		}},
		{"v6 CIDR edges", Deny, []string{
			"allow name=host dst=2001:db8::1/128",
			"allow name=slash64 dst=2001:db8:0:1::/64",
			"allow name=slash65 dst=2001:db8:0:2:8000::/65",
			"allow name=slash63 dst=2001:db8:0:4::/63",
			"allow name=any6 proto=udp dst=::/0",
		}, []pkt{
			{name: "/128 exact", k: key(6, "2001:db8::9", 1, "2001:db8::1", 2), want: allowed(0)},
			{name: "/128 neighbour", k: key(6, "2001:db8::9", 1, "2001:db8::2", 2), want: defDeny},
			{name: "/64 last", k: key(6, "2001:db8::9", 1, "2001:db8:0:1:ffff:ffff:ffff:ffff", 2), want: allowed(1)},
			{name: "/64 past", k: key(6, "2001:db8::9", 1, "2001:db8:0:2::", 2), want: defDeny},
			{name: "/65 in", k: key(6, "2001:db8::9", 1, "2001:db8:0:2:8000::1", 2), want: allowed(2)},
			{name: "/65 lower half", k: key(6, "2001:db8::9", 1, "2001:db8:0:2:7fff::1", 2), want: defDeny},
			{name: "/63 second /64", k: key(6, "2001:db8::9", 1, "2001:db8:0:5::1", 2), want: allowed(3)},
			{name: "/63 past", k: key(6, "2001:db8::9", 1, "2001:db8:0:6::1", 2), want: defDeny},
			{name: "::/0 any v6", k: key(17, "::1", 1, "ff02::1", 2), want: allowed(4)},
			{name: "::/0 does not match v4", k: key(17, "198.18.0.1", 1, "198.18.0.2", 2), want: defDeny},
		}},
		{"mixed families in one field", Deny, []string{
			"allow src=198.18.0.0/24,2001:db8::/32",
		}, []pkt{
			{name: "v4", k: key(6, "198.18.0.5", 1, "10.0.0.1", 2), want: allowed(0)},
			{name: "v6", k: key(6, "2001:db8::5", 1, "2001:db9::1", 2), want: allowed(0)},
			{name: "v4 outside", k: key(6, "198.18.1.5", 1, "10.0.0.1", 2), want: defDeny},
			{name: "v6 outside", k: key(6, "2001:db9::5", 1, "2001:db8::1", 2), want: defDeny},
			{name: "unknown family", k: &conntrack.Key{Proto: 6, Family: 0}, want: defDeny},
		}},
		{"family", Deny, []string{"deny family=6", "allow"}, []pkt{
			{name: "v6 denied", k: key(6, "2001:db8::5", 1, "2001:db8::1", 2), want: denied(0)},
			{name: "v4 allowed", k: key(6, "198.18.0.5", 1, "198.18.0.1", 2), want: allowed(1)},
			{name: "unknown family matches an address-free rule", k: &conntrack.Key{Proto: 6, Family: 9}, want: allowed(1)},
		}},
		{"port ranges", Deny, []string{
			"allow proto=tcp dport=8000-8080,22",
			"allow proto=udp sport=0 dport=65535",
			"allow proto=sctp sport=1024-65535",
		}, []pkt{
			{name: "below", k: key(6, "198.18.0.1", 5, "198.18.0.2", 7999), want: defDeny},
			{name: "lo", k: key(6, "198.18.0.1", 5, "198.18.0.2", 8000), want: allowed(0)},
			{name: "hi", k: key(6, "198.18.0.1", 5, "198.18.0.2", 8080), want: allowed(0)},
			{name: "above", k: key(6, "198.18.0.1", 5, "198.18.0.2", 8081), want: defDeny},
			{name: "single", k: key(6, "198.18.0.1", 5, "198.18.0.2", 22), want: allowed(0)},
			{name: "udp to port rule as tcp", k: key(17, "198.18.0.1", 5, "198.18.0.2", 22), want: defDeny},
			{name: "0 and 65535", k: key(17, "198.18.0.1", 0, "198.18.0.2", 65535), want: allowed(1)},
			{name: "sport 1 not 0", k: key(17, "198.18.0.1", 1, "198.18.0.2", 65535), want: defDeny},
			{name: "sctp 1024", k: key(132, "198.18.0.1", 1024, "198.18.0.2", 1), want: allowed(2)},
			{name: "sctp 1023", k: key(132, "198.18.0.1", 1023, "198.18.0.2", 1), want: defDeny},
		}},
		{"in and out ports", Deny, []string{
			"allow in=vm1 out=up",
			"deny out=vm2",
			"allow in=vm2",
		}, []pkt{
			{name: "vm1 to up", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 1, out: 7, want: allowed(0)},
			{name: "vm1 flooded", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 1, out: -1, want: defDeny},
			{name: "vm1 to vm2", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 1, out: 2, want: denied(1)},
			{name: "vm2 flooded: out rules skip, in rule matches", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 2, out: -1, want: allowed(2)},
			{name: "vm2 to up", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 2, out: 7, want: allowed(2)},
			{name: "unknown in port", k: key(6, "198.18.0.1", 1, "198.18.0.2", 2), in: 5, out: 7, want: defDeny},
			// NEW in the reply direction is judged as the initiator opened it:
			// the tuple reversed, in and out swapped.
			{name: "reply-direction new", k: key(6, "198.18.0.2", 2, "198.18.0.1", 1), in: 7, out: 1, want: allowed(0), wantReply: true},
		}},
		{"icmp types", Deny, []string{
			"allow proto=icmp type=8",
			"allow proto=icmpv6 type=128",
			"deny proto=icmp",
			"allow family=4",
		}, []pkt{
			{name: "echo", k: key(1, "198.18.0.1", 77, "198.18.0.2", 8), want: allowed(0)},
			{name: "timestamp", k: key(1, "198.18.0.1", 77, "198.18.0.2", 13), want: denied(2)},
			{name: "v6 echo", k: key(58, "2001:db8::1", 77, "2001:db8::2", 128), want: allowed(1)},
			{name: "v6 node information", k: key(58, "2001:db8::1", 77, "2001:db8::2", 139), want: defDeny},
			{name: "tcp to port 8 is not icmp", k: key(6, "198.18.0.1", 77, "198.18.0.2", 8), want: allowed(3)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, tc.def, InvalidDrop, tc.rules...)
			for _, pk := range tc.pkts {
				got := p.Check(conntrack.VerdictNew, pk.wantReply, pk.k, pk.in, pk.out)
				if got != pk.want {
					t.Errorf("%s: %s in %d out %d: got %+v (%s), want %+v (%s)", pk.name, pk.k, pk.in, pk.out,
						got, p.RuleName(int(got.Rule)), pk.want, p.RuleName(int(pk.want.Rule)))
				}
			}
		})
	}
}

func TestCheckNilInputs(t *testing.T) {
	var p *Policy
	k := key(6, "198.18.0.1", 1, "198.18.0.2", 2)
	if d := p.Check(conntrack.VerdictNew, false, k, 0, 0); d != defAllow {
		t.Errorf("nil policy, new: %+v", d)
	}
	if d := p.Check(conntrack.VerdictInvalid, false, k, 0, 0); d != dropInvalid {
		t.Errorf("nil policy, invalid: %+v", d)
	}
	if d := p.Check(conntrack.VerdictEstablished, false, nil, 0, 0); d != pass {
		t.Errorf("nil policy, established: %+v", d)
	}
	if p.Rules() != nil || p.Counters() != nil || p.InvalidMonitored() != 0 || p.RuleName(0) != "" || p.RuleName(-1) != "default" {
		t.Error("nil policy accessors")
	}
	if c := p.Config(); c.Rules != nil {
		t.Error("nil policy Config")
	}
	// A NEW packet without a tuple cannot match a rule, not even a catch-all.
	q := mustCompile(t, Deny, InvalidDrop, "allow")
	if d := q.Check(conntrack.VerdictNew, false, nil, 0, 0); d != defDeny {
		t.Errorf("nil key: %+v", d)
	}
}

func TestCounters(t *testing.T) {
	p := mustCompile(t, Deny, InvalidMonitor, "allow name=web proto=tcp dport=80", "deny proto=udp")
	web := key(6, "198.18.0.1", 1, "198.18.0.2", 80)
	dns := key(17, "198.18.0.1", 1, "198.18.0.2", 53)
	for range 3 {
		p.Check(conntrack.VerdictNew, false, web, 0, 0)
	}
	p.Check(conntrack.VerdictNew, false, dns, 0, 0)
	p.Check(conntrack.VerdictNew, false, key(1, "198.18.0.1", 1, "198.18.0.2", 8), 0, 0)
	p.Check(conntrack.VerdictNew, false, key(1, "198.18.0.1", 1, "198.18.0.2", 8), 0, 0)
	// Not new: no rule hit.
	p.Check(conntrack.VerdictEstablished, false, web, 0, 0)
	p.Check(conntrack.VerdictInvalid, false, web, 0, 0)
	want := []RuleCount{
		{0, "web", 3},
		{1, "rule-2", 1},
		{RuleDefault, "default", 2},
		{RuleNotEvaluated, "invalid_monitored", 1},
	}
	got := p.Counters()
	if len(got) != len(want) {
		t.Fatalf("Counters = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Counters[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestConcurrentCheck(t *testing.T) {
	p := mustCompile(t, Deny, InvalidMonitor, "allow proto=tcp", "allow proto=udp")
	tcp := key(6, "198.18.0.1", 1, "198.18.0.2", 80)
	udp := key(17, "198.18.0.1", 1, "198.18.0.2", 53)
	const workers, n = 4, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			k := tcp
			if w%2 == 1 {
				k = udp
			}
			for range n {
				p.Check(conntrack.VerdictNew, false, k, 0, 0)
				p.Check(conntrack.VerdictInvalid, false, k, 0, 0)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			p.Counters()
		}
	})
	wg.Wait()
	c := p.Counters()
	if c[0].Hits != workers/2*n || c[1].Hits != workers/2*n || c[3].Hits != workers*n {
		t.Errorf("Counters = %+v", c)
	}
}

func TestRulesAndNames(t *testing.T) {
	src := Rule{Name: "", Proto: 6, Dst: pfx("198.18.0.0/24"), DstPorts: []PortRange{{22, 22}}}
	cfg := Config{Rules: []Rule{src, {Name: "icmp", Proto: 1, ICMPType: 8}}, Default: Deny, Invalid: InvalidMonitor}
	p, err := Compile(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's slices are copied: changing them changes nothing.
	src.Dst[0] = netip.MustParsePrefix("0.0.0.0/0")
	if d := p.Check(conntrack.VerdictNew, false, key(6, "10.0.0.1", 1, "10.0.0.2", 22), 0, 0); d != defDeny {
		t.Errorf("policy follows the caller's slice: %+v", d)
	}
	rules := p.Rules()
	want := []string{"allow name=rule-1 proto=tcp dst=198.18.0.0/24 dport=22", "allow name=icmp proto=icmp type=8"}
	for i, r := range rules {
		if r.String() != want[i] {
			t.Errorf("Rules()[%d] = %q, want %q", i, r, want[i])
		}
	}
	if rules[0].ICMPType != AnyICMPType {
		t.Errorf("ICMPType not normalized: %d", rules[0].ICMPType)
	}
	rules[0].Dst[0] = netip.MustParsePrefix("0.0.0.0/0")
	if p.Rules()[0].Dst[0] != netip.MustParsePrefix("198.18.0.0/24") {
		t.Error("Rules() exposes the policy's slices")
	}
	for i, n := range map[int]string{0: "rule-1", 1: "icmp", -1: "default", -2: "", 2: "", -3: ""} {
		if got := p.RuleName(i); got != n {
			t.Errorf("RuleName(%d) = %q, want %q", i, got, n)
		}
	}
	// Config() compiles again to the same behaviour.
	c := p.Config()
	if c.Default != Deny || c.Invalid != InvalidMonitor || len(c.Rules) != 2 {
		t.Errorf("Config() = %+v", c)
	}
	if _, err := Compile(c, nil); err != nil {
		t.Errorf("recompiling Config(): %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	r := func(s string) Rule {
		x, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	negPorts := PortMap{"bad": -1}
	for _, tc := range []struct {
		name  string
		cfg   Config
		ports Ports
		want  string
	}{
		{"unknown in port", Config{Rules: []Rule{r("allow name=web in=vm9")}}, testPorts,
			`policy: rule 1 "web": unknown in port "vm9"`},
		{"unknown out port, default name", Config{Rules: []Rule{r("allow in=vm1"), r("deny out=uplink")}}, testPorts,
			`policy: rule 2 "rule-2": unknown out port "uplink"`},
		{"no ports", Config{Rules: []Rule{r("allow in=vm1")}}, nil,
			`policy: rule 1 "rule-1": unknown in port "vm1" (no ports configured)`},
		{"negative port index", Config{Rules: []Rule{r("allow out=bad")}}, negPorts,
			`policy: rule 1 "rule-1": out port "bad" has index -1, want 0-2147483647`},
		{"duplicate names", Config{Rules: []Rule{r("allow name=a"), r("deny name=a")}}, nil,
			`policy: rule 2 "a": name "a" already used by rule 1`},
		{"given name collides with a default one", Config{Rules: []Rule{r("allow name=rule-2"), r("deny")}}, nil,
			`policy: rule 2 "rule-2": name "rule-2" already used by rule 1`},
		{"reserved name", Config{Rules: []Rule{{Name: "default"}}}, nil,
			`policy: rule 1 "default": name "default" is reserved for the default action`},
		{"name with a space", Config{Rules: []Rule{{Name: "my rule"}}}, nil,
			`policy: rule 1 "my rule": name "my rule": character ' ' not allowed (printable ASCII without spaces, quotes, '=', ',', '#', '\')`},
		{"ports without proto", Config{Rules: []Rule{{DstPorts: []PortRange{{80, 80}}}}}, nil,
			`policy: rule 1 "rule-1": dport needs proto tcp, udp or sctp (proto is any)`},
		{"ports on gre", Config{Rules: []Rule{{Proto: 47, SrcPorts: []PortRange{{80, 80}}}}}, nil,
			`policy: rule 1 "rule-1": sport needs proto tcp, udp or sctp (proto is gre)`},
		{"range lo > hi", Config{Rules: []Rule{{Proto: 6, DstPorts: []PortRange{{90, 80}}}}}, nil,
			`policy: rule 1 "rule-1": dport range 90-80 has lo > hi`},
		{"icmp literal without ICMPType -1", Config{Rules: []Rule{{Proto: 1}}}, nil,
			`policy: rule 1 "rule-1": type 0 never opens an icmp connection (query types: 8 echo, 13 timestamp, 15 information, 17 address mask; replies and errors follow their connection)`},
		{"icmp type on tcp", Config{Rules: []Rule{{Proto: 6, ICMPType: 8}}}, nil,
			`policy: rule 1 "rule-1": type=8 needs proto icmp or icmpv6`},
		{"icmp type out of range", Config{Rules: []Rule{{Proto: 1, ICMPType: 256}}}, nil,
			`policy: rule 1 "rule-1": type 256 outside 0-255 (-1 = any)`},
		{"icmp type below -1", Config{Rules: []Rule{{Proto: 58, ICMPType: -2}}}, nil,
			`policy: rule 1 "rule-1": type -2 outside 0-255 (-1 = any)`},
		{"bad family", Config{Rules: []Rule{{Family: 5}}}, nil,
			`policy: rule 1 "rule-1": family 5: want 0 (any), 4 or 6`},
		{"icmpv6 on v4", Config{Rules: []Rule{{Family: 4, Proto: 58, ICMPType: -1}}}, nil,
			`policy: rule 1 "rule-1": family 4 conflicts with proto icmpv6 (IPv6 only)`},
		{"zero prefix", Config{Rules: []Rule{{Dst: []netip.Prefix{{}}}}}, nil,
			`policy: rule 1 "rule-1": dst "invalid Prefix": invalid prefix`},
		{"host bits", Config{Rules: []Rule{{Src: pfx("2001:db8::1/64")}}}, nil,
			`policy: rule 1 "rule-1": src "2001:db8::1/64": host bits set (the network is 2001:db8::/64)`},
		{"mapped prefix", Config{Rules: []Rule{{Src: pfx("::ffff:0:0/90")}}}, nil,
			`policy: rule 1 "rule-1": src "::ffff:0.0.0.0/90": IPv4-mapped prefix never matches IPv4 packets (write an IPv4 prefix)`},
		{"families never meet", Config{Rules: []Rule{{Src: pfx("2001:db8::/32"), Dst: pfx("198.18.0.0/15")}}}, nil,
			`policy: rule 1 "rule-1": src is IPv6 only and dst IPv4 only: the rule never matches`},
		{"bad action", Config{Rules: []Rule{{Action: 3}}}, nil,
			`policy: rule 1 "rule-1": invalid action 3`},
		{"bad default", Config{Default: 2}, nil, `policy: invalid default action 2`},
		{"bad invalid mode", Config{Invalid: 2}, nil, `policy: invalid invalid-packet mode 2`},
		{"too many rules", Config{Rules: make([]Rule, MaxRules+1)}, nil, `policy: 32768 rules, at most 32767`},
	} {
		p, err := Compile(tc.cfg, tc.ports)
		if err == nil {
			t.Errorf("%s: Compile succeeded", tc.name)
			continue
		}
		if p != nil {
			t.Errorf("%s: Compile returned a policy with its error", tc.name)
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, err, tc.want)
		}
		var re *RuleError
		if strings.HasPrefix(tc.want, "policy: rule ") && (!errors.As(err, &re) || re.Pos == 0) {
			t.Errorf("%s: error %T does not carry the rule's position", tc.name, err)
		}
	}
	// MaxRules itself is fine.
	if _, err := Compile(Config{Rules: make([]Rule, MaxRules)}, nil); err != nil {
		t.Errorf("MaxRules rules: %v", err)
	}
}

func TestDropReasonNames(t *testing.T) {
	for r, n := range map[DropReason]string{None: "none", DeniedByRule: "policy_deny_rule",
		DeniedByDefault: "policy_deny_default", Invalid: "ct_invalid", 9: "drop_reason_9"} {
		if r.Name() != n || r.String() != n {
			t.Errorf("DropReason(%d).Name() = %q, want %q", r, r.Name(), n)
		}
	}
	if NumDropReasons != 4 {
		t.Errorf("NumDropReasons = %d", NumDropReasons)
	}
}

func TestCheckAllocs(t *testing.T) {
	rules := make([]string, 0, 33)
	for i := range 32 {
		rules = append(rules, "deny in=vm1 proto=tcp src=198.18.0.0/24,2001:db8::/32 dport="+strconv.Itoa(1000+i))
	}
	p := mustCompile(t, Deny, InvalidMonitor, rules...)
	k4 := key(6, "198.18.0.1", 40000, "198.18.0.2", 1031)
	k6 := key(6, "2001:db8::1", 40000, "2001:db8::2", 9)
	n := testing.AllocsPerRun(1000, func() {
		p.Check(conntrack.VerdictNew, false, k4, 1, 2)
		p.Check(conntrack.VerdictNew, true, k6, 1, -1)
		p.Check(conntrack.VerdictEstablished, true, k4, 2, 1)
		p.Check(conntrack.VerdictInvalid, false, k4, 2, 1)
	})
	if n != 0 {
		t.Errorf("Check allocates: %v per run", n)
	}
}
