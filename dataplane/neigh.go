package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Next hops come from the kernel, which keeps the underlay's routes and
// neighbours: the switch asks it (netlink) where a remote endpoint's
// packets go, and asks it to resolve a missing neighbour rather than
// sending ARP or ND itself.

// NextHop is how to reach a remote endpoint on the underlay.
type NextHop struct {
	Interface string
	LinkIndex int
	SrcMAC    [6]byte // the underlay interface's
	DstMAC    [6]byte // the gateway's or the remote's
	Via       netip.Addr
	Src       netip.Addr // the kernel's preferred source for the remote
	MTU       int        // the route's MTU (0: the interface's)
	LinkMTU   int
}

// ErrNeighborPending is returned while the kernel resolves the next hop.
var ErrNeighborPending = errors.New("neighbour not resolved yet")

// resolveNextHop asks the kernel (through h; nil for the process's
// namespace) for the route and neighbour towards remote. A missing
// neighbour is handed to the kernel to resolve (NTF_USE) and reported
// as ErrNeighborPending; the caller tries again later.
func resolveNextHop(h *netlink.Handle, remote netip.Addr) (NextHop, error) {
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(); err != nil {
			return NextHop{}, fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
	}
	var nh NextHop
	routes, err := h.RouteGet(remote.AsSlice())
	if err != nil {
		return nh, fmt.Errorf("route to %s: %w", remote, err)
	}
	if len(routes) == 0 {
		return nh, fmt.Errorf("route to %s: none", remote)
	}
	r := routes[0]
	link, err := h.LinkByIndex(r.LinkIndex)
	if err != nil {
		return nh, fmt.Errorf("route to %s: link %d: %w", remote, r.LinkIndex, err)
	}
	a := link.Attrs()
	if a.Name == "lo" {
		return nh, fmt.Errorf("route to %s: it is a local address", remote)
	}
	nh.Interface, nh.LinkIndex, nh.LinkMTU, nh.MTU = a.Name, a.Index, a.MTU, r.MTU
	copy(nh.SrcMAC[:], a.HardwareAddr)
	nh.Via = remote
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil {
		nh.Via = gw.Unmap()
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
		nh.Src = src.Unmap()
	}
	family := unix.AF_INET
	if nh.Via.Is6() {
		family = unix.AF_INET6
	}
	neighs, err := h.NeighList(nh.LinkIndex, family)
	if err != nil {
		return nh, fmt.Errorf("neighbours of %s: %w", a.Name, err)
	}
	for _, n := range neighs {
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || ip.Unmap() != nh.Via || len(n.HardwareAddr) != 6 {
			continue
		}
		if n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 {
			copy(nh.DstMAC[:], n.HardwareAddr)
			return nh, nil
		}
	}
	// Ask the kernel to resolve it, as if it had a packet for it.
	err = h.NeighSet(&netlink.Neigh{
		LinkIndex: nh.LinkIndex, Family: family, IP: net.IP(nh.Via.AsSlice()),
		Flags: netlink.NTF_USE, State: netlink.NUD_NONE,
	})
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nh, fmt.Errorf("resolve %s on %s: %w", nh.Via, a.Name, err)
	}
	return nh, ErrNeighborPending
}
