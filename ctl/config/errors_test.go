package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// base is a valid ports section for cases about other keys.
const base = "ports: [{interface: veth0}]\n"

// tun opens the tunnel list of a network, with one underlay; the items
// follow from line 6, indented by six spaces.
const tun = "ports: [{interface: veth0, network: lab}]\nunderlay: [{interface: ul0}]\nnetworks:\n  - name: lab\n    tunnels:\n"

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		pos  string // line:col of the error ("line" alone for YAML syntax errors)
		msg  string // substring of the same error, after the position
	}{
		{"empty file", "", "1:1", `empty file`},
		{"only comments", "# nothing\n", "1:1", `empty file`},
		{"null document", "---\n", "2:1", `empty document`},
		{"not a mapping", "- interface: veth0\n", "1:1", `the file must be a mapping of keys, got a list`},
		{"scalar document", "hello\n", "1:1", `the file must be a mapping of keys, got "hello"`},
		{"two documents", base + "---\nworkers: 1\n", "2:1", `a second YAML document`},
		{"syntax error", base + "batch: [1\n", "2", `YAML syntax error: did not find expected ',' or ']'`},
		{"syntax error scanner", base + "a: b: c\n", "2", `YAML syntax error: mapping values are not allowed`},
		{"control character", base + "mode: a\x01\n", "2:8", `control character U+0001`},
		{"invalid utf-8", base + "mode: \xff\n", "2:7", `invalid UTF-8 byte 0xff`},
		{"unknown key suggested", base + "mode: auto\nwrokers: 2\n", "3:1", `unknown key "wrokers" (did you mean "workers"?)`},
		{"unknown key listed", base + "colour: red\n", "2:1", `unknown key "colour" (known: workers, cpus,`},
		{"unknown nested key", "ports:\n  - interface: veth0\n    nmae: vm1\n", "3:5", `ports[0]: unknown key "nmae" (did you mean "name"?)`},
		{"duplicate key", base + "batch: 1\nbatch: 2\n", "3:1", `duplicate key "batch" (first at line 2)`},
		{"workers not an integer", "workers: two\n" + base, "1:10", `workers: want an integer, got "two"`},
		{"workers quoted", "workers: \"2\"\n" + base, "1:10", `workers: want an integer, got "2"`},
		{"workers out of range", "workers: 65\n" + base, "1:10", `workers: 65 out of range (want 0 (one per CPU) to 64)`},
		{"cpus bad element", base + "cpus: \"0-x\"\n", "2:7", `cpus: bad CPU list element "0-x"`},
		{"cpus backwards", base + "cpus: 3-1\n", "2:7", `cpus: CPU range "3-1" runs backwards`},
		{"cpus twice", base + "cpus: [0, 1, 0]\n", "2:14", `cpus: CPU 0 listed twice`},
		{"cpus list item", base + "cpus: [0, x]\n", "2:11", `cpus[1]: want an integer, got "x"`},
		{"mode unknown", "ports:\n  - interface: veth0\n  - interface: veth1\n    mode: fast\n", "4:11", `ports[1].mode: unknown XDP mode "fast" (want auto, native, generic or zerocopy)`},
		{"ring size not power of two", base + "ring_size: 1000\n", "2:12", `ring_size: 1000 is not a power of two`},
		{"ring size too small", base + "ring_size: 32\n", "2:12", `ring_size: 32 out of range (want a power of two, 64..16384)`},
		{"frame size", base + "frame_size: 1024\n", "2:13", `frame_size: 1024: want 0`},
		{"batch zero", base + "batch: 0\n", "2:8", `batch: 0 out of range (want 1..1024)`},
		{"spin yes", base + "spin: yes\n", "2:7", `spin: want true or false, got "yes"`},
		{"order wait unit", base + "order_wait: 5x\n", "2:13", `order_wait: invalid duration "5x"`},
		{"order wait zero", base + "order_wait: 0s\n", "2:13", `order_wait: 0s: must be positive`},
		{"handoff slots", base + "handoff_slots: 1000\n", "2:16", `handoff_slots: 1000 is not a power of two`},
		{"no ports", "workers: 1\n", "1:1", `ports is required`},
		{"empty ports", "ports: []\n", "1:8", `ports: empty list`},
		{"ports a mapping", "ports: {interface: veth0}\n", "1:8", `ports: want a list, got a mapping`},
		{"port without interface", "ports:\n  - name: vm1\n", "2:5", `ports[0]: interface is required`},
		{"interface too long", "ports: [{interface: abcdefghijklmnop}]\n", "1:21", `is 16 bytes, Linux allows 15`},
		{"interface slash", "ports: [{interface: a/b, name: x}]\n", "1:21", `character '/' not allowed`},
		{"interface bad port name", "ports: [{interface: \"eth0@x\"}]\n", "1:21", `interface "eth0@x" is no valid port name`},
		{"port name syntax", "ports: [{interface: a, name: \"v m\"}]\n", "1:30", `ports[0].name: port name "v m": want 1 to 32 letters`},
		{"duplicate port name", "ports:\n  - {name: vm1, interface: a}\n  - {name: vm1, interface: b}\n", "3:12", `ports[1].name: port name "vm1" already used by ports[0]`},
		{"duplicate interface", "ports:\n  - {name: vm1, interface: a}\n  - {name: vm2, interface: a}\n", "3:28", `ports[1].interface: interface "a" is already ports[0]`},
		{"unknown network", "ports:\n  - {interface: a, network: lba}\nnetworks: [{name: lab}]\n", "2:29", `ports[0].network: unknown network "lba" (networks: lab)`},
		{"unknown default network", "ports:\n  - {interface: a, network: lab}\n", "2:29", `no networks are defined`},
		{"queues below workers", "workers: 4\nports:\n  - {interface: a, queues: 2}\n", "3:28", `ports[0].queues: port a has 2 queues but workers is 4`},
		{"queues zero", "ports: [{interface: a, queues: 0}]\n", "1:32", `ports[0].queues: 0 out of range (want 1..64)`},
		{"networks empty", base + "networks: []\n", "2:11", `networks: empty list`},
		{"network without name", base + "networks:\n  - id: 2\n", "3:5", `networks[0]: name is required`},
		{"duplicate network name", base + "networks:\n  - name: default\n  - name: default\n", "4:11", `networks[1].name: network name "default" already used by networks[0]`},
		{"duplicate network id", base + "networks:\n  - {name: default, id: 2}\n  - {name: b}\n", "4:5", `networks[1].id: id 2 (its position, the default) already used by networks[0]`},
		{"network id range", base + "networks: [{name: default, id: 5000}]\n", "2:32", `networks[0].id: 5000 out of range (want 1..4094)`},
		{"network zone range", base + "networks: [{name: default, zone: 70000}]\n", "2:34", `networks[0].zone: 70000 out of range`},
		{"mac limit negative", base + "networks: [{name: default, mac_limit: -1}]\n", "2:39", `networks[0].mac_limit: -1 out of range`},
		{"static mac syntax", base + "networks:\n  - name: default\n    static_macs: {\"02:00:00:00:00\": veth0}\n", "4:19", `networks[0].static_macs: bad MAC address "02:00:00:00:00"`},
		{"static mac multicast", base + "networks:\n  - name: default\n    static_macs: {\"01:00:5e:00:00:01\": veth0}\n", "4:19", `is multicast`},
		{"static mac other network", "ports:\n  - {interface: a, network: x}\n  - {interface: b, network: y}\nnetworks:\n  - name: x\n    static_macs: {\"02:00:00:00:00:01\": b}\n  - name: y\n",
			"6:40", `networks[0].static_macs[02:00:00:00:00:01]: port b is in network "y", not "x"`},
		{"static mac unknown port", base + "networks:\n  - name: default\n    static_macs:\n      \"02:00:00:00:00:01\": vm9\n", "5:28", `unknown port "vm9"`},
		{"static mac twice", base + "networks:\n  - name: default\n    static_macs:\n      \"02:00:00:00:00:01\": veth0\n      02-00-00-00-00-01: veth0\n", "6:7", `MAC 02-00-00-00-00-01 given twice (first at line 5)`},
		{"policy default", base + "networks:\n  - name: default\n    policy: {default: maybe}\n", "4:23", `networks[0].policy.default: unknown action "maybe"`},
		{"policy invalid", base + "networks:\n  - name: default\n    policy: {invalid: log}\n", "4:23", `networks[0].policy.invalid:`},
		{"rule syntax", base + "networks:\n  - name: default\n    policy:\n      rules:\n        - allow proto=tcp\n        - \"deny prot=tcp\"\n", "7:11", `networks[0].policy.rules[1]: unknown key "prot"`},
		{"rule unknown port", base + "networks:\n  - name: default\n    policy:\n      rules: [\"deny in=vm9\"]\n", "5:15", `networks[0].policy.rules[0]: unknown in port "vm9"`},
		{"rule port of other network", "ports:\n  - {interface: a, network: x}\n  - {interface: b, network: y}\nnetworks:\n  - name: x\n    policy: {rules: [\"deny out=b\"]}\n  - name: y\n",
			"6:22", `out port "b" is in network "y", not "x": the rule never matches`},
		{"rule names twice", base + "networks:\n  - name: default\n    policy:\n      rules:\n        - allow name=a proto=udp\n        - deny name=a\n", "7:11", `networks[0].policy.rules[1]: name "a" already used by rule 1`},
		{"rule not a string", base + "networks:\n  - name: default\n    policy:\n      rules:\n        - {allow: tcp}\n", "6:11", `rules[0]: want a string, got a mapping`},
		{"timeout name", base + "conntrack:\n  default:\n    timeouts: {tcp_establised: 1d}\n", "4:16", `conntrack.default.timeouts: unknown key "tcp_establised" (did you mean "tcp_established"?)`},
		{"timeout range", base + "conntrack:\n  default:\n    timeouts: {tcp_close: 0s}\n", "4:27", `conntrack.default.timeouts.tcp_close: timeout tcp_close=0s out of range [1s, 365d]`},
		{"timeout days", base + "conntrack:\n  zones:\n    \"7\": {timeouts: {generic: 400d}}\n", "4:31", `conntrack.zones[7].timeouts.generic: timeout generic=9600h0m0s out of range`},
		{"max retrans", base + "conntrack:\n  default: {max_retrans: 300}\n", "3:26", `conntrack.default.max_retrans: max_retrans 300 out of range [0, 255]`},
		{"zone limit negative", base + "conntrack:\n  zones: {\"7\": {limit: -5}}\n", "3:24", `conntrack.zones[7].limit: limit -5 is negative`},
		{"zone key", base + "conntrack:\n  zones:\n    lab: {liberal: true}\n", "4:5", `conntrack.zones: zone key "lab": want a zone number 0..65535`},
		{"zone key range", base + "conntrack:\n  zones:\n    70000: {}\n", "4:5", `zone key "70000"`},
		{"zone key twice", base + "conntrack:\n  zones:\n    7: {}\n    \"7\": {}\n", "5:5", `conntrack.zones: duplicate key "7" (first at line 4)`},
		{"zone twice", base + "conntrack:\n  zones:\n    7: {}\n    \"07\": {}\n", "5:5", `conntrack.zones: zone 7 given twice (first at line 4)`},
		{"zone knob type", base + "conntrack:\n  zones:\n    7: {liberal: 1}\n", "4:18", `conntrack.zones[7].liberal: want true or false, got "1"`},
		{"max conns", base + "conntrack: {max_conns: 300000000}\n", "2:24", `conntrack.max_conns: max_conns 300000000 out of range`},
		{"defrag timeout", base + "conntrack:\n  defrag: {timeout: 1h}\n", "3:21", `conntrack.defrag.timeout: defrag timeout 1h0m0s out of range [100ms, 10m]`},
		{"defrag min frag", base + "conntrack:\n  defrag:\n    min_frag_size_v6: 2000\n", "4:23", `conntrack.defrag.min_frag_size_v6: defrag minimum fragment size out of range`},
		{"conntrack a list", base + "conntrack: [1]\n", "2:12", `conntrack: want a mapping, got a list`},
		{"mac capacity", base + "mac: {capacity: 0}\n", "2:17", `mac.capacity: 0 out of range`},
		{"mac max age", base + "mac: {max_age: 0s}\n", "2:16", `mac.max_age: 0s out of range`},
		{"control relative", base + "control: {socket: ctswitch.sock}\n", "2:19", `control.socket: "ctswitch.sock" is not an absolute path`},
		{"metrics no port", base + "metrics: {listen: localhost}\n", "2:19", `metrics.listen: "localhost": want host:port`},
		{"metrics port range", base + "metrics: {listen: \":70000\"}\n", "2:19", `port "70000": want a number 1..65535`},
		{"snapshot relative", base + "snapshot: {path: conntrack.snap}\n", "2:18", `snapshot.path: "conntrack.snap" is not an absolute path`},
		{"snapshot interval", base + "snapshot: {interval: 10ms}\n", "2:22", `snapshot.interval: 10ms: want 0`},
		{"log level", base + "log: {level: loud}\n", "2:14", `log.level: unknown level "loud"`},
		{"log format", base + "log: {format: xml}\n", "2:15", `log.format: unknown format "xml" (want text or json)`},
		{"log rate negative", base + "log: {rate_limit: -1}\n", "2:19", `log.rate_limit: -1 out of range`},
		{"alias", "x: &p [{interface: veth0}]\nports: *p\n", "1:1", `unknown key "x"`},
		{"alias refused", base + "log: &l {level: info}\nsnapshot: *l\n", "3:11", `snapshot: YAML aliases are not supported`},
		{"unknown anchor", base + "log: *nope\n", "2:6", `alias *nope: no such anchor`},
		{"merge key", base + "log:\n  <<: {level: info}\n", "3:3", `log: merge keys (<<) are not supported`},
		{"binary tag", base + "mode: !!binary YXV0bw==\n", "2:7", `mode: unsupported YAML tag !!binary`},
		{"local tag", base + "mode: !env MODE\n", "2:7", `mode: unsupported YAML tag !env`},
		{"explicit int tag", base + "batch: !!int many\n", "2:8", `batch: want an integer, got "many"`},
		{"explicit bool tag", base + "spin: !!bool maybe\n", "2:7", `spin: want true or false, got "maybe"`},
		{"integer overflow", base + "batch: 18446744073709551615\n", "2:8", `batch: integer 18446744073709551615 out of range`},
		{"complex key", base + "? [a]\n: 1\n", "2:3", `a key must be a plain value, got a list`},

		// Tunnels: tun opens a tunnel list on line 6, items at column 7.
		{"tunnel unknown key", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, kye: 1}\n", "6:55", `networks[0].tunnels[0]: unknown key "kye" (did you mean "key"?)`},
		{"tunnel without type", tun + "      - {name: b, remote: 198.18.100.2}\n", "6:9", `networks[0].tunnels[0]: type is required (gretap, geneve or gre)`},
		{"tunnel without remote", tun + "      - {name: b, type: gretap}\n", "6:9", `networks[0].tunnels[0]: remote is required`},
		{"tunnel without name", tun + "      - {type: gretap, remote: 198.18.100.2}\n", "6:9", `networks[0].tunnels[0]: name is required`},
		{"tunnel type unknown", tun + "      - {name: b, type: vxlan, remote: 198.18.100.2}\n", "6:25", `networks[0].tunnels[0].type: unknown tunnel type "vxlan" (want gretap, geneve or gre)`},
		{"tunnel gre without gateway", tun + "      - {name: b, type: gre, remote: 198.18.100.2}\n", "6:9",
			`networks[0].tunnels[0]: gateway is required for type gre`},
		{"tunnel gateway on gretap", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, gateway: 198.18.1.254}\n", "6:55",
			`networks[0].tunnels[0].gateway: gateway is a gre setting, not for type gretap`},
		{"tunnel gre bad mac", tun + "      - {name: b, type: gre, remote: 198.18.100.2, gateway: 198.18.1.254, mac: \"01:00:5e:00:00:01\"}\n", "6:80",
			`networks[0].tunnels[0].mac: 01:00:5e:00:00:01 is a multicast MAC address`},
		{"tunnel key on geneve", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 1, key: 7}\n", "6:63",
			`networks[0].tunnels[0].key: key is a gretap setting, not for type geneve (geneve uses vni)`},
		{"tunnel vni on gretap", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, vni: 7}\n", "6:55",
			`networks[0].tunnels[0].vni: vni is a geneve setting, not for type gretap (gretap uses key)`},
		{"tunnel port on gretap", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, port: 6081}\n", "6:55",
			`networks[0].tunnels[0].port: port is a geneve setting, not for type gretap (GRE has no ports)`},
		{"tunnel geneve without vni", tun + "      - {name: b, type: geneve, remote: 198.18.100.2}\n", "6:9", `networks[0].tunnels[0]: vni is required for type geneve`},
		{"tunnel vni range", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 16777216}\n", "6:60", `networks[0].tunnels[0].vni: 16777216 out of range (want 0..16777215)`},
		{"tunnel key range", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, key: -1}\n", "6:60", `networks[0].tunnels[0].key: -1 out of range (want 0..4294967295)`},
		{"tunnel option odd hex", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{class: 0x0102, type: 0x80, data: abc}]\n", "10:53",
			`networks[0].tunnels[0].options[0].data: "abc": odd number of hex digits`},
		{"tunnel option not hex", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{class: 1, type: 2, data: 0g0g0g0g}]\n", "10:45",
			`networks[0].tunnels[0].options[0].data: "0g0g0g0g" is not hex`},
		{"tunnel option not multiple of 4", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{class: 1, type: 2, data: 0a0b}]\n", "10:45",
			`networks[0].tunnels[0].options[0].data: 2 bytes: want a multiple of 4 bytes, at most 124`},
		{"tunnel option too long", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{class: 1, type: 2, data: \"" + strings.Repeat("00", 128) + "\"}]\n", "10:45",
			`networks[0].tunnels[0].options[0].data: 128 bytes: want a multiple of 4 bytes, at most 124`},
		{"tunnel option without class", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{type: 2}]\n", "10:19",
			`networks[0].tunnels[0].options[0]: class is required`},
		{"tunnel option type range", tun + "      - name: b\n        type: geneve\n        remote: 198.18.100.2\n        vni: 1\n        options: [{class: 1, type: 256}]\n", "10:36",
			`networks[0].tunnels[0].options[0].type: 256 out of range (want 0..0xff)`},
		{"tunnel remote not an ip", tun + "      - {name: b, type: gretap, remote: hostb.example}\n", "6:41", `networks[0].tunnels[0].remote: "hostb.example" is not an IP address`},
		{"tunnel remote loopback", tun + "      - {name: b, type: gretap, remote: 127.0.0.1}\n", "6:41", `networks[0].tunnels[0].remote: 127.0.0.1 is not a unicast host address`},
		{"tunnel local family", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, local: \"2001:db8::1\"}\n", "6:62",
			`networks[0].tunnels[0].local: local 2001:db8::1 is IPv6 but remote 198.18.100.2 is IPv4: both must be of one family`},
		{"tunnel local is remote", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, local: 198.18.100.2}\n", "6:9",
			`networks[0].tunnels[0]: endpoint b: local and remote are the same address 198.18.100.2`},
		{"tunnel unknown underlay", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, underlay: ul1}\n", "6:65",
			`networks[0].tunnels[0].underlay: unknown underlay "ul1" (underlays: ul0)`},
		{"tunnel underlay not named", "ports: [{interface: veth0}]\nunderlay: [{interface: ul0}, {interface: ul1}]\nnetworks:\n  - name: lab\n    tunnels:\n      - {name: b, type: gretap, remote: 198.18.100.2}\n",
			"6:9", `networks[0].tunnels[0]: underlay is required: there are 2 underlays (ul0, ul1)`},
		{"tunnels without underlay", "ports: [{interface: veth0}]\nnetworks:\n  - name: lab\n    tunnels:\n      - {name: b, type: gretap, remote: 198.18.100.2}\n",
			"5:7", `networks[0].tunnels: tunnels need an underlay: add an underlay section`},
		{"tunnel name of a port", tun + "      - {name: veth0, type: gretap, remote: 198.18.100.2}\n", "6:16", `networks[0].tunnels[0].name: port name "veth0" already used by ports[0]`},
		{"tunnel name of an underlay", tun + "      - {name: ul0, type: gretap, remote: 198.18.100.2}\n", "6:16", `networks[0].tunnels[0].name: port name "ul0" already used by underlay[0]`},
		{"tunnel name twice", tun + "      - {name: b, type: gretap, remote: 198.18.100.2}\n      - {name: b, type: gretap, remote: 198.18.100.3}\n", "7:16",
			`networks[0].tunnels[1].name: port name "b" already used by networks[0].tunnels[0]`},
		{"tunnel same packets", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, key: 1}\n      - {name: c, type: gretap, remote: 198.18.100.2, key: 1}\n", "7:9",
			`networks[0].tunnels[1]: tunnel c receives the same packets as networks[0].tunnels[0] (gretap from 198.18.100.2 to the default local address, key 1)`},
		{"tunnel same vni", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5}\n      - {name: c, type: geneve, remote: 198.18.100.2, vni: 5, port: 6081}\n", "7:9",
			`tunnel c receives the same packets as networks[0].tunnels[0] (geneve from 198.18.100.2 to the default local address, vni 5)`},
		{"geneve ports differ", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5}\n      - {name: c, type: geneve, remote: 198.18.100.3, vni: 5, port: 6082}\n", "7:69",
			`networks[0].tunnels[1].port: geneve port 6082 differs from networks[0].tunnels[0]'s 6081: all geneve tunnels use one port`},
		{"geneve default port differs", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5, port: 4789}\n      - {name: c, type: geneve, remote: 198.18.100.3, vni: 5}\n", "7:9",
			`networks[0].tunnels[1].port: geneve port 6081 (the default) differs from networks[0].tunnels[0]'s 4789`},
		{"src ports backwards", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5, src_ports: 61000-32768}\n", "6:74",
			`networks[0].tunnels[0].src_ports: port range "61000-32768" runs backwards`},
		{"src ports syntax", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5, src_ports: \"1000:2000\"}\n", "6:74",
			`networks[0].tunnels[0].src_ports: bad port range "1000:2000" (want LO-HI, e.g. 32768-61000)`},
		{"src ports range", tun + "      - {name: b, type: geneve, remote: 198.18.100.2, vni: 5, src_ports: 0-10}\n", "6:74",
			`networks[0].tunnels[0].src_ports: port range "0-10": ports are 1..65535`},
		{"tunnel ttl", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, ttl: 0}\n", "6:60", `networks[0].tunnels[0].ttl: 0 out of range (want 1..255)`},
		{"tunnel df", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, df: maybe}\n", "6:59", `networks[0].tunnels[0].df: unknown df policy "maybe" (want set, inherit or unset)`},
		{"tunnel df on ipv6", tun + "      - {name: b, type: gretap, remote: \"2001:db8::2\", df: inherit}\n", "6:60",
			`networks[0].tunnels[0].df: df inherit applies to an IPv4 underlay; remote 2001:db8::2 is IPv6`},
		{"tunnel checksum", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, checksum: yes}\n", "6:65",
			`networks[0].tunnels[0].checksum: unknown checksum mode "yes" (want default, on or off)`},
		{"tunnel seq not bool", tun + "      - {name: b, type: gretap, remote: 198.18.100.2, seq: 1}\n", "6:60", `networks[0].tunnels[0].seq: want true or false, got "1"`},
		{"tunnels a mapping", tun + "      {name: b}\n", "6:7", `networks[0].tunnels: want a list, got a mapping`},
		{"underlay interface of a port", "ports: [{interface: veth0}]\nunderlay: [{interface: veth0}]\n", "2:24", `underlay[0].interface: interface "veth0" is already ports[0]`},
		{"underlay name of a port", "ports: [{interface: veth0}]\nunderlay: [{name: veth0, interface: ul0}]\n", "2:19", `underlay[0].name: port name "veth0" already used by ports[0]`},
		{"underlay without interface", "ports: [{interface: veth0}]\nunderlay: [{name: up}]\n", "2:12", `underlay[0]: interface is required`},
		{"underlay mode", "ports: [{interface: veth0}]\nunderlay: [{interface: ul0, mode: fast}]\n", "2:35", `underlay[0].mode: unknown XDP mode "fast"`},
		{"underlay unused", "ports: [{interface: veth0}]\nunderlay: [{interface: ul0}, {interface: ul1}]\nnetworks:\n  - name: lab\n    tunnels: [{name: b, type: gretap, remote: 198.18.100.2, underlay: ul0}]\n",
			"2:30", `underlay[1]: no tunnel uses underlay ul1 (give a network tunnels on it, or remove it)`},
		{"underlay not used", "ports: [{interface: veth0}]\nunderlay: [{interface: ul0}]\n", "2:12", `underlay[0]: no tunnel uses underlay ul0`},
		{"underlay empty", "ports: [{interface: veth0}]\nunderlay: []\n", "2:11", `underlay: empty list (leave underlay out when no network has tunnels)`},
		{"icmp source two ipv4", base + "networks:\n  - name: lab\n    icmp_source: [198.18.1.254, 198.18.1.253]\n", "4:33",
			`networks[0].icmp_source[1]: a second IPv4 address (198.18.1.253 after 198.18.1.254): at most one IPv4 and one IPv6 address`},
		{"icmp source not an ip", base + "networks:\n  - name: lab\n    icmp_source: gateway\n", "4:18", `networks[0].icmp_source: "gateway" is not an IP address`},
		{"icmp source multicast", base + "networks:\n  - name: lab\n    icmp_source: [\"ff02::1\"]\n", "4:19", `networks[0].icmp_source[0]: ff02::1 is not a unicast host address`},
		{"rule naming an underlay", tun + "      - {name: b, type: gretap, remote: 198.18.100.2}\n    policy: {rules: [\"deny out=ul0\"]}\n", "7:22",
			`networks[0].policy.rules[0]: out port: underlay ul0 is not a port of network "lab"`},
		{"static mac naming an underlay", tun + "      - {name: b, type: gretap, remote: 198.18.100.2}\n    static_macs: {\"02:00:00:00:00:01\": ul0}\n", "7:40",
			`networks[0].static_macs[02:00:00:00:00:01]: underlay ul0 is not a port of network "lab"`},
		{"rule naming a tunnel of another network", "ports: [{interface: veth0, network: x}]\nunderlay: [{interface: ul0}]\nnetworks:\n  - name: lab\n    tunnels: [{name: b, type: gretap, remote: 198.18.100.2}]\n  - name: x\n    policy: {rules: [\"allow in=b\"]}\n",
			"7:22", `networks[1].policy.rules[0]: in port "b" is in network "lab", not "x": the rule never matches`},
		{"tunnel section key", base + "tunnel: {pmtu_expiri: 1m}\n", "2:10", `tunnel: unknown key "pmtu_expiri" (did you mean "pmtu_expiry"?)`},
		{"pmtu expiry range", base + "tunnel: {pmtu_expiry: 1s}\n", "2:23", `tunnel.pmtu_expiry: 1s out of range (want 10s..1d)`},
		{"icmp rate zero", base + "tunnel:\n  icmp_rate: {per_source: 0}\n", "3:27", `tunnel.icmp_rate.per_source: 0 out of range (want 1..1000000)`},
		{"icmp burst range", base + "tunnel:\n  icmp_rate:\n    global_burst: 2000000\n", "4:19", `tunnel.icmp_rate.global_burst: 2000000 out of range (want 1..1000000)`},
		{"top-level tunnels", base + "tunels: {}\n", "2:1", `unknown key "tunels" (did you mean "tunnel"?)`},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("ctswitch.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; parsed %+v", c.Switch)
			}
			if c != nil {
				t.Errorf("got a config with the error")
			}
			prefix := "ctswitch.yaml:" + tc.pos + ": "
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, prefix) && strings.Contains(line, tc.msg) {
					return
				}
			}
			t.Errorf("want an error %q... containing %q, got:\n%v", prefix, tc.msg, err)
		})
	}
}

func TestErrorsCollectedInFileOrder(t *testing.T) {
	in := "ports:\n  - {interface: a, mode: fast}\nnetworks:\n  - name: lab\n" +
		"workers: two\nlog: {level: loud}\nbatch: 0\n"
	_, err := Parse("c.yaml", []byte(in))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`c.yaml:2:26: ports[0].mode: unknown XDP mode "fast"`,
		`c.yaml:5:10: workers: want an integer`,
		`c.yaml:6:14: log.level: unknown level "loud"`,
		`c.yaml:7:8: batch: 0 out of range`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	// Each one is an *Error with its position.
	var ce *Error
	if !errors.As(err, &ce) || ce.File != "c.yaml" || ce.Line != 2 || ce.Column != 26 || ce.Path != "ports[0].mode" {
		t.Errorf("errors.As: %+v", ce)
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for i := range 30 {
		fmt.Fprintf(&b, "bogus%d: 1\n", i)
	}
	_, err := Parse("c.yaml", []byte(b.String()))
	errs := err.(interface{ Unwrap() []error }).Unwrap()
	if len(errs) != MaxErrors {
		t.Fatalf("%d errors, want %d", len(errs), MaxErrors)
	}
	if last := errs[MaxErrors-1].Error(); last != "c.yaml:21:1: too many errors (11 more not shown)" {
		t.Errorf("last error %q", last)
	}
	if first := errs[0].Error(); !strings.HasPrefix(first, `c.yaml:2:1: unknown key "bogus0"`) {
		t.Errorf("first error %q", first)
	}
}

func TestExactlyMaxErrorsAllShown(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for i := range MaxErrors {
		fmt.Fprintf(&b, "bogus%d: 1\n", i)
	}
	_, err := Parse("c.yaml", []byte(b.String()))
	errs := err.(interface{ Unwrap() []error }).Unwrap()
	if len(errs) != MaxErrors || strings.Contains(err.Error(), "too many") {
		t.Fatalf("%d errors:\n%v", len(errs), err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/ctswitch.yaml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ctswitch.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"wrokers", "workers"}, {"Workers", "workers"}, {"ring-size", "ring_size"}, {"port", "ports"},
		{"xy", ""}, {"zzzzzzz", ""}, {"networs", "networks"},
	} {
		if got := suggest(tc.in, topKeys); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := suggest("zz", networkKeys); got != "" {
		t.Errorf("suggest(xd) = %q", got)
	}
}
