package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ctswitch/ctswitch/ctl"
	"github.com/ctswitch/ctswitch/lab"
)

// The daemon tests run "ctswitch run --config" as a real process (this
// test binary, re-executed: see TestMain) against a namespace lab, and
// drive it with the client verbs, in-process.

func TestMain(m *testing.M) {
	if os.Getenv("CTSWITCH_TEST_EXEC") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// daemon is a running "ctswitch run --config" process.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	socket string
	mu     sync.Mutex
	log    bytes.Buffer
	done   chan error
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func startDaemon(t *testing.T, config, socket string) *daemon {
	t.Helper()
	d := &daemon{t: t, socket: socket, done: make(chan error, 1)}
	d.cmd = exec.Command(os.Args[0], "run", "--config", config)
	d.cmd.Env = append(os.Environ(), "CTSWITCH_TEST_EXEC=1")
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop() })
	d.waitServing()
	return d
}

// waitServing waits until the daemon answers on its socket.
func (d *daemon) waitServing() {
	t := d.t
	t.Helper()
	c := &ctl.Client{Socket: d.socket}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := c.Get(t.Context(), ctl.VerbPorts, nil, nil)
		if err == nil {
			return
		}
		select {
		case werr := <-d.done:
			d.done <- werr
			t.Fatalf("daemon exited (%v) before serving:\n%s", werr, d.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not serving after 20s (%v):\n%s", err, d.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit; it returns the log.
func (d *daemon) stop() string {
	if d.cmd.ProcessState != nil {
		return d.logText()
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			d.t.Errorf("daemon exit: %v\n%s", err, d.logText())
		}
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("daemon did not stop within 20s of SIGTERM:\n%s", d.logText())
	}
	return d.logText()
}

// cli runs a client verb against the daemon and fails the test on error.
func (d *daemon) cli(args ...string) string {
	d.t.Helper()
	code, out, errOut := runArgs(append(args, "--socket", d.socket)...)
	if code != 0 {
		d.t.Fatalf("ctswitch %s: code %d: %s", strings.Join(args, " "), code, errOut)
	}
	d.t.Logf("$ ctswitch %s\n%s%s", strings.Join(args, " "), out, errOut)
	return out + errOut
}

// cliErr runs a client verb that must fail and returns its error output.
func (d *daemon) cliErr(args ...string) string {
	d.t.Helper()
	code, out, errOut := runArgs(append(args, "--socket", d.socket)...)
	if code == 0 {
		d.t.Fatalf("ctswitch %s succeeded, want an error:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

type daemonLab struct {
	*lab.Lab
	dir    string
	config string
	socket string
	snap   string
	mport  int
	// checkpoint is snapshot.interval ("" for none).
	checkpoint string
}

func newDaemonLab(t *testing.T, vms int) *daemonLab {
	t.Helper()
	labTestNeedsRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.DemoTopology(lab.DemoOptions{VMs: vms, Queues: 2}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	dir := t.TempDir()
	// A free loopback port for the metrics listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &daemonLab{Lab: l, dir: dir, config: filepath.Join(dir, "ctswitch.yaml"),
		socket: filepath.Join(dir, "ctl.sock"), snap: filepath.Join(dir, "ct.snap"), mport: mport}
}

func (dl *daemonLab) writeConfig(t *testing.T, extra string, loose bool, rules ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "workers: 2\nmode: native\n%sports:\n", extra)
	for k := 1; k <= 2; k++ {
		fmt.Fprintf(&b, "  - name: vm%d\n    interface: %s\n", k, dl.SwitchIf(fmt.Sprintf("vm%d", k)))
	}
	b.WriteString("networks:\n  - name: lab\n    zone: 3\n    policy:\n      rules:\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "        - %q\n", r)
	}
	if len(rules) == 0 {
		b.WriteString("        []\n")
	}
	fmt.Fprintf(&b, "conntrack:\n  default:\n    loose: %v\n", loose)
	fmt.Fprintf(&b, "control:\n  socket: %s\nmetrics:\n  listen: 127.0.0.1:%d\nsnapshot:\n  path: %s\n", dl.socket, dl.mport, dl.snap)
	if dl.checkpoint != "" {
		fmt.Fprintf(&b, "  interval: %s\n", dl.checkpoint)
	}
	b.WriteString("log:\n  level: debug\n")
	if err := os.WriteFile(dl.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func demoIP(k int) netip.Addr { return netip.MustParseAddr(lab.DemoAddr(k, false)) }

func synFrame(t *testing.T, from, to int, dport uint16) []byte {
	t.Helper()
	src, _ := net.ParseMAC(lab.DemoMAC(from))
	dst, _ := net.ParseMAC(lab.DemoMAC(to))
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP(lab.DemoAddr(from, false)), DstIP: net.ParseIP(lab.DemoAddr(to, false))}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(dport), Seq: 1, SYN: true, Window: 64240}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// greFrame is vm from -> vm to: GRE (key 7) carrying an Ethernet frame
// with a TCP SYN to dport, as a tunnel endpoint inside a VM would send.
func greFrame(t *testing.T, from, to int, dport uint16) []byte {
	t.Helper()
	inner := synFrame(t, 2, 1, dport)
	src, _ := net.ParseMAC(lab.DemoMAC(from))
	dst, _ := net.ParseMAC(lab.DemoMAC(to))
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE,
		SrcIP: net.ParseIP(lab.DemoAddr(from, false)), DstIP: net.ParseIP(lab.DemoAddr(to, false))}
	gre := &layers.GRE{KeyPresent: true, Key: 7, Protocol: layers.EthernetTypeTransparentEthernetBridging}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, gre, gopacket.Payload(inner)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("workers: two\nports:\n  - interface: veth-x\n    mode: fast\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--config", filepath.Join(dir, "none.yaml")}, []string{"none.yaml", "no such file"}},
		{[]string{"run", "--config", bad}, []string{"bad.yaml:1:10: workers:", "bad.yaml:4:11: ports[0].mode: unknown XDP mode \"fast\""}},
		{[]string{"run", "--config", bad, "--workers", "2", "--spin"}, []string{"--config and --spin, --workers: with a config file, every setting comes from the file"}},
	} {
		code, _, errOut := runArgs(tc.args...)
		for _, w := range tc.want {
			if code != 1 || !strings.Contains(errOut, w) {
				t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errOut, w)
			}
		}
	}
}

// TestDaemonVerbs runs every client verb against a running daemon.
func TestDaemonVerbs(t *testing.T) {
	dl := newDaemonLab(t, 2)
	dl.checkpoint = "1s"
	dl.writeConfig(t, "", true, "deny name=no-telnet in=vm2 proto=tcp dport=23")
	d := startDaemon(t, dl.config, dl.socket)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := dl.Ping("vm1", lab.DemoAddr(2, false), 5*time.Second); err != nil {
		t.Fatalf("ping through the daemon: %v\n%s", err, d.logText())
	}
	if _, err := dl.TCPTransfer(ctx, "vm1", "vm2", netip.AddrPortFrom(demoIP(2), 0), 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := dl.UDPExchange(ctx, "vm1", "vm2", netip.AddrPortFrom(demoIP(2), 0), 10, 100); err != nil {
		t.Fatal(err)
	}

	out := d.cli("ports")
	if !regexp.MustCompile(`(?m)^PORT\s+INTERFACE\s+NETWORK\s+MODE\s+QUEUE\s+RX_PACKETS`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^vm1\s+\S+\s+lab\s+native\s+1\s+\d+`).MatchString(out) {
		t.Errorf("ports:\n%s", out)
	}
	var ports []ctl.PortRow
	if err := json.Unmarshal([]byte(d.cli("ports", "-o", "json")), &ports); err != nil || len(ports) != 4 {
		t.Errorf("ports -o json: %d rows, %v", len(ports), err)
	}

	out = d.cli("stats", "--interval", "200ms")
	if !strings.Contains(out, "HANDOFF_RATIO") || !regexp.MustCompile(`(?m)^total\s+-\s+`).MatchString(out) {
		t.Errorf("stats:\n%s", out)
	}
	var st ctl.StatsAnswer
	if err := json.Unmarshal([]byte(d.cli("stats", "--interval", "100ms", "-o", "json")), &st); err != nil || len(st.Workers) != 2 {
		t.Errorf("stats -o json: %+v %v", st, err)
	}

	out = d.cli("drops", "--all")
	for _, want := range []string{"COUNT  WHERE", "switch", "ct_invalid", "port vm1 queue 0", "rx_ring_full", "conntrack", "tcp_seq_over_upper_bound"} {
		if !strings.Contains(out, want) {
			t.Errorf("drops --all lacks %q:\n%s", want, out)
		}
	}

	out = d.cli("mac", "list")
	for k := 1; k <= 2; k++ {
		if !regexp.MustCompile(`(?m)^lab\s+` + lab.DemoMAC(k) + `\s+vm` + fmt.Sprint(k) + `\s+dynamic\s+\d+s`).MatchString(out) {
			t.Errorf("mac list lacks vm%d:\n%s", k, out)
		}
	}

	out = d.cli("ct", "list", "--proto", "tcp", "--zone", "3")
	if !strings.Contains(out, "tcp,orig=(src=198.18.1.1,dst=198.18.1.2,") || !strings.Contains(out, ",zone=3,") {
		t.Errorf("ct list:\n%s", out)
	}
	out = d.cli("ct", "list", "-v", "--addr", lab.DemoAddr(1, false))
	if !strings.Contains(out, "orig=(end=") || !strings.Contains(out, "udp,orig=") || !strings.Contains(out, "icmp,orig=") {
		t.Errorf("ct list -v --addr:\n%s", out)
	}
	var cl ctl.CTListAnswer
	if err := json.Unmarshal([]byte(d.cli("ct", "list", "-o", "json")), &cl); err != nil || cl.Total < 3 {
		t.Errorf("ct list -o json: %+v %v", cl, err)
	}
	out = d.cli("ct", "stats")
	if !regexp.MustCompile(`(?m)^connections: \d+ of \d+`).MatchString(out) || !regexp.MustCompile(`(?m)^3\s+tcp\s+\S+\s+\d+`).MatchString(out) {
		t.Errorf("ct stats:\n%s", out)
	}
	out = d.cli("ct", "set", "liberal", "true", "--zone", "3")
	if strings.TrimSpace(out) != "zone 3: liberal false -> true" {
		t.Errorf("ct set: %q", out)
	}
	d.cli("ct", "set", "limit", "500", "--zone", "3")
	out = d.cli("ct", "limits")
	if !regexp.MustCompile(`(?m)^3\s+500\s+\d+`).MatchString(out) || !strings.Contains(out, "default") {
		t.Errorf("ct limits:\n%s", out)
	}
	d.cli("ct", "set", "tcp_established", "2d")

	// Export, flush, import: the connections come back.
	exp := filepath.Join(dl.dir, "export.ct")
	out = d.cli("ct", "export", "-w", exp)
	m := regexp.MustCompile(`exported (\d+) connections`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Fatalf("ct export: %s", out)
	}
	if out := d.cli("ct", "flush"); !strings.Contains(out, "flushed "+m[1]+" connections") {
		t.Errorf("ct flush (want %s): %s", m[1], out)
	}
	if out := d.cli("ct", "import", exp); !strings.Contains(out, "imported "+m[1]+" connections") {
		t.Errorf("ct import (want %s): %s", m[1], out)
	}

	// A live trace of the next ICMP packet.
	traced := make(chan string, 1)
	go func() {
		_, o, e := runArgs("trace", "--count", "1", "--filter", "icmp and host "+lab.DemoAddr(2, false), "--timeout", "20s", "--socket", d.socket)
		traced <- o + e
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := dl.Ping("vm1", lab.DemoAddr(2, false), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case out = <-traced:
	case <-time.After(25 * time.Second):
		t.Fatal("trace did not return")
	}
	t.Logf("$ ctswitch trace --count 1 --filter ...\n%s", out)
	for _, want := range []string{"packet 1: port vm", "rx ", "parse ", "IPv4 icmp", "owner ", "conntrack ", "mac ", "policy ", "output ", "=> sent to vm"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}

	// A synthetic SYN to telnet from vm2: denied by the rule, not sent.
	out = d.cli("trace", "--port", "vm2", "--packet", hex.EncodeToString(synFrame(t, 2, 1, 23)))
	if !strings.Contains(out, "synthetic") || !strings.Contains(out, `deny: rule 0 "no-telnet"`) || !strings.Contains(out, "=> dropped: policy_deny_rule") {
		t.Errorf("trace --packet:\n%s", out)
	}

	// Capture ICMP received on vm1's port into a pcap file.
	pcapPath := filepath.Join(dl.dir, "icmp.pcap")
	captured := make(chan string, 1)
	go func() {
		_, o, e := runArgs("capture", "vm1", "--rx", "--filter", "icmp", "--count", "3", "--duration", "20s", "-w", pcapPath, "--socket", d.socket)
		captured <- o + e
	}()
	time.Sleep(300 * time.Millisecond)
	for range 3 {
		if _, err := dl.Ping("vm1", lab.DemoAddr(2, false), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case out = <-captured:
	case <-time.After(25 * time.Second):
		t.Fatal("capture did not return")
	}
	if !strings.Contains(out, "3 frames captured") {
		t.Errorf("capture: %s", out)
	}
	checkPcap(t, pcapPath, 3, func(p gopacket.Packet) bool {
		ic := p.Layer(layers.LayerTypeICMPv4)
		return ic != nil && ic.(*layers.ICMPv4).TypeCode.Type() == layers.ICMPv4TypeEchoRequest
	})

	// Capture inside a tunnel: only the GRE packet whose inner TCP
	// segment goes to port 22.
	grePcap := filepath.Join(dl.dir, "gre.pcap")
	go func() {
		_, o, e := runArgs("capture", "--drop", "--rx", "--filter", "gre and inner tcp dport 22", "--count", "1", "--duration", "20s", "-w", grePcap, "--socket", d.socket)
		captured <- o + e
	}()
	time.Sleep(300 * time.Millisecond)
	raw, err := dl.OpenRaw("vm1", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []uint16{80, 22, 443} {
		if err := raw.Write(greFrame(t, 1, 2, port)); err != nil {
			t.Fatal(err)
		}
	}
	// And a frame with a multicast source MAC: dropped, and logged (the
	// daemon runs at level debug).
	bad := synFrame(t, 1, 2, 9)
	copy(bad[6:12], []byte{0x01, 0x00, 0x5e, 0, 0, 1})
	if err := raw.Write(bad); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	select {
	case out = <-captured:
	case <-time.After(25 * time.Second):
		t.Fatal("gre capture did not return")
	}
	t.Logf("$ ctswitch capture --drop --rx --filter 'gre and inner tcp dport 22' ...\n%s", out)
	if !strings.Contains(out, "1 frames captured") {
		t.Errorf("gre capture: %s", out)
	}
	checkPcap(t, grePcap, 1, func(p gopacket.Packet) bool {
		gre := p.Layer(layers.LayerTypeGRE)
		tcps := p.Layers()
		last := tcps[len(tcps)-1]
		if tcp, ok := last.(*layers.TCP); ok {
			return gre != nil && tcp.DstPort == 22
		}
		for _, l := range tcps {
			if tcp, ok := l.(*layers.TCP); ok {
				return gre != nil && tcp.DstPort == 22
			}
		}
		return false
	})

	if !waitLog(d, `msg="packet dropped" reason=l2_src_multicast port=vm1`, 5*time.Second) {
		t.Errorf("dropped packet not logged:\n%s", d.logText())
	}

	// The capture replayed as synthetic input: the GRE packet is switched
	// like any other IP packet of the VMs' network.
	out = d.cli("trace", "--pcap", grePcap, "--port", "vm1")
	if !strings.Contains(out, "packet 1: port vm1") || !strings.Contains(out, "IPv4 gre 198.18.1.1 > 198.18.1.2") || !strings.Contains(out, "=> sent to vm2") {
		t.Errorf("trace --pcap:\n%s", out)
	}

	// Metrics.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", dl.mport))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`ctswitch_drops_total{reason="ct_invalid"}`, `ctswitch_conntrack_entries{protocol="tcp",state=`,
		`ctswitch_port_receive_packets_total{interface=`, `ctswitch_worker_busy_seconds_total{cpu=`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Bad requests get clear errors.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ct", "list", "--proto", "bogus"}, `protocol "bogus": want tcp, udp, icmp, icmpv6 or a number`},
		{[]string{"ct", "set", "bogus", "1"}, `unknown knob "bogus"`},
		{[]string{"ct", "set", "loose", "maybe"}, `loose: "maybe" is not true or false`},
		{[]string{"ct", "list", "--src", "198.18.1.1"}, "a connection tuple needs proto, src and dst"},
		{[]string{"trace", "--filter", "tcp port"}, "filter: column"},
		{[]string{"trace", "--count", "5000"}, "count 5000: must be 1..1000"},
		{[]string{"capture", "nope", "-w", filepath.Join(dl.dir, "x.pcap")}, `no port "nope"`},
		{[]string{"mac", "list", "--network", "nope"}, `no network "nope"`},
		{[]string{"ct", "import", "/nonexistent"}, "no such file"},
		{[]string{"ports", "-o", "yaml"}, `unknown output format "yaml"`},
	} {
		if e := d.cliErr(tc.args...); !strings.Contains(e, tc.want) {
			t.Errorf("%v: %q, want %q", tc.args, e, tc.want)
		}
	}

	// Reload: a new rule applies live; a worker count needs a restart; a
	// broken file changes nothing.
	dl.writeConfig(t, "batch: 32\n", true, "deny name=no-telnet in=vm2 proto=tcp dport=23", "deny name=no-ssh proto=tcp dport=22")
	out = d.cli("reload")
	if !strings.Contains(out, "applied: networks[lab].policy") || !strings.Contains(out, "needs restart: batch") {
		t.Errorf("reload:\n%s", out)
	}
	out = d.cli("trace", "--port", "vm1", "--packet", hex.EncodeToString(synFrame(t, 1, 2, 22)))
	if !strings.Contains(out, "dropped: policy_deny_rule") || !strings.Contains(out, "no-ssh") {
		t.Errorf("rule from reload not in force:\n%s", out)
	}
	if err := os.WriteFile(dl.config, []byte("workers: 2\nports:\n  - interface: x\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e := d.cliErr("reload"); !strings.Contains(e, "ctswitch.yaml:4:5") || !strings.Contains(e, `unknown key "bogus"`) {
		t.Errorf("bad reload: %s", e)
	}
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if !strings.Contains(d.logText(), "reload failed; the running configuration is unchanged") {
		t.Errorf("SIGHUP with a broken file not logged:\n%s", d.logText())
	}
	d.cli("ports") // still serving
	// Checkpoints are written while the daemon runs.
	if !waitLog(d, "conntrack snapshot written", 3*time.Second) {
		t.Errorf("no checkpoint within 3s of a 1s interval:\n%s", d.logText())
	} else if _, err := os.Stat(dl.snap); err != nil {
		t.Errorf("checkpoint file: %v", err)
	}
	logs := d.stop()
	if !strings.Contains(logs, "conntrack snapshot written") {
		t.Errorf("no snapshot at stop:\n%s", logs)
	}
	if _, err := os.Stat(dl.socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func waitLog(d *daemon, want string, timeout time.Duration) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(d.logText(), want) {
			return true
		}
	}
	return false
}

func checkPcap(t *testing.T, path string, n int, ok func(gopacket.Packet) bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
		if p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default); !ok(p) {
			t.Errorf("pcap frame %d: %v", got, p)
		}
	}
	if got != n {
		t.Errorf("pcap has %d frames, want %d", got, n)
	}
}

// TestDaemonRestartKeepsConnections stops the daemon with SIGTERM in the
// middle of a TCP transfer and starts it again. Loose pickup is off, so
// the transfer can only go on if the restarted daemon restored the
// connection from its snapshot.
func TestDaemonRestartKeepsConnections(t *testing.T) {
	dl := newDaemonLab(t, 2)
	dl.writeConfig(t, "", false)
	d := startDaemon(t, dl.config, dl.socket)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	type result struct {
		tr  lab.Transfer
		err error
	}
	res := make(chan result, 1)
	const size, rate = 24 << 20, 4 << 20 // 6 s
	go func() {
		tr, err := dl.TCPTransferPaced(ctx, "vm1", "vm2", netip.AddrPortFrom(demoIP(2), 5001), size, rate)
		res <- result{tr, err}
	}()
	time.Sleep(2 * time.Second)
	if out := d.cli("ct", "list", "--proto", "tcp", "--state", "ESTABLISHED"); !strings.Contains(out, "dport=5001") {
		t.Fatalf("transfer not established before the restart:\n%s", out)
	}
	logs := d.stop()
	if !regexp.MustCompile(`conntrack snapshot written.* connections=[1-9]`).MatchString(logs) {
		t.Fatalf("no snapshot:\n%s", logs)
	}
	d2 := startDaemon(t, dl.config, dl.socket)
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatal("transfer did not finish")
	}
	if r.err != nil || !r.tr.Identical || r.tr.Bytes != size {
		t.Fatalf("transfer across the restart: %+v %v\nsecond daemon:\n%s", r.tr, r.err, d2.logText())
	}
	if !regexp.MustCompile(`conntrack snapshot restored.* connections=[1-9]`).MatchString(d2.logText()) {
		t.Errorf("no restore in the second daemon's log:\n%s", d2.logText())
	}
	out := d2.cli("ct", "list", "--proto", "tcp", "--addr", lab.DemoAddr(1, false), "-v")
	t.Logf("after the transfer: %s", out)
	drops := d2.cli("drops")
	t.Logf("second daemon's drops:\n%s", drops)
	if _, err := os.Stat(dl.snap + ".restored"); err != nil {
		t.Errorf("restored snapshot not set aside: %v", err)
	}
}
