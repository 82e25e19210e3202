package policy

import (
	"strconv"
	"testing"

	"github.com/ctswitch/ctswitch/conntrack"
)

func BenchmarkCheckEstablished(b *testing.B) {
	p := mustCompile(b, Deny, InvalidDrop, "allow proto=tcp dport=80")
	k := key(6, "198.18.0.1", 40000, "198.18.0.2", 80)
	b.ReportAllocs()
	for b.Loop() {
		if !p.Check(conntrack.VerdictEstablished, true, k, 1, 2).Allow {
			b.Fatal("dropped")
		}
	}
}

// benchNew checks a new connection that only the last of n rules matches;
// each earlier rule fails late (same family, proto and in port, then the
// addresses), the costly case for a linear scan.
func benchNew(b *testing.B, n int) {
	rules := make([]string, 0, n)
	for i := range n - 1 {
		rules = append(rules, "allow in=vm1 proto=tcp src=198.18.0.0/24,2001:db8::/32 dst=198.19."+strconv.Itoa(i)+".0/24 dport=80")
	}
	rules = append(rules, "allow in=vm1 proto=tcp src=198.18.0.0/24,2001:db8::/32 dst=198.19.200.0/24 dport=80,443")
	p := mustCompile(b, Deny, InvalidDrop, rules...)
	k := key(6, "198.18.0.1", 40000, "198.19.200.2", 443)
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Check(conntrack.VerdictNew, false, k, 1, 2); d.Rule != int16(n-1) {
			b.Fatalf("decision %+v", d)
		}
	}
}

func BenchmarkCheckNew1Rule(b *testing.B)   { benchNew(b, 1) }
func BenchmarkCheckNew32Rules(b *testing.B) { benchNew(b, 32) }
