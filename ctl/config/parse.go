package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
)

// The keys of each mapping, in the order the format documents them.
var (
	topKeys = []string{"workers", "cpus", "mode", "ring_size", "frame_size", "batch", "spin", "order_wait",
		"handoff_slots", "reorder_slots", "ports", "underlay", "networks", "tunnel", "conntrack", "mac",
		"control", "metrics", "snapshot", "log"}
	portKeys     = []string{"name", "interface", "network", "mode", "queues"}
	underlayKeys = []string{"name", "interface", "mode"}
	networkKeys  = []string{"name", "id", "zone", "mac_limit", "static_macs", "policy", "icmp_source", "tunnels"}
	tunnelKeys   = []string{"name", "type", "remote", "local", "underlay", "key", "seq", "checksum", "vni", "gateway", "mac",
		"options", "port", "src_ports", "ttl", "df"}
	optionKeys    = []string{"class", "type", "data"}
	tunnelSecKeys = []string{"pmtu_expiry", "icmp_rate"}
	icmpRateKeys  = []string{"per_source", "per_source_burst", "global", "global_burst"}
	policyKeys    = []string{"default", "invalid", "rules"}
	conntrackKeys = []string{"max_conns", "default", "zones", "defrag"}
	zoneKeys      = []string{"loose", "liberal", "ignore_invalid_rst", "max_retrans", "checksum", "limit", "timeouts"}
	defragKeys    = []string{"enabled", "max_pending", "timeout", "min_frag_size_v4", "min_frag_size_v6"}
	macKeys       = []string{"capacity", "max_age"}
	controlKeys   = []string{"socket"}
	metricsKeys   = []string{"listen"}
	snapshotKeys  = []string{"path", "restore", "interval"}
	logKeys       = []string{"format", "level", "rate_limit"}
)

// availableCPUs is the CPU count workers default to when the file lists
// none (a variable for tests). runtime.NumCPU honours the affinity mask
// the process started with, as the switch does.
var availableCPUs = runtime.NumCPU

// Limits the switch does not export.
const (
	maxCPU          = 1023    // the switch's CPU set size
	maxPorts        = 1 << 16 // the MAC table stores port indexes as uint16
	maxHandoffSlots = 1 << 16
	maxReorderSlots = 1 << 16
	maxNameLen      = 32
	maxIfNameLen    = 15      // IFNAMSIZ - 1
	maxSocketPath   = 107     // sizeof(sun_path) - 1
	maxRateLimit    = 1000000 // per second; more is no limit at all
	maxNetworkID    = l2.MaxNetwork
)

// portDef and netDef keep the nodes of a port or network for the checks
// that need the whole file.
type portDef struct {
	path      string
	nameNode  *yaml.Node // the node the name came from (the interface when defaulted)
	queues    int
	queueNode *yaml.Node
}

type netDef struct {
	path     string
	f        map[string]entry // nil for the default network, or an item that is no mapping
	implicit bool             // the default network of a file without networks
}

func (p *parser) config(root *yaml.Node) *Config {
	c := defaults()
	sw := &c.Switch
	f := p.fields(root, "", topKeys...)
	workersOK := true
	if e, ok := f["workers"]; ok {
		sw.Workers, workersOK = p.intIn(e.v, "workers", 0, dataplane.MaxQueues, fmt.Sprintf("0 (one per CPU) to %d", dataplane.MaxQueues))
	}
	if e, ok := f["cpus"]; ok {
		sw.CPUs = p.cpus(e.v, "cpus")
	}
	if e, ok := f["mode"]; ok {
		if m, ok := p.mode(e.v, "mode"); ok {
			sw.Mode = m
		}
	}
	if e, ok := f["ring_size"]; ok {
		if v, ok := p.intIn(e.v, "ring_size", 64, 16384, "a power of two, 64..16384"); ok {
			if v&(v-1) != 0 {
				p.errorf(e.v, "ring_size", "%d is not a power of two (want a power of two, 64..16384)", v)
			} else {
				sw.RingSize = v
			}
		}
	}
	if e, ok := f["frame_size"]; ok {
		if v, ok := p.integer(e.v, "frame_size"); ok {
			if v != 0 && v != 2048 && v != 4096 {
				p.errorf(e.v, "frame_size", "%d: want 0 (2048, or 4096 when the MTU needs it), 2048 or 4096", v)
			} else {
				sw.FrameSize = int(v)
			}
		}
	}
	if e, ok := f["batch"]; ok {
		if v, ok := p.intIn(e.v, "batch", 1, 1024, ""); ok {
			sw.Batch = v
		}
	}
	if e, ok := f["spin"]; ok {
		if v, ok := p.boolean(e.v, "spin"); ok {
			sw.Spin = v
		}
	}
	if e, ok := f["order_wait"]; ok {
		if d, ok := p.duration(e.v, "order_wait"); ok {
			if d <= 0 {
				p.errorf(e.v, "order_wait", "%s: must be positive", d)
			} else {
				sw.OrderWait = d
			}
		}
	}
	if e, ok := f["handoff_slots"]; ok {
		if v, ok := p.intIn(e.v, "handoff_slots", 0, maxHandoffSlots, "0 (sized by the worker count) or a power of two up to 65536"); ok {
			if v&(v-1) != 0 {
				p.errorf(e.v, "handoff_slots", "%d is not a power of two (want 0 or a power of two up to 65536)", v)
			} else {
				sw.HandoffSlots = v
			}
		}
	}
	if e, ok := f["reorder_slots"]; ok {
		if v, ok := p.intIn(e.v, "reorder_slots", 1, maxReorderSlots, ""); ok {
			sw.ReorderSlots = v
		}
	}

	nets := p.networks(f, sw)
	// Port names and interfaces, shared by ports, underlays and tunnels:
	// name or interface -> the path of its first user.
	used, ifaces := map[string]string{}, map[string]string{}
	ports := p.ports(f, root, c, used, ifaces)
	uls := p.underlays(f, sw, used, ifaces)
	_, ulGiven := f["underlay"]
	p.tunnels(nets, uls, ulGiven, sw, used)
	if e, ok := f["tunnel"]; ok {
		p.tunnelSection(e.v, "tunnel", sw)
	}
	p.members(nets, sw)
	if workersOK {
		p.workers(ports, sw)
	}

	ctNode := root
	if e, ok := f["conntrack"]; ok {
		ctNode = e.v
		p.conntrack(e.v, "conntrack", &sw.Conntrack)
	}
	// The table's own validation, over everything combined, catches what
	// the per-key checks above may not know about.
	v := sw.Conntrack
	v.Shards = max(1, sw.Workers)
	if err := v.Validate(); err != nil {
		p.errAt(ctNode, "conntrack", err)
	}
	if e, ok := f["mac"]; ok {
		p.mac(e.v, "mac", &sw.MAC)
	}
	if e, ok := f["control"]; ok {
		p.control(e.v, "control", &c.Control)
	}
	if e, ok := f["metrics"]; ok {
		p.metrics(e.v, "metrics", &c.Metrics)
	}
	if e, ok := f["snapshot"]; ok {
		p.snapshot(e.v, "snapshot", &c.Snapshot)
	}
	if e, ok := f["log"]; ok {
		p.log(e.v, "log", &c.Log)
	}
	return c
}

func (p *parser) mode(n *yaml.Node, path string) (dataplane.Mode, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	m, err := dataplane.ParseMode(s)
	if err != nil {
		p.errAt(n, path, err)
		return 0, false
	}
	return m, true
}

// cpus reads a CPU list: "0-3,6" (the syntax of taskset and /sys) or a
// YAML list of CPU numbers.
func (p *parser) cpus(n *yaml.Node, path string) []int {
	var out []int
	seen := map[int]bool{}
	addCPU := func(c int, at *yaml.Node) bool {
		if seen[c] {
			p.errorf(at, path, "CPU %d listed twice", c)
			return false
		}
		seen[c] = true
		out = append(out, c)
		return true
	}
	if n.Kind == yaml.SequenceNode {
		items, _ := p.list(n, path)
		if len(items) == 0 {
			p.errorf(n, path, "empty CPU list (leave cpus out for every CPU the process may use)")
			return nil
		}
		for i, it := range items {
			c, ok := p.intIn(it, index(path, i), 0, maxCPU, "")
			if !ok || !addCPU(c, it) {
				return nil
			}
		}
		return out
	}
	s, ok := p.str(n, path)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		p.errorf(n, path, "empty CPU list (leave cpus out for every CPU the process may use)")
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(strings.TrimSpace(hi))
		}
		switch {
		case err != nil:
			p.errorf(n, path, "bad CPU list element %s (want e.g. \"0-3,6\")", quote(part))
			return nil
		case a < 0 || b > maxCPU:
			p.errorf(n, path, "CPU list element %s: CPUs are 0..%d", quote(part), maxCPU)
			return nil
		case b < a:
			p.errorf(n, path, "CPU range %s runs backwards", quote(part))
			return nil
		}
		for c := a; c <= b; c++ {
			if !addCPU(c, n) {
				return nil
			}
		}
	}
	return out
}

// listSome lists names for a message, the first few only.
func listSome(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:8], ", ") + fmt.Sprintf(" and %d more", len(names)-8)
	}
	return strings.Join(names, ", ")
}

// validName is the syntax of port and network names: they appear in
// policy rules, counters and metric labels.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

const nameSyntax = "1 to 32 letters, digits, '_', '.' or '-'"

// ifNameError checks a Linux interface name as the kernel's
// dev_valid_name does.
func ifNameError(s string) error {
	switch {
	case s == "":
		return errors.New("empty interface name")
	case len(s) > maxIfNameLen:
		return fmt.Errorf("interface name %s is %d bytes, Linux allows %d", quote(s), len(s), maxIfNameLen)
	case s == "." || s == "..":
		return fmt.Errorf("interface name %s not allowed", quote(s))
	}
	for _, r := range s {
		if r == '/' || r == ':' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("interface name %s: character %q not allowed (no '/', ':', spaces or control characters)", quote(s), r)
		}
	}
	return nil
}

// networks reads the network list (or makes the default network) into
// sw.Networks, with names and ids filled in.
func (p *parser) networks(f map[string]entry, sw *dataplane.SwitchConfig) []netDef {
	e, ok := f["networks"]
	if !ok {
		sw.Networks = []dataplane.NetworkSpec{{Name: DefaultNetwork, ID: 1}}
		return []netDef{{path: "networks[0]", implicit: true}}
	}
	items, ok := p.list(e.v, "networks")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(e.v, "networks", "empty list (leave networks out for one network %q with every port)", DefaultNetwork)
		return nil
	}
	names := map[string]string{} // name -> path of its first network
	ids := map[uint16]string{}
	defs := make([]netDef, len(items))
	sw.Networks = make([]dataplane.NetworkSpec, len(items))
	for i, it := range items {
		path := index("networks", i)
		d := netDef{path: path, f: p.fields(it, path, networkKeys...)}
		defs[i] = d
		ns := &sw.Networks[i]
		if d.f == nil {
			continue
		}
		if ne, ok := d.f["name"]; !ok {
			p.errorf(it, path, "name is required")
		} else if s, ok := p.str(ne.v, joinPath(path, "name")); ok {
			ns.Name = s // kept even when invalid, so that ports naming it do not add errors
			if !validName(s) {
				p.errorf(ne.v, joinPath(path, "name"), "network name %s: want %s", quote(s), nameSyntax)
			} else if first, dup := names[s]; dup {
				p.errorf(ne.v, joinPath(path, "name"), "network name %q already used by %s", s, first)
			} else {
				names[s] = path
			}
		}
		idNode := it
		if i < maxNetworkID {
			ns.ID = uint16(i + 1)
		}
		if ie, ok := d.f["id"]; ok {
			idNode = ie.v
			ns.ID = 0
			if v, ok := p.intIn(ie.v, joinPath(path, "id"), 1, maxNetworkID, ""); ok {
				ns.ID = uint16(v)
			}
		} else if i >= maxNetworkID {
			p.errorf(it, path, "more than %d networks: network ids are 1..%d", maxNetworkID, maxNetworkID)
		}
		if ns.ID != 0 {
			if first, dup := ids[ns.ID]; dup {
				how := ""
				if idNode == it {
					how = " (its position, the default)"
				}
				p.errorf(idNode, joinPath(path, "id"), "id %d%s already used by %s", ns.ID, how, first)
			} else {
				ids[ns.ID] = path
			}
		}
		if ze, ok := d.f["zone"]; ok {
			if v, ok := p.intIn(ze.v, joinPath(path, "zone"), 0, math.MaxUint16, ""); ok {
				ns.Zone = uint16(v)
			}
		}
		if me, ok := d.f["mac_limit"]; ok {
			if v, ok := p.intIn(me.v, joinPath(path, "mac_limit"), 0, l2.MaxCapacity, fmt.Sprintf("0 (no limit) to %d", l2.MaxCapacity)); ok {
				ns.MACLimit = v
			}
		}
		if se, ok := d.f["icmp_source"]; ok {
			ns.ICMPSource = p.icmpSource(se.v, joinPath(path, "icmp_source"))
		}
	}
	return defs
}

// ports reads the port list into c.Switch.Ports, with names and networks
// filled in.
func (p *parser) ports(f map[string]entry, root *yaml.Node, c *Config, used, ifaces map[string]string) []portDef {
	sw := &c.Switch
	e, ok := f["ports"]
	if !ok {
		p.errorf(root, "", "ports is required: list at least one port")
		return nil
	}
	items, ok := p.list(e.v, "ports")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(e.v, "ports", "empty list: give at least one port")
		return nil
	}
	if len(items) > maxPorts {
		p.errorf(e.v, "ports", "%d ports, at most %d", len(items), maxPorts)
		return nil
	}
	var netNames []string
	isNet := map[string]bool{}
	for _, ns := range sw.Networks {
		if !isNet[ns.Name] {
			isNet[ns.Name] = true
			netNames = append(netNames, ns.Name)
		}
	}
	defs := make([]portDef, len(items))
	sw.Ports = make([]dataplane.PortSpec, len(items))
	for i, it := range items {
		path := index("ports", i)
		d := portDef{path: path}
		fs := p.fields(it, path, portKeys...)
		ps := &sw.Ports[i]
		defs[i] = d
		if fs == nil {
			continue
		}
		ps.Name, ps.Interface, d.nameNode = p.portIdentity(it, path, fs, used, ifaces)
		if len(netNames) > 0 {
			ps.Network = netNames[0]
		}
		if ne, ok := fs["network"]; ok {
			if s, ok := p.str(ne.v, joinPath(path, "network")); ok {
				if isNet[s] {
					ps.Network = s
				} else if len(netNames) > 0 { // else the networks had errors of their own
					if _, given := f["networks"]; given {
						p.errorf(ne.v, joinPath(path, "network"), "unknown network %s (networks: %s)", quote(s), listSome(netNames))
					} else {
						p.errorf(ne.v, joinPath(path, "network"), "unknown network %s (no networks are defined: every port is in %q)", quote(s), DefaultNetwork)
					}
				}
			}
		}
		if me, ok := fs["mode"]; ok {
			if m, ok := p.mode(me.v, joinPath(path, "mode")); ok {
				ps.Mode = &m
			}
		}
		if qe, ok := fs["queues"]; ok {
			if v, ok := p.intIn(qe.v, joinPath(path, "queues"), 1, dataplane.MaxQueues, ""); ok {
				d.queues, d.queueNode = v, qe.v
				if c.queues == nil {
					c.queues = map[string]int{}
				}
				c.queues[ps.Name] = v
			}
		}
		defs[i] = d
	}
	return defs
}

// portIdentity reads the interface and name of a port or underlay item
// (the name defaults to the interface) and reserves both in used and
// ifaces. nameNode is the node the name came from, nil when it is not
// valid or not unique.
func (p *parser) portIdentity(it *yaml.Node, path string, fs map[string]entry, used, ifaces map[string]string) (name, iface string, nameNode *yaml.Node) {
	if ie, ok := fs["interface"]; !ok {
		p.errorf(it, path, "interface is required")
	} else if s, ok := p.str(ie.v, joinPath(path, "interface")); ok {
		iface = s
		if err := ifNameError(s); err != nil {
			p.errAt(ie.v, joinPath(path, "interface"), err)
		} else if first, dup := ifaces[s]; dup {
			// Not nameNode: a name defaulted from it would only repeat this.
			p.errorf(ie.v, joinPath(path, "interface"), "interface %s is already %s", quote(s), first)
		} else {
			ifaces[s] = path
			nameNode = ie.v
		}
	}
	namePath := path // the name defaults to the interface
	name = iface
	if ne, ok := fs["name"]; ok {
		nameNode = nil
		if s, ok := p.str(ne.v, joinPath(path, "name")); ok {
			name = s
			nameNode, namePath = ne.v, joinPath(path, "name")
			if !validName(s) {
				p.errorf(ne.v, joinPath(path, "name"), "port name %s: want %s", quote(s), nameSyntax)
				nameNode = nil
			}
		}
	} else if nameNode != nil && !validName(name) {
		p.errorf(nameNode, path, "interface %s is no valid port name (%s): give the port a name", quote(name), nameSyntax)
		nameNode = nil
	}
	if nameNode != nil && !p.reserveName(used, name, nameNode, namePath, path) {
		nameNode = nil
	}
	return name, iface, nameNode
}

// reserveName records a port name for owner (a path), or reports the
// first user of the name.
func (p *parser) reserveName(used map[string]string, name string, at *yaml.Node, path, owner string) bool {
	if first, dup := used[name]; dup {
		p.errorf(at, path, "port name %q already used by %s", name, first)
		return false
	}
	used[name] = owner
	return true
}

// workers sizes the worker count to the queues given, or checks the count
// given against them: both are known before attaching.
func (p *parser) workers(ports []portDef, sw *dataplane.SwitchConfig) {
	minQ := 0
	for _, d := range ports {
		if d.queues > 0 && (minQ == 0 || d.queues < minQ) {
			minQ = d.queues
		}
	}
	if minQ == 0 {
		return
	}
	if sw.Workers == 0 {
		n := len(sw.CPUs)
		if n == 0 {
			n = availableCPUs()
		}
		sw.Workers = max(1, min(n, minQ, dataplane.MaxQueues))
		return
	}
	for i, d := range ports {
		if d.queues > 0 && d.queues < sw.Workers {
			p.errorf(d.queueNode, joinPath(d.path, "queues"), "port %s has %d queues but workers is %d (worker i owns queue i of every port)",
				sw.Ports[i].Name, d.queues, sw.Workers)
		}
	}
}

// portSet is every port name as the switch indexes them: VM ports, then
// underlays, then tunnel endpoints (the first of a name used twice).
type portSet struct {
	idx      policy.PortMap
	net      map[string]string // port -> its network; underlays have none
	underlay map[string]bool
}

func newPortSet(sw *dataplane.SwitchConfig) *portSet {
	ps := &portSet{idx: policy.PortMap{}, net: map[string]string{}, underlay: map[string]bool{}}
	i := 0
	add := func(name, network string, underlay bool) {
		if _, dup := ps.idx[name]; !dup && name != "" {
			ps.idx[name] = i
			if underlay {
				ps.underlay[name] = true
			} else {
				ps.net[name] = network
			}
		}
		i++
	}
	for _, x := range sw.Ports {
		add(x.Name, x.Network, false)
	}
	for _, u := range sw.Underlays {
		add(u.Name, "", true)
	}
	for _, t := range sw.Tunnels {
		add(t.Endpoint.Name, t.Network, false)
	}
	return ps
}

// members checks what relates networks and ports (tunnel endpoints
// included): static MACs and policies.
func (p *parser) members(nets []netDef, sw *dataplane.SwitchConfig) {
	ports := newPortSet(sw)
	for i, d := range nets {
		if i >= len(sw.Networks) || d.f == nil {
			continue
		}
		ns := &sw.Networks[i]
		if e, ok := d.f["static_macs"]; ok {
			ns.Static = p.staticMACs(e.v, joinPath(d.path, "static_macs"), ns.Name, ports)
		}
		if e, ok := d.f["policy"]; ok {
			ns.Policy = p.policy(e.v, joinPath(d.path, "policy"), ns.Name, ports)
		}
	}
}

func (p *parser) staticMACs(n *yaml.Node, path, network string, ports *portSet) map[packet.MAC]string {
	es, _ := p.pairs(n, path)
	out := map[packet.MAC]string{}
	first := map[packet.MAC]*yaml.Node{}
	for _, e := range es {
		kpath := path + "[" + e.key + "]"
		hw, err := net.ParseMAC(e.key)
		if err != nil || len(hw) != 6 {
			p.errorf(e.k, path, "bad MAC address %s (want six hex bytes, e.g. 02:00:00:00:00:01)", quote(e.key))
			continue
		}
		mac := packet.MAC(hw)
		switch {
		case mac.IsMulticast():
			p.errorf(e.k, path, "MAC %s is multicast: only unicast MACs can be static", e.key)
			continue
		case mac == packet.MAC{}:
			p.errorf(e.k, path, "MAC %s is all zeros", e.key)
			continue
		}
		if f, dup := first[mac]; dup {
			p.errorf(e.k, path, "MAC %s given twice (first at line %d)", e.key, f.Line)
			continue
		}
		first[mac] = e.k
		port, ok := p.str(e.v, kpath)
		if !ok {
			continue
		}
		switch pn, known := ports.net[port]; {
		case ports.underlay[port]:
			p.errorf(e.v, kpath, "underlay %s is not a port of network %q", port, network)
		case !known:
			p.errorf(e.v, kpath, "unknown port %s", quote(port))
		case pn != network:
			p.errorf(e.v, kpath, "port %s is in network %q, not %q", port, pn, network)
		default:
			out[mac] = port
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (p *parser) policy(n *yaml.Node, path, network string, ports *portSet) policy.Config {
	var pc policy.Config
	f := p.fields(n, path, policyKeys...)
	if e, ok := f["default"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "default")); ok {
			a, err := policy.ParseAction(s)
			if err != nil {
				p.errAt(e.v, joinPath(path, "default"), err)
			}
			pc.Default = a
		}
	}
	if e, ok := f["invalid"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "invalid")); ok {
			m, err := policy.ParseInvalidMode(s)
			if err != nil {
				p.errAt(e.v, joinPath(path, "invalid"), err)
			}
			pc.Invalid = m
		}
	}
	e, ok := f["rules"]
	if !ok {
		return pc
	}
	items, ok := p.list(e.v, joinPath(path, "rules"))
	if !ok {
		return pc
	}
	if len(items) > policy.MaxRules {
		p.errorf(e.v, joinPath(path, "rules"), "%d rules, at most %d", len(items), policy.MaxRules)
		return pc
	}
	clean := true
	for i, it := range items {
		rpath := index(joinPath(path, "rules"), i)
		s, ok := p.str(it, rpath)
		if !ok {
			clean = false
			continue
		}
		r, err := policy.ParseRule(s)
		if err != nil {
			// The position names the rule; the RuleError's copy of its
			// text would only repeat it.
			var re *policy.RuleError
			if errors.As(err, &re) {
				err = re.Err
			}
			p.errAt(it, rpath, err)
			clean = false
			continue
		}
		// Compiling the rule alone finds unknown ports in every rule, where
		// compiling the list stops at the first problem.
		if _, err := policy.Compile(policy.Config{Rules: []policy.Rule{r}}, ports.idx); err != nil {
			var re *policy.RuleError
			if errors.As(err, &re) {
				err = re.Err
			}
			p.errAt(it, rpath, err)
			clean = false
			continue
		}
		// A port of another network never sends or receives this
		// network's frames: the rule could never match.
		for _, pn := range []struct{ what, name string }{{"in", r.InPort}, {"out", r.OutPort}} {
			switch {
			case pn.name == "":
			case ports.underlay[pn.name]:
				p.errorf(it, rpath, "%s port: underlay %s is not a port of network %q", pn.what, pn.name, network)
				clean = false
			case ports.net[pn.name] != network:
				p.errorf(it, rpath, "%s port %q is in network %q, not %q: the rule never matches", pn.what, pn.name, ports.net[pn.name], network)
				clean = false
			}
		}
		pc.Rules = append(pc.Rules, r)
	}
	if clean {
		// What only the whole list can show: rule names used twice.
		if _, err := policy.Compile(pc, ports.idx); err != nil {
			at, rpath := e.v, joinPath(path, "rules")
			var re *policy.RuleError
			if errors.As(err, &re) && re.Pos >= 1 && re.Pos <= len(items) {
				at, rpath, err = items[re.Pos-1], index(rpath, re.Pos-1), re.Err
			}
			p.errAt(at, rpath, err)
		}
	}
	return pc
}

// probeZone validates one zone's knobs with conntrack's own rules, so the
// bounds live in one place and the error can point at the key.
func probeZone(z conntrack.ZoneConfig) error {
	c := conntrack.DefaultConfig()
	c.Default = z
	err := c.Validate()
	if u := errors.Unwrap(err); u != nil {
		return u // without "default zone: ": the key path names the zone
	}
	return err
}

func probeDefrag(d conntrack.DefragConfig) error {
	c := conntrack.DefaultConfig()
	d.Disabled = false // check the bounds even of a disabled reassembler
	c.Defrag = d
	return c.Validate()
}

func (p *parser) conntrack(n *yaml.Node, path string, ct *conntrack.Config) {
	f := p.fields(n, path, conntrackKeys...)
	if e, ok := f["max_conns"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "max_conns"), math.MinInt, math.MaxInt, ""); ok {
			c := conntrack.DefaultConfig()
			c.MaxConns = v
			if err := c.Validate(); err != nil {
				p.errAt(e.v, joinPath(path, "max_conns"), err)
			} else {
				if v == 0 { // conntrack's "default"; keep the value it stands for
					v = conntrack.DefaultMaxConns
				}
				ct.MaxConns = v
			}
		}
	}
	// Zones inherit from the default zone as the file sets it, whatever
	// the order of the keys.
	if e, ok := f["default"]; ok {
		p.zone(e.v, joinPath(path, "default"), &ct.Default)
	}
	if e, ok := f["zones"]; ok {
		zpath := joinPath(path, "zones")
		es, _ := p.pairs(e.v, zpath)
		first := map[uint16]*yaml.Node{}
		for _, ze := range es {
			id, ok := zoneID(ze.k)
			if !ok {
				p.errorf(ze.k, zpath, "zone key %s: want a zone number 0..65535", quote(ze.key))
				continue
			}
			if f, dup := first[id]; dup {
				p.errorf(ze.k, zpath, "zone %d given twice (first at line %d)", id, f.Line)
				continue
			}
			first[id] = ze.k
			z := ct.Default
			if !isNull(ze.v) {
				p.zone(ze.v, fmt.Sprintf("%s[%d]", zpath, id), &z)
			}
			if ct.Zones == nil {
				ct.Zones = map[uint16]conntrack.ZoneConfig{}
			}
			ct.Zones[id] = z
		}
	}
	if e, ok := f["defrag"]; ok {
		p.defrag(e.v, joinPath(path, "defrag"), &ct.Defrag)
	}
}

// zoneID reads a zone key, written as a YAML integer or a quoted number.
func zoneID(k *yaml.Node) (uint16, bool) {
	s := k.Value
	base := 10
	if k.ShortTag() == "!!int" {
		s, base = strings.ReplaceAll(s, "_", ""), 0
	} else if k.ShortTag() != "!!str" {
		return 0, false
	}
	v, err := strconv.ParseUint(s, base, 16)
	return uint16(v), err == nil
}

func (p *parser) zone(n *yaml.Node, path string, z *conntrack.ZoneConfig) {
	f := p.fields(n, path, zoneKeys...)
	for _, b := range []struct {
		key string
		v   *bool
	}{{"loose", &z.Loose}, {"liberal", &z.BeLiberal}, {"ignore_invalid_rst", &z.IgnoreInvalidRST}, {"checksum", &z.Checksum}} {
		if e, ok := f[b.key]; ok {
			if v, ok := p.boolean(e.v, joinPath(path, b.key)); ok {
				*b.v = v
			}
		}
	}
	for _, k := range []struct {
		key string
		v   *int
	}{{"max_retrans", &z.MaxRetrans}, {"limit", &z.Limit}} {
		e, ok := f[k.key]
		if !ok {
			continue
		}
		v, ok := p.intIn(e.v, joinPath(path, k.key), math.MinInt, math.MaxInt, "")
		if !ok {
			continue
		}
		old := *k.v
		*k.v = v
		if err := probeZone(*z); err != nil {
			p.errAt(e.v, joinPath(path, k.key), err)
			*k.v = old
		}
	}
	if e, ok := f["timeouts"]; ok {
		tpath := joinPath(path, "timeouts")
		tf := p.fields(e.v, tpath, conntrack.TimeoutNames...)
		for _, name := range conntrack.TimeoutNames {
			te, ok := tf[name]
			if !ok {
				continue
			}
			if d, ok := p.duration(te.v, joinPath(tpath, name)); ok {
				if err := z.Timeouts.Set(name, d); err != nil {
					p.errAt(te.v, joinPath(tpath, name), err)
				}
			}
		}
	}
}

func (p *parser) defrag(n *yaml.Node, path string, d *conntrack.DefragConfig) {
	f := p.fields(n, path, defragKeys...)
	if e, ok := f["enabled"]; ok {
		if v, ok := p.boolean(e.v, joinPath(path, "enabled")); ok {
			d.Disabled = !v
		}
	}
	for _, k := range []struct {
		key string
		v   *int
	}{{"max_pending", &d.MaxPending}, {"min_frag_size_v4", &d.MinFragSizeV4}, {"min_frag_size_v6", &d.MinFragSizeV6}} {
		e, ok := f[k.key]
		if !ok {
			continue
		}
		v, ok := p.intIn(e.v, joinPath(path, k.key), math.MinInt, math.MaxInt, "")
		if !ok {
			continue
		}
		old := *k.v
		*k.v = v
		if err := probeDefrag(*d); err != nil {
			p.errAt(e.v, joinPath(path, k.key), err)
			*k.v = old
		}
	}
	if e, ok := f["timeout"]; ok {
		if v, ok := p.duration(e.v, joinPath(path, "timeout")); ok {
			old := d.Timeout
			d.Timeout = v
			if err := probeDefrag(*d); err != nil {
				p.errAt(e.v, joinPath(path, "timeout"), err)
				d.Timeout = old
			}
		}
	}
}

func (p *parser) mac(n *yaml.Node, path string, m *l2.Config) {
	f := p.fields(n, path, macKeys...)
	if e, ok := f["capacity"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "capacity"), 1, l2.MaxCapacity, ""); ok {
			m.Capacity = v
		}
	}
	if e, ok := f["max_age"]; ok {
		if d, ok := p.duration(e.v, joinPath(path, "max_age")); ok {
			if d < l2.MinMaxAge || d > l2.MaxMaxAge {
				p.errorf(e.v, joinPath(path, "max_age"), "%s out of range (want %s..%s)", formatDuration(d), l2.MinMaxAge, formatDuration(l2.MaxMaxAge))
			} else {
				m.MaxAge = d
			}
		}
	}
}

func (p *parser) control(n *yaml.Node, path string, c *ControlConfig) {
	f := p.fields(n, path, controlKeys...)
	if e, ok := f["socket"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "socket")); ok {
			switch {
			case !filepath.IsAbs(s):
				p.errorf(e.v, joinPath(path, "socket"), "%s is not an absolute path", quote(s))
			case len(s) > maxSocketPath:
				p.errorf(e.v, joinPath(path, "socket"), "path is %d bytes, a Unix socket's at most %d", len(s), maxSocketPath)
			case strings.HasSuffix(s, "/"):
				p.errorf(e.v, joinPath(path, "socket"), "%s names a directory", quote(s))
			default:
				c.Socket = s
			}
		}
	}
}

func (p *parser) metrics(n *yaml.Node, path string, m *MetricsConfig) {
	f := p.fields(n, path, metricsKeys...)
	e, ok := f["listen"]
	if !ok {
		return
	}
	s, ok := p.str(e.v, joinPath(path, "listen"))
	if !ok {
		return
	}
	if s == "" || s == "off" {
		m.Listen = ""
		return
	}
	if err := hostPortError(s); err != nil {
		p.errAt(e.v, joinPath(path, "listen"), err)
		return
	}
	m.Listen = s
}

// hostPortError checks a listen address without resolving it: a
// host (empty for every address, an IP or a DNS name) and a port number.
func hostPortError(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s: want host:port, e.g. 127.0.0.1:9469 or [::1]:9469 (or off)", quote(s))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%s: port %s: want a number 1..65535", quote(s), quote(port))
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return fmt.Errorf("%s: host %s is neither an IP address nor a host name", quote(s), quote(host))
		}
	}
	return nil
}

func (p *parser) snapshot(n *yaml.Node, path string, sc *SnapshotConfig) {
	f := p.fields(n, path, snapshotKeys...)
	if e, ok := f["path"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "path")); ok {
			switch {
			case s == "off":
				sc.Path = ""
			case !filepath.IsAbs(s):
				p.errorf(e.v, joinPath(path, "path"), "%s is not an absolute path (or off)", quote(s))
			case strings.HasSuffix(s, "/"):
				p.errorf(e.v, joinPath(path, "path"), "%s names a directory", quote(s))
			default:
				sc.Path = s
			}
		}
	}
	if e, ok := f["restore"]; ok {
		if v, ok := p.boolean(e.v, joinPath(path, "restore")); ok {
			sc.Restore = v
		}
	}
	if e, ok := f["interval"]; ok {
		if d, ok := p.duration(e.v, joinPath(path, "interval")); ok {
			if d != 0 && d < time.Second {
				p.errorf(e.v, joinPath(path, "interval"), "%s: want 0 (only at shutdown) or at least 1s", d)
			} else {
				sc.Interval = d
			}
		}
	}
}

func (p *parser) log(n *yaml.Node, path string, lc *LogConfig) {
	f := p.fields(n, path, logKeys...)
	if e, ok := f["format"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "format")); ok {
			if s != "text" && s != "json" {
				p.errorf(e.v, joinPath(path, "format"), "unknown format %s (want text or json)", quote(s))
			} else {
				lc.Format = s
			}
		}
	}
	if e, ok := f["level"]; ok {
		if s, ok := p.str(e.v, joinPath(path, "level")); ok {
			var lv slog.Level
			if err := lv.UnmarshalText([]byte(s)); err != nil {
				p.errorf(e.v, joinPath(path, "level"), "unknown level %s (want debug, info, warn or error)", quote(s))
			} else {
				lc.Level = lv
			}
		}
	}
	if e, ok := f["rate_limit"]; ok {
		if v, ok := p.intIn(e.v, joinPath(path, "rate_limit"), 0, maxRateLimit, fmt.Sprintf("0 (no per-packet events) to %d", maxRateLimit)); ok {
			lc.RateLimit = v
		}
	}
}
