package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
)

// Tunnel settings: the underlay ports, each network's tunnel endpoints
// (ports of the network whose frames leave encapsulated on an underlay),
// the networks' ICMP source addresses and the tunnel section.

// Bounds of the tunnel section.
const (
	minPMTUExpiry = 10 * time.Second
	maxPMTUExpiry = 24 * time.Hour
	maxICMPRate   = 1000000 // per second or back to back; more is no limit at all
	// maxGeneveOptions is how many empty options fit the header's options
	// length.
	maxGeneveOptions = packet.GeneveMaxOptionsLen / packet.GeneveOptionHeaderLen
)

// ulDef keeps an underlay item's node for the checks that need every
// tunnel.
type ulDef struct {
	path string
	node *yaml.Node
	bad  bool // it had errors of its own
}

// underlays reads the underlay list into sw.Underlays, names filled in.
// Underlays share the port names and interfaces of the ports.
func (p *parser) underlays(f map[string]entry, sw *dataplane.SwitchConfig, used, ifaces map[string]string) []ulDef {
	e, ok := f["underlay"]
	if !ok {
		return nil
	}
	items, ok := p.list(e.v, "underlay")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(e.v, "underlay", "empty list (leave underlay out when no network has tunnels)")
		return nil
	}
	if len(items) > maxPorts {
		p.errorf(e.v, "underlay", "%d underlays, at most %d", len(items), maxPorts)
		return nil
	}
	defs := make([]ulDef, len(items))
	sw.Underlays = make([]dataplane.UnderlaySpec, len(items))
	for i, it := range items {
		path := index("underlay", i)
		before := len(p.errs)
		fs := p.fields(it, path, underlayKeys...)
		if fs != nil {
			us := &sw.Underlays[i]
			us.Name, us.Interface, _ = p.portIdentity(it, path, fs, used, ifaces)
			if me, ok := fs["mode"]; ok {
				if m, ok := p.mode(me.v, joinPath(path, "mode")); ok {
					us.Mode = &m
				}
			}
		}
		defs[i] = ulDef{path: path, node: it, bad: len(p.errs) != before}
	}
	return defs
}

// tunnelState is what the checks across tunnels need.
type tunnelState struct {
	used       map[string]string // port names, as in ports
	ulIdx      map[string]int    // underlay name -> index in sw.Underlays
	ulNames    []string
	ulComplete bool   // every underlay item gave a name
	ulUsed     []bool // by index in sw.Underlays
	// resolved: every tunnel item was read and its underlay is known, so
	// an underlay no tunnel names is truly unused.
	resolved bool

	genevePort     uint16
	genevePortFrom string             // the path of the first geneve tunnel
	recv           map[recvKey]string // receive identity -> the path of its first tunnel
}

// recvKey is what tells received packets apart: the path, the kind and
// the GRE key or the Geneve VNI.
type recvKey struct {
	kind          tunnel.Kind
	local, remote netip.Addr // a zero local: the kernel's source address
	hasID         bool
	id            uint32
}

// tunnels reads every network's tunnels into sw.Tunnels (after the ports
// and underlays: their names are shared) and checks what relates them.
// ulGiven says whether the file has an underlay key (uls is nil when it
// is no list).
func (p *parser) tunnels(nets []netDef, uls []ulDef, ulGiven bool, sw *dataplane.SwitchConfig, used map[string]string) {
	st := &tunnelState{used: used, ulIdx: map[string]int{}, ulComplete: true, ulUsed: make([]bool, len(sw.Underlays)),
		resolved: len(nets) > 0, recv: map[recvKey]string{}}
	for i, u := range sw.Underlays {
		if u.Name == "" {
			st.ulComplete = false
			continue
		}
		if _, dup := st.ulIdx[u.Name]; !dup {
			st.ulIdx[u.Name] = i
			st.ulNames = append(st.ulNames, u.Name)
		}
	}
	noUnderlay := false // reported
	for i, d := range nets {
		if d.f == nil {
			if !d.implicit {
				st.resolved = false
			}
			continue
		}
		te, ok := d.f["tunnels"]
		if !ok || i >= len(sw.Networks) {
			continue
		}
		tpath := joinPath(d.path, "tunnels")
		items, ok := p.list(te.v, tpath)
		if !ok {
			st.resolved = false
			continue
		}
		if len(items) > 0 && !ulGiven && !noUnderlay {
			p.errorf(te.v, tpath, "tunnels need an underlay: add an underlay section with the interface they leave on")
			noUnderlay = true
		}
		if n := len(sw.Ports) + len(sw.Underlays) + len(sw.Tunnels) + len(items); n > maxPorts {
			p.errorf(te.v, tpath, "%d ports with underlays and tunnels, at most %d", n, maxPorts)
			st.resolved = false
			continue
		}
		for j, it := range items {
			p.tunnel(it, index(tpath, j), sw.Networks[i].Name, st, sw)
		}
	}
	if !st.resolved || !st.ulComplete {
		return
	}
	for i, u := range sw.Underlays {
		if st.ulIdx[u.Name] == i && !st.ulUsed[i] && !uls[i].bad {
			p.errorf(uls[i].node, uls[i].path, "no tunnel uses underlay %s (give a network tunnels on it, or remove it)", u.Name)
		}
	}
}

// kindOnly says which kind a kind-specific tunnel key belongs to, and
// what the other kind uses instead.
var kindOnly = map[string]struct {
	kind tunnel.Kind
	hint string
}{
	"key":       {tunnel.GRETap, " (geneve uses vni)"},
	"gateway":   {tunnel.GREIP, " (gretap and geneve carry Ethernet: no gateway)"},
	"mac":       {tunnel.GREIP, ""},
	"seq":       {tunnel.GRETap, ""},
	"vni":       {tunnel.Geneve, " (gretap uses key)"},
	"options":   {tunnel.Geneve, ""},
	"port":      {tunnel.Geneve, " (GRE has no ports)"},
	"src_ports": {tunnel.Geneve, " (GRE has no ports)"},
}

// tunnel reads one tunnel item and appends it to sw.Tunnels.
func (p *parser) tunnel(it *yaml.Node, path, network string, st *tunnelState, sw *dataplane.SwitchConfig) {
	fs := p.fields(it, path, tunnelKeys...)
	if fs == nil {
		st.resolved = false
		return
	}
	before := len(p.errs)
	ts := dataplane.TunnelSpec{Network: network}
	c := &ts.Endpoint
	if ne, ok := fs["name"]; !ok {
		p.errorf(it, path, "name is required")
	} else if s, ok := p.str(ne.v, joinPath(path, "name")); ok {
		c.Name = s // kept even when invalid, so that rules naming it do not add errors
		if !validName(s) {
			p.errorf(ne.v, joinPath(path, "name"), "port name %s: want %s", quote(s), nameSyntax)
		} else {
			p.reserveName(st.used, s, ne.v, joinPath(path, "name"), path)
		}
	}
	if te, ok := fs["type"]; !ok {
		p.errorf(it, path, "type is required (gretap, geneve or gre)")
	} else if s, ok := p.str(te.v, joinPath(path, "type")); ok {
		switch k, err := tunnel.ParseKind(s); {
		case err != nil:
			p.errorf(te.v, joinPath(path, "type"), "unknown tunnel type %s (want gretap, geneve or gre)", quote(s))
		default:
			c.Kind = k
		}
	}
	if re, ok := fs["remote"]; !ok {
		p.errorf(it, path, "remote is required")
	} else if a, ok := p.hostAddr(re.v, joinPath(path, "remote")); ok {
		c.Remote = a
	}
	if le, ok := fs["local"]; ok {
		if a, ok := p.hostAddr(le.v, joinPath(path, "local")); ok {
			if c.Remote.IsValid() && a.Is4() != c.Remote.Is4() {
				p.errorf(le.v, joinPath(path, "local"), "local %s is %s but remote %s is %s: both must be of one family",
					a, family(a), c.Remote, family(c.Remote))
			} else {
				c.Local = a
			}
		}
	}
	p.tunnelUnderlay(it, path, fs, &ts, st)

	if c.Kind != 0 {
		for _, k := range tunnelKeys {
			ko, specific := kindOnly[k]
			// key and seq are GRE settings, whatever the payload.
			gre := ko.kind == tunnel.GRETap && c.Kind == tunnel.GREIP && (k == "key" || k == "seq")
			if e, given := fs[k]; given && specific && ko.kind != c.Kind && !gre {
				p.errorf(e.k, joinPath(path, k), "%s is a %s setting, not for type %s%s", k, ko.kind, c.Kind, ko.hint)
				delete(fs, k)
			}
		}
	}
	if e, ok := fs["key"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "key"), 0, math.MaxUint32, ""); ok {
			k := uint32(v)
			c.Key = &k
		}
	}
	if e, ok := fs["seq"]; ok {
		if v, ok := p.boolean(e.v, joinPath(path, "seq")); ok {
			c.Seq = v
		}
	}
	if e, ok := fs["checksum"]; ok {
		if m, ok := p.checksum(e.v, joinPath(path, "checksum")); ok {
			c.Checksum = m
		}
	}
	if e, ok := fs["vni"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "vni"), 0, 1<<24-1, ""); ok {
			c.VNI = uint32(v)
		}
	} else if c.Kind == tunnel.Geneve {
		p.errorf(it, path, "vni is required for type geneve")
	}
	if e, ok := fs["options"]; ok {
		c.Options = p.geneveOptions(e.v, joinPath(path, "options"))
	}
	if e, ok := fs["gateway"]; ok {
		ts.Gateway = p.icmpSource(e.v, joinPath(path, "gateway"))
	} else if c.Kind == tunnel.GREIP {
		p.errorf(it, path, "gateway is required for type gre: the endpoint routes IP for the network's hosts, which reach it at that address")
	}
	if e, ok := fs["mac"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "mac")); ok {
			hw, err := net.ParseMAC(s)
			switch {
			case err != nil || len(hw) != 6:
				p.errorf(e.v, joinPath(path, "mac"), "bad MAC address %s (want six hex bytes, e.g. 02:00:00:00:00:01)", quote(s))
			case hw[0]&1 != 0:
				p.errorf(e.v, joinPath(path, "mac"), "%s is a multicast MAC address", s)
			default:
				ts.GatewayMAC = packet.MAC(hw)
			}
		}
	}
	portOK := c.Kind == tunnel.Geneve
	pe, portGiven := fs["port"]
	if portGiven {
		v, ok := p.intIn(pe.v, joinPath(path, "port"), 1, math.MaxUint16, "")
		c.DstPort, portOK = uint16(v), portOK && ok
	}
	if e, ok := fs["src_ports"]; ok {
		if lo, hi, ok := p.portRange(e.v, joinPath(path, "src_ports")); ok {
			c.SrcPortMin, c.SrcPortMax = lo, hi
		}
	}
	if e, ok := fs["ttl"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "ttl"), 1, math.MaxUint8, ""); ok {
			c.TTL = uint8(v)
		}
	}
	if e, ok := fs["df"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "df")); ok {
			switch d, err := tunnel.ParseDFPolicy(s); {
			case err != nil:
				p.errAt(e.v, joinPath(path, "df"), err)
			case d != tunnel.DFSet && c.Remote.Is6():
				p.errorf(e.v, joinPath(path, "df"), "df %s applies to an IPv4 underlay; remote %s is IPv6 (which has no DF bit)", d, c.Remote)
			default:
				c.DF = d
			}
		}
	}

	// The defaults, so that Switch says what will be built (local is the
	// dataplane's, from the kernel's route).
	if c.TTL == 0 {
		c.TTL = tunnel.DefaultTTL
	}
	if c.Kind == tunnel.Geneve {
		if c.DstPort == 0 {
			c.DstPort = tunnel.DefaultGenevePort
		}
		if c.SrcPortMin == 0 && c.SrcPortMax == 0 {
			c.SrcPortMin, c.SrcPortMax = tunnel.DefaultSrcPortMin, tunnel.DefaultSrcPortMax
		}
	}
	if portOK {
		if st.genevePortFrom == "" {
			st.genevePort, st.genevePortFrom = c.DstPort, path
		} else if c.DstPort != st.genevePort {
			at, how := it, " (the default)"
			if portGiven {
				at, how = pe.v, ""
			}
			p.errorf(at, joinPath(path, "port"), "geneve port %d%s differs from %s's %d: all geneve tunnels use one port (the underlay filter has one)",
				c.DstPort, how, st.genevePortFrom, st.genevePort)
		}
	}

	if len(p.errs) == before {
		// The endpoint's own validation, over everything combined.
		v := *c
		if !v.Local.IsValid() {
			v.Local = placeholderLocal(v.Remote)
		}
		if err := v.Validate(); err != nil {
			p.errAt(it, path, err)
		}
	}
	if len(p.errs) == before {
		k := recvKey{kind: c.Kind, local: c.Local, remote: c.Remote}
		if c.Key != nil {
			k.hasID, k.id = true, *c.Key
		}
		if c.Kind == tunnel.Geneve {
			k.hasID, k.id = true, c.VNI
		}
		if first, dup := st.recv[k]; dup {
			p.errorf(it, path, "tunnel %s receives the same packets as %s (%s): the receiving side could not tell them apart",
				c.Name, first, recvString(k))
		} else {
			st.recv[k] = path
		}
	}
	sw.Tunnels = append(sw.Tunnels, ts)
}

// tunnelUnderlay resolves a tunnel's underlay: the one named, or the only
// one.
func (p *parser) tunnelUnderlay(it *yaml.Node, path string, fs map[string]entry, ts *dataplane.TunnelSpec, st *tunnelState) {
	use := func(name string) {
		ts.Underlay = name
		st.ulUsed[st.ulIdx[name]] = true
	}
	if ue, ok := fs["underlay"]; ok {
		s, ok := p.str(ue.v, joinPath(path, "underlay"))
		if !ok {
			st.resolved = false
			return
		}
		if _, known := st.ulIdx[s]; known {
			use(s)
			return
		}
		st.resolved = false
		if st.ulComplete && len(st.ulNames) > 0 { // else the underlays had errors of their own
			p.errorf(ue.v, joinPath(path, "underlay"), "unknown underlay %s (underlays: %s)", quote(s), listSome(st.ulNames))
		}
		return
	}
	switch n := len(st.ulNames); {
	case n == 1:
		use(st.ulNames[0])
	case n == 0: // no underlay section (reported once), or only bad items
		st.resolved = false
	default:
		st.resolved = false
		if st.ulComplete {
			p.errorf(it, path, "underlay is required: there are %d underlays (%s)", n, listSome(st.ulNames))
		}
	}
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// placeholderLocal stands for the local address the dataplane fills in,
// for validating an endpoint configured without one.
func placeholderLocal(remote netip.Addr) netip.Addr {
	a := netip.MustParseAddr("192.0.2.1") // TEST-NET-1
	if remote.Is6() {
		a = netip.MustParseAddr("2001:db8::1")
	}
	if a == remote {
		a = a.Next()
	}
	return a
}

func recvString(k recvKey) string {
	local := "the default local address"
	if k.local.IsValid() {
		local = k.local.String()
	}
	s := fmt.Sprintf("%s from %s to %s", k.kind, k.remote, local)
	switch {
	case k.kind == tunnel.Geneve:
		s += fmt.Sprintf(", vni %d", k.id)
	case k.hasID:
		s += fmt.Sprintf(", key %d", k.id)
	default:
		s += ", no key"
	}
	return s
}

// hostAddr reads a unicast IP address (underlay endpoints, ICMP sources).
func (p *parser) hostAddr(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.errorf(n, path, "%s is not an IP address", quote(s))
	case a.Zone() != "":
		p.errorf(n, path, "%s has a zone: write a global address", quote(s))
	case a.Is4In6():
		p.errorf(n, path, "%s is IPv4-mapped: write it as IPv4", s)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		p.errorf(n, path, "%s is not a unicast host address", s)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// icmpSource reads a network's ICMP source addresses: one address or a
// list of at most one IPv4 and one IPv6 address.
func (p *parser) icmpSource(n *yaml.Node, path string) []netip.Addr {
	items, listed := []*yaml.Node{n}, false
	if n.Kind == yaml.SequenceNode {
		items, _ = p.list(n, path)
		listed = true
	}
	var out []netip.Addr
	var v4, v6 netip.Addr
	for i, it := range items {
		ipath := path
		if listed {
			ipath = index(path, i)
		}
		a, ok := p.hostAddr(it, ipath)
		if !ok {
			continue
		}
		first := &v6
		if a.Is4() {
			first = &v4
		}
		if first.IsValid() {
			p.errorf(it, ipath, "a second %s address (%s after %s): at most one IPv4 and one IPv6 address", family(a), a, *first)
			continue
		}
		*first = a
		out = append(out, a)
	}
	return out
}

// checksum reads a checksum mode: default, on or off (true and false for
// on and off).
func (p *parser) checksum(n *yaml.Node, path string) (tunnel.ChecksumMode, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		v, ok := p.boolean(n, path)
		if v {
			return tunnel.ChecksumOn, ok
		}
		return tunnel.ChecksumOff, ok
	}
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	switch s {
	case "default":
		return tunnel.ChecksumDefault, true
	case "on":
		return tunnel.ChecksumOn, true
	case "off":
		return tunnel.ChecksumOff, true
	}
	p.errorf(n, path, "unknown checksum mode %s (want default, on or off)", quote(s))
	return 0, false
}

// portRange reads "LO-HI" (or one port) of UDP ports 1..65535.
func (p *parser) portRange(n *yaml.Node, path string) (lo, hi uint16, ok bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(s, "-")
	x, err := strconv.Atoi(strings.TrimSpace(a))
	y := x
	if err == nil && isRange {
		y, err = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case err != nil:
		p.errorf(n, path, "bad port range %s (want LO-HI, e.g. 32768-61000)", quote(s))
	case x < 1 || y > math.MaxUint16 || y < 1 || x > math.MaxUint16:
		p.errorf(n, path, "port range %s: ports are 1..65535", quote(s))
	case y < x:
		p.errorf(n, path, "port range %s runs backwards", quote(s))
	default:
		return uint16(x), uint16(y), true
	}
	return 0, 0, false
}

// geneveOptions reads the option TLVs of a geneve tunnel.
func (p *parser) geneveOptions(n *yaml.Node, path string) []tunnel.GeneveOption {
	items, ok := p.list(n, path)
	if !ok || len(items) == 0 {
		return nil
	}
	if len(items) > maxGeneveOptions {
		p.errorf(n, path, "%d options, at most %d fit the Geneve header", len(items), maxGeneveOptions)
		return nil
	}
	out := make([]tunnel.GeneveOption, 0, len(items))
	for i, it := range items {
		opath := index(path, i)
		f := p.fields(it, opath, optionKeys...)
		if f == nil {
			continue
		}
		var o tunnel.GeneveOption
		if e, ok := f["class"]; !ok {
			p.errorf(it, opath, "class is required")
		} else if v, ok := p.intIn(e.v, joinPath(opath, "class"), 0, math.MaxUint16, "0..0xffff"); ok {
			o.Class = uint16(v)
		}
		if e, ok := f["type"]; !ok {
			p.errorf(it, opath, "type is required")
		} else if v, ok := p.intIn(e.v, joinPath(opath, "type"), 0, math.MaxUint8, "0..0xff"); ok {
			o.Type = uint8(v)
		}
		if e, ok := f["data"]; ok {
			if s, ok := p.str(e.v, joinPath(opath, "data")); ok {
				if d, err := optionData(s); err != nil {
					p.errAt(e.v, joinPath(opath, "data"), err)
				} else {
					o.Data = d
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// optionData decodes an option's data: hex digits, optionally after 0x.
func optionData(s string) ([]byte, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	d, err := hex.DecodeString(h)
	var ib hex.InvalidByteError
	switch {
	case errors.As(err, &ib):
		return nil, fmt.Errorf("%s is not hex (want e.g. \"0000000a\")", quote(s))
	case err != nil:
		return nil, fmt.Errorf("%s: odd number of hex digits", quote(s))
	case len(d)%4 != 0 || len(d) > tunnel.MaxGeneveOptionData:
		return nil, fmt.Errorf("%d bytes: want a multiple of 4 bytes, at most %d", len(d), tunnel.MaxGeneveOptionData)
	}
	return d, nil
}

// tunnelSection reads the top-level tunnel section.
func (p *parser) tunnelSection(n *yaml.Node, path string, sw *dataplane.SwitchConfig) {
	f := p.fields(n, path, tunnelSecKeys...)
	if e, ok := f["pmtu_expiry"]; ok {
		if d, ok := p.duration(e.v, joinPath(path, "pmtu_expiry")); ok {
			if d < minPMTUExpiry || d > maxPMTUExpiry {
				p.errorf(e.v, joinPath(path, "pmtu_expiry"), "%s out of range (want %s..%s)", formatDuration(d), minPMTUExpiry, formatDuration(maxPMTUExpiry))
			} else {
				sw.PMTUExpiry = d
			}
		}
	}
	e, ok := f["icmp_rate"]
	if !ok {
		return
	}
	rpath := joinPath(path, "icmp_rate")
	rf := p.fields(e.v, rpath, icmpRateKeys...)
	l := &sw.ICMPLimit
	for _, k := range []struct {
		rate, burst string
		r, b        *int
	}{{"per_source", "per_source_burst", &l.PerSource, &l.PerSourceBurst}, {"global", "global_burst", &l.Global, &l.GlobalBurst}} {
		if re, ok := rf[k.rate]; ok {
			if v, ok := p.intIn(re.v, joinPath(rpath, k.rate), 1, maxICMPRate, ""); ok {
				*k.r, *k.b = v, 2*v // the burst defaults to twice the rate, as in icmperr
			}
		}
		if be, ok := rf[k.burst]; ok {
			if v, ok := p.intIn(be.v, joinPath(rpath, k.burst), 1, maxICMPRate, ""); ok {
				*k.b = v
			}
		}
	}
}
