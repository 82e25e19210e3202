package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/ctswitch/ctswitch/lab"
)

func TestResolveNextHop(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.TwoHostTopology(lab.TwoHostOptions{Router: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Down()
	ns, err := netns.GetFromPath(l.NetnsPath(lab.TwoHostSwitchA))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, v6 := range []bool{false, true} {
		remote := netip.MustParseAddr(lab.TwoHostUnderlayAddr('b', true, v6))
		var nh NextHop
		deadline := time.Now().Add(5 * time.Second)
		for {
			nh, err = resolveNextHop(h, remote)
			if !errors.Is(err, ErrNeighborPending) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s: %v", remote, err)
		}
		wantVia := "198.18.100.254"
		if v6 {
			wantVia = "2001:db8:100::fe"
		}
		if nh.Interface != lab.UnderlayIfName || nh.Via.String() != wantVia ||
			nh.DstMAC != [6]byte{2, 0xc7, 0, 0, 1, 0xfa} || nh.SrcMAC != [6]byte{2, 0xc7, 0, 0, 1, 0x0a} || nh.LinkMTU != 1500 {
			t.Errorf("%s: %+v", remote, nh)
		}
	}
	if _, err := resolveNextHop(h, netip.MustParseAddr("198.18.100.1")); err == nil {
		t.Error("a local address resolved")
	}
}
