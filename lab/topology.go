package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
)

// DefaultPrefix starts the name of every namespace and switch-side link a
// lab creates, so that the sweeper can recognise them.
const DefaultPrefix = "ctlab"

// Limits of a topology.
const (
	MinMTU    = 68
	MaxMTU    = 65535
	MaxQueues = 64
	// MaxLinks keeps switch-side interface names within IFNAMSIZ:
	// prefix (<= 6) + lab id (5) + link index (<= 2 digits) + NUL.
	MaxLinks = 100
)

// The only address ranges a lab may configure: the benchmarking range
// (RFC 2544) and the IPv6 documentation range (RFC 3849). They are never
// routed on the Internet, so a test can't reach or disturb anything real.
var allowedRanges = []netip.Prefix{
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Topology describes a lab. The zero values of optional fields are
// sensible: MTU 1500, one queue, kernel-chosen MACs.
type Topology struct {
	// Prefix starts every namespace and switch-side interface name
	// (default DefaultPrefix). 2 to 6 lower-case letters.
	Prefix string
	Hosts  []Host
	Links  []Link
	// Keep makes the lab outlive the process that built it: the sweeper
	// leaves a kept lab alone whatever became of its owner, and only Down
	// (on the Lab from Up, or from Open in any process) removes it. The
	// lab is marked kept once Up has built all of it, so a run killed
	// halfway through Up still leaves only stale objects to sweep.
	Keep bool

	// demoErr is why DemoTopology could not honour its options; validate
	// reports it.
	demoErr error
}

// Host is a network namespace.
type Host struct {
	// Name is short and unique: [a-z0-9][a-z0-9-]{0,15}.
	Name string
	// Routes are added after all links are up.
	Routes []Route
	// Forward makes the host a router: IPv4 and IPv6 forwarding on.
	Forward bool
}

// Route is a route inside a host.
type Route struct {
	// Dst is a CIDR inside the allowed ranges, or "default" / "default6"
	// for the IPv4 / IPv6 default route.
	Dst string
	// Via is the gateway (in the allowed ranges); optional if Dev is set.
	Via string
	// Dev is the host's interface name; optional if Via is set.
	Dev string
}

// Link is a veth pair. A is always in a host; B is in another host, or in
// the caller's (switch) namespace when B.Host is empty.
type Link struct {
	// Name identifies the link in the lab ([A-Za-z0-9_.-]{1,32}).
	Name string
	A, B Endpoint
	// MTU of both ends (default 1500).
	MTU int
	// Queues is the number of tx and rx queues of both ends (default 1),
	// the same as `ip link add ... numtxqueues N numrxqueues N`.
	Queues int
	// DisableIPv6 turns IPv6 off on both ends: no link-local address,
	// no router solicitations or MLD reports to disturb frame-level tests.
	DisableIPv6 bool
}

// Endpoint is one end of a link.
type Endpoint struct {
	// Host is the host namespace; "" means the caller's (switch) namespace.
	Host string
	// IfName is the interface name inside the host (default: the link
	// name). Switch-side names are always generated (see Lab.SwitchIf).
	IfName string
	// MAC is optional ("02:00:00:00:00:01"); it must be unicast.
	MAC string
	// Addrs are CIDRs inside the allowed ranges ("198.18.0.1/24").
	Addrs []string
	// Neighbors are permanent ARP / ND entries on this interface.
	Neighbors []Neighbor
	// DisableIPv6 turns IPv6 off on this end only (Link.DisableIPv6 turns
	// it off on both), e.g. to keep the switch namespace's kernel from
	// sending router solicitations and MLD reports into a VM.
	DisableIPv6 bool
	// TxChecksumOff turns transmit checksum offload off on this end
	// (ethtool -K IF tx off), so the kernel puts complete checksums into
	// the frames it sends here rather than leaving them to the "hardware"
	// (a veth only marks them partial). Needed when the peer end feeds
	// AF_XDP or raw sockets, which see the frames as they are; it also
	// turns off TSO, so no frame is longer than the MTU.
	TxChecksumOff bool
}

// Neighbor is a static ARP (IPv4) or ND (IPv6) entry.
type Neighbor struct {
	IP  string
	MAC string
}

var (
	prefixRE = regexp.MustCompile(`^[a-z]{2,6}$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,15}$`)
	linkRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

// normalized returns a copy with defaults filled in. It does not validate.
func (t Topology) normalized() Topology {
	n := t
	if n.Prefix == "" {
		n.Prefix = DefaultPrefix
	}
	n.Hosts = append([]Host(nil), t.Hosts...)
	n.Links = append([]Link(nil), t.Links...)
	for i := range n.Links {
		l := &n.Links[i]
		if l.MTU == 0 {
			l.MTU = 1500
		}
		if l.Queues == 0 {
			l.Queues = 1
		}
		if l.A.IfName == "" {
			l.A.IfName = l.Name
		}
		if l.B.Host != "" && l.B.IfName == "" {
			l.B.IfName = l.Name
		}
	}
	return n
}

// Validate checks a topology and reports every problem it finds, each
// naming the host or link at fault.
func (t Topology) Validate() error {
	return t.normalized().validate()
}

func (t Topology) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("lab: "+format, args...))
	}
	if t.demoErr != nil {
		errs = append(errs, t.demoErr)
	}
	if !prefixRE.MatchString(t.Prefix) {
		bad("prefix %q: want 2 to 6 lower-case letters", t.Prefix)
	}
	if len(t.Hosts) == 0 {
		bad("no hosts")
	}
	if len(t.Links) > MaxLinks {
		bad("%d links: at most %d", len(t.Links), MaxLinks)
	}
	hosts := map[string]bool{}
	for _, h := range t.Hosts {
		switch {
		case !hostRE.MatchString(h.Name):
			bad("host %q: invalid name (want [a-z0-9][a-z0-9-]{0,15})", h.Name)
		case hosts[h.Name]:
			bad("host %q: duplicate host name", h.Name)
		}
		hosts[h.Name] = true
	}
	links := map[string]bool{}
	ifnames := map[string]bool{} // "host/ifname"
	addrs := map[netip.Addr]string{}
	macs := map[string]string{}
	for _, l := range t.Links {
		where := fmt.Sprintf("link %q", l.Name)
		switch {
		case !linkRE.MatchString(l.Name):
			bad("%s: invalid name (want [A-Za-z0-9_.-]{1,32})", where)
		case links[l.Name]:
			bad("%s: duplicate link name", where)
		}
		links[l.Name] = true
		if l.MTU < MinMTU || l.MTU > MaxMTU {
			bad("%s: MTU %d out of range %d..%d", where, l.MTU, MinMTU, MaxMTU)
		}
		if l.Queues < 1 || l.Queues > MaxQueues {
			bad("%s: queue count %d out of range 1..%d", where, l.Queues, MaxQueues)
		}
		if l.A.Host == "" {
			bad("%s: end A must be in a host (only end B may stay in the switch namespace)", where)
		} else if !hosts[l.A.Host] {
			bad("%s: end A: unknown host %q", where, l.A.Host)
		}
		if l.B.Host != "" && !hosts[l.B.Host] {
			bad("%s: end B: unknown host %q", where, l.B.Host)
		}
		if l.A.Host != "" && l.A.Host == l.B.Host {
			bad("%s: both ends in host %q", where, l.A.Host)
		}
		for _, e := range []struct {
			name string
			ep   Endpoint
		}{{"end A", l.A}, {"end B", l.B}} {
			ew := where + ": " + e.name
			ep := e.ep
			if ep.Host == "" {
				if ep.IfName != "" {
					bad("%s: switch-side interface names are generated, leave IfName empty", ew)
				}
			} else {
				switch key := ep.Host + "/" + ep.IfName; {
				case !ifnameRE.MatchString(ep.IfName) || ep.IfName == "lo":
					bad("%s: invalid interface name %q (1-15 of [A-Za-z0-9_.-], not lo)", ew, ep.IfName)
				case ifnames[key]:
					bad("%s: duplicate interface name %q in host %q", ew, ep.IfName, ep.Host)
				default:
					ifnames[key] = true
				}
			}
			if ep.MAC != "" {
				if err := checkMAC(ep.MAC); err != nil {
					bad("%s: %v", ew, err)
				} else if other, dup := macs[strings.ToLower(ep.MAC)]; dup {
					bad("%s: duplicate MAC %s (also on %s)", ew, ep.MAC, other)
				} else {
					macs[strings.ToLower(ep.MAC)] = ew
				}
			}
			for _, a := range ep.Addrs {
				p, err := checkPrefix(a)
				if err != nil {
					bad("%s: %v", ew, err)
					continue
				}
				if p.Addr().Is6() && l.DisableIPv6 {
					bad("%s: IPv6 address %s on a link with DisableIPv6", ew, a)
				} else if p.Addr().Is6() && ep.DisableIPv6 {
					bad("%s: IPv6 address %s on an end with DisableIPv6", ew, a)
				}
				if other, dup := addrs[p.Addr()]; dup {
					bad("%s: duplicate address %s (also on %s)", ew, p.Addr(), other)
				}
				addrs[p.Addr()] = ew
			}
			for _, n := range ep.Neighbors {
				if _, err := checkAddr(n.IP); err != nil {
					bad("%s: neighbor: %v", ew, err)
				}
				if err := checkMAC(n.MAC); err != nil {
					bad("%s: neighbor %s: %v", ew, n.IP, err)
				}
			}
		}
	}
	for _, h := range t.Hosts {
		for _, r := range h.Routes {
			rw := fmt.Sprintf("host %q: route %q", h.Name, r.Dst)
			switch r.Dst {
			case "default", "default6":
			default:
				if _, err := checkPrefix(r.Dst); err != nil {
					bad("%s: %v", rw, err)
				}
			}
			if r.Via == "" && r.Dev == "" {
				bad("%s: needs Via or Dev", rw)
			}
			if r.Via != "" {
				if _, err := checkAddr(r.Via); err != nil {
					bad("%s: gateway: %v", rw, err)
				}
			}
			if r.Dev != "" && !ifnames[h.Name+"/"+r.Dev] {
				bad("%s: host has no interface %q", rw, r.Dev)
			}
		}
	}
	return errors.Join(errs...)
}

func inAllowed(a netip.Addr) bool {
	for _, r := range allowedRanges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// checkAddr parses an address and requires it to be inside the allowed ranges.
func checkAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid address %q", s)
	}
	if a.Zone() != "" || a.Is4In6() || !inAllowed(a) {
		return netip.Addr{}, fmt.Errorf("address %s outside the allowed test ranges 198.18.0.0/15 and 2001:db8::/32", s)
	}
	return a, nil
}

// checkPrefix parses a CIDR whose whole network lies inside an allowed
// range: a /8 around an allowed address would still route foreign space.
func checkPrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q (want CIDR, e.g. 198.18.0.1/24)", s)
	}
	if _, err := checkAddr(p.Addr().String()); err != nil {
		return netip.Prefix{}, err
	}
	for _, r := range allowedRanges {
		if r.Contains(p.Addr()) && p.Bits() < r.Bits() {
			return netip.Prefix{}, fmt.Errorf("address %s: prefix /%d is wider than the allowed range %s", s, p.Bits(), r)
		}
	}
	return p, nil
}

func checkMAC(s string) error {
	hw, err := net.ParseMAC(s)
	switch {
	case err != nil || len(hw) != 6:
		return fmt.Errorf("invalid MAC %q", s)
	case hw[0]&1 != 0:
		return fmt.Errorf("MAC %s is multicast", s)
	case string(hw) == "\x00\x00\x00\x00\x00\x00":
		return fmt.Errorf("MAC %s is all zeros", s)
	}
	return nil
}
