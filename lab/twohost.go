package lab

import (
	"fmt"
)

// Two-host (tunnel) topology limits and defaults.
const (
	MaxTwoHostVMs        = 4
	DefaultRouterMTU     = 1400
	UnderlayIfName       = "ul0"
	TwoHostSwitchA       = "swa"
	TwoHostSwitchB       = "swb"
	TwoHostRouter        = "rt"
	defaultTwoHostQueues = 2
)

// TwoHostOptions shape TwoHostTopology; zero values take the defaults.
type TwoHostOptions struct {
	Prefix string
	// VMs per switch host, 1 to MaxTwoHostVMs (default 1).
	VMs int
	// Queues of every veth (default 2).
	Queues int
	// Router puts a router namespace between the switch hosts: the link
	// from swa to the router has MTU 1500, the link from the router to
	// swb has RouterMTU (default 1400), so packets that fit the first
	// link may not fit the second and the router answers with ICMP
	// "fragmentation needed" / "packet too big".
	Router    bool
	RouterMTU int
	// Routed puts the VMs of swb in another subnet (198.18.2.0/24,
	// 2001:db8:2::/64), every VM routing the other's through a gateway
	// at .254 / ::fe of its own: for IP-GRE tunnels, whose endpoints are
	// router ports.
	Routed bool
}

// TwoHostVM names VM k of switch host side ('a' or 'b'): "a1", "b2".
func TwoHostVM(side byte, k int) string { return fmt.Sprintf("%c%d", side, k) }

// TwoHostVMAddr is VM k of side 'a' (198.18.1.K, 2001:db8:1::K) or 'b'
// (198.18.1.100+K, 2001:db8:1::100+K in hex digits): one virtual network,
// spread over two hosts.
func TwoHostVMAddr(side byte, k int, v6 bool) string {
	n := k
	if side == 'b' {
		n = 100 + k
	}
	if v6 {
		return fmt.Sprintf("2001:db8:1::%x", n)
	}
	return fmt.Sprintf("198.18.1.%d", n)
}

// TwoHostRoutedVMAddr is VM k's address with TwoHostOptions.Routed:
// side 'a' in 198.18.1.0/24 and 2001:db8:1::/64, side 'b' in
// 198.18.2.0/24 and 2001:db8:2::/64.
func TwoHostRoutedVMAddr(side byte, k int, v6 bool) string {
	net := 1
	if side == 'b' {
		net = 2
	}
	if v6 {
		return fmt.Sprintf("2001:db8:%d::%x", net, k)
	}
	return fmt.Sprintf("198.18.%d.%d", net, k)
}

// TwoHostGateway is the gateway of side's VMs with TwoHostOptions.Routed:
// 198.18.1.254 / 2001:db8:1::fe (a), 198.18.2.254 / 2001:db8:2::fe (b).
func TwoHostGateway(side byte, v6 bool) string {
	net := 1
	if side == 'b' {
		net = 2
	}
	if v6 {
		return fmt.Sprintf("2001:db8:%d::fe", net)
	}
	return fmt.Sprintf("198.18.%d.254", net)
}

// TwoHostVMMAC is VM k's MAC: 02:c7:00:00:0a:0K or 02:c7:00:00:0b:0K.
func TwoHostVMMAC(side byte, k int) string {
	return fmt.Sprintf("02:c7:00:00:%02x:%02x", 0xa+side-'a', k)
}

// TwoHostUnderlayAddr is switch host side's underlay address: 198.18.100.1
// (a) and 198.18.100.2 (b) on a direct link; with a router, b is
// 198.18.101.2 behind the router (198.18.100.254 / 198.18.101.254).
// IPv6: 2001:db8:100::1, ::2, or 2001:db8:101::2 behind the router.
func TwoHostUnderlayAddr(side byte, router, v6 bool) string {
	switch {
	case side == 'a' && !v6:
		return "198.18.100.1"
	case side == 'a':
		return "2001:db8:100::1"
	case !router && !v6:
		return "198.18.100.2"
	case !router:
		return "2001:db8:100::2"
	case !v6:
		return "198.18.101.2"
	}
	return "2001:db8:101::2"
}

// TwoHostTopology is two switch hosts (namespaces swa and swb) with VMs:
// VM aK is linked to swa (link "aK": veth0 in the VM, interface "aK" in
// swa), VM bK to swb. The switch hosts' underlay interfaces (UnderlayIfName)
// are linked directly (MTU 1500) or through a router namespace ("rt")
// whose link towards swb has a smaller MTU. The kernel of each switch host
// owns its underlay addresses, answers ARP/ND and routes; a ctswitch in
// each switch host joins the VMs of both into one network over a tunnel.
// The VMs' interfaces have their transmit checksum offload off (they feed
// AF_XDP, see DemoTopology).
func TwoHostTopology(opt TwoHostOptions) Topology {
	if opt.VMs == 0 {
		opt.VMs = 1
	}
	if opt.Queues == 0 {
		opt.Queues = defaultTwoHostQueues
	}
	if opt.RouterMTU == 0 {
		opt.RouterMTU = DefaultRouterMTU
	}
	t := Topology{Prefix: opt.Prefix}
	if opt.VMs < 1 || opt.VMs > MaxTwoHostVMs {
		t.demoErr = fmt.Errorf("lab: two-host: %d VMs per host: want 1 to %d", opt.VMs, MaxTwoHostVMs)
		return t
	}
	if opt.RouterMTU < 1280 || opt.RouterMTU > 9000 {
		t.demoErr = fmt.Errorf("lab: two-host: router MTU %d: want 1280 to 9000", opt.RouterMTU)
		return t
	}
	for _, side := range []byte{'a', 'b'} {
		sw := TwoHostSwitchA
		if side == 'b' {
			sw = TwoHostSwitchB
		}
		for k := 1; k <= opt.VMs; k++ {
			vm := TwoHostVM(side, k)
			h := Host{Name: vm}
			addrs := []string{TwoHostVMAddr(side, k, false) + "/24", TwoHostVMAddr(side, k, true) + "/64"}
			if opt.Routed {
				addrs = []string{TwoHostRoutedVMAddr(side, k, false) + "/24", TwoHostRoutedVMAddr(side, k, true) + "/64"}
				other := map[byte]string{'a': "2", 'b': "1"}[side]
				h.Routes = []Route{
					{Dst: "198.18." + other + ".0/24", Via: TwoHostGateway(side, false)},
					{Dst: "2001:db8:" + other + "::/64", Via: TwoHostGateway(side, true)},
				}
			}
			t.Hosts = append(t.Hosts, h)
			t.Links = append(t.Links, Link{
				Name: vm, Queues: opt.Queues,
				A: Endpoint{
					Host: vm, IfName: DemoIfName, MAC: TwoHostVMMAC(side, k),
					Addrs:         addrs,
					TxChecksumOff: true,
				},
				B: Endpoint{Host: sw, IfName: vm, DisableIPv6: true},
			})
		}
	}
	a4, a6 := TwoHostUnderlayAddr('a', opt.Router, false), TwoHostUnderlayAddr('a', opt.Router, true)
	b4, b6 := TwoHostUnderlayAddr('b', opt.Router, false), TwoHostUnderlayAddr('b', opt.Router, true)
	hostA := Host{Name: TwoHostSwitchA}
	hostB := Host{Name: TwoHostSwitchB}
	if !opt.Router {
		t.Links = append(t.Links, Link{
			Name: "underlay", Queues: opt.Queues,
			A: Endpoint{Host: TwoHostSwitchA, IfName: UnderlayIfName, MAC: "02:c7:00:00:01:0a", Addrs: []string{a4 + "/24", a6 + "/64"}, TxChecksumOff: true},
			B: Endpoint{Host: TwoHostSwitchB, IfName: UnderlayIfName, MAC: "02:c7:00:00:01:0b", Addrs: []string{b4 + "/24", b6 + "/64"}, TxChecksumOff: true},
		})
	} else {
		t.Hosts = append(t.Hosts, Host{Name: TwoHostRouter, Forward: true})
		t.Links = append(t.Links,
			Link{
				Name: "underlay-a", Queues: opt.Queues,
				A: Endpoint{Host: TwoHostSwitchA, IfName: UnderlayIfName, MAC: "02:c7:00:00:01:0a", Addrs: []string{a4 + "/24", a6 + "/64"}, TxChecksumOff: true},
				B: Endpoint{Host: TwoHostRouter, IfName: "a", MAC: "02:c7:00:00:01:fa", Addrs: []string{"198.18.100.254/24", "2001:db8:100::fe/64"}},
			},
			Link{
				Name: "underlay-b", Queues: opt.Queues, MTU: opt.RouterMTU,
				A: Endpoint{Host: TwoHostRouter, IfName: "b", MAC: "02:c7:00:00:01:fb", Addrs: []string{"198.18.101.254/24", "2001:db8:101::fe/64"}},
				B: Endpoint{Host: TwoHostSwitchB, IfName: UnderlayIfName, MAC: "02:c7:00:00:01:0b", Addrs: []string{b4 + "/24", b6 + "/64"}, TxChecksumOff: true},
			})
		hostA.Routes = []Route{{Dst: "198.18.101.0/24", Via: "198.18.100.254"}, {Dst: "2001:db8:101::/64", Via: "2001:db8:100::fe"}}
		hostB.Routes = []Route{{Dst: "198.18.100.0/24", Via: "198.18.101.254"}, {Dst: "2001:db8:100::/64", Via: "2001:db8:101::fe"}}
	}
	t.Hosts = append(t.Hosts, hostA, hostB)
	return t
}
