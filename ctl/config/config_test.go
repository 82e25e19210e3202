package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
)

// full sets nearly every key to something other than its default.
const full = `
workers: 2
cpus: "0-1,3"
mode: native
ring_size: 4096
frame_size: 4096
batch: 32
spin: true
order_wait: 250ms
handoff_slots: 512
reorder_slots: 1024
ports:
  - name: vm1
    interface: veth-vm1
    network: lab
    mode: generic
    queues: 2
  - interface: veth-vm2
    network: lab
  - name: up
    interface: eth1
    network: prod
    queues: 4
networks:
  - name: lab
    zone: 7
    mac_limit: 100
    static_macs:
      "02:00:00:00:00:01": vm1
      02-00-00-00-00-02: veth-vm2
    policy:
      default: deny
      invalid: monitor
      rules:
        - "deny in=vm1 proto=tcp dport=22"
        - allow name=web proto=tcp dport=80,443
  - name: prod
    id: 10
    zone: 8
conntrack:
  max_conns: 4096
  default: {liberal: true, timeouts: {tcp_established: 1d12h, udp_unreplied: 1m}}
  zones:
    "7": {loose: false, limit: 1000, timeouts: {icmp: 10s}}
    9: {}
    10:
  defrag: {enabled: false, timeout: 5s}
mac: {capacity: 1024, max_age: 1d}
control: {socket: /tmp/ct.sock}
metrics: {listen: off}
snapshot: {path: off, restore: false, interval: 10m}
log: {format: json, level: debug, rate_limit: 0}
`

func mustParse(t *testing.T, in string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(in))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return c
}

func TestParseFull(t *testing.T) {
	c := mustParse(t, full)
	sw := c.Switch
	if c.Path != "test.yaml" {
		t.Errorf("Path %q", c.Path)
	}
	if sw.Workers != 2 || !reflect.DeepEqual(sw.CPUs, []int{0, 1, 3}) || sw.Mode != dataplane.ModeNative ||
		sw.RingSize != 4096 || sw.FrameSize != 4096 || sw.Batch != 32 || !sw.Spin ||
		sw.OrderWait != 250*time.Millisecond || sw.HandoffSlots != 512 || sw.ReorderSlots != 1024 || sw.Logger != nil {
		t.Errorf("switch scalars: %+v", sw)
	}

	generic := dataplane.ModeGeneric
	wantPorts := []dataplane.PortSpec{
		{Name: "vm1", Interface: "veth-vm1", Network: "lab", Mode: &generic},
		{Name: "veth-vm2", Interface: "veth-vm2", Network: "lab"},
		{Name: "up", Interface: "eth1", Network: "prod"},
	}
	if !reflect.DeepEqual(sw.Ports, wantPorts) {
		t.Errorf("ports:\n got %+v\nwant %+v", sw.Ports, wantPorts)
	}

	if len(sw.Networks) != 2 {
		t.Fatalf("networks: %+v", sw.Networks)
	}
	lab, prod := sw.Networks[0], sw.Networks[1]
	if lab.Name != "lab" || lab.ID != 1 || lab.Zone != 7 || lab.MACLimit != 100 {
		t.Errorf("lab: %+v", lab)
	}
	wantStatic := map[packet.MAC]string{{2, 0, 0, 0, 0, 1}: "vm1", {2, 0, 0, 0, 0, 2}: "veth-vm2"}
	if !reflect.DeepEqual(lab.Static, wantStatic) {
		t.Errorf("lab static MACs: %v", lab.Static)
	}
	if lab.Policy.Default != policy.Deny || lab.Policy.Invalid != policy.InvalidMonitor || len(lab.Policy.Rules) != 2 {
		t.Fatalf("lab policy: %+v", lab.Policy)
	}
	if got := lab.Policy.Rules[0].String(); got != "deny in=vm1 proto=tcp dport=22" {
		t.Errorf("rule 0: %s", got)
	}
	if got := lab.Policy.Rules[1].String(); got != "allow name=web proto=tcp dport=80,443" {
		t.Errorf("rule 1: %s", got)
	}
	// The policy compiles against the ports as the switch indexes them.
	ports := policy.PortMap{"vm1": 0, "veth-vm2": 1, "up": 2}
	if _, err := policy.Compile(lab.Policy, ports); err != nil {
		t.Errorf("compile: %v", err)
	}
	if prod.Name != "prod" || prod.ID != 10 || prod.Zone != 8 || prod.Static != nil ||
		!reflect.DeepEqual(prod.Policy, policy.Config{}) {
		t.Errorf("prod: %+v", prod)
	}

	ct := sw.Conntrack
	def := conntrack.DefaultZoneConfig()
	def.BeLiberal = true
	def.Timeouts.TCPEstab = 36 * time.Hour
	def.Timeouts.UDPUnreplied = time.Minute
	if ct.MaxConns != 4096 || ct.Default != def {
		t.Errorf("conntrack default: %d %+v", ct.MaxConns, ct.Default)
	}
	z7 := def // zones inherit what they do not set from the file's default
	z7.Loose, z7.Limit, z7.Timeouts.ICMP = false, 1000, 10*time.Second
	wantZones := map[uint16]conntrack.ZoneConfig{7: z7, 9: def, 10: def}
	if !reflect.DeepEqual(ct.Zones, wantZones) {
		t.Errorf("zones:\n got %+v\nwant %+v", ct.Zones, wantZones)
	}
	wantDefrag := conntrack.DefaultDefragConfig()
	wantDefrag.Disabled, wantDefrag.Timeout = true, 5*time.Second
	if ct.Defrag != wantDefrag {
		t.Errorf("defrag %+v", ct.Defrag)
	}
	if ct.Shards != 0 {
		t.Errorf("shards %d: the switch sets them", ct.Shards)
	}
	if sw.MAC != (l2.Config{Capacity: 1024, MaxAge: 24 * time.Hour}) {
		t.Errorf("mac %+v", sw.MAC)
	}
	if c.Control.Socket != "/tmp/ct.sock" || c.Metrics.Listen != "" || c.Snapshot != (SnapshotConfig{Interval: 10 * time.Minute}) ||
		c.Log != (LogConfig{Format: "json", Level: slog.LevelDebug}) {
		t.Errorf("daemon: %+v %+v %+v %+v", c.Control, c.Metrics, c.Snapshot, c.Log)
	}
}

// TestDefaults checks a ports-only file against "ctswitch run"'s flag
// defaults.
func TestDefaults(t *testing.T) {
	c := mustParse(t, "ports:\n  - interface: veth0\n  - {name: b, interface: veth1}\n")
	want := dataplane.SwitchConfig{
		Ports: []dataplane.PortSpec{
			{Name: "veth0", Interface: "veth0", Network: "default"},
			{Name: "b", Interface: "veth1", Network: "default"},
		},
		Networks:  []dataplane.NetworkSpec{{Name: "default", ID: 1}},
		Mode:      dataplane.ModeAuto,
		RingSize:  2048,
		Batch:     64,
		OrderWait: 100 * time.Millisecond,
		Conntrack: conntrack.Config{
			MaxConns: conntrack.DefaultMaxConns,
			Default:  conntrack.DefaultZoneConfig(),
			Defrag:   conntrack.DefaultDefragConfig(),
		},
		MAC:          l2.Config{Capacity: 65536, MaxAge: 300 * time.Second},
		ReorderSlots: 2048,
		ICMPLimit:    icmperr.LimiterConfig{PerSource: 100, PerSourceBurst: 200, Global: 10000, GlobalBurst: 20000},
		PMTUExpiry:   10 * time.Minute,
	}
	if !reflect.DeepEqual(c.Switch, want) {
		t.Errorf("switch:\n got %+v\nwant %+v", c.Switch, want)
	}
	if c.Control.Socket != "/run/ctswitch/ctswitch.sock" || c.Metrics.Listen != "127.0.0.1:9469" ||
		c.Snapshot != (SnapshotConfig{Path: "/var/lib/ctswitch/conntrack.snap", Restore: true}) ||
		c.Log != (LogConfig{Format: "text", Level: slog.LevelInfo, RateLimit: 10}) {
		t.Errorf("daemon defaults: %+v %+v %+v %+v", c.Control, c.Metrics, c.Snapshot, c.Log)
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{`"0-3,6"`, []int{0, 1, 2, 3, 6}},
		{`"5"`, []int{5}},
		{`5`, []int{5}},
		{`" 1 - 2 , 7"`, []int{1, 2, 7}},
		{`[3, 1, 2]`, []int{3, 1, 2}},
		{"\n  - 0\n  - 1023", []int{0, 1023}},
	} {
		c := mustParse(t, base+"cpus: "+tc.in+"\n")
		if !reflect.DeepEqual(c.Switch.CPUs, tc.want) {
			t.Errorf("cpus: %s = %v, want %v", tc.in, c.Switch.CPUs, tc.want)
		}
	}
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"5d", 5 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2d30m15s", 48*time.Hour + 30*time.Minute + 15*time.Second},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"0", 0},
	} {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "d", "5", "5x", "1d-2h", ".d", "1e3d", "99999999999d", "5dd", "--1d"} {
		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
	for d, want := range map[time.Duration]string{
		5 * 24 * time.Hour: "5d", 36 * time.Hour: "1d12h0m0s", 30 * time.Second: "30s", 0: "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	c := mustParse(t, base+"conntrack: {default: {timeouts: {tcp_established: 2d, generic: 1d1h}}}\nmac: {max_age: 1d}\n")
	if to := c.Switch.Conntrack.Default.Timeouts; to.TCPEstab != 48*time.Hour || to.Generic != 25*time.Hour {
		t.Errorf("timeouts %+v", to)
	}
}

func TestWorkersFromQueues(t *testing.T) {
	defer func(f func() int) { availableCPUs = f }(availableCPUs)
	availableCPUs = func() int { return 8 }
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"ports: [{interface: a}]\n", 0}, // no queues given: the switch decides
		{"ports: [{interface: a, queues: 4}, {interface: b, queues: 2}]\n", 2},
		{"ports: [{interface: a, queues: 16}]\n", 8},
		{"cpus: 0-2\nports: [{interface: a, queues: 16}]\n", 3},
		{"workers: 2\nports: [{interface: a, queues: 4}]\n", 2},
		{"workers: 0\nports: [{interface: a, queues: 4}]\n", 4},
	} {
		if got := mustParse(t, tc.in).Switch.Workers; got != tc.want {
			t.Errorf("%q: workers %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestDefaultNetworkByName(t *testing.T) {
	c := mustParse(t, "ports: [{interface: a, network: default}]\n")
	if c.Switch.Ports[0].Network != "default" {
		t.Errorf("network %q", c.Switch.Ports[0].Network)
	}
}

func TestNetworkDefaults(t *testing.T) {
	c := mustParse(t, "ports: [{interface: a}, {interface: b, network: y}]\nnetworks: [{name: x}, {name: y}, {name: z, id: 1000}]\n")
	n := c.Switch.Networks
	if n[0].ID != 1 || n[1].ID != 2 || n[2].ID != 1000 {
		t.Errorf("ids: %+v", n)
	}
	if c.Switch.Ports[0].Network != "x" || c.Switch.Ports[1].Network != "y" {
		t.Errorf("ports: %+v", c.Switch.Ports)
	}
}

func TestNullIsAbsent(t *testing.T) {
	c := mustParse(t, "workers:\ncpus: ~\nports:\n  - interface: a\n    mode:\nmetrics:\n  listen:\nlog:\n")
	if c.Switch.CPUs != nil || c.Switch.Ports[0].Mode != nil || c.Metrics.Listen != DefaultMetricsListen {
		t.Errorf("%+v", c)
	}
}

func TestMetricsAndPaths(t *testing.T) {
	for _, l := range []string{`":9469"`, `"[::1]:9469"`, `"0.0.0.0:1"`, `"metrics.example.com:9469"`} {
		if c := mustParse(t, base+"metrics: {listen: "+l+"}\n"); c.Metrics.Listen == "" {
			t.Errorf("%s: disabled", l)
		}
	}
	if c := mustParse(t, base+"metrics: {listen: \"\"}\n"); c.Metrics.Listen != "" {
		t.Errorf("empty listen: %q", c.Metrics.Listen)
	}
	c := mustParse(t, base+"snapshot: {path: /srv/ct.snap}\ncontrol: {socket: /run/x.sock}\n")
	if c.Snapshot.Path != "/srv/ct.snap" || c.Control.Socket != "/run/x.sock" {
		t.Errorf("%+v %+v", c.Snapshot, c.Control)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctswitch.yaml")
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || len(c.Switch.Ports) != 3 {
		t.Errorf("%+v", c)
	}
	if err := os.WriteFile(path, []byte("workers: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || err.Error()[:len(path)+5] != path+":1:1:" {
		t.Errorf("Load error %v", err)
	}
}

func TestExample(t *testing.T) {
	ex, err := Parse("example.yaml", Example)
	if err != nil {
		t.Fatalf("Example does not parse:\n%v", err)
	}
	// The example's values are the defaults: it must equal a file that
	// gives only the same port.
	min := mustParse(t, "ports: [{interface: eth0}]\n")
	ex.Path, min.Path = "", ""
	if !reflect.DeepEqual(ex, min) {
		t.Errorf("example differs from the defaults:\n ex  %+v\n min %+v", ex, min)
	}
	if d := Diff(min, ex); !d.Empty() {
		t.Errorf("Diff: %+v", d)
	}
}

func TestExampleShowsEveryKey(t *testing.T) {
	for _, keys := range [][]string{topKeys, portKeys, underlayKeys, networkKeys, tunnelKeys, optionKeys, policyKeys,
		tunnelSecKeys, icmpRateKeys, conntrackKeys, zoneKeys, defragKeys, macKeys, controlKeys, metricsKeys,
		snapshotKeys, logKeys, conntrack.TimeoutNames} {
		for _, k := range keys {
			if !containsKey(Example, k) {
				t.Errorf("example.yaml does not show %q", k)
			}
		}
	}
}

// containsKey reports whether the example shows key, set or commented out.
func containsKey(doc []byte, key string) bool {
	for _, pfx := range []string{"\n", " ", "{", "# "} {
		if bytes.Contains(doc, []byte(pfx+key+":")) {
			return true
		}
	}
	return false
}
