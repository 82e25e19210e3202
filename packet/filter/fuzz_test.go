package filter

import (
	"testing"
)

// FuzzCompile: Compile never panics, and whatever compiles has a canonical
// form that compiles to the same filter, a well-formed program, and a
// negation that matches exactly the frames the filter does not.
func FuzzCompile(f *testing.F) {
	for _, c := range matchCases {
		for _, e := range append(append([]string(nil), c.yes...), c.no...) {
			f.Add(e)
		}
	}
	frames := [][]byte{frameGREKeyEth(f), frameGeneveGRE(f), frameIP6HBH(f), frameARP(f), frameVLANTCP4(f)}
	f.Fuzz(func(t *testing.T, expr string) {
		fl, err := Compile(expr)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error of type %T", expr, err)
			}
			return
		}
		canon := fl.String()
		g, err := Compile(canon)
		if err != nil {
			t.Fatalf("%q: canonical form %q does not compile: %v", expr, canon, err)
		}
		if !sameFilter(fl, g) {
			t.Fatalf("%q: canonical form %q compiles to a different filter (%q)", expr, canon, g)
		}
		checkProgram(t, fl)
		neg, err := Compile("not (" + canon + ")")
		for _, fr := range frames {
			m := fl.Match(fr)
			if err == nil && canon != "" && neg.Match(fr) == m {
				t.Fatalf("%q and its negation agree on a frame", canon)
			}
		}
	})
}

// fuzzExprs are the expressions FuzzMatch runs on every frame.
var fuzzExprs = []string{
	"tcp port 22", "udp and dst port 53", "host 10.0.0.1 or host 2001:db8::1", "net 10.0.0.0/8",
	"src net 2001:db8::/32", "tcp-syn and not tcp-ack", "icmp-type 8 or icmp6", "vlan 100", "arp",
	"ether src 02:00:5e:10:00:01", "len > 100", "proto 47", "portrange 1-1024", "geneve", "gre",
	"vni 5001", "gre-key 42", "inner tcp dport 22", "inner (host 198.18.1.2 and tcp-syn)",
	"inner inner icmp", "inner inner inner ip", "inner ether host 02:c7:00:00:00:01", "inner vlan",
	"inner len < 100", "not inner ip6", "inner gre-key 9 and inner inner udp", "sctp port 9",
}

// FuzzMatch: Match never panics on any bytes, and agrees with a few
// implications between primitives.
func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.frame(f))
	}
	f.Add([]byte{})
	fs := make([]*Filter, len(fuzzExprs))
	negs := make([]*Filter, len(fuzzExprs))
	for i, e := range fuzzExprs {
		fs[i] = MustCompile(e)
		negs[i] = MustCompile("not (" + e + ")")
	}
	// a implies b, for every frame.
	implies := [][2]*Filter{
		{MustCompile("inner len >= 0"), MustCompile("gre or geneve")},
		{MustCompile("inner inner len >= 0"), MustCompile("inner (gre or geneve)")},
		{MustCompile("tcp port 22"), MustCompile("tcp and (ip or ip6)")},
		{MustCompile("port 0 or portrange 1-65535"), MustCompile("tcp or udp or sctp")},
		{MustCompile("vni 5001"), MustCompile("geneve")},
		{MustCompile("gre-key 42"), MustCompile("gre")},
		{MustCompile("tcp-syn or tcp-ack or tcp-fin"), MustCompile("tcp")},
		{MustCompile("inner tcp-syn"), MustCompile("inner tcp")},
		{MustCompile("icmp-type 8"), MustCompile("icmp or icmp6")},
		{MustCompile("host 10.0.0.1"), MustCompile("ip or arp")},
		{MustCompile("vlan 100"), MustCompile("vlan")},
		{MustCompile("ether host 02:00:5e:10:00:01"), MustCompile("len >= 14")},
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for i, fl := range fs {
			if fl.Match(frame) == negs[i].Match(frame) {
				t.Fatalf("%q and its negation agree", fuzzExprs[i])
			}
		}
		for _, im := range implies {
			if im[0].Match(frame) && !im[1].Match(frame) {
				t.Fatalf("%q matches but %q does not", im[0], im[1])
			}
		}
	})
}
