package config

import (
	"reflect"
	"strings"
	"testing"
)

const diffBase = `
workers: 2
ports:
  - {name: vm1, interface: veth-vm1, network: lab, queues: 2}
  - {name: vm2, interface: veth-vm2, network: lab}
  - {name: up, interface: eth1, network: prod}
networks:
  - name: lab
    zone: 7
    mac_limit: 100
    static_macs: {"02:00:00:00:00:01": vm1}
    policy:
      rules: ["deny in=vm1 proto=tcp dport=22"]
  - {name: prod, zone: 8}
conntrack:
  default: {liberal: false}
  zones:
    "7": {limit: 1000}
    "9": {liberal: true}
log: {level: info}
`

// edit applies textual replacements to diffBase; each must match.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := diffBase
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("edit: %q not in the base", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func keys(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Key
	}
	return out
}

func TestDiffIdentical(t *testing.T) {
	for _, in := range []string{diffBase, full, string(Example)} {
		a, b := mustParse(t, in), mustParse(t, in)
		if d := Diff(a, b); !d.Empty() {
			t.Errorf("identical files differ: %+v", d)
		}
	}
	// Spelling does not matter, only meaning.
	a := mustParse(t, diffBase)
	b := mustParse(t, edit(t, `"02:00:00:00:00:01": vm1`, `02-00-00-00-00-01: vm1`, "level: info", "level: INFO"))
	if d := Diff(a, b); !d.Empty() {
		t.Errorf("respelled file differs: %+v", d)
	}
}

func TestDiffLive(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, edit(t,
		"deny in=vm1 proto=tcp dport=22", "deny in=vm1 proto=tcp dport=2222",
		"mac_limit: 100", "mac_limit: 50",
		"{liberal: false}", "{liberal: true, timeouts: {tcp_established: 1d}}",
		`"7": {limit: 1000}`, `"7": {limit: 2000}`,
		`    "9": {liberal: true}`, `    "11": {}`,
		"log: {level: info}", "log: {level: debug, rate_limit: 5}\nsnapshot: {interval: 1m}",
	))
	d := Diff(a, b)
	if len(d.Restart) != 0 {
		t.Errorf("restart: %+v", d.Restart)
	}
	want := []string{
		"networks[lab].mac_limit",
		"networks[lab].policy",
		"conntrack.default.liberal",
		"conntrack.default.timeouts.tcp_established",
		// Zone 7 inherits both default changes, then has its own limit.
		"conntrack.zones[7].liberal",
		"conntrack.zones[7].limit",
		"conntrack.zones[7].timeouts.tcp_established",
		"conntrack.zones[9]",
		"conntrack.zones[11]",
		"snapshot.interval",
		"log.level",
		"log.rate_limit",
	}
	if got := keys(d.Live); !reflect.DeepEqual(got, want) {
		t.Errorf("live keys:\n got %q\nwant %q", got, want)
	}
	byKey := map[string]Change{}
	for _, c := range d.Live {
		byKey[c.Key] = c
	}
	for key, want := range map[string]Change{
		"networks[lab].policy": {Old: "default allow, invalid drop, rules: deny in=vm1 proto=tcp dport=22",
			New: "default allow, invalid drop, rules: deny in=vm1 proto=tcp dport=2222"},
		"conntrack.default.timeouts.tcp_established": {Old: "5d", New: "1d"},
		"conntrack.zones[7].limit":                   {Old: "1000", New: "2000"},
		"conntrack.zones[9]":                         {Old: "liberal=true", New: ""},
		"conntrack.zones[11]":                        {Old: "", New: "as default"},
		"log.level":                                  {Old: "info", New: "debug"},
		"snapshot.interval":                          {Old: "0s", New: "1m0s"},
	} {
		want.Key = key
		if byKey[key] != want {
			t.Errorf("%s: %+v, want %+v", key, byKey[key], want)
		}
	}
}

func TestDiffRestart(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, edit(t,
		"workers: 2", "workers: 1\nmode: generic",
		"queues: 2}", "queues: 4, mode: native}",
		"  - {name: up, interface: eth1, network: prod}", "  - {name: up, interface: eth2, network: prod}\n  - {name: up2, interface: eth3, network: prod}",
		`{"02:00:00:00:00:01": vm1}`, `{"02:00:00:00:00:01": vm2}`,
		"{name: prod, zone: 8}", "{name: prod, zone: 9, id: 5}\n  - {name: test}",
		"conntrack:\n", "conntrack:\n  max_conns: 1000\n  defrag: {enabled: false}\n",
		"log: {level: info}", "log: {level: info, format: json}\nmetrics: {listen: off}\nmac: {max_age: 1h}",
	))
	d := Diff(a, b)
	want := []string{
		"workers", "mode", "ports",
		"ports[vm1].mode", "ports[vm1].queues", "ports[up].interface",
		"networks", "networks[lab].static_macs", "networks[prod].id", "networks[prod].zone",
		"conntrack.max_conns", "conntrack.defrag.enabled",
		"mac.max_age", "metrics.listen", "log.format",
	}
	if got := keys(d.Restart); !reflect.DeepEqual(got, want) {
		t.Errorf("restart keys:\n got %q\nwant %q", got, want)
	}
	if len(d.Live) != 0 {
		t.Errorf("live: %+v", d.Live)
	}
	byKey := map[string]Change{}
	for _, c := range d.Restart {
		byKey[c.Key] = c
	}
	for key, want := range map[string]Change{
		"ports":                     {Old: "vm1,vm2,up", New: "vm1,vm2,up,up2"},
		"ports[vm1].queues":         {Old: "2", New: "4"},
		"ports[vm1].mode":           {Old: "", New: "native"},
		"networks":                  {Old: "lab,prod", New: "lab,prod,test"},
		"networks[lab].static_macs": {Old: "02:00:00:00:00:01=vm1", New: "02:00:00:00:00:01=vm2"},
		"metrics.listen":            {Old: "127.0.0.1:9469", New: "off"},
	} {
		want.Key = key
		if byKey[key] != want {
			t.Errorf("%s: %+v, want %+v", key, byKey[key], want)
		}
	}
}

func TestDiffRenamedNetwork(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, edit(t, "name: lab", "name: lab2", "network: lab}", "network: lab2}", "network: lab,", "network: lab2,"))
	d := Diff(a, b)
	if got := keys(d.Restart); !reflect.DeepEqual(got, []string{"ports[vm1].network", "ports[vm2].network", "networks"}) {
		t.Errorf("restart %q", got)
	}
	// The renamed network's policy is new, not changed: nothing live.
	if len(d.Live) != 0 {
		t.Errorf("live %+v", d.Live)
	}
}

func TestDiffStableOrder(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, full)
	first := Diff(a, b)
	for range 20 { // zone maps iterate in random order: the result must not
		if d := Diff(a, b); !reflect.DeepEqual(d, first) {
			t.Fatalf("Diff is not stable:\n%+v\n%+v", first, d)
		}
	}
	seen := map[string]bool{}
	for _, c := range append(append([]Change{}, first.Live...), first.Restart...) {
		if seen[c.Key] {
			t.Errorf("key %s listed twice", c.Key)
		}
		seen[c.Key] = true
		if c.Old == c.New {
			t.Errorf("%s listed with equal values %q", c.Key, c.Old)
		}
	}
}

func TestDiffNil(t *testing.T) {
	c := mustParse(t, diffBase)
	if d := Diff(nil, c); d.Empty() {
		t.Error("nil vs config: empty")
	}
	if d := Diff(nil, nil); !d.Empty() {
		t.Errorf("nil vs nil: %+v", d)
	}
}
