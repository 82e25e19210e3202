package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds every netlink request, so a wedged kernel answer
// can't hang a test forever.
const netlinkTimeout = 10 * time.Second

// Lab is a built topology. Create it with Up, remove it with Down.
type Lab struct {
	topo   Topology // normalized
	id     string   // prefix + random suffix, e.g. "ctlabk3f9q"
	rawID  string   // the random suffix alone
	self   netns.NsHandle
	swIfs  map[string]string // link name -> switch-side interface name
	hostNs map[string]string // host -> namespace name

	// Swept lists stale objects of killed runs that Up removed first;
	// SweepErr is why some could not be removed (Up goes on regardless:
	// the new lab's names are unique).
	Swept    []string
	SweepErr error

	mu   sync.Mutex // serialises Down
	down bool
}

// Up builds the topology: it sweeps stale objects of killed runs with the
// same prefix, then creates the namespaces, the veth pairs (switch-side ends
// in the caller's namespace), addresses, neighbours and routes, and brings
// every interface up. On any failure it removes what it created and
// returns the error, naming the lab id.
func Up(ctx context.Context, topo Topology) (*Lab, error) {
	t := topo.normalized()
	if err := t.validate(); err != nil {
		return nil, err
	}
	swept, sweepErr := Sweep(t.Prefix)

	self, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("lab: get caller netns: %w", err)
	}
	l := &Lab{
		topo:     t,
		self:     self,
		swIfs:    map[string]string{},
		hostNs:   map[string]string{},
		Swept:    swept,
		SweepErr: sweepErr,
	}
	if err := l.pickID(); err != nil {
		self.Close()
		return nil, err
	}
	if err := l.build(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("lab %s: up: %w", l.id, err), l.Down())
	}
	return l, nil
}

func (l *Lab) pickID() error {
	for range 20 {
		id, err := newID()
		if err != nil {
			return err
		}
		clash := false
		if _, err := os.Stat(recordPath(id)); err == nil {
			clash = true
		}
		for _, h := range l.topo.Hosts {
			if _, err := os.Lstat(filepath.Join(netnsDir, nsName(l.topo.Prefix, id, h.Name))); err == nil {
				clash = true
			}
		}
		if clash {
			continue
		}
		l.setNames(id)
		return nil
	}
	return errors.New("lab: no free lab id after 20 tries")
}

// setNames derives the lab id, namespace and switch-side interface names
// from the random suffix id.
func (l *Lab) setNames(id string) {
	l.rawID, l.id = id, l.topo.Prefix+id
	for _, h := range l.topo.Hosts {
		l.hostNs[h.Name] = nsName(l.topo.Prefix, id, h.Name)
	}
	for i, lk := range l.topo.Links {
		if lk.B.Host == "" {
			l.swIfs[lk.Name] = switchIfName(l.topo.Prefix, id, i)
		}
	}
}

// record is the lab's record; keep marks it kept (see Topology.Keep).
func (l *Lab) record(keep bool) *record {
	t := l.topo
	r := &record{ID: l.rawID, Prefix: l.topo.Prefix, PID: os.Getpid(), Keep: keep, Topology: &t}
	r.Start, _ = processStart(r.PID)
	r.SwitchNetns, _ = nsInode(l.self)
	for _, h := range l.topo.Hosts {
		r.Netns = append(r.Netns, l.hostNs[h.Name])
	}
	for _, lk := range l.topo.Links {
		if n, ok := l.swIfs[lk.Name]; ok {
			r.SwitchLinks = append(r.SwitchLinks, n)
		}
	}
	return r
}

func (l *Lab) build(ctx context.Context) error {
	// The record goes first: from now on the sweeper of another process
	// knows these names belong to a live lab.
	if err := writeRecord(l.record(false)); err != nil {
		return err
	}
	for _, h := range l.topo.Hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := createNetns(l.hostNs[h.Name]); err != nil {
			return err
		}
		if err := l.withHandle(h.Name, func(nh *netlink.Handle) error {
			lo, err := nh.LinkByName("lo")
			if err != nil {
				return fmt.Errorf("host %s: lo: %w", h.Name, err)
			}
			if err := nh.LinkSetUp(lo); err != nil {
				return fmt.Errorf("host %s: set lo up: %w", h.Name, err)
			}
			return nil
		}); err != nil {
			return err
		}
		if h.Forward {
			if err := l.inNs(h.Name, enableForwarding); err != nil {
				return fmt.Errorf("host %s: %w", h.Name, err)
			}
		}
	}
	for i := range l.topo.Links {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.addLink(&l.topo.Links[i]); err != nil {
			return fmt.Errorf("link %q: %w", l.topo.Links[i].Name, err)
		}
	}
	if err := l.waitOperUp(ctx); err != nil {
		return err
	}
	if err := l.waitIPv6Ready(ctx); err != nil {
		return err
	}
	for _, h := range l.topo.Hosts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.addRoutes(h); err != nil {
			return fmt.Errorf("host %q: %w", h.Name, err)
		}
	}
	if l.topo.Keep {
		// Only now: a kept record of a half-built lab would never be swept.
		if err := writeRecord(l.record(true)); err != nil {
			return err
		}
	}
	return nil
}

// withHandle runs fn with a netlink handle inside host's namespace, or
// the caller's (switch) namespace for host "".
func (l *Lab) withHandle(host string, fn func(*netlink.Handle) error) error {
	var (
		nh  *netlink.Handle
		err error
	)
	if host == "" {
		nh, err = netlink.NewHandleAt(l.self)
	} else {
		ns, ok := l.hostNs[host]
		if !ok {
			return fmt.Errorf("unknown host %q", host)
		}
		var h netns.NsHandle
		h, err = netns.GetFromPath(filepath.Join(netnsDir, ns))
		if err != nil {
			return fmt.Errorf("host %s: open netns: %w", host, err)
		}
		defer h.Close()
		nh, err = netlink.NewHandleAt(h)
	}
	if err != nil {
		return fmt.Errorf("netlink handle for %q: %w", host, err)
	}
	defer nh.Close()
	if err := nh.SetSocketTimeout(netlinkTimeout); err != nil {
		return fmt.Errorf("netlink timeout: %w", err)
	}
	return fn(nh)
}

func (l *Lab) nsHandle(host string) (netns.NsHandle, error) {
	if host == "" {
		fd, err := unix.FcntlInt(uintptr(l.self), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return netns.None(), fmt.Errorf("dup caller netns: %w", err)
		}
		return netns.NsHandle(fd), nil
	}
	ns, ok := l.hostNs[host]
	if !ok {
		return netns.None(), fmt.Errorf("unknown host %q", host)
	}
	h, err := netns.GetFromPath(filepath.Join(netnsDir, ns))
	if err != nil {
		return netns.None(), fmt.Errorf("host %s: open netns: %w", host, err)
	}
	return h, nil
}

func (l *Lab) ifName(lk *Link, ep *Endpoint) string {
	if ep.Host == "" {
		return l.swIfs[lk.Name]
	}
	return ep.IfName
}

func (l *Lab) addLink(lk *Link) error {
	// The veth is created from A's namespace with its peer placed directly
	// in B's, so no interface ever appears under a temporary name.
	peerNs, err := l.nsHandle(lk.B.Host)
	if err != nil {
		return err
	}
	defer peerNs.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = l.ifName(lk, &lk.A)
	attrs.MTU = lk.MTU
	attrs.NumTxQueues = lk.Queues
	attrs.NumRxQueues = lk.Queues
	if lk.A.MAC != "" {
		attrs.HardwareAddr, _ = net.ParseMAC(lk.A.MAC)
	}
	veth := &netlink.Veth{
		LinkAttrs:       attrs,
		PeerName:        l.ifName(lk, &lk.B),
		PeerNamespace:   netlink.NsFd(peerNs),
		PeerNumTxQueues: uint32(lk.Queues),
		PeerNumRxQueues: uint32(lk.Queues),
		PeerMTU:         uint32(lk.MTU),
	}
	if lk.B.MAC != "" {
		veth.PeerHardwareAddr, _ = net.ParseMAC(lk.B.MAC)
	}
	if err := l.withHandle(lk.A.Host, func(nh *netlink.Handle) error {
		if err := nh.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", attrs.Name, veth.PeerName, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, ep := range []*Endpoint{&lk.A, &lk.B} {
		if err := l.configure(lk, ep); err != nil {
			return err
		}
	}
	return nil
}

// configure sets up one end: IPv6 switch, addresses, neighbours, up.
func (l *Lab) configure(lk *Link, ep *Endpoint) error {
	name := l.ifName(lk, ep)
	where := "switch"
	if ep.Host != "" {
		where = "host " + ep.Host
	}
	// Before the link goes up. Without IPv6 no link-local address and no
	// solicitation ever appears on the link. With it, no duplicate address
	// detection: a tentative link-local address holds up neighbour
	// discovery for about two seconds after the link comes up.
	knob, val := "accept_dad", "0"
	if lk.DisableIPv6 || ep.DisableIPv6 {
		knob, val = "disable_ipv6", "1"
	}
	if err := l.inNs(ep.Host, func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/"+knob, []byte(val), 0o644)
	}); err != nil {
		return fmt.Errorf("%s: %s: set %s: %w", where, name, knob, err)
	}
	if ep.TxChecksumOff {
		if err := l.DisableTxChecksum(ep.Host, name); err != nil {
			return err
		}
	}
	return l.withHandle(ep.Host, func(nh *netlink.Handle) error {
		link, err := nh.LinkByName(name)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", where, name, err)
		}
		for _, a := range ep.Addrs {
			p := netip.MustParsePrefix(a) // validated
			addr := &netlink.Addr{IPNet: &net.IPNet{
				IP:   p.Addr().AsSlice(),
				Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
			}}
			if p.Addr().Is6() {
				// No duplicate address detection: the address is usable at
				// once instead of staying tentative for a second or two.
				addr.Flags = unix.IFA_F_NODAD
			}
			if err := nh.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("%s: %s: add address %s: %w", where, name, a, err)
			}
		}
		for _, n := range ep.Neighbors {
			ip := netip.MustParseAddr(n.IP)
			hw, _ := net.ParseMAC(n.MAC)
			fam := unix.AF_INET
			if ip.Is6() {
				fam = unix.AF_INET6
			}
			if err := nh.NeighSet(&netlink.Neigh{
				LinkIndex: link.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
				IP: ip.AsSlice(), HardwareAddr: hw,
			}); err != nil {
				return fmt.Errorf("%s: %s: neighbor %s: %w", where, name, n.IP, err)
			}
		}
		if err := nh.LinkSetUp(link); err != nil {
			return fmt.Errorf("%s: %s: set up: %w", where, name, err)
		}
		return nil
	})
}

func (l *Lab) addRoutes(h Host) error {
	if len(h.Routes) == 0 {
		return nil
	}
	return l.withHandle(h.Name, func(nh *netlink.Handle) error {
		for _, r := range h.Routes {
			rt := &netlink.Route{}
			switch r.Dst {
			case "default":
				rt.Dst = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
			case "default6":
				rt.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
			default:
				p := netip.MustParsePrefix(r.Dst).Masked()
				rt.Dst = &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
			}
			if r.Via != "" {
				rt.Gw = netip.MustParseAddr(r.Via).AsSlice()
			}
			if r.Dev != "" {
				link, err := nh.LinkByName(r.Dev)
				if err != nil {
					return fmt.Errorf("route %s: dev %s: %w", r.Dst, r.Dev, err)
				}
				rt.LinkIndex = link.Attrs().Index
			}
			if err := nh.RouteAdd(rt); err != nil {
				return fmt.Errorf("route %s via %q dev %q: %w", r.Dst, r.Via, r.Dev, err)
			}
		}
		return nil
	})
}

// waitOperUp waits until every link end is operationally up. The kernel
// reports carrier through linkwatch, which may run up to a second after
// the link was set up; until then IPv6 has no multicast route on the
// interface and drops neighbour solicitations (seen: pings over a fresh
// link took 2 s).
func (l *Lab) waitOperUp(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Second)
	for i := range l.topo.Links {
		lk := &l.topo.Links[i]
		for _, ep := range []*Endpoint{&lk.A, &lk.B} {
			name := l.ifName(lk, ep)
			err := l.withHandle(ep.Host, func(nh *netlink.Handle) error {
				for {
					link, err := nh.LinkByName(name)
					if err != nil {
						return fmt.Errorf("link %q: %s: %w", lk.Name, name, err)
					}
					if link.Attrs().OperState == netlink.OperUp {
						return nil
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("link %q: %s: still %v after 5s", lk.Name, name, link.Attrs().OperState)
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Millisecond):
					}
				}
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// inNs runs fn on a thread inside host's namespace ("" = the caller's).
func (l *Lab) inNs(host string, fn func() error) error {
	h, err := l.nsHandle(host)
	if err != nil {
		return err
	}
	defer h.Close()
	return onThreadIn(h, fn)
}

// Down removes everything the lab created: switch-side links, then the
// host namespaces (which takes their veth ends along), then the record.
// It is idempotent and also cleans up after a partial Up.
func (l *Lab) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil
	}
	var errs []error
	var gone []string
	if err := l.withHandle("", func(nh *netlink.Handle) error {
		for _, lk := range l.topo.Links {
			name, ok := l.swIfs[lk.Name]
			if !ok {
				continue
			}
			link, err := nh.LinkByName(name)
			if err != nil {
				if !isNotFound(err) {
					errs = append(errs, fmt.Errorf("find switch link %s: %w", name, err))
				}
				continue
			}
			// Deleting one end of a veth deletes both, synchronously.
			if err := nh.LinkDel(link); err != nil && !isNotFound(err) {
				errs = append(errs, fmt.Errorf("delete switch link %s: %w", name, err))
				continue
			}
			gone = append(gone, name)
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	for _, h := range l.topo.Hosts {
		if ns, ok := l.hostNs[h.Name]; ok {
			if err := deleteNetns(ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) == 0 {
		if l.rawID != "" {
			if err := os.Remove(recordPath(l.rawID)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Errorf("remove lab record: %w", err))
			}
		}
		l.self.Close()
		l.down = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lab %s: down: %w", l.id, err)
	}
	return nil
}

// ID returns the lab's id (prefix + random suffix); every name the lab
// creates starts with it.
func (l *Lab) ID() string { return l.id }

// Topology returns the topology with defaults filled in.
func (l *Lab) Topology() Topology { return l.topo }

// Netns returns the namespace name of host (as listed by `ip netns`).
func (l *Lab) Netns(host string) string { return l.hostNs[host] }

// NetnsPath returns the path of host's namespace file.
func (l *Lab) NetnsPath(host string) string {
	if ns, ok := l.hostNs[host]; ok {
		return filepath.Join(netnsDir, ns)
	}
	return ""
}

// SwitchIf returns the generated name of link's switch-side interface, or
// "" if the link has no end in the switch namespace.
func (l *Lab) SwitchIf(link string) string { return l.swIfs[link] }

// Run runs fn inside host's namespace on a locked OS thread. Sockets fn
// creates stay in that namespace and may be used afterwards from any
// goroutine; goroutines fn starts do not run in the namespace.
func (l *Lab) Run(host string, fn func() error) error {
	if _, ok := l.hostNs[host]; !ok {
		return fmt.Errorf("lab %s: run: unknown host %q", l.id, host)
	}
	if err := l.inNs(host, fn); err != nil {
		return fmt.Errorf("lab %s: run in %s: %w", l.id, host, err)
	}
	return nil
}

// Exec runs a command inside host's namespace and returns its combined
// output. Unlike `ip netns exec` it does not remount /sys, so sysfs still
// shows the caller's namespace; /proc/net and netlink show the host's.
func (l *Lab) Exec(host string, argv ...string) ([]byte, error) {
	return l.ExecContext(context.Background(), host, argv...)
}

// ExecContext is Exec with a context that kills the command when done.
func (l *Lab) ExecContext(ctx context.Context, host string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("lab %s: exec in %s: empty command", l.id, host)
	}
	if _, ok := l.hostNs[host]; !ok {
		return nil, fmt.Errorf("lab %s: exec: unknown host %q", l.id, host)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The child inherits the namespace of the thread that forks it, so
	// only Start needs the switched thread; Wait can run anywhere.
	if err := l.inNs(host, cmd.Start); err != nil {
		return nil, fmt.Errorf("lab %s: exec %q in %s: %w", l.id, argv, host, err)
	}
	if err := cmd.Wait(); err != nil {
		return out.Bytes(), fmt.Errorf("lab %s: exec %q in %s: %w: %s", l.id, argv, host, err, bytes.TrimSpace(out.Bytes()))
	}
	return out.Bytes(), nil
}

// Status describes what of a lab exists right now.
type Status struct {
	ID    string
	Hosts []HostStatus
	// SwitchLinks are the switch-side ends in the caller's namespace.
	SwitchLinks []IfStatus
}

// HostStatus is one host namespace and its interfaces.
type HostStatus struct {
	Name   string
	Netns  string
	Exists bool
	Links  []IfStatus
}

// IfStatus is one interface.
type IfStatus struct {
	Name     string
	Link     string // the lab link it belongs to ("" for others, e.g. lo)
	Exists   bool
	Index    int
	MTU      int
	MAC      string
	TxQueues int
	RxQueues int
	Up       bool
	Addrs    []string
}

// Status reports which namespaces and interfaces of the lab exist, with
// their MTU, queue counts, MACs, state and addresses.
func (l *Lab) Status() (Status, error) {
	st := Status{ID: l.id}
	var errs []error
	owner := map[string]string{} // "host/ifname" -> link
	for _, lk := range l.topo.Links {
		owner[lk.A.Host+"/"+lk.A.IfName] = lk.Name
		if lk.B.Host != "" {
			owner[lk.B.Host+"/"+lk.B.IfName] = lk.Name
		}
	}
	for _, h := range l.topo.Hosts {
		hs := HostStatus{Name: h.Name, Netns: l.hostNs[h.Name]}
		hs.Exists = netnsExists(hs.Netns)
		if hs.Exists {
			err := l.withHandle(h.Name, func(nh *netlink.Handle) error {
				links, err := linkListRetry(nh)
				if err != nil {
					return err
				}
				for _, lk := range links {
					s := ifStatus(nh, lk)
					s.Link = owner[h.Name+"/"+s.Name]
					hs.Links = append(hs.Links, s)
				}
				return nil
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("host %s: %w", h.Name, err))
			}
		}
		st.Hosts = append(st.Hosts, hs)
	}
	if l.self.IsOpen() {
		if err := l.withHandle("", func(nh *netlink.Handle) error {
			for _, lk := range l.topo.Links {
				name, ok := l.swIfs[lk.Name]
				if !ok {
					continue
				}
				link, err := nh.LinkByName(name)
				if err != nil {
					st.SwitchLinks = append(st.SwitchLinks, IfStatus{Name: name, Link: lk.Name})
					continue
				}
				s := ifStatus(nh, link)
				s.Link = lk.Name
				st.SwitchLinks = append(st.SwitchLinks, s)
			}
			return nil
		}); err != nil {
			errs = append(errs, err)
		}
	} else {
		for _, lk := range l.topo.Links {
			if name, ok := l.swIfs[lk.Name]; ok {
				st.SwitchLinks = append(st.SwitchLinks, IfStatus{Name: name, Link: lk.Name})
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("lab %s: status: %w", l.id, err)
	}
	return st, nil
}

func ifStatus(nh *netlink.Handle, link netlink.Link) IfStatus {
	a := link.Attrs()
	s := IfStatus{
		Name: a.Name, Exists: true, Index: a.Index, MTU: a.MTU, MAC: a.HardwareAddr.String(),
		TxQueues: a.NumTxQueues, RxQueues: a.NumRxQueues, Up: a.Flags&net.FlagUp != 0,
	}
	if addrs, err := nh.AddrList(link, netlink.FAMILY_ALL); err == nil {
		for _, ad := range addrs {
			s.Addrs = append(s.Addrs, ad.IPNet.String())
		}
	}
	return s
}

// enableForwarding turns on IPv4 and IPv6 forwarding in the calling
// thread's network namespace (/proc/sys/net is per namespace).
func enableForwarding() error {
	for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable forwarding: %w", err)
		}
	}
	return nil
}
