package filter

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// sameFilter reports whether two filters are the same: same tree, same
// program, same text.
func sameFilter(a, b *Filter) bool {
	return a.String() == b.String() && a.root == b.root &&
		reflect.DeepEqual(a.nodes, b.nodes) && reflect.DeepEqual(a.prog, b.prog)
}

func TestString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"  tcp  ", "tcp"},
		{"TCP", "tcp"},
		{"tcp && udp || !icmp", "tcp and udp or not icmp"},
		{"tcp and (udp or icmp)", "tcp and (udp or icmp)"},
		{"(tcp and udp) or icmp", "tcp and udp or icmp"},
		{"((tcp))", "tcp"},
		{"tcp or (udp or icmp)", "tcp or (udp or icmp)"},
		{"(tcp or udp) or icmp", "tcp or udp or icmp"},
		{"tcp and (udp and icmp)", "tcp and (udp and icmp)"},
		{"not (tcp or udp)", "not (tcp or udp)"},
		{"!(tcp)", "not tcp"},
		{"not not tcp", "not not tcp"},
		{"inner(tcp&&port 22)", "inner (tcp and port 22)"},
		{"inner inner !udp", "inner inner not udp"},
		{"inner tcp dport 22", "inner tcp dst port 22"},
		{"sport 0x16", "src port 22"},
		{"udp sport 53", "udp src port 53"},
		{"sctp portrange 1-1024", "sctp portrange 1-1024"},
		{"dst portrange 007-8", "dst portrange 7-8"},
		{"src host 10.0.0.1", "src host 10.0.0.1"},
		{"host 2001:DB8:0:0::1", "host 2001:db8::1"},
		{"host ::ffff:10.0.0.1", "host ::ffff:10.0.0.1"},
		{"dst net 2001:db8::/32", "dst net 2001:db8::/32"},
		{"net 0.0.0.0/0", "net 0.0.0.0/0"},
		{"ether 2:0:5E:10:0:1", "ether host 02:00:5e:10:00:01"},
		{"ether src host 02-00-5e-10-00-01", "ether src 02:00:5e:10:00:01"},
		{"ether dst ff:ff:ff:ff:ff:ff", "ether dst ff:ff:ff:ff:ff:ff"},
		{"vlan", "vlan"},
		{"vlan 0x64 and arp", "vlan 100 and arp"},
		{"len<=60", "len <= 60"},
		{"len = 60 or len != 0 or len>1 or len<2 or len>=3", "len == 60 or len != 0 or len > 1 or len < 2 or len >= 3"},
		{"tcp-syn and not tcp-ack or tcp-fin or tcp-rst or tcp-psh or tcp-urg",
			"tcp-syn and not tcp-ack or tcp-fin or tcp-rst or tcp-psh or tcp-urg"},
		{"icmp-type 8 or icmp6 and icmp-type 128", "icmp-type 8 or icmp6 and icmp-type 128"},
		{"vni 0x1389 and gre-key 4294967295", "vni 5001 and gre-key 4294967295"},
		{"proto 0x2f or gre or geneve or ip6 or ip", "proto 47 or gre or geneve or ip6 or ip"},
	}
	for _, c := range cases {
		f, err := Compile(c.in)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.in, err)
			continue
		}
		if got := f.String(); got != c.want {
			t.Errorf("Compile(%q).String() = %q, want %q", c.in, got, c.want)
		}
		g, err := Compile(f.String())
		if err != nil {
			t.Errorf("Compile(%q) (the canonical form of %q): %v", f.String(), c.in, err)
			continue
		}
		if !sameFilter(f, g) {
			t.Errorf("%q: the canonical form %q compiles to a different filter", c.in, f.String())
		}
	}
}

// TestProgramShape: jumps go forward only, targets are in range, and each
// primitive becomes one instruction.
func TestProgramShape(t *testing.T) {
	for _, expr := range []string{"tcp", "tcp and udp or not icmp", "inner (tcp and port 22) or not inner inner udp",
		"not (tcp or udp) and (vlan or arp)"} {
		f := MustCompile(expr)
		checkProgram(t, f)
	}
}

func checkProgram(t testing.TB, f *Filter) {
	t.Helper()
	prims, inners := 0, 0
	for _, n := range f.nodes {
		switch n.kind {
		case nPrim:
			prims++
		case nInner:
			inners++
		}
	}
	if len(f.prog) != prims+inners {
		t.Fatalf("%q: %d instructions for %d primitives and %d inner", f, len(f.prog), prims, inners)
	}
	for pc, in := range f.prog {
		for _, tg := range []int32{in.jt, in.jf} {
			if tg != targetAccept && tg != targetReject && (tg <= int32(pc) || tg >= int32(len(f.prog))) {
				t.Fatalf("%q: instruction %d jumps to %d", f, pc, tg)
			}
		}
		if in.level > MaxInner {
			t.Fatalf("%q: instruction %d at level %d", f, pc, in.level)
		}
	}
}

// TestDocExamples compiles every example in the package documentation.
func TestDocExamples(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, ex, ok := strings.Cut(string(src), "// # Examples\n")
	if !ok {
		t.Fatal("no Examples section in doc.go")
	}
	n := 0
	for _, line := range strings.Split(ex, "\n") {
		expr, _, ok := strings.Cut(strings.TrimPrefix(line, "//\t"), "  ")
		if !ok || !strings.HasPrefix(line, "//\t") {
			continue
		}
		n++
		if _, err := Compile(expr); err != nil {
			t.Errorf("doc example %q: %v", expr, err)
		}
	}
	if n < 10 {
		t.Errorf("found %d examples in doc.go", n)
	}
}
