package policy

import (
	"testing"

	"github.com/ctswitch/ctswitch/conntrack"
)

// anyPorts resolves every name, so a parsed rule's only way to fail Compile
// would be a disagreement between ParseRule's checks and Compile's.
type anyPorts struct{}

func (anyPorts) PortIndex(name string) (int, bool) { return len(name), true }

// FuzzParseRule: ParseRule never panics; a rule it accepts prints in a form
// that parses back to an equal rule and prints the same again, and it
// compiles and checks without trouble.
func FuzzParseRule(f *testing.F) {
	f.Add("allow in=vm1 proto=tcp dst=198.18.0.0/24,2001:db8::/32 dport=22,80,8000-8080")
	f.Add("deny proto=udp sport=53")
	f.Add("allow proto=icmp type=8")
	keys := []*conntrack.Key{
		key(6, "198.18.0.1", 40000, "198.18.0.2", 80),
		key(17, "2001:db8::1", 53, "2001:db8::2", 53),
		key(1, "198.18.0.1", 7, "198.18.0.2", 8),
		key(58, "2001:db8::1", 7, "2001:db8::2", 128),
		{Proto: 47},
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseRule(%q): empty error", s)
			}
			return
		}
		txt := r.String()
		back, err := ParseRule(txt)
		if err != nil {
			t.Fatalf("ParseRule(%q) = %#v, whose String %q does not parse: %v", s, r, txt, err)
		}
		if !ruleEqual(back, r) {
			t.Fatalf("ParseRule(%q) = %#v; String %q parses to %#v", s, r, txt, back)
		}
		if again := back.String(); again != txt {
			t.Fatalf("String not stable: %q then %q", txt, again)
		}
		p, err := Compile(Config{Rules: []Rule{r}, Default: Deny}, anyPorts{})
		if err != nil {
			t.Fatalf("ParseRule(%q) accepted a rule Compile refuses: %v", s, err)
		}
		for _, k := range keys {
			for _, out := range []int{-1, 3} {
				d := p.Check(conntrack.VerdictNew, false, k, 3, out)
				if d.Rule != 0 && d.Rule != RuleDefault {
					t.Fatalf("Check: rule %d of a one-rule policy", d.Rule)
				}
			}
		}
	})
}
