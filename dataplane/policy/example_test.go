package policy_test

import (
	"fmt"
	"net/netip"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/policy"
)

func Example() {
	var cfg policy.Config
	for _, s := range []string{
		"allow name=ssh in=vm1 proto=tcp dst=198.18.0.0/24 dport=22",
		"allow name=ping proto=icmp type=8",
	} {
		r, err := policy.ParseRule(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	cfg.Default = policy.Deny
	p, err := policy.Compile(cfg, policy.PortMap{"vm1": 0, "vm2": 1})
	if err != nil {
		fmt.Println(err)
		return
	}

	var k conntrack.Key
	k.Proto, k.SrcPort, k.DstPort = 6, 40000, 22
	k.SetAddrs(netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"))
	d := p.Check(conntrack.VerdictNew, false, &k, 0, 1)
	fmt.Println(d.Allow, p.RuleName(int(d.Rule)))
	d = p.Check(conntrack.VerdictNew, false, &k, 1, 0) // entered on vm2
	fmt.Println(d.Allow, p.RuleName(int(d.Rule)), d.Reason.Name())
	d = p.Check(conntrack.VerdictEstablished, true, &k, 1, 0)
	fmt.Println(d.Allow)
	// Output:
	// true ssh
	// false default policy_deny_default
	// true
}

func ExampleParseRule() {
	r, err := policy.ParseRule("allow dport=443 proto=TCP dst=2001:db8::/32")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r) // canonical form
	_, err = policy.ParseRule("allow prot=tcp")
	fmt.Println(err)
	// Output:
	// allow proto=tcp dst=2001:db8::/32 dport=443
	// policy: rule "allow prot=tcp": unknown key "prot" (known: name, in, out, proto, family, src, dst, sport, dport, type)
}
