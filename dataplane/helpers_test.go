package dataplane

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/lab"
	"github.com/vishvananda/netlink"
)

// helperEnv turns the test binary into a child that opens a port and waits
// to be killed (see TestStaleProgramAfterKill).
const helperEnv = "CTSWITCH_DATAPLANE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(helperEnv); mode {
	case "":
	case "memlock":
		os.Exit(helperMemlock(os.Getenv(helperEnv + "_IF")))
	default:
		os.Exit(helperOpenAndHang(mode, os.Getenv(helperEnv+"_IF")))
	}
	flag.Parse()
	if os.Geteuid() != 0 && flag.Lookup("test.run").Value.String() == "" {
		// Examples can't skip; without root they'd fail for lack of
		// privileges rather than of correctness.
		fmt.Fprintln(os.Stderr, "dataplane: not root: privileged tests skip and the example does not run (it needs CAP_NET_ADMIN, CAP_BPF and network namespaces)")
		_ = flag.Set("test.run", "^Test")
	}
	os.Exit(m.Run())
}

// helperOpenAndHang opens a port on ifname (legacy: netlink attach),
// prints the program id and waits to be killed, at most a minute.
func helperOpenAndHang(mode, ifname string) int {
	forceNetlinkAttach = mode == "legacy"
	p, err := Open(context.Background(), Config{Interface: ifname, Mode: ModeNative, RingSize: 64})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready", p.ProgramID())
	time.Sleep(time.Minute)
	return 0
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("not root: this test builds network namespaces and attaches XDP programs (needs CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN)" + " -- CI must run privileged tests")
		}
		t.Skip("not root: this test builds network namespaces and attaches XDP programs (needs CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN)")
	}
}

var (
	vmMAC = net.HardwareAddr{0x02, 0xc7, 0xd0, 0, 0, 0x01}
	swMAC = net.HardwareAddr{0x02, 0xc7, 0xd0, 0, 0, 0x02}
)

type testLab struct {
	*lab.Lab
	sw string // switch-side interface
}

// newLab builds host "vm" with interface "vm0" (198.18.0.1, 2001:db8::1)
// linked to a switch-side veth; .2 and ::2 are static neighbours at the
// switch side's MAC, so the VM can ping "the switch" without ARP/ND.
func newLab(t *testing.T, queues, mtu int) *testLab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.Topology{
		Hosts: []lab.Host{{Name: "vm"}},
		Links: []lab.Link{{
			Name: "p0", Queues: queues, MTU: mtu,
			A: lab.Endpoint{Host: "vm", IfName: "vm0", MAC: vmMAC.String(),
				Addrs: []string{"198.18.0.1/24", "2001:db8::1/64"},
				Neighbors: []lab.Neighbor{
					{IP: "198.18.0.2", MAC: swMAC.String()},
					{IP: "2001:db8::2", MAC: swMAC.String()},
				}},
			B: lab.Endpoint{MAC: swMAC.String()},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return &testLab{Lab: l, sw: l.SwitchIf("p0")}
}

func openPort(t *testing.T, cfg Config) *Port {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func (l *testLab) raw(t *testing.T) *lab.RawConn {
	t.Helper()
	c, err := l.OpenRaw("vm", "vm0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testFrame is an Ethernet frame with the local experimental EtherType
// 0x88b5 carrying marker, padded to the 60-byte minimum (or size).
func testFrame(dst, src net.HardwareAddr, marker string, size int) []byte {
	f := make([]byte, max(60, 14+len(marker), size))
	copy(f, dst)
	copy(f[6:], src)
	f[12], f[13] = 0x88, 0xb5
	copy(f[14:], marker)
	return f
}

// receiveMarker waits for a frame containing marker on q (other frames,
// e.g. the VM's IPv6 chatter, are skipped) and returns a copy of it.
func receiveMarker(t *testing.T, q *Queue, marker string, timeout time.Duration) []byte {
	t.Helper()
	got, err := waitFor(q, timeout, func(f []byte) bool { return bytes.Contains(f, []byte(marker)) })
	if err != nil {
		t.Fatalf("queue %d: waiting for %q: %v (stats %+v)", q.ID(), marker, err, q.Stats())
	}
	return got
}

func waitFor(q *Queue, timeout time.Duration, match func([]byte) bool) ([]byte, error) {
	descs := make([]Desc, 64)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := q.Wait(50 * time.Millisecond); err != nil {
			return nil, err
		}
		n, err := q.Receive(descs)
		if err != nil {
			return nil, err
		}
		for _, d := range descs[:n] {
			f := q.Frame(d)
			if f == nil {
				return nil, fmt.Errorf("Frame(%+v) = nil for a received descriptor", d)
			}
			if match(f) {
				return bytes.Clone(f), nil
			}
		}
	}
	return nil, errors.New("timed out")
}

// transmit sends frame on q.
func transmit(t *testing.T, q *Queue, frame []byte) {
	t.Helper()
	tx := make([]Desc, 1)
	n, err := q.AllocTx(tx)
	if err != nil || n != 1 {
		t.Fatalf("AllocTx: %d %v", n, err)
	}
	tx[0].Len = uint32(copy(q.FrameCap(tx[0]), frame))
	if n, err := q.Transmit(tx); err != nil || n != 1 {
		t.Fatalf("Transmit: %d %v", n, err)
	}
}

// readMarker waits for a frame containing marker at the VM.
func readMarker(t *testing.T, c *lab.RawConn, marker string, timeout time.Duration) []byte {
	t.Helper()
	buf := make([]byte, 16384)
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.Read(buf, time.Until(deadline))
		if err != nil {
			t.Fatalf("vm: waiting for %q: %v", marker, err)
		}
		if bytes.Contains(buf[:n], []byte(marker)) {
			return bytes.Clone(buf[:n])
		}
	}
}

// xdpOn returns the XDP program attached to ifname in the caller's namespace.
func xdpOn(t *testing.T, ifname string) *netlink.LinkXdp {
	t.Helper()
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return x
	}
	return nil
}
