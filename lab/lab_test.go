package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// helperEnv makes the test binary act as a lab-building child process
// that the sweeper test kills (see TestMain).
const helperEnv = "CTSWITCH_LAB_TEST_HELPER"

// The sweeper tests use prefixes of their own, so that the sweep of a lab
// built meanwhile by another test process (go test ./... runs packages in
// parallel) does not remove their stale objects first.
const (
	killPrefix   = "ctkill"
	orphanPrefix = "ctorph"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "up-and-hang" {
		os.Exit(helperUpAndHang())
	}
	os.Exit(m.Run())
}

// helperUpAndHang builds a lab, prints its id and waits to be killed
// (at most a minute, so a lost child can't linger).
func helperUpAndHang() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Up(ctx, Topology{
		Prefix: killPrefix,
		Hosts:  []Host{{Name: "h"}, {Name: "g"}},
		Links: []Link{
			{Name: "p0", A: Endpoint{Host: "h", Addrs: []string{"198.18.7.1/24"}}},
			{Name: "hg", A: Endpoint{Host: "h"}, B: Endpoint{Host: "g"}},
		},
	})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(l.ID())
	time.Sleep(time.Minute)
	return 0
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("not root: this test creates network namespaces and veth pairs (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)" + " -- CI must run privileged tests")
		}
		t.Skip("not root: this test creates network namespaces and veth pairs (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)")
	}
}

func up(t *testing.T, topo Topology) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := Up(ctx, topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return l
}

// linkIn returns the interface name in host's namespace (or the caller's).
func linkIn(t *testing.T, l *Lab, host, name string) netlink.Link {
	t.Helper()
	var link netlink.Link
	err := l.withHandle(host, func(nh *netlink.Handle) error {
		var err error
		link, err = nh.LinkByName(name)
		return err
	})
	if err != nil {
		t.Fatalf("%s/%s: %v", host, name, err)
	}
	return link
}

func TestTwoHostsPingMTUQueuesDown(t *testing.T) {
	requireRoot(t)
	l := up(t, Topology{
		Hosts: []Host{{Name: "a"}, {Name: "b"}},
		Links: []Link{{
			Name: "ab", MTU: 9000, Queues: 4,
			A: Endpoint{Host: "a", IfName: "veth-a", MAC: "02:c7:00:00:00:01", Addrs: []string{"198.18.0.1/24", "2001:db8::1/64"}},
			B: Endpoint{Host: "b", IfName: "veth-b", MAC: "02:c7:00:00:00:02", Addrs: []string{"198.18.0.2/24", "2001:db8::2/64"}},
		}},
	})

	for _, c := range []struct{ from, to string }{
		{"a", "198.18.0.2"}, {"b", "198.18.0.1"}, {"a", "2001:db8::2"}, {"b", "2001:db8::1"},
	} {
		rtt, err := l.Ping(c.from, c.to, 3*time.Second)
		if err != nil {
			t.Errorf("ping %s -> %s: %v", c.from, c.to, err)
			continue
		}
		t.Logf("ping %s -> %s: %v", c.from, c.to, rtt)
	}

	// ping(8), where installed (the base image lacks it; Ping needs nothing).
	if _, err := exec.LookPath("ping"); err == nil {
		for _, dst := range []string{"198.18.0.2", "2001:db8::2"} {
			if out, err := l.Exec("a", "ping", "-c1", "-W1", dst); err != nil {
				t.Errorf("ping(8) %s: %v\n%s", dst, err, out)
			}
		}
	} else {
		t.Log("ping(8) not installed: checked with Lab.Ping only")
	}

	for _, c := range []struct{ host, ifname, mac string }{{"a", "veth-a", "02:c7:00:00:00:01"}, {"b", "veth-b", "02:c7:00:00:00:02"}} {
		a := linkIn(t, l, c.host, c.ifname).Attrs()
		if a.MTU != 9000 || a.NumTxQueues != 4 || a.NumRxQueues != 4 || a.HardwareAddr.String() != c.mac {
			t.Errorf("%s/%s: mtu %d txq %d rxq %d mac %s, want 9000 4 4 %s", c.host, c.ifname, a.MTU, a.NumTxQueues, a.NumRxQueues, a.HardwareAddr, c.mac)
		}
	}

	// Exec runs in the host's namespace: /proc/net/dev lists its interfaces.
	out, err := l.Exec("a", "cat", "/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "veth-a:") || strings.Contains(string(out), "veth-b:") {
		t.Errorf("Exec in a does not see a's interfaces only:\n%s", out)
	}
	if _, err := l.Exec("a", "false"); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("failing command: err = %v", err)
	}
	if _, err := l.Exec("zz", "true"); err == nil || !strings.Contains(err.Error(), `unknown host "zz"`) {
		t.Errorf("unknown host: err = %v", err)
	}

	st, err := l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if !h.Exists || !slices.ContainsFunc(h.Links, func(s IfStatus) bool { return s.Link == "ab" && s.Up && s.MTU == 9000 }) {
			t.Errorf("status of %s: %+v", h.Name, h)
		}
	}

	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b"} {
		if _, err := os.Lstat(l.NetnsPath(h)); !os.IsNotExist(err) {
			t.Errorf("namespace of %s still there after Down: %v", h, err)
		}
	}
	if _, err := os.Stat(recordPath(l.rawID)); !os.IsNotExist(err) {
		t.Errorf("record still there after Down: %v", err)
	}
	st, err = l.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range st.Hosts {
		if h.Exists {
			t.Errorf("status after Down: host %s exists", h.Name)
		}
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestSwitchSideLinkAndRoutes(t *testing.T) {
	requireRoot(t)
	l := up(t, Topology{
		Hosts: []Host{{Name: "vm", Routes: []Route{
			{Dst: "198.19.0.0/24", Via: "198.18.1.254"},
			{Dst: "default6", Dev: "eth1"},
		}}},
		Links: []Link{{
			Name: "p0", MTU: 1400, Queues: 2, DisableIPv6: false,
			A: Endpoint{Host: "vm", IfName: "eth1", Addrs: []string{"198.18.1.1/24"},
				Neighbors: []Neighbor{{IP: "198.18.1.254", MAC: "02:c7:00:00:01:fe"}}},
			B: Endpoint{MAC: "02:c7:00:00:01:01"},
		}, {
			Name: "quiet", DisableIPv6: true,
			A: Endpoint{Host: "vm", IfName: "eth2"},
		}},
	})
	sw := l.SwitchIf("p0")
	if len(sw) > 15 || !strings.HasPrefix(sw, l.ID()) {
		t.Fatalf("switch interface name %q", sw)
	}
	a := linkIn(t, l, "", sw).Attrs()
	if a.MTU != 1400 || a.NumTxQueues != 2 || a.NumRxQueues != 2 || a.HardwareAddr.String() != "02:c7:00:00:01:01" || a.Flags&1 == 0 {
		t.Errorf("switch side %s: %+v", sw, a)
	}
	b := linkIn(t, l, "vm", "eth1").Attrs()
	if b.MTU != 1400 || b.NumTxQueues != 2 || b.NumRxQueues != 2 {
		t.Errorf("host side eth1: mtu %d txq %d rxq %d", b.MTU, b.NumTxQueues, b.NumRxQueues)
	}

	var routes []string
	var neighOK bool
	if err := l.withHandle("vm", func(nh *netlink.Handle) error {
		rs, err := nh.RouteList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, r := range rs {
			routes = append(routes, fmt.Sprintf("%v via %v", r.Dst, r.Gw))
		}
		ns, err := nh.NeighList(b.Index, netlink.FAMILY_V4)
		for _, n := range ns {
			neighOK = neighOK || (n.IP.String() == "198.18.1.254" && n.State == netlink.NUD_PERMANENT)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(routes, "; ")
	if !strings.Contains(joined, "198.19.0.0/24 via 198.18.1.254") || !strings.Contains(joined, "::/0 via <nil>") {
		t.Errorf("routes in vm: %s", joined)
	}
	if !neighOK {
		t.Error("static neighbor 198.18.1.254 missing")
	}
	out, err := l.Exec("vm", "cat", "/proc/sys/net/ipv6/conf/eth2/disable_ipv6")
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Errorf("eth2 disable_ipv6 = %q, %v", out, err)
	}

	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(sw); err == nil {
		t.Errorf("switch link %s still there after Down", sw)
	}
	if _, err := netlink.LinkByName(l.SwitchIf("quiet")); err == nil {
		t.Errorf("switch link of quiet still there after Down")
	}
}

func TestUpFailureRemovesEverything(t *testing.T) {
	requireRoot(t)
	// Valid, but the gateway is not on any connected network: the kernel
	// refuses the route after namespaces and links exist.
	_, err := Up(context.Background(), Topology{
		Hosts: []Host{{Name: "a", Routes: []Route{{Dst: "198.19.0.0/24", Via: "198.19.9.9"}}}},
		Links: []Link{{Name: "p0", A: Endpoint{Host: "a", Addrs: []string{"198.18.2.1/24"}}}},
	})
	if err == nil {
		t.Fatal("Up succeeded with an unreachable gateway")
	}
	m := regexp.MustCompile(`lab (` + DefaultPrefix + `[a-z0-9]{5}): up: host "a": route 198.19.0.0/24`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error does not name the lab and the route: %v", err)
	}
	id := m[1]
	if _, err := os.Lstat(filepath.Join(netnsDir, id+"-a")); !os.IsNotExist(err) {
		t.Errorf("namespace %s-a left behind: %v", id, err)
	}
	if _, err := netlink.LinkByName(id + "0"); err == nil {
		t.Errorf("switch link %s0 left behind", id)
	}
	if _, err := os.Stat(recordPath(strings.TrimPrefix(id, DefaultPrefix))); !os.IsNotExist(err) {
		t.Errorf("record left behind: %v", err)
	}
}

func TestSweepRemovesOrphanButNotLive(t *testing.T) {
	requireRoot(t)
	live := up(t, Topology{Prefix: orphanPrefix, Hosts: []Host{{Name: "a"}}, Links: []Link{{Name: "p0", A: Endpoint{Host: "a"}}}})

	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	orphan := nsName(orphanPrefix, id, "x") // no record: a run killed before anything was recorded
	if err := createNetns(orphan); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNetns(orphan) })

	removed, err := Sweep(orphanPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, "netns "+orphan) || netnsExists(orphan) {
		t.Errorf("orphan %s not swept (removed %v)", orphan, removed)
	}
	if !netnsExists(live.Netns("a")) {
		t.Errorf("sweep removed the live lab's namespace %s", live.Netns("a"))
	}
	if _, err := netlink.LinkByName(live.SwitchIf("p0")); err != nil {
		t.Errorf("sweep removed the live lab's link: %v", err)
	}
}

func TestUpSweepsKilledRun(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=up-and-hang")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	id := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(id, killPrefix) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	// SIGKILL: no deferred cleanup, no Down.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stale := []string{id + "-h", id + "-g"}
	for _, ns := range stale {
		if !netnsExists(ns) {
			t.Fatalf("killed run left no namespace %s to sweep", ns)
		}
	}
	if _, err := netlink.LinkByName(id + "0"); err != nil {
		t.Fatalf("killed run left no switch link %s0: %v", id, err)
	}

	l := up(t, Topology{Prefix: killPrefix, Hosts: []Host{{Name: "a"}}})
	for _, ns := range stale {
		if !slices.Contains(l.Swept, "netns "+ns) || netnsExists(ns) {
			t.Errorf("Up did not sweep %s (swept %v, err %v)", ns, l.Swept, l.SweepErr)
		}
	}
	if !slices.Contains(l.Swept, "link "+id+"0") {
		t.Errorf("Up did not sweep link %s0 (swept %v)", id, l.Swept)
	}
	if _, err := netlink.LinkByName(id + "0"); err == nil {
		t.Errorf("stale link %s0 still there", id)
	}
	if _, err := os.Stat(recordPath(strings.TrimPrefix(id, killPrefix))); !os.IsNotExist(err) {
		t.Errorf("stale record still there: %v", err)
	}
}

func TestRunRestoresThreads(t *testing.T) {
	requireRoot(t)
	l := up(t, Topology{Hosts: []Host{{Name: "a"}}})
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	for i := range 50 {
		err := l.Run("a", func() error {
			var err error
			inside, err = os.Readlink("/proc/thread-self/ns/net")
			if i%10 == 0 {
				panic("boom")
			}
			return err
		})
		if i%10 == 0 && (err == nil || !strings.Contains(err.Error(), "panic: boom")) {
			t.Fatalf("panic in Run: err = %v", err)
		}
		if i%10 != 0 && err != nil {
			t.Fatal(err)
		}
	}
	if inside == self {
		t.Fatalf("Run did not enter the namespace (%s)", inside)
	}
	if err := l.Run("nope", func() error { return nil }); err == nil {
		t.Error("Run in an unknown host succeeded")
	}
	if err := l.Run("a", func() error { return errors.New("mine") }); err == nil || !strings.Contains(err.Error(), "mine") {
		t.Errorf("Run lost fn's error: %v", err)
	}
	// No thread of this process may be left in the lab's namespace.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ns, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net")
		if err == nil && ns != self {
			t.Errorf("thread %s is in %s, not %s", task.Name(), ns, self)
		}
	}
}

func TestRawConn(t *testing.T) {
	requireRoot(t)
	l := up(t, Topology{
		Hosts: []Host{{Name: "a"}, {Name: "b"}},
		Links: []Link{{Name: "ab", DisableIPv6: true,
			A: Endpoint{Host: "a", MAC: "02:c7:00:00:02:01"}, B: Endpoint{Host: "b", MAC: "02:c7:00:00:02:02"}}},
	})
	ca, err := l.OpenRaw("a", "ab")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, err := l.OpenRaw("b", "ab")
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	frame := []byte{
		0x02, 0xc7, 0, 0, 2, 2, 0x02, 0xc7, 0, 0, 2, 1, 0x88, 0xb5, // local experimental ethertype
		'c', 't', 's', 'w', 'i', 't', 'c', 'h', '-', 'r', 'a', 'w', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if err := ca.WriteOnCPU(0, frame); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, err := cb.Read(buf, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != string(frame) {
		t.Errorf("got % x\nwant % x", buf[:n], frame)
	}
	// The sender does not read its own frame back.
	if n, err := ca.Read(buf, 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("sender read %d bytes: %v", n, err)
	}
}
