package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctswitch/ctswitch/ctl/config"
	"github.com/ctswitch/ctswitch/lab"
)

// The tunnel tests run two daemons, one in each switch host of a
// two-host lab, joining VM a1 (on swa) and VM b1 (on swb) into one
// network over GRE or Geneve, and drive traffic between the VMs' kernels.

// tunnelLab is a two-host lab with a daemon on each switch host.
type tunnelLab struct {
	*lab.Lab
	router bool
	da, db *daemon
}

func newTunnelLab(t *testing.T, router bool, tunnelYAML func(side byte) string) *tunnelLab {
	return newTunnelLabOpts(t, lab.TwoHostOptions{Router: router}, tunnelYAML)
}

func newTunnelLabMTU(t *testing.T, router bool, routerMTU int, tunnelYAML func(side byte) string) *tunnelLab {
	return newTunnelLabOpts(t, lab.TwoHostOptions{Router: router, RouterMTU: routerMTU}, tunnelYAML)
}

func newTunnelLabOpts(t *testing.T, opt lab.TwoHostOptions, tunnelYAML func(side byte) string) *tunnelLab {
	t.Helper()
	labTestNeedsRoot(t)
	router := opt.Router
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.TwoHostTopology(opt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	tl := &tunnelLab{Lab: l, router: router}
	dir := t.TempDir()
	for _, side := range []byte{'a', 'b'} {
		host := lab.TwoHostSwitchA
		if side == 'b' {
			host = lab.TwoHostSwitchB
		}
		cfg := filepath.Join(dir, host+".yaml")
		sock := filepath.Join(dir, host+".sock")
		vm := lab.TwoHostVM(side, 1)
		y := fmt.Sprintf(`workers: 2
mode: native
ports:
  - {name: %s, interface: %s}
underlay:
  - {name: up, interface: %s}
networks:
  - name: lab
    tunnels:
%s
control: {socket: %s}
metrics: {listen: "off"}
snapshot: {path: "off"}
log: {level: debug}
`, vm, vm, lab.UnderlayIfName, tunnelYAML(side), sock)
		if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		d := startDaemonIn(t, l, host, cfg, sock)
		if side == 'a' {
			tl.da = d
		} else {
			tl.db = d
		}
	}
	return tl
}

// startDaemonIn is startDaemon inside a lab host's network namespace.
func startDaemonIn(t *testing.T, l *lab.Lab, host, config, socket string) *daemon {
	t.Helper()
	d := &daemon{t: t, socket: socket, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Args[0], "run", "--config", config)
	d.cmd.Env = append(os.Environ(), "CTSWITCH_TEST_EXEC=1")
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := l.Run(host, d.cmd.Start); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop() })
	d.waitServing()
	return d
}

// pingDF runs ping -M do (DF set, no local fragmentation) with a payload
// of size bytes and returns its output.
func pingDF(l *lab.Lab, host, dst string, size int, v6 bool) string {
	args := []string{"ping", "-M", "do", "-s", fmt.Sprint(size), "-c", "2", "-i", "0.3", "-W", "1", dst}
	if v6 {
		args = append([]string{args[0], "-6"}, args[1:]...)
	}
	out, _ := l.Exec(host, args...)
	return string(out)
}

func vmAddr(side byte, v6 bool) string { return lab.TwoHostVMAddr(side, 1, v6) }

// TestTunnelDirect: over a 1500-byte underlay, VMs on two hosts reach
// each other over GRE (with a key) and Geneve, IPv4 and IPv6, with pings
// and TCP transfers whose bytes are checked.
func TestTunnelDirect(t *testing.T) {
	for _, tc := range []struct {
		kind string
		v6   bool // IPv6 underlay
		mtu  string
	}{{"gretap", false, "1458"}, {"geneve", false, "1450"}, {"geneve", true, "1430"}} {
		kind := tc.kind
		name := kind
		if tc.v6 {
			name += "-ipv6-underlay"
		}
		t.Run(name, func(t *testing.T) {
			tl := newTunnelLab(t, false, func(side byte) string {
				other := byte('b')
				if side == 'b' {
					other = 'a'
				}
				id := "key: 42"
				if kind == "geneve" {
					id = "vni: 4242"
				}
				return fmt.Sprintf("      - {name: host%c, type: %s, remote: \"%s\", %s}", other, kind, lab.TwoHostUnderlayAddr(other, false, tc.v6), id)
			})
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			for _, v6 := range []bool{false, true} {
				if _, err := tl.Ping(lab.TwoHostVM('a', 1), vmAddr('b', v6), 5*time.Second); err != nil {
					t.Fatalf("ping a1 -> b1 (%v): %v\nswa:\n%s\nswb:\n%s", v6, err, tl.da.logText(), tl.db.logText())
				}
				dst := netip.AddrPortFrom(netip.MustParseAddr(vmAddr('b', v6)), 0)
				tr, err := tl.TCPTransfer(ctx, lab.TwoHostVM('a', 1), lab.TwoHostVM('b', 1), dst, 8<<20)
				if err != nil || !tr.Identical {
					t.Fatalf("tcp a1 -> b1 (%v): %+v %v", v6, tr, err)
				}
				t.Logf("%s tcp v6=%v: %.0f Mbit/s", kind, v6, tr.Mbps)
			}
			// Full-size DF packets fit a 1500-byte underlay minus the
			// overhead (gretap+key 1458, geneve 1450): 1400 bytes pass.
			if out := pingDF(tl.Lab, lab.TwoHostVM('a', 1), vmAddr('b', false), 1372, false); !strings.Contains(out, " 0% packet loss") {
				t.Errorf("1400-byte DF ping:\n%s", out)
			}
			// TCP starts with 1460-byte segments (the VMs' MTU is 1500):
			// those got ICMP fragmentation needed, and the transfers
			// went on at the tunnel's MTU.
			out := tl.da.cli("tunnel", "show")
			if !strings.Contains(out, "frag_needed_sent=") || !strings.Contains(out, "packet_too_big_sent=") {
				t.Errorf("no path MTU discovery seen:\n%s", out)
			}
			wantMTU := tc.mtu
			if !regexp.MustCompile(`(?m)^hostb\s+lab\s+` + kind + `\s+.*\s1500\s+1500\s+-\s+` + wantMTU + `\s+[1-9]\d*\s+[1-9]\d*\s+\d+$`).MatchString(out) {
				t.Errorf("tunnel show on swa:\n%s", out)
			}
			t.Logf("swa tunnel show:\n%s", out)
		})
	}
}

// TestTunnelPathMTU: a router between the hosts whose second link has
// MTU 1400 (incident 5). The first big DF packet reaches the router,
// which sends swa "fragmentation needed"; swa learns the path MTU and
// from then on answers too-big inner packets with ICMP fragmentation
// needed / ICMPv6 packet too big carrying the right MTU, so ping -M do
// shows it, TCP finds the path MTU and completes with full-size
// segments, and non-DF UDP is fragmented inside the tunnel and arrives
// reassembled.
func TestTunnelPathMTU(t *testing.T) {
	for _, kind := range []string{"gretap", "geneve"} {
		t.Run(kind, func(t *testing.T) {
			tl := newTunnelLab(t, true, func(side byte) string {
				other := byte('b')
				if side == 'b' {
					other = 'a'
				}
				id := "key: 7"
				if kind == "geneve" {
					id = "vni: 7"
				}
				return fmt.Sprintf("      - {name: host%c, type: %s, remote: %s, %s}", other, kind, lab.TwoHostUnderlayAddr(other, true, false), id)
			})
			a1, b1 := lab.TwoHostVM('a', 1), lab.TwoHostVM('b', 1)
			if _, err := tl.Ping(a1, vmAddr('b', false), 5*time.Second); err != nil {
				t.Fatalf("ping: %v\n%s", err, tl.da.logText())
			}
			own := map[string]int{"gretap": 1500 - 20 - 8 - 14, "geneve": 1500 - 20 - 8 - 8 - 14}[kind]
			inner := own - 100 // the router's link is 100 bytes narrower
			// A 1500-byte DF ping: swa's tunnel cannot carry it, and says
			// so with its own MTU.
			out := pingDF(tl.Lab, a1, vmAddr('b', false), 1472, false)
			if want := fmt.Sprintf("Frag needed and DF set (mtu = %d)", own); !strings.Contains(out, want) {
				t.Errorf("ping -M do -s 1472: want %q in:\n%s", want, out)
			}
			// A ping of exactly that size leaves swa at 1500 bytes and is
			// dropped by the router, which tells swa; the next one gets
			// swa's ICMP with the path's MTU.
			out = pingDF(tl.Lab, a1, vmAddr('b', false), own-28, false)
			want := fmt.Sprintf("Frag needed and DF set (mtu = %d)", inner)
			if !strings.Contains(out, want) {
				t.Errorf("ping -M do -s %d: want %q in:\n%s\nswa tunnel show:\n%s\nswa log:\n%s", own-28, want, out, tl.da.cli("tunnel", "show"), tl.da.logText())
			}
			t.Logf("ping -M do -s %d:\n%s", own-28, out)
			// From now on a 1500-byte DF ping fails with the path's MTU
			// (the VM's kernel remembers it and refuses locally).
			out = pingDF(tl.Lab, a1, vmAddr('b', false), 1472, false)
			if local := fmt.Sprintf("message too long, mtu=%d", inner); !strings.Contains(out, want) && !strings.Contains(out, local) {
				t.Errorf("ping -M do -s 1472 after learning: want %q or %q in:\n%s", want, local, out)
			}
			show := tl.da.cli("tunnel", "show")
			if !regexp.MustCompile(`\s1500\s+1400\s+1400 \(\d+m\d+s left\)\s+` + fmt.Sprint(inner) + `\s`).MatchString(show) {
				t.Errorf("tunnel show after the router's ICMP:\n%s", show)
			}

			// IPv6 inner over the same tunnel: packet too big.
			out = pingDF(tl.Lab, a1, vmAddr('b', true), 1452, true)
			want6 := fmt.Sprintf("Packet too big: mtu=%d", inner)
			if !strings.Contains(out, want6) {
				t.Errorf("ping -6 -M do -s 1452: want %q in:\n%s", want6, out)
			}
			t.Logf("ping -6 -M do -s 1452:\n%s", out)

			// TCP with full-size segments, after a small exchange (the ssh
			// KEXINIT case), both families.
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			for _, v6 := range []bool{false, true} {
				dst := netip.AddrPortFrom(netip.MustParseAddr(vmAddr('b', v6)), 0)
				if _, err := tl.TCPTransfer(ctx, a1, b1, dst, 100); err != nil {
					t.Fatalf("small tcp (v6 %v): %v", v6, err)
				}
				tr, err := tl.TCPTransfer(ctx, a1, b1, dst, 4<<20)
				if err != nil || !tr.Identical {
					t.Fatalf("big tcp (v6 %v): %+v %v\nswa drops:\n%s", v6, tr, err, tl.da.cli("drops"))
				}
			}

			// Non-DF UDP of 1500 bytes: fragmented inside the tunnel,
			// reassembled by b1's kernel.
			got, err := udpNoDF(tl.Lab, a1, b1, vmAddr('b', false), 1472)
			if err != nil || got != 1472 {
				t.Errorf("non-DF UDP of 1500 bytes: received %d bytes, %v\nswa tunnel show:\n%s", got, err, tl.da.cli("tunnel", "show"))
			}
			counters := tl.da.cli("tunnel", "show")
			for _, w := range []string{"frag_needed_sent=", "packet_too_big_sent=", "inner_fragmented=", "pmtu_learned="} {
				if !strings.Contains(counters, w) {
					t.Errorf("tunnel counters lack %s:\n%s", w, counters)
				}
			}
			drops := tl.da.cli("drops")
			if !strings.Contains(drops, "tunnel_frag_needed") {
				t.Errorf("drops:\n%s", drops)
			}
		})
	}
}

// udpNoDF sends one UDP datagram of size bytes with DF clear from host
// from to dst:5353 and returns how many bytes the receiver in host to got.
func udpNoDF(l *lab.Lab, from, to, dst string, size int) (int, error) {
	var rc *net.UDPConn
	if err := l.Run(to, func() error {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(dst), Port: 5353})
		rc = c
		return err
	}); err != nil {
		return 0, err
	}
	defer rc.Close()
	var sc *net.UDPConn
	if err := l.Run(from, func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(dst), Port: 5353})
		sc = c
		return err
	}); err != nil {
		return 0, err
	}
	defer sc.Close()
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	}); err != nil || serr != nil {
		return 0, fmt.Errorf("IP_MTU_DISCOVER: %v %v", err, serr)
	}
	buf := make([]byte, 65536)
	for try := 0; try < 3; try++ {
		if _, err := sc.Write(make([]byte, size)); err != nil && !errorsIsMsgSize(err) {
			return 0, err
		}
		_ = rc.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := rc.ReadFromUDP(buf)
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no datagram in 3 tries")
}

func errorsIsMsgSize(err error) bool {
	var errno syscall.Errno
	for e := err; e != nil; {
		if x, ok := e.(syscall.Errno); ok {
			errno = x
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return errno == syscall.EMSGSIZE
}

// TestTunnelNarrowIPv6: the router's link towards swb is 1300 bytes, so
// the Geneve tunnel carries only 1250-byte inner packets, less than the
// 1280 bytes every IPv6 link must carry (RFC 8200). IPv6 packets of up to
// 1280 bytes still get through: the switch fragments the outer packet and
// the far switch reassembles it before decapsulating (Open vSwitch cannot
// decapsulate outer fragments); bigger ones get packet too big 1280.
// IPv4 gets fragmentation needed with 1250.
func TestTunnelNarrowIPv6(t *testing.T) {
	tl := newTunnelLabMTU(t, true, 1300, func(side byte) string {
		other := byte('b')
		if side == 'b' {
			other = 'a'
		}
		return fmt.Sprintf("      - {name: host%c, type: geneve, remote: %s, vni: 9}", other, lab.TwoHostUnderlayAddr(other, true, false))
	})
	a1 := lab.TwoHostVM('a', 1)
	if _, err := tl.Ping(a1, vmAddr('b', true), 5*time.Second); err != nil {
		t.Fatalf("ping6: %v", err)
	}
	// 1280-byte IPv6 packets: the first teaches swa the path MTU (the
	// router drops it), the others are sent in outer fragments.
	out := pingDF(tl.Lab, a1, vmAddr('b', true), 1232, true)
	if !regexp.MustCompile(`[1-9] received`).MatchString(out) {
		t.Errorf("1280-byte IPv6 ping:\n%s\nswa:\n%s\nswb:\n%s", out, tl.da.cli("tunnel", "show"), tl.db.cli("tunnel", "show"))
	}
	t.Logf("ping -6 -M do -s 1232:\n%s", out)
	if out := pingDF(tl.Lab, a1, vmAddr('b', true), 1300, true); !strings.Contains(out, "mtu=1280") {
		t.Errorf("1348-byte IPv6 ping: want packet too big 1280:\n%s", out)
	}
	if out := pingDF(tl.Lab, a1, vmAddr('b', false), 1472, false); !strings.Contains(out, "mtu = 1250") && !strings.Contains(out, "mtu=1250") {
		t.Errorf("1500-byte IPv4 DF ping: want mtu 1250:\n%s", out)
	}
	sa, sb := tl.da.cli("tunnel", "show"), tl.db.cli("tunnel", "show")
	if !strings.Contains(sa, "outer_fragmented=") || !strings.Contains(sa, "outer_reassembled=") || !strings.Contains(sb, "outer_reassembled=") {
		t.Errorf("outer fragmentation not seen:\nswa:\n%s\nswb:\n%s", sa, sb)
	}
	t.Logf("swa:\n%s\nswb:\n%s", sa, sb)
}

func TestLabUpTwoHost(t *testing.T) {
	labTestNeedsRoot(t)
	dir := t.TempDir()
	code, out, errOut := runArgs("lab", "up", "--two-host", "--router", "--tunnel", "geneve", "--prefix", cliLabPrefix, "--config-dir", dir)
	if code != 0 {
		t.Fatalf("lab up --two-host: %s", errOut)
	}
	m := regexp.MustCompile(`^lab (` + cliLabPrefix + `[a-z0-9]{5}) is up: two switch hosts`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output:\n%s", out)
	}
	defer runArgs("lab", "down", m[1])
	t.Logf("%s", out)
	for _, host := range []string{"swa", "swb"} {
		path := filepath.Join(dir, host+".yaml")
		c, err := config.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(c.Switch.Tunnels) != 1 || c.Switch.Tunnels[0].Endpoint.Kind.String() != "geneve" || len(c.Switch.Underlays) != 1 {
			t.Errorf("%s: %+v", host, c.Switch)
		}
		if !strings.Contains(out, "ctswitch run --config "+path) {
			t.Errorf("no run line for %s:\n%s", host, out)
		}
	}
	if code, _, errOut := runArgs("lab", "up", "--two-host", "--tunnel", "vxlan"); code == 0 || !strings.Contains(errOut, `--tunnel "vxlan": want gretap or geneve`) {
		t.Errorf("bad tunnel: %d %s", code, errOut)
	}
}

// TestTunnelGREIP: IP-GRE endpoints are router ports. The VMs of the two
// hosts live in two subnets and route each other's through a gateway
// address the switches answer ARP and neighbour discovery for; packets
// cross as bare IP in GRE.
func TestTunnelGREIP(t *testing.T) {
	tl := newTunnelLabOpts(t, lab.TwoHostOptions{Routed: true}, func(side byte) string {
		other := byte('b')
		if side == 'b' {
			other = 'a'
		}
		return fmt.Sprintf("      - {name: host%c, type: gre, remote: %s, key: 5, gateway: [%s, \"%s\"]}", other,
			lab.TwoHostUnderlayAddr(other, false, false), lab.TwoHostGateway(side, false), lab.TwoHostGateway(side, true))
	})
	a1, b1 := lab.TwoHostVM('a', 1), lab.TwoHostVM('b', 1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, v6 := range []bool{false, true} {
		dst := lab.TwoHostRoutedVMAddr('b', 1, v6)
		var err error
		for try := 0; try < 3; try++ { // the first packet towards b1 finds swb asking for it
			if _, err = tl.Ping(a1, dst, 2*time.Second); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("ping a1 -> %s over IP-GRE: %v\nswa:\n%s\nswb:\n%s", dst, err, tl.da.cli("drops"), tl.db.cli("drops"))
		}
		tr, err := tl.TCPTransfer(ctx, a1, b1, netip.AddrPortFrom(netip.MustParseAddr(dst), 0), 4<<20)
		if err != nil || !tr.Identical {
			t.Fatalf("tcp over IP-GRE (v6 %v): %+v %v", v6, tr, err)
		}
		t.Logf("IP-GRE tcp v6=%v: %.0f Mbit/s", v6, tr.Mbps)
	}
	// IP-GRE with a key: 1500 - 20 - 8 = 1472.
	if out := pingDF(tl.Lab, a1, lab.TwoHostRoutedVMAddr('b', 1, false), 1472, false); !strings.Contains(out, "mtu = 1472") && !strings.Contains(out, "mtu=1472") {
		t.Errorf("1500-byte DF ping over IP-GRE: want mtu 1472:\n%s", out)
	}
	out := tl.da.cli("tunnel", "show")
	if !regexp.MustCompile(`(?m)^hostb\s+lab\s+gre\s+key 5\s.*\s1500\s+1500\s+-\s+1472\s`).MatchString(out) {
		t.Errorf("tunnel show:\n%s", out)
	}
	t.Logf("swa:\n%s", out)
}
