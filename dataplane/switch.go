package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
)

// PortSpec is one switch port.
type PortSpec struct {
	// Name identifies the port in policy rules, counters and the MAC
	// table (default: the interface name).
	Name string
	// Interface is the Linux interface (a veth end, a NIC).
	Interface string
	// Network is the virtual network the port belongs to (default: the
	// first network).
	Network string
	// Mode overrides SwitchConfig.Mode for this port (nil: that mode).
	Mode *Mode
}

// NetworkSpec is a virtual network (bridge domain): ports that switch
// frames among themselves by MAC, with one conntrack zone and one policy.
type NetworkSpec struct {
	Name string
	// ID is the network's id in the MAC table, 1..4094 (default: its
	// position, from 1).
	ID uint16
	// Zone is the conntrack zone of the network's connections.
	Zone uint16
	// Policy filters new connections (default: allow all, drop invalid).
	Policy policy.Config
	// MACLimit caps the MACs learned in the network (0: no limit).
	MACLimit int
	// Static MAC entries: MAC -> port name.
	Static map[packet.MAC]string
	// ICMPSource is the source address (one IPv4, one IPv6 at most) of
	// the ICMP errors the switch sends into the network when a packet does
	// not fit a tunnel (default: the too-big packet's destination, as
	// Linux's bridged tunnels do).
	ICMPSource []netip.Addr
}

// SwitchConfig says how to build a switch.
type SwitchConfig struct {
	Ports    []PortSpec
	Networks []NetworkSpec // default: one network "default" (id 1, zone 0) with every port
	// Workers is the number of workers (0: one per CPU the process may
	// use, capped by the smallest port queue count). Worker i owns queue
	// i of every port and conntrack shard i.
	Workers int
	// CPUs pins worker i to CPUs[i % len(CPUs)] (default: the CPUs the
	// process may use, in order).
	CPUs []int
	// Port options: Mode, RingSize, FrameSize as in Config of Open.
	Mode      Mode
	RingSize  int
	FrameSize int
	// Batch is the most frames a worker takes from one queue at a time
	// (default 64).
	Batch int
	// Conntrack configures the table (its Shards is set to Workers; a
	// zero Default or Defrag means Linux's defaults).
	Conntrack conntrack.Config
	// MAC configures the MAC table.
	MAC l2.Config
	// HandoffSlots is each hand-off ring's size (default: 1024 with two
	// workers, fewer with many; a power of two).
	HandoffSlots int
	// Spin makes idle workers poll their rings instead of sleeping in
	// poll(2): lower latency and no wake-up cost per burst, at the price
	// of a whole core per worker even without traffic (like an Open
	// vSwitch PMD thread).
	Spin bool
	// ReorderSlots is the size of each worker's reorder buffer, the frames
	// it may hold while waiting for the other workers (default 2048).
	ReorderSlots int
	// OrderWait bounds how long a worker holds frames waiting for a
	// stalled worker's watermark before it processes them anyway
	// (default 100ms; counted as order_wait_timeouts).
	OrderWait time.Duration
	// Underlays are the ports tunnels leave and arrive on; Tunnels are
	// the remote endpoints of the networks (see TunnelSpec).
	Underlays []UnderlaySpec
	Tunnels   []TunnelSpec
	// ICMPLimit rate-limits the ICMP errors sent for packets too big for
	// a tunnel (zero: icmperr's defaults, generous enough never to stall
	// path MTU discovery).
	ICMPLimit icmperr.LimiterConfig
	// PMTUExpiry is how long a path MTU learned from the underlay holds
	// (zero: 10 minutes, as Linux's ip_rt_mtu_expires).
	PMTUExpiry time.Duration
	Logger     *slog.Logger
}

const (
	defaultBatch        = 64
	defaultOrderWait    = 100 * time.Millisecond
	idlePoll            = 20 * time.Millisecond // longest sleep: conntrack expiry and control requests run between batches
	defaultReorderSlots = 2048
)

// network is a built virtual network.
type network struct {
	name     string
	id       uint16
	zone     uint16
	policy   atomic.Pointer[policy.Policy]
	ports    []int // port indexes
	icmpSrc4 netip.Addr
	icmpSrc6 netip.Addr
}

// portKind says what is behind a switch port.
type portKind uint8

const (
	portVM       portKind = iota // an AF_XDP port in a network
	portUnderlay                 // an AF_XDP port tunnels use; in no network
	portTunnel                   // a remote tunnel endpoint in a network; sends through its underlay
)

// swPort is a switch port: the spec, its network and its AF_XDP port (nil
// for a port without I/O, as in benchmarks and fuzzing).
type swPort struct {
	name     string
	ifname   string
	kind     portKind
	mode     *Mode // nil: SwitchConfig.Mode
	net      *network
	port     *Port
	tun      *tunPort // portTunnel only
	maxFrame int      // largest frame accepted in and sent out: MTU + Ethernet + one VLAN tag
}

// Switch is a running (or ready) switch: ports, networks, workers, the
// conntrack table and the MAC table. It owns its workers' goroutines and
// the ports it opened.
type Switch struct {
	cfg      SwitchConfig
	log      *slog.Logger
	ports    []*swPort
	portIdx  map[string]int
	networks []*network
	ct       *conntrack.Table
	macs     *l2.Table
	workers  []*worker
	frameCap int

	stop    chan struct{}
	wg      sync.WaitGroup
	started bool
	errMu   sync.Mutex
	errs    []error
	closeMu sync.Mutex
	closed  bool
	stopped bool

	obs      atomic.Pointer[observers] // taps and traces; nil when none
	obsMu    sync.Mutex                // serialises changes to obs
	wallBase time.Time                 // wall clock at monoBase, for stamps
	monoBase int64

	tuns      []*tunPort
	tunTable  *tunnel.Table
	icmpLimit *icmperr.Limiter
}

// portIndexer resolves port names for policy compilation.
type portIndexer map[string]int

func (p portIndexer) PortIndex(name string) (int, bool) { i, ok := p[name]; return i, ok }

// New validates cfg, opens every port and builds the workers; Start runs
// them. On error nothing stays attached.
func New(ctx context.Context, cfg SwitchConfig) (*Switch, error) {
	sw, err := build(cfg)
	if err != nil {
		return nil, err
	}
	if len(sw.tuns) > 0 {
		if err := sw.resolveLocals(); err != nil {
			return nil, err
		}
	}
	for pi, p := range sw.ports {
		if p.kind == portTunnel {
			continue
		}
		mode := cfg.Mode
		if p.mode != nil {
			mode = *p.mode
		}
		var filter *Filter
		if p.kind == portUnderlay {
			if filter, err = sw.underlayFilter(pi); err != nil {
				return nil, errors.Join(fmt.Errorf("switch: %w", err), sw.closePorts())
			}
		}
		port, err := Open(ctx, Config{
			Interface: p.ifname, Mode: mode, Queues: sw.cfg.Workers,
			RingSize: cfg.RingSize, FrameSize: cfg.FrameSize, Filter: filter,
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("port %s: %w", p.name, err), sw.closePorts())
		}
		p.port = port
		p.maxFrame = port.MaxFrame()
		sw.log.Info("port attached", "port", p.name, "interface", p.ifname, "mode", port.Mode().String(),
			"queues", len(port.Queues()), "driver", port.Driver(), "max_frame", p.maxFrame)
	}
	if err := sw.buildWorkers(); err != nil {
		return nil, errors.Join(err, sw.closePorts())
	}
	return sw, nil
}

// build checks the configuration and builds everything but the ports'
// I/O and the workers.
func build(cfg SwitchConfig) (*Switch, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Ports) == 0 {
		return nil, errors.New("switch: no ports (give at least one --port)")
	}
	if cfg.Batch == 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.Batch < 1 || cfg.Batch > 1024 {
		return nil, fmt.Errorf("switch: batch %d: must be 1..1024", cfg.Batch)
	}
	if cfg.ReorderSlots == 0 {
		cfg.ReorderSlots = defaultReorderSlots
	}
	if cfg.ReorderSlots < 1 || cfg.ReorderSlots > 1<<16 {
		return nil, fmt.Errorf("switch: reorder slots %d: must be 1..65536", cfg.ReorderSlots)
	}
	if cfg.OrderWait == 0 {
		cfg.OrderWait = defaultOrderWait
	}
	if cfg.OrderWait < 0 {
		return nil, fmt.Errorf("switch: order wait %v: must be positive", cfg.OrderWait)
	}
	if len(cfg.CPUs) == 0 {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return nil, fmt.Errorf("switch: cpu affinity: %w", err)
		}
		for c := 0; c < 1024 && len(cfg.CPUs) < set.Count(); c++ {
			if set.IsSet(c) {
				cfg.CPUs = append(cfg.CPUs, c)
			}
		}
	}
	if cfg.Workers < 0 || cfg.Workers > MaxQueues {
		return nil, fmt.Errorf("switch: %d workers: must be 0 (one per CPU) to %d", cfg.Workers, MaxQueues)
	}
	if cfg.Workers == 0 {
		cfg.Workers = len(cfg.CPUs)
	}
	sw := &Switch{cfg: cfg, log: cfg.Logger, portIdx: map[string]int{}, stop: make(chan struct{})}
	sw.monoBase, sw.wallBase = Now(), time.Now()

	if len(cfg.Networks) == 0 {
		cfg.Networks = []NetworkSpec{{Name: "default"}}
		sw.cfg.Networks = cfg.Networks
	}
	netByName := map[string]*network{}
	usedIDs := map[uint16]string{}
	for i, ns := range cfg.Networks {
		if ns.Name == "" {
			return nil, fmt.Errorf("switch: network %d has no name", i+1)
		}
		if _, dup := netByName[ns.Name]; dup {
			return nil, fmt.Errorf("switch: network %q defined twice", ns.Name)
		}
		id := ns.ID
		if id == 0 {
			id = uint16(i + 1)
		}
		if id < 1 || id > 4094 {
			return nil, fmt.Errorf("switch: network %q: id %d: must be 1..4094", ns.Name, id)
		}
		if other, dup := usedIDs[id]; dup {
			return nil, fmt.Errorf("switch: networks %q and %q both have id %d", other, ns.Name, id)
		}
		usedIDs[id] = ns.Name
		n := &network{name: ns.Name, id: id, zone: ns.Zone}
		for _, a := range ns.ICMPSource {
			switch a = a.Unmap(); {
			case a.Is4() && !n.icmpSrc4.IsValid():
				n.icmpSrc4 = a
			case a.Is6() && !n.icmpSrc6.IsValid():
				n.icmpSrc6 = a
			default:
				return nil, fmt.Errorf("switch: network %q: ICMP source %v: at most one IPv4 and one IPv6 address", ns.Name, a)
			}
		}
		netByName[ns.Name] = n
		sw.networks = append(sw.networks, n)
	}
	for i, ps := range cfg.Ports {
		if ps.Interface == "" {
			return nil, fmt.Errorf("switch: port %d has no interface", i+1)
		}
		name := ps.Name
		if name == "" {
			name = ps.Interface
		}
		if err := sw.addPortName(name, ps.Interface); err != nil {
			return nil, err
		}
		n := sw.networks[0]
		if ps.Network != "" {
			var ok bool
			if n, ok = netByName[ps.Network]; !ok {
				return nil, fmt.Errorf("switch: port %q: no network %q", name, ps.Network)
			}
		}
		n.ports = append(n.ports, len(sw.ports))
		sw.ports = append(sw.ports, &swPort{name: name, ifname: ps.Interface, net: n, mode: ps.Mode, maxFrame: 1500 + 18})
	}
	if err := sw.buildTunnels(&cfg, netByName); err != nil {
		return nil, err
	}
	for i, ns := range cfg.Networks {
		pol, err := policy.Compile(ns.Policy, portIndexer(sw.portIdx))
		if err != nil {
			return nil, fmt.Errorf("switch: network %q: %w", ns.Name, err)
		}
		sw.networks[i].policy.Store(pol)
	}

	ctCfg := cfg.Conntrack
	if ctCfg.Default.Timeouts == (conntrack.Timeouts{}) {
		ctCfg.Default = conntrack.DefaultZoneConfig()
	}
	if ctCfg.Defrag == (conntrack.DefragConfig{}) {
		ctCfg.Defrag = conntrack.DefaultDefragConfig()
	}
	ctCfg.Shards = cfg.Workers
	ct, err := conntrack.New(ctCfg)
	if err != nil {
		return nil, fmt.Errorf("switch: conntrack: %w", err)
	}
	sw.ct = ct
	macs, err := l2.New(cfg.MAC)
	if err != nil {
		return nil, fmt.Errorf("switch: MAC table: %w", err)
	}
	sw.macs = macs
	for _, tp := range sw.tuns {
		if g := tp.greip; g != nil {
			if err := macs.AddStatic(sw.ports[tp.port].net.id, g.mac, uint16(tp.port)); err != nil {
				return nil, fmt.Errorf("switch: tunnel %s: gateway MAC: %w", tp.ep.Name(), err)
			}
		}
	}
	for i, ns := range cfg.Networks {
		n := sw.networks[i]
		if ns.MACLimit < 0 {
			return nil, fmt.Errorf("switch: network %q: MAC limit %d: must be >= 0", ns.Name, ns.MACLimit)
		}
		if err := macs.SetLimit(n.id, ns.MACLimit); err != nil {
			return nil, fmt.Errorf("switch: network %q: %w", ns.Name, err)
		}
		for mac, portName := range ns.Static {
			pi, ok := sw.portIdx[portName]
			if !ok || sw.ports[pi].net != n {
				return nil, fmt.Errorf("switch: network %q: static MAC %s: port %q is not in the network", ns.Name, net6(mac), portName)
			}
			if err := macs.AddStatic(n.id, mac, uint16(pi)); err != nil {
				return nil, fmt.Errorf("switch: network %q: static MAC %s: %w", ns.Name, net6(mac), err)
			}
		}
	}
	return sw, nil
}

// addPortName reserves a port name and interface (ifname "" for a port
// without one).
func (sw *Switch) addPortName(name, ifname string) error {
	if _, dup := sw.portIdx[name]; dup {
		return fmt.Errorf("switch: port %q given twice", name)
	}
	if ifname != "" {
		for _, p := range sw.ports {
			if p.ifname == ifname {
				return fmt.Errorf("switch: interface %s is both port %q and port %q", ifname, p.name, name)
			}
		}
	}
	sw.portIdx[name] = len(sw.ports)
	return nil
}

func net6(m packet.MAC) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// buildWorkers sizes the workers to the ports' queues and wires the
// hand-off rings between every pair.
func (sw *Switch) buildWorkers() error {
	n := sw.cfg.Workers
	for _, p := range sw.ports {
		if p.port != nil && len(p.port.Queues()) < n {
			return fmt.Errorf("switch: port %s has %d queues, %d workers need %d (create the veth with numrxqueues/numtxqueues %d, or ethtool -L %s combined %d; or ask for fewer workers)",
				p.name, len(p.port.Queues()), n, n, n, p.ifname, n)
		}
	}
	sw.frameCap = 0
	for _, p := range sw.ports {
		if p.kind != portTunnel {
			sw.frameCap = max(sw.frameCap, p.maxFrame)
		}
	}
	for _, p := range sw.ports {
		if p.kind == portTunnel {
			// An inner frame is at most what the underlay brings, minus
			// the tunnel headers; the bound that matters is the buffers'.
			p.maxFrame = sw.frameCap
		}
	}
	slots := sw.cfg.HandoffSlots
	if slots == 0 {
		slots = 1024
		if n > 2 {
			slots = max(64, 2048/(n-1))
		}
	}
	slots = ceilPow2(slots)
	sw.workers = make([]*worker, n)
	for i := range n {
		w, err := newWorker(sw, i)
		if err != nil {
			for _, o := range sw.workers[:i] {
				o.close()
			}
			return err
		}
		sw.workers[i] = w
	}
	for _, w := range sw.workers {
		w.in = make([]*handoff, n)
		w.out = make([]*handoff, n)
	}
	for i := range n {
		for j := range n {
			if i != j {
				h := newHandoff(slots, sw.frameCap)
				sw.workers[i].out[j] = h
				sw.workers[j].in[i] = h
			}
		}
	}
	return nil
}

func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// MaxQueues bounds workers and queues per port.
const MaxQueues = 64

// Start runs the workers and the housekeeping goroutine (MAC aging).
func (sw *Switch) Start() error {
	if sw.started {
		return errors.New("switch: already started")
	}
	sw.started = true
	// A worker holds a P while it runs and needs one back after every
	// poll(2): with GOMAXPROCS at the CPU count, a worker woken by traffic
	// could wait a whole scheduling quantum (10 ms) behind goroutines of
	// the control plane, and hold up every other worker's ordered frames.
	if need := runtime.NumCPU() + len(sw.workers); runtime.GOMAXPROCS(0) < need {
		runtime.GOMAXPROCS(need)
	}
	if len(sw.tuns) > 0 {
		sw.refreshNextHops()
	}
	for _, w := range sw.workers {
		w.shard.Own()
		sw.wg.Add(1)
		go w.run()
	}
	sw.wg.Add(1)
	go sw.housekeeping()
	sw.log.Info("switch started", "workers", len(sw.workers), "ports", len(sw.ports), "networks", len(sw.networks))
	return nil
}

// housekeeping ages the MAC table a slice at a time.
func (sw *Switch) housekeeping() {
	defer sw.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-sw.stop:
			return
		case <-t.C:
			sw.macs.Age(Now(), 4096)
			// Next hops: every second, and every tick while one waits
			// for its neighbour.
			if len(sw.tuns) > 0 && (tick%5 == 0 || sw.nextHopPending()) {
				sw.refreshNextHops()
			}
			if tick%25 == 0 {
				for _, tp := range sw.tuns {
					if tp.greip != nil {
						tp.greip.expireAsks(Now())
					}
				}
			}
		}
	}
}

func (sw *Switch) nextHopPending() bool {
	for _, tp := range sw.tuns {
		if tp.nh.Load() == nil {
			return true
		}
	}
	return false
}

// workerFailed records a worker's fatal error; Err reports it.
func (sw *Switch) workerFailed(id int, err error) {
	sw.errMu.Lock()
	sw.errs = append(sw.errs, fmt.Errorf("worker %d: %w", id, err))
	sw.errMu.Unlock()
	sw.log.Error("worker stopped", "worker", id, "err", err)
}

// Err returns the errors that stopped workers, if any.
func (sw *Switch) Err() error {
	sw.errMu.Lock()
	defer sw.errMu.Unlock()
	return errors.Join(sw.errs...)
}

// Stop stops the workers: each finishes its round and flushes what it
// transmits. The ports stay attached (frames arriving now wait in their
// rings or are passed nowhere) and the conntrack table stays readable,
// inline, for a final snapshot. Close detaches.
func (sw *Switch) Stop() {
	sw.closeMu.Lock()
	defer sw.closeMu.Unlock()
	sw.stopLocked()
}

func (sw *Switch) stopLocked() {
	if sw.stopped {
		return
	}
	sw.stopped = true
	close(sw.stop)
	for _, w := range sw.workers {
		w.wake()
	}
	sw.wg.Wait()
	for _, w := range sw.workers {
		w.shard.Release()
		w.close()
	}
}

// Close stops the workers (they finish their batch and flush), then
// detaches and closes every port.
func (sw *Switch) Close() error {
	sw.closeMu.Lock()
	defer sw.closeMu.Unlock()
	if sw.closed {
		return nil
	}
	sw.closed = true
	sw.stopLocked()
	err := sw.closePorts()
	sw.ct.Close()
	return err
}

func (sw *Switch) closePorts() error {
	var errs []error
	for _, p := range sw.ports {
		if p.port != nil {
			if err := p.port.Close(); err != nil {
				errs = append(errs, fmt.Errorf("port %s: %w", p.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Conntrack returns the connection table (its control calls are requests
// the workers execute).
func (sw *Switch) Conntrack() *conntrack.Table { return sw.ct }

// MACs returns the MAC table.
func (sw *Switch) MACs() *l2.Table { return sw.macs }

// Workers returns the number of workers.
func (sw *Switch) Workers() int { return len(sw.workers) }

// PortNames returns the ports' names by index.
func (sw *Switch) PortNames() []string {
	names := make([]string, len(sw.ports))
	for i, p := range sw.ports {
		names[i] = p.name
	}
	return names
}

// Port returns the AF_XDP port of a switch port by name (nil if unknown).
func (sw *Switch) Port(name string) *Port {
	if i, ok := sw.portIdx[name]; ok {
		return sw.ports[i].port
	}
	return nil
}

// SetPolicy compiles and swaps a network's policy; workers pick it up with
// their next frame.
func (sw *Switch) SetPolicy(networkName string, cfg policy.Config) error {
	for _, n := range sw.networks {
		if n.name == networkName {
			p, err := policy.Compile(cfg, portIndexer(sw.portIdx))
			if err != nil {
				return fmt.Errorf("network %q: %w", networkName, err)
			}
			n.policy.Store(p)
			return nil
		}
	}
	return fmt.Errorf("no network %q", networkName)
}

// Policy returns a network's current policy.
func (sw *Switch) Policy(networkName string) *policy.Policy {
	for _, n := range sw.networks {
		if n.name == networkName {
			return n.policy.Load()
		}
	}
	return nil
}

// WorkerStats are one worker's counters.
type WorkerStats struct {
	Worker      int
	CPU         int
	Processed   uint64
	Forwarded   uint64
	HandoffOut  uint64
	HandoffIn   uint64
	Reordered   uint64
	OrderWaitTO uint64
	Batches     uint64
	Sleeps      uint64
	BusyNs      uint64
	Drops       map[string]uint64
}

// PortStats are a port's counters, per queue.
type PortStats struct {
	Name      string
	Interface string
	Network   string
	Mode      string
	Queues    []QueueStats
}

// Stats is a snapshot of the switch's counters.
type Stats struct {
	Workers []WorkerStats
	Ports   []PortStats
	// Drops sums every worker's drops by reason name (zeros included).
	Drops map[string]uint64
	// Tunnels, with tunnels configured: each endpoint, the tunnel
	// counters (rx_packets, frag_needed_sent, ...), decapsulation drops
	// by reason (tunnel_decap), reassembly refusals by reason
	// (tunnel_reassembly), and why too-big packets got no ICMP error.
	Tunnels           []TunnelStats
	TunnelCounters    map[string]uint64
	TunnelReasons     map[string]uint64
	ReassemblyReasons map[string]uint64
	ICMPSuppressed    map[string]uint64
}

// Stats returns the counters; safe from any goroutine.
func (sw *Switch) Stats() Stats {
	st := Stats{Drops: map[string]uint64{}}
	for _, d := range Drops() {
		st.Drops[d.Name()] = 0
	}
	for _, w := range sw.workers {
		c := &w.ctr
		ws := WorkerStats{
			Worker: w.id, CPU: w.cpu, Processed: c.processed.load(), Forwarded: c.forwarded.load(),
			HandoffOut: c.handoffOut.load(), HandoffIn: c.handoffIn.load(), Reordered: c.reordered.load(),
			OrderWaitTO: c.orderWaitTO.load(), Batches: c.batches.load(), Sleeps: c.sleeps.load(),
			BusyNs: c.busyNs.load(), Drops: map[string]uint64{},
		}
		for _, d := range Drops() {
			v := c.drops[d].load()
			if v != 0 {
				ws.Drops[d.Name()] = v
			}
			st.Drops[d.Name()] += v
		}
		st.Workers = append(st.Workers, ws)
	}
	for _, p := range sw.ports {
		if p.kind == portTunnel {
			continue // in Tunnels
		}
		ps := PortStats{Name: p.name, Interface: p.ifname, Network: "(underlay)"}
		if p.net != nil {
			ps.Network = p.net.name
		}
		if p.port != nil {
			ps.Mode = p.port.Mode().String()
			ps.Queues = p.port.Stats()
		}
		st.Ports = append(st.Ports, ps)
	}
	if len(sw.tuns) > 0 {
		sw.tunnelStats(&st)
	}
	return st
}

// NumCPU is the number of CPUs the process may run on.
func NumCPU() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return runtime.NumCPU()
	}
	return set.Count()
}

// NetworkInfo describes a virtual network.
type NetworkInfo struct {
	Name  string
	ID    uint16
	Zone  uint16
	Ports []string
}

// Networks lists the virtual networks in configuration order.
func (sw *Switch) Networks() []NetworkInfo {
	var out []NetworkInfo
	for _, n := range sw.networks {
		ni := NetworkInfo{Name: n.name, ID: n.id, Zone: n.zone}
		for _, pi := range n.ports {
			ni.Ports = append(ni.Ports, sw.ports[pi].name)
		}
		out = append(out, ni)
	}
	return out
}

// PortName names port index i (as in MAC table entries).
func (sw *Switch) PortName(i int) string {
	if i < 0 || i >= len(sw.ports) {
		return fmt.Sprintf("port%d", i)
	}
	return sw.ports[i].name
}
