package tunnel

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	base := func(k Kind) Config { return Config{Name: "b1", Kind: k, Local: local4, Remote: remote4} }
	with := func(c Config, f func(*Config)) Config { f(&c); return c }
	cases := []struct {
		c    Config
		want string
	}{
		{Config{}, "endpoint: name is empty"},
		{with(base(0), nil0), "endpoint b1: kind 0: want gretap, gre or geneve"},
		{with(base(9), nil0), "endpoint b1: kind 9"},
		{with(base(GRETap), func(c *Config) { c.Local = netip.Addr{} }), "endpoint b1: local address is not set"},
		{with(base(GRETap), func(c *Config) { c.Remote = netip.MustParseAddr("::ffff:198.18.0.2") }), "remote address ::ffff:198.18.0.2 is IPv4-mapped"},
		{with(base(GRETap), func(c *Config) { c.Remote = netip.MustParseAddr("fe80::1%eth0") }), "has a zone"},
		{with(base(GRETap), func(c *Config) { c.Remote = netip.MustParseAddr("224.0.0.1") }), "remote address 224.0.0.1 is not a unicast host address"},
		{with(base(GRETap), func(c *Config) { c.Local = netip.MustParseAddr("0.0.0.0") }), "local address 0.0.0.0 is not a unicast"},
		{with(base(GRETap), func(c *Config) { c.Local = netip.MustParseAddr("255.255.255.255") }), "not a unicast"},
		{with(base(GRETap), func(c *Config) { c.Remote = remote6 }), "local 198.18.0.1 and remote 2001:db8::2 are of different IP families"},
		{with(base(GRETap), func(c *Config) { c.Remote = local4 }), "local and remote are the same address 198.18.0.1"},
		{with(base(GRETap), func(c *Config) { c.Checksum = 7 }), "checksum mode 7"},
		{with(base(GRETap), func(c *Config) { c.DF = 5 }), "df policy 5"},
		{with(base(GRETap), func(c *Config) { c.Local, c.Remote, c.DF = local6, remote6, DFInherit }), "df inherit applies to an IPv4 underlay"},
		{with(base(GRETap), func(c *Config) { c.VNI = 5 }), "vni is a geneve setting; gretap uses key"},
		{with(base(GREIP), func(c *Config) { c.Options = []GeneveOption{{}} }), "geneve options set on a gre endpoint"},
		{with(base(GRETap), func(c *Config) { c.DstPort = 6081 }), "udp ports set on a gretap endpoint"},
		{with(base(Geneve), func(c *Config) { c.Key = u32(1) }), "endpoint b1: key is a GRE setting; geneve uses vni"},
		{with(base(Geneve), func(c *Config) { c.Seq = true }), "sequence numbers are a GRE feature"},
		{with(base(Geneve), func(c *Config) { c.VNI = 1 << 24 }), "vni 16777216 does not fit in 24 bits"},
		{with(base(Geneve), func(c *Config) { c.Options = []GeneveOption{{Class: 0x0102, Type: 3, Data: make([]byte, 6)}} }),
			"endpoint b1: geneve option 0 (class 0x0102 type 0x03): data of 6 bytes: must be a multiple of 4, at most 124"},
		{with(base(Geneve), func(c *Config) { c.Options = []GeneveOption{{Data: make([]byte, 128)}} }), "data of 128 bytes"},
		{with(base(Geneve), func(c *Config) {
			c.Options = []GeneveOption{{Data: make([]byte, 124)}, {Data: make([]byte, 124)}}
		}), "geneve options take 256 bytes: at most 252"},
		{with(base(Geneve), func(c *Config) { c.SrcPortMin, c.SrcPortMax = 2000, 1000 }), "source port range 2000..1000 is empty"},
		{with(base(Geneve), func(c *Config) { c.SrcPortMax = 1000 }), "source port max 1000 is below the default min 32768"},
	}
	for _, c := range cases {
		err := c.c.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want %q", c.c, err, c.want)
		}
		if _, err := NewEndpoint(c.c); err == nil {
			t.Errorf("NewEndpoint accepted %+v", c.c)
		}
	}
	good := []Config{
		base(GRETap), base(GREIP), base(Geneve),
		with(base(Geneve), func(c *Config) { c.Options = []GeneveOption{{Data: make([]byte, 124)}, {Data: make([]byte, 120)}} }),
		with(base(Geneve), func(c *Config) { c.SrcPortMin = 50000 }),
		with(base(Geneve), func(c *Config) { c.SrcPortMin, c.SrcPortMax = 1, 65535 }),
		with(base(Geneve), func(c *Config) { c.Local, c.Remote = local6, remote6 }),
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", c, err)
		}
	}
}

func nil0(*Config) {}

func TestConfigDefaults(t *testing.T) {
	g4 := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local4, Remote: remote4}).Config()
	eq(t, "geneve4 csum", g4.Checksum, ChecksumOff)
	eq(t, "dst port", g4.DstPort, uint16(6081))
	eq(t, "src min", g4.SrcPortMin, uint16(32768))
	eq(t, "src max", g4.SrcPortMax, uint16(61000))
	eq(t, "ttl", g4.TTL, uint8(64))
	eq(t, "df", g4.DF, DFSet)
	g6 := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local6, Remote: remote6}).Config()
	eq(t, "geneve6 csum", g6.Checksum, ChecksumOn)
	g6off := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local6, Remote: remote6, Checksum: ChecksumOff}).Config()
	eq(t, "geneve6 csum off", g6off.Checksum, ChecksumOff)
	gre6 := MustEndpoint(Config{Name: "g", Kind: GRETap, Local: local6, Remote: remote6}).Config()
	eq(t, "gre6 csum", gre6.Checksum, ChecksumOff)
	eq(t, "gre ports stay zero", gre6.DstPort, uint16(0))
	hi := MustEndpoint(Config{Name: "g", Kind: Geneve, Local: local4, Remote: remote4, SrcPortMin: 62000}).Config()
	eq(t, "max follows a high min", hi.SrcPortMax, uint16(62000))

	// Config returns a copy: changing it does not change the endpoint.
	key := uint32(5)
	c := Config{Name: "k", Kind: GRETap, Local: local4, Remote: remote4, Key: &key}
	e := MustEndpoint(c)
	key = 6
	*e.Config().Key = 7
	eq(t, "key kept", *e.Config().Key, uint32(5))
	opt := []byte{1, 2, 3, 4}
	ge := MustEndpoint(Config{Name: "o", Kind: Geneve, Local: local4, Remote: remote4, Options: []GeneveOption{{Class: 1, Type: 2, Data: opt}}})
	opt[0] = 9
	ge.Config().Options[0].Data[1] = 9
	eqBytes(t, "option data kept", ge.Config().Options[0].Data, []byte{1, 2, 3, 4})
	eq(t, "String", ge.String(), "o geneve 198.18.0.1->198.18.0.2 vni=0 port=6081 options=1 csum=off df=set")
	eq(t, "String gre", e.String(), "k gretap 198.18.0.1->198.18.0.2 key=5 csum=off df=set")
}

func TestParseNames(t *testing.T) {
	for k := GRETap; k < numKinds; k++ {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	if _, err := ParseKind("vxlan"); err == nil {
		t.Error("vxlan parsed")
	}
	for p := DFSet; p < numDFPolicies; p++ {
		got, err := ParseDFPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParseDFPolicy(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParseDFPolicy("maybe"); err == nil {
		t.Error("maybe parsed")
	}
	eq(t, "kind(0)", Kind(0).String(), "kind(0)")
	eq(t, "checksum on", ChecksumOn.String(), "on")
}
