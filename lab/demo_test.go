package lab

import (
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const demoPrefix = "ctdemo"

func TestDemoTopology(t *testing.T) {
	topo := DemoTopology(DemoOptions{})
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(topo.Hosts) != 2 || len(topo.Links) != 2 {
		t.Fatalf("default demo: %+v", topo)
	}
	for i, lk := range topo.Links {
		k := i + 1
		wantAddrs := []string{"198.18.1." + strconv.Itoa(k) + "/24", "2001:db8:1::" + strconv.Itoa(k) + "/64"}
		if lk.Name != topo.Hosts[i].Name || lk.A.Host != lk.Name || lk.A.IfName != "veth0" || lk.B.Host != "" ||
			lk.Queues != 2 || lk.MTU != 1500 || lk.A.MAC != "02:c7:00:00:00:0"+strconv.Itoa(k) ||
			!slices.Equal(lk.A.Addrs, wantAddrs) || len(lk.A.Neighbors) != 0 || lk.DisableIPv6 || !lk.B.DisableIPv6 {
			t.Errorf("link %d: %+v", k, lk)
		}
	}
	if err := DemoTopology(DemoOptions{VMs: 8, Queues: 4, MTU: 9000, Prefix: "demo"}).Validate(); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		opt  DemoOptions
		want string
	}{
		{DemoOptions{VMs: 9}, "lab: demo: 9 VMs: want 1 to 8"},
		{DemoOptions{VMs: -1}, "lab: demo: -1 VMs"},
		{DemoOptions{Queues: 65}, "queue count 65 out of range"},
		{DemoOptions{MTU: 60}, "MTU 60 out of range"},
		{DemoOptions{Prefix: "X"}, `prefix "X"`},
	} {
		if err := DemoTopology(c.opt).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opt, err, c.want)
		}
	}
	for _, c := range []struct {
		k          int
		v4, v6, hw string
	}{{1, "198.18.1.1", "2001:db8:1::1", "02:c7:00:00:00:01"}, {8, "198.18.1.8", "2001:db8:1::8", "02:c7:00:00:00:08"}, {0, "", "", ""}, {9, "", "", ""}} {
		if DemoAddr(c.k, false) != c.v4 || DemoAddr(c.k, true) != c.v6 || DemoMAC(c.k) != c.hw {
			t.Errorf("vm %d: %q %q %q", c.k, DemoAddr(c.k, false), DemoAddr(c.k, true), DemoMAC(c.k))
		}
	}
}

// txChecksumOn asks ethtool (ETHTOOL_GTXCSUM) whether transmit checksum
// offload is on for ifname in the calling thread's namespace.
func txChecksumOn(t *testing.T, ifname string) bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GTXCSUM}
	var req struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(req.name[:], ifname)
	req.data = unsafe.Pointer(&v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req))); errno != 0 {
		t.Fatalf("ETHTOOL_GTXCSUM %s: %v", ifname, errno)
	}
	runtime.KeepAlive(&v)
	return v.data != 0
}

// bridge joins the switch-side ends of a demo lab with a Linux bridge,
// standing in for ctswitch. Its name has the lab's form, so the sweeper
// removes it if the test is killed.
func bridge(t *testing.T, l *Lab) {
	t.Helper()
	snoop := false
	br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs(), MulticastSnooping: &snoop}
	br.Name = switchIfName(l.topo.Prefix, l.rawID, 99)
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(br); err != nil {
			t.Errorf("delete bridge: %v", err)
		}
	})
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+br.Name+"/disable_ipv6", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, lk := range l.topo.Links {
		port := linkIn(t, l, "", l.SwitchIf(lk.Name))
		if err := netlink.LinkSetMaster(port, br); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
}

func TestDemoUp(t *testing.T) {
	requireRoot(t)
	l := up(t, DemoTopology(DemoOptions{Prefix: demoPrefix}))
	for k := 1; k <= 2; k++ {
		vm := "vm" + strconv.Itoa(k)
		sw := l.SwitchIf(vm)
		if want := l.ID() + strconv.Itoa(k-1); sw != want {
			t.Errorf("switch side of %s: %q, want %q", vm, sw, want)
		}
		a := linkIn(t, l, "", sw).Attrs()
		b := linkIn(t, l, vm, "veth0").Attrs()
		if a.NumTxQueues != 2 || a.NumRxQueues != 2 || b.NumTxQueues != 2 || b.NumRxQueues != 2 || a.MTU != 1500 || b.MTU != 1500 {
			t.Errorf("%s: queues %d/%d and %d/%d, MTU %d and %d", vm, a.NumTxQueues, a.NumRxQueues, b.NumTxQueues, b.NumRxQueues, a.MTU, b.MTU)
		}
		if b.HardwareAddr.String() != DemoMAC(k) {
			t.Errorf("%s MAC %s", vm, b.HardwareAddr)
		}
		if !txChecksumOn(t, sw) { // left alone
			t.Errorf("%s: tx checksum offload off", sw)
		}
		if err := l.Run(vm, func() error {
			if on := txChecksumOn(t, "veth0"); on {
				t.Errorf("%s/veth0: tx checksum offload still on", vm)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if v, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + sw + "/disable_ipv6"); err != nil || strings.TrimSpace(string(v)) != "1" {
			t.Errorf("IPv6 on switch side %s: %q %v", sw, v, err)
		}
	}
	ctx := t.Context()

	// Without a switch nothing gets through, not even ARP; the exchange
	// says so quickly.
	t0 := time.Now()
	res, err := l.UDPExchange(ctx, "vm1", "vm2", netip.MustParseAddrPort(DemoAddr(2, false)+":7"), 10, 100)
	if err != nil || res != (UDPResult{Sent: 10, Echoed: 0, Lost: 10}) || time.Since(t0) > 2*time.Second {
		t.Errorf("udp without a switch: %+v %v in %v", res, err, time.Since(t0))
	}

	// With a (Linux) switch between the ports, ARP and ND cross it.
	bridge(t, l)
	// vm2 first: vm1 still waits for an ARP reply from before (the kernel
	// would ask again in a second); vm2's request answers that too.
	// Neither should need a second try: Up waits until IPv6 addresses can
	// be resolved.
	for _, c := range []struct {
		from string
		to   int
	}{{"vm2", 1}, {"vm1", 2}} {
		for _, v6 := range []bool{false, true} {
			if rtt, err := l.Ping(c.from, DemoAddr(c.to, v6), 3*time.Second); err != nil || rtt > 500*time.Millisecond {
				t.Errorf("ping %s from %s: %v %v", DemoAddr(c.to, v6), c.from, rtt, err)
			}
		}
	}
	tr, err := l.TCPTransfer(ctx, "vm2", "vm1", netip.AddrPortFrom(netip.MustParseAddr(DemoAddr(1, true)), 0), 4<<20)
	if err != nil || !tr.Identical {
		t.Errorf("tcp through the switch: %+v %v", tr, err)
	}
	res, err = l.UDPExchange(ctx, "vm1", "vm2", netip.MustParseAddrPort("["+DemoAddr(2, true)+"]:0"), 100, 1400)
	if err != nil || res != (UDPResult{Sent: 100, Echoed: 100}) {
		t.Errorf("udp through the switch: %+v %v", res, err)
	}
}
