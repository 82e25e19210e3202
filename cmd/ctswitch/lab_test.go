package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ctswitch/ctswitch/lab"
)

// cliLabPrefix is used by these tests only: their 'down --all --prefix'
// and sweeps leave the labs of other tests (go test runs packages in
// parallel) alone.
const cliLabPrefix = "ctcli"

// labTestNeedsRoot skips without root, except in CI, which must run the
// privileged tests.
func labTestNeedsRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "not root: lab commands create network namespaces and veth pairs (need CAP_NET_ADMIN and CAP_SYS_ADMIN)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " -- CI must run privileged tests")
		}
		t.Skip(msg)
	}
}

var upLine = regexp.MustCompile(`^lab (` + cliLabPrefix + `[a-z0-9]{5}) is up: `)

// labUp runs 'lab up' and removes the lab at the end of the test if the
// test did not.
func labUp(t *testing.T, args ...string) (id, out string) {
	t.Helper()
	code, out, errOut := runArgs(append([]string{"lab", "up", "--prefix", cliLabPrefix}, args...)...)
	if code != 0 {
		t.Fatalf("lab up %v: code %d: %s", args, code, errOut)
	}
	if slices.Contains(args, "-q") {
		id = strings.TrimSpace(out)
	} else if m := upLine.FindStringSubmatch(out); m != nil {
		id = m[1]
	}
	if !regexp.MustCompile(`^` + cliLabPrefix + `[a-z0-9]{5}$`).MatchString(id) {
		t.Fatalf("lab up %v: no lab id in:\n%s", args, out)
	}
	t.Cleanup(func() {
		if l, err := lab.Open(id); err == nil {
			if err := l.Down(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return id, out
}

func TestLabUpStatusDown(t *testing.T) {
	labTestNeedsRoot(t)
	id, out := labUp(t, "--vms", "3", "--queues", "3", "--mtu", "9000")
	for _, want := range []string{
		"3 VMs, 3 queues, MTU 9000; kept until 'ctswitch lab down " + id + "'",
		"VM   NETNS           IFACE  MAC                IPV4           IPV6              SWITCH-IF\n",
		"vm3  " + id + "-vm3  veth0  02:c7:00:00:00:03  198.18.1.3/24  2001:db8:1::3/64  " + id + "2\n",
		"  ctswitch run --port " + id + "0 --port " + id + "1 --port " + id + "2\n",
		"  ip netns exec " + id + "-vm1 ping 198.18.1.2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lab up output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut := runArgs("lab", "status", id)
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^LAB +HOST +NETNS +IFACE +SWITCH-IF +MTU +QUEUES +STATE +ADDRS$`).MatchString(lines[0]) {
		t.Fatalf("status:\n%s", out)
	}
	for k, line := range lines[1:] {
		f := strings.Fields(line)
		n := string(rune('1' + k))
		want := []string{id, "vm" + n, id + "-vm" + n, "veth0", id + string(rune('0'+k)), "9000", "3", "up", "198.18.1." + n + "/24,2001:db8:1::" + n + "/64"}
		if !slices.Equal(f, want) {
			t.Errorf("status row %d: %q\nwant %q", k+1, f, want)
		}
	}

	code, out, _ = runArgs("lab", "status", "-o", "json", id)
	var labs []labJSON
	if err := json.Unmarshal([]byte(out), &labs); code != 0 || err != nil || len(labs) != 1 {
		t.Fatalf("status -o json: code %d, %v:\n%s", code, err, out)
	}
	lj := labs[0]
	if lj.ID != id || lj.Prefix != cliLabPrefix || !lj.Kept || lj.Stale || lj.OwnerPID != os.Getpid() || !lj.OwnerAlive ||
		len(lj.SwitchIfs) != 3 || len(lj.Hosts) != 3 || lj.Error != "" {
		t.Errorf("json: %+v", lj)
	}
	if ij := lj.Hosts[1].Interfaces; len(ij) != 1 || ij[0].Name != "veth0" || ij[0].SwitchIf != id+"1" || ij[0].State != "up" ||
		ij[0].MTU != 9000 || ij[0].TxQueues != 3 || ij[0].RxQueues != 3 || ij[0].MAC != "02:c7:00:00:00:02" ||
		!slices.Contains(ij[0].Addrs, "2001:db8:1::2/64") {
		t.Errorf("json vm2: %+v", lj.Hosts[1])
	}
	// Status of all labs lists this one.
	if code, out, _ := runArgs("lab", "status"); code != 0 || !regexp.MustCompile(`(?m)^`+id+` +vm2 +`+id+`-vm2 `).MatchString(out) {
		t.Errorf("status of all: %d\n%s", code, out)
	}

	code, out, errOut = runArgs("lab", "down", id)
	if code != 0 || out != "removed kept lab "+id+" (3 namespaces, 3 switch-side interfaces)\n" {
		t.Errorf("down: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{"lab", "status", id}, {"lab", "down", id}} {
		if code, _, errOut := runArgs(args...); code != 1 || errOut != `ctswitch: no lab "`+id+`" (see 'ctswitch lab status' for the labs there are)`+"\n" {
			t.Errorf("%v after down: %d %q", args, code, errOut)
		}
	}
	if _, err := os.Lstat("/run/netns/" + id + "-vm1"); !os.IsNotExist(err) {
		t.Errorf("namespace left after down: %v", err)
	}
}

func TestLabDownAll(t *testing.T) {
	labTestNeedsRoot(t)
	kept, _ := labUp(t, "-q", "--vms", "1")
	// A lab in use by a running process (this one), not kept.
	busy, err := lab.Up(t.Context(), lab.DemoTopology(lab.DemoOptions{Prefix: cliLabPrefix, VMs: 1}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Down() })

	code, _, errOut := runArgs("lab", "down", busy.ID(), "nosuch")
	if code != 1 || !strings.Contains(errOut, "ctswitch: lab "+busy.ID()+" belongs to running process ") ||
		!strings.Contains(errOut, `; no lab "nosuch"`) {
		t.Errorf("down of a busy lab: %d %q", code, errOut)
	}
	code, out, errOut := runArgs("lab", "down", "--all", "--prefix", cliLabPrefix)
	if code != 0 || out != "removed kept lab "+kept+" (1 namespace, 1 switch-side interface)\n" {
		t.Errorf("down --all: %d %q %q", code, out, errOut)
	}
	if _, err := os.Stat("/run/netns/" + busy.Netns("vm1")); err != nil {
		t.Errorf("down --all removed the busy lab: %v", err)
	}
	if code, out, _ := runArgs("lab", "down", "--all", "--prefix", cliLabPrefix); code != 0 || out != "no labs to remove\n" {
		t.Errorf("second down --all: %d %q", code, out)
	}
	// The status of a lab in use: its owner runs, it is not kept.
	_, out, _ = runArgs("lab", "status", "-o", "json", busy.ID())
	if !strings.Contains(out, `"kept": false`) || !strings.Contains(out, `"owner_alive": true`) {
		t.Errorf("status of the busy lab:\n%s", out)
	}
}

func TestLabErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lab", "bogus"}, `unknown command "bogus" for "ctswitch lab"`},
		{[]string{"lab", "up", "--vms", "9"}, "--vms 9 out of range [1, 8] (see 'ctswitch lab up --help')"},
		{[]string{"lab", "up", "--vms", "0"}, "--vms 0 out of range [1, 8]"},
		{[]string{"lab", "up", "--queues", "65", "--mtu", "67"}, "--queues 65 out of range [1, 64]; --mtu 67 out of range [68, 65535]"},
		{[]string{"lab", "up", "--prefix", "Ab1"}, `--prefix "Ab1": want 2 to 6 lower-case letters`},
		{[]string{"lab", "up", "--vms", "two"}, `invalid argument "two" for "--vms"`},
		{[]string{"lab", "up", "extra"}, `unknown command "extra" for "ctswitch lab up"`},
		{[]string{"lab", "down"}, "which lab? give lab ids or --all"},
		{[]string{"lab", "down", "x", "--all"}, "give lab ids or --all, not both"},
		{[]string{"lab", "down", "x", "--prefix", "ctlab"}, "--prefix only goes with --all"},
		{[]string{"lab", "down", "--all", "--prefix", "X"}, `--prefix "X": want 2 to 6`},
		{[]string{"lab", "status", "-o", "yaml"}, `unknown output format "yaml" (want text or json)`},
		{[]string{"lab", "status", "a", "b"}, "takes at most one lab id, got 2 arguments"},
	} {
		code, _, errOut := runArgs(tc.args...)
		if code != 1 || !strings.HasPrefix(errOut, "ctswitch: ") || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestLabNotRoot(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	for _, args := range [][]string{{"lab", "up"}, {"lab", "down", "--all"}, {"lab", "down", "x"}, {"lab", "status"}} {
		code, _, errOut := runArgs(args...)
		want := "ctswitch: ctswitch " + strings.Join(args[:2], " ") + " needs root: labs are network namespaces and veth pairs"
		if code != 1 || !strings.HasPrefix(errOut, want) {
			t.Errorf("%v: code %d, stderr %q, want %q", args, code, errOut, want)
		}
	}
}
