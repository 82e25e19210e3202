package config

import (
	"bufio"
	"bytes"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
)

// tunnels is a network with two tunnels on one underlay, which they
// default to, used by name in rules and static MACs.
const tunnels = `
ports:
  - {name: vm1, interface: veth-vm1, network: lab}
  - {name: vm2, interface: veth-vm2, network: other}
underlay:
  - {name: up, interface: eth1}
networks:
  - name: lab
    icmp_source: 198.18.1.254
    static_macs: {"02:00:00:00:00:09": hostb}
    policy:
      default: deny
      rules: ["allow in=hostb proto=tcp dport=22", "allow out=hostc"]
    tunnels:
      - name: hostb
        type: gretap
        remote: 198.18.100.2
        local: 198.18.100.1
        key: 42
      - name: hostc
        type: geneve
        remote: 198.18.100.3
        vni: 7
        options: [{class: 0x0102, type: 0x80, data: "0000000a"}]
  - name: other
`

func TestParseTunnels(t *testing.T) {
	c := mustParse(t, tunnels)
	sw := c.Switch
	if want := []dataplane.UnderlaySpec{{Name: "up", Interface: "eth1"}}; !reflect.DeepEqual(sw.Underlays, want) {
		t.Errorf("underlays %+v", sw.Underlays)
	}
	key := uint32(42)
	want := []dataplane.TunnelSpec{
		{Network: "lab", Underlay: "up", Endpoint: tunnel.Config{
			Name: "hostb", Kind: tunnel.GRETap, Local: netip.MustParseAddr("198.18.100.1"), Remote: netip.MustParseAddr("198.18.100.2"),
			Key: &key, TTL: 64,
		}},
		{Network: "lab", Underlay: "up", Endpoint: tunnel.Config{
			Name: "hostc", Kind: tunnel.Geneve, Remote: netip.MustParseAddr("198.18.100.3"), VNI: 7,
			Options: []tunnel.GeneveOption{{Class: 0x0102, Type: 0x80, Data: []byte{0, 0, 0, 10}}},
			DstPort: 6081, SrcPortMin: 32768, SrcPortMax: 61000, TTL: 64,
		}},
	}
	if !reflect.DeepEqual(sw.Tunnels, want) {
		t.Errorf("tunnels:\n got %+v\nwant %+v", sw.Tunnels, want)
	}
	lab := sw.Networks[0]
	if !reflect.DeepEqual(lab.ICMPSource, []netip.Addr{netip.MustParseAddr("198.18.1.254")}) {
		t.Errorf("icmp source %v", lab.ICMPSource)
	}
	if lab.Static[packet.MAC{2, 0, 0, 0, 0, 9}] != "hostb" {
		t.Errorf("static %v", lab.Static)
	}
	// The policy compiles against the ports as the switch indexes them:
	// VM ports, underlays, tunnels.
	ports := policy.PortMap{"vm1": 0, "vm2": 1, "up": 2, "hostb": 3, "hostc": 4}
	if _, err := policy.Compile(lab.Policy, ports); err != nil || len(lab.Policy.Rules) != 2 {
		t.Errorf("compile: %v %+v", err, lab.Policy)
	}
	if sw.PMTUExpiry != tunnel.DefaultPMTUExpiry || sw.ICMPLimit != (icmperr.LimiterConfig{
		PerSource: icmperr.DefaultPerSource, PerSourceBurst: icmperr.DefaultPerSourceBurst,
		Global: icmperr.DefaultGlobal, GlobalBurst: icmperr.DefaultGlobalBurst,
	}) {
		t.Errorf("tunnel section defaults: %v %+v", sw.PMTUExpiry, sw.ICMPLimit)
	}
	checkEndpoints(t, sw.Tunnels)
}

// checkEndpoints builds the tunnels as the dataplane does (a placeholder
// for a local address it would take from the kernel) and their receive
// table.
func checkEndpoints(t *testing.T, ts []dataplane.TunnelSpec) {
	t.Helper()
	var eps []*tunnel.Endpoint
	for _, s := range ts {
		c := s.Endpoint
		if !c.Local.IsValid() {
			c.Local = placeholderLocal(c.Remote)
		}
		ep, err := tunnel.NewEndpoint(c)
		if err != nil {
			t.Fatalf("NewEndpoint: %v", err)
		}
		eps = append(eps, ep)
	}
	if _, err := tunnel.NewTable(eps, tunnel.TableConfig{}); err != nil {
		t.Errorf("NewTable: %v", err)
	}
}

func TestParseTunnelsEveryKey(t *testing.T) {
	c := mustParse(t, `
ports: [{interface: a}]
underlay:
  - {interface: ul0, mode: native}
  - {name: ul6, interface: ul1}
networks:
  - name: default
    icmp_source: ["2001:db8:1::fe", 198.18.1.254]
    tunnels:
      - name: t1
        type: gretap
        remote: 198.18.100.2
        local: 198.18.100.1
        underlay: ul0
        key: 4294967295
        seq: true
        checksum: true
        ttl: 255
        df: inherit
      - name: t2
        type: geneve
        remote: "2001:db8:100::2"
        local: "2001:db8:100::1"
        underlay: ul6
        checksum: off
        vni: 16777215
        options:
          - {class: 0xffff, type: 0x01}
          - {class: 1, type: 2, data: ""}
          - {class: 1, type: 3, data: 0x0102030405060708}
        port: 4789
        src_ports: 1000-2000
        ttl: 1
        df: set
      - name: t3
        type: geneve
        remote: 198.18.100.2
        underlay: ul0
        vni: 0
        port: 4789
        src_ports: 5000
        checksum: default
tunnel:
  pmtu_expiry: 1h
  icmp_rate: {per_source: 10, global: 1000, global_burst: 5000}
`)
	sw := c.Switch
	native := dataplane.ModeNative
	if want := []dataplane.UnderlaySpec{{Name: "ul0", Interface: "ul0", Mode: &native}, {Name: "ul6", Interface: "ul1"}}; !reflect.DeepEqual(sw.Underlays, want) {
		t.Errorf("underlays %+v", sw.Underlays)
	}
	key := uint32(4294967295)
	want := []dataplane.TunnelSpec{
		{Network: "default", Underlay: "ul0", Endpoint: tunnel.Config{
			Name: "t1", Kind: tunnel.GRETap, Local: netip.MustParseAddr("198.18.100.1"), Remote: netip.MustParseAddr("198.18.100.2"),
			Key: &key, Seq: true, Checksum: tunnel.ChecksumOn, TTL: 255, DF: tunnel.DFInherit,
		}},
		{Network: "default", Underlay: "ul6", Endpoint: tunnel.Config{
			Name: "t2", Kind: tunnel.Geneve, Local: netip.MustParseAddr("2001:db8:100::1"), Remote: netip.MustParseAddr("2001:db8:100::2"),
			Checksum: tunnel.ChecksumOff, VNI: 16777215,
			Options: []tunnel.GeneveOption{{Class: 0xffff, Type: 1}, {Class: 1, Type: 2, Data: []byte{}}, {Class: 1, Type: 3, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
			DstPort: 4789, SrcPortMin: 1000, SrcPortMax: 2000, TTL: 1,
		}},
		{Network: "default", Underlay: "ul0", Endpoint: tunnel.Config{
			Name: "t3", Kind: tunnel.Geneve, Remote: netip.MustParseAddr("198.18.100.2"),
			DstPort: 4789, SrcPortMin: 5000, SrcPortMax: 5000, TTL: 64,
		}},
	}
	if !reflect.DeepEqual(sw.Tunnels, want) {
		t.Errorf("tunnels:\n got %+v\nwant %+v", sw.Tunnels, want)
	}
	if want := []netip.Addr{netip.MustParseAddr("2001:db8:1::fe"), netip.MustParseAddr("198.18.1.254")}; !reflect.DeepEqual(sw.Networks[0].ICMPSource, want) {
		t.Errorf("icmp source %v", sw.Networks[0].ICMPSource)
	}
	// A burst left out is twice its rate.
	if want := (icmperr.LimiterConfig{PerSource: 10, PerSourceBurst: 20, Global: 1000, GlobalBurst: 5000}); sw.PMTUExpiry != time.Hour || sw.ICMPLimit != want {
		t.Errorf("tunnel section: %v %+v", sw.PMTUExpiry, sw.ICMPLimit)
	}
	checkEndpoints(t, sw.Tunnels)
}

// TestTunnelsDistinguished: what the receive side can tell apart is
// accepted.
func TestTunnelsDistinguished(t *testing.T) {
	c := mustParse(t, tun+`      - {name: a, type: gretap, remote: 198.18.100.2, key: 1}
      - {name: b, type: gretap, remote: 198.18.100.2, key: 2}
      - {name: c, type: gretap, remote: 198.18.100.3}
      - {name: d, type: geneve, remote: 198.18.100.2, vni: 1}
      - {name: e, type: geneve, remote: 198.18.100.2, vni: 2}
      - {name: f, type: geneve, remote: 198.18.100.2, local: 198.18.100.9, vni: 1}
`)
	if len(c.Switch.Tunnels) != 6 {
		t.Fatalf("%+v", c.Switch.Tunnels)
	}
	checkEndpoints(t, c.Switch.Tunnels)
}

func TestNoTunnels(t *testing.T) {
	c := mustParse(t, base+"networks: [{name: lab, tunnels: [], icmp_source: []}]\n")
	if c.Switch.Underlays != nil || c.Switch.Tunnels != nil || c.Switch.Networks[0].ICMPSource != nil {
		t.Errorf("%+v", c.Switch)
	}
}

// uncomment returns the example with the commented-out blocks that open
// with one of keys uncommented (and the empty value they replace left
// out).
func uncomment(t *testing.T, doc []byte, keys ...string) string {
	t.Helper()
	open := regexp.MustCompile(`^(\s*)# (` + strings.Join(keys, "|") + `):`)
	var b strings.Builder
	indent := ""
	in := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		l := sc.Text()
		if m := open.FindStringSubmatch(l); m != nil {
			indent, in = m[1], true
			b.WriteString(indent + strings.TrimPrefix(l, indent+"# ") + "\n")
			continue
		}
		if in {
			rest, ok := strings.CutPrefix(l, indent+"# ")
			if ok && (strings.HasPrefix(rest, "  ") || strings.HasPrefix(rest, "-")) {
				b.WriteString(indent + rest + "\n")
				continue
			}
			in = false
		}
		if strings.TrimSpace(l) == "tunnels: []" {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestExampleTunnels: the example's commented-out tunnel settings are a
// valid configuration.
func TestExampleTunnels(t *testing.T) {
	c := mustParse(t, uncomment(t, Example, "underlay", "icmp_source", "tunnels"))
	sw := c.Switch
	if len(sw.Underlays) != 1 || len(sw.Tunnels) != 3 || len(sw.Networks[0].ICMPSource) != 2 {
		t.Fatalf("%+v\n%+v", sw.Underlays, sw.Tunnels)
	}
	if k := sw.Tunnels[0].Endpoint; k.Kind != tunnel.GRETap || k.Key == nil {
		t.Errorf("first tunnel %+v", k)
	}
	if g := sw.Tunnels[1].Endpoint; g.Kind != tunnel.Geneve || len(g.Options) != 1 {
		t.Errorf("second tunnel %+v", g)
	}
	checkEndpoints(t, sw.Tunnels)
}

// diffTunnels is diffBase's layout with tunnels.
const diffTunnels = `
ports:
  - {name: vm1, interface: veth-vm1, network: lab}
  - {name: vm2, interface: veth-vm2, network: prod}
underlay:
  - {name: up, interface: eth1}
networks:
  - name: lab
    icmp_source: 198.18.1.254
    policy: {rules: ["allow in=hostb"]}
    tunnels:
      - {name: hostb, type: gretap, remote: 198.18.100.2, key: 42}
      - {name: hostc, type: geneve, remote: 198.18.100.3, vni: 7}
  - name: prod
    tunnels:
      - {name: hostd, type: gretap, remote: 198.18.100.4}
`

func editTunnels(t *testing.T, pairs ...string) string {
	t.Helper()
	s := diffTunnels
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in the base", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestDiffTunnelsIdentical(t *testing.T) {
	a := mustParse(t, diffTunnels)
	// Spelling does not matter: defaults written out, true for on.
	b := mustParse(t, editTunnels(t,
		"key: 42}", "key: 42, ttl: 64, checksum: default, df: set}",
		"vni: 7}", "vni: 7, port: 6081, src_ports: 32768-61000}",
		"{name: hostd, type: gretap, remote: 198.18.100.4}", "{name: hostd, type: gretap, remote: 198.18.100.4, underlay: up, seq: false}",
	)+"tunnel: {pmtu_expiry: 10m, icmp_rate: {per_source: 100}}\n")
	if d := Diff(a, b); !d.Empty() {
		t.Errorf("respelled file differs: %+v", d)
	}
}

func TestDiffTunnelsRestart(t *testing.T) {
	a := mustParse(t, diffTunnels)
	b := mustParse(t, editTunnels(t,
		"interface: eth1}", "interface: eth2, mode: native}",
		"icmp_source: 198.18.1.254", `icmp_source: [198.18.1.254, "2001:db8::fe"]`,
		"key: 42}", "key: 43}",
		"vni: 7}", "vni: 7}\n      - {name: hoste, type: gretap, remote: 198.18.100.5}",
		"{name: hostd, type: gretap, remote: 198.18.100.4}", "{name: hostd, type: gretap, remote: 198.18.100.4, checksum: on}",
	)+"tunnel:\n  pmtu_expiry: 1m\n  icmp_rate: {global: 5000}\n")
	d := Diff(a, b)
	want := []string{
		"underlay",
		"networks[lab].icmp_source", "networks[lab].tunnels", "networks[lab].tunnels[hostb]",
		"networks[prod].tunnels[hostd]",
		"tunnel.pmtu_expiry", "tunnel.icmp_rate.global", "tunnel.icmp_rate.global_burst",
	}
	if got := keys(d.Restart); !reflect.DeepEqual(got, want) {
		t.Errorf("restart keys:\n got %q\nwant %q", got, want)
	}
	if len(d.Live) != 0 {
		t.Errorf("live: %+v", d.Live)
	}
	byKey := map[string]Change{}
	for _, c := range d.Restart {
		byKey[c.Key] = c
	}
	for key, want := range map[string]Change{
		"underlay":                  {Old: "up=eth1", New: "up=eth2 mode=native"},
		"networks[lab].icmp_source": {Old: "198.18.1.254", New: "198.18.1.254,2001:db8::fe"},
		"networks[lab].tunnels":     {Old: "hostb,hostc", New: "hostb,hostc,hoste"},
		"networks[lab].tunnels[hostb]": {
			Old: "gretap remote=198.18.100.2 underlay=up key=42 checksum=default ttl=64 df=set",
			New: "gretap remote=198.18.100.2 underlay=up key=43 checksum=default ttl=64 df=set"},
		"tunnel.pmtu_expiry":            {Old: "10m0s", New: "1m0s"},
		"tunnel.icmp_rate.global":       {Old: "10000", New: "5000"},
		"tunnel.icmp_rate.global_burst": {Old: "20000", New: "10000"},
	} {
		want.Key = key
		if byKey[key] != want {
			t.Errorf("%s: %+v, want %+v", key, byKey[key], want)
		}
	}
}

func TestDiffTunnelMoved(t *testing.T) {
	a := mustParse(t, diffTunnels)
	b := mustParse(t, editTunnels(t,
		"      - {name: hostc, type: geneve, remote: 198.18.100.3, vni: 7}\n", "",
		"    tunnels:\n      - {name: hostd", "    tunnels:\n      - {name: hostc, type: geneve, remote: 198.18.100.3, vni: 7, options: [{class: 1, type: 2, data: \"01020304\"}]}\n      - {name: hostd",
	))
	d := Diff(a, b)
	if got, want := keys(d.Restart), []string{"networks[lab].tunnels", "networks[prod].tunnels"}; !reflect.DeepEqual(got, want) {
		t.Errorf("restart %q, want %q", got, want)
	}
	c := mustParse(t, editTunnels(t, "vni: 7}", `vni: 7, options: [{class: 1, type: 2, data: "01020304"}]}`))
	if got := Diff(a, c).Restart; len(got) != 1 || got[0].Key != "networks[lab].tunnels[hostc]" ||
		got[0].New != "geneve remote=198.18.100.3 underlay=up vni=7 option=0x0001/0x02/01020304 port=6081 src_ports=32768-61000 checksum=default ttl=64 df=set" {
		t.Errorf("restart %+v", got)
	}
}

func TestDiffTunnelsStable(t *testing.T) {
	a := mustParse(t, diffTunnels)
	b := mustParse(t, uncomment(t, Example, "underlay", "icmp_source", "tunnels"))
	first := Diff(a, b)
	for range 20 {
		if d := Diff(a, b); !reflect.DeepEqual(d, first) {
			t.Fatalf("Diff is not stable:\n%+v\n%+v", first, d)
		}
	}
	seen := map[string]bool{}
	for _, c := range append(append([]Change{}, first.Live...), first.Restart...) {
		if seen[c.Key] {
			t.Errorf("key %s listed twice", c.Key)
		}
		seen[c.Key] = true
	}
}
