package lab

import (
	"fmt"
	"net/netip"
)

// Demo topology limits and defaults.
const (
	MaxDemoVMs        = 8
	DefaultDemoVMs    = 2
	DefaultDemoQueues = 2
	DefaultDemoMTU    = 1500
	// DemoIfName is the interface of every demo VM.
	DemoIfName = "veth0"
)

// DemoOptions shape DemoTopology; zero values take the defaults.
type DemoOptions struct {
	// Prefix of the lab's names (default DefaultPrefix).
	Prefix string
	// VMs is the number of VMs, 1 to MaxDemoVMs (default 2).
	VMs int
	// Queues of every veth, both ends (default 2).
	Queues int
	// MTU of every veth, both ends (default 1500).
	MTU int
}

// DemoTopology is a switch with VMs: hosts vm1..vmN, each with one link
// "vmK" whose VM end is DemoIfName (veth0) in host vmK and whose other end
// stays in the caller's namespace, where it becomes a switch port (its name
// is Lab.SwitchIf("vmK"), the lab id followed by K-1).
//
// VM K's veth0 has the MAC DemoMAC(K) = 02:c7:00:00:00:0K and the
// addresses DemoAddr(K, false)/24 = 198.18.1.K/24 and DemoAddr(K, true)/64 =
// 2001:db8:1::K/64, usable at once (no duplicate address detection). There
// are no static neighbours and no routes beyond the connected ones, so ARP
// and neighbour discovery have to cross the switch like everything else:
// until a switch forwards between the ports, the VMs can't reach each
// other. IPv6 is off on the switch-side ends, so the caller's kernel
// sends nothing into the VMs.
//
// Options out of range give a topology that fails Validate (and Up).
func DemoTopology(opt DemoOptions) Topology {
	if opt.VMs == 0 {
		opt.VMs = DefaultDemoVMs
	}
	if opt.Queues == 0 {
		opt.Queues = DefaultDemoQueues
	}
	if opt.MTU == 0 {
		opt.MTU = DefaultDemoMTU
	}
	t := Topology{Prefix: opt.Prefix}
	if opt.VMs < 1 || opt.VMs > MaxDemoVMs {
		t.demoErr = fmt.Errorf("lab: demo: %d VMs: want 1 to %d", opt.VMs, MaxDemoVMs)
		return t
	}
	for k := 1; k <= opt.VMs; k++ {
		name := fmt.Sprintf("vm%d", k)
		t.Hosts = append(t.Hosts, Host{Name: name})
		t.Links = append(t.Links, Link{
			Name:   name,
			MTU:    opt.MTU,
			Queues: opt.Queues,
			A: Endpoint{
				Host:   name,
				IfName: DemoIfName,
				MAC:    DemoMAC(k),
				Addrs:  []string{DemoAddr(k, false) + "/24", DemoAddr(k, true) + "/64"},
				// The switch reads these frames through AF_XDP: they
				// must carry complete checksums.
				TxChecksumOff: true,
			},
			B: Endpoint{DisableIPv6: true},
		})
	}
	return t
}

// DemoAddr returns the IPv4 (198.18.1.K, in 198.18.1.0/24) or IPv6
// (2001:db8:1::K, in 2001:db8:1::/64) address of demo VM k, without
// prefix length; "" if k is not 1..MaxDemoVMs.
func DemoAddr(k int, v6 bool) string {
	if k < 1 || k > MaxDemoVMs {
		return ""
	}
	if v6 {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(k)}).String()
	}
	return netip.AddrFrom4([4]byte{198, 18, 1, byte(k)}).String()
}

// DemoMAC returns the MAC of demo VM k's interface, 02:c7:00:00:00:0K;
// "" if k is not 1..MaxDemoVMs.
func DemoMAC(k int) string {
	if k < 1 || k > MaxDemoVMs {
		return ""
	}
	return fmt.Sprintf("02:c7:00:00:00:%02x", k)
}
