package lab

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// keepPrefix is only used here, so no other test's sweep interferes.
const keepPrefix = "ctkeep"

// deadPID returns the pid of a process that has exited (and been reaped).
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func readRecord(t *testing.T, rawID string) *record {
	t.Helper()
	b, err := os.ReadFile(recordPath(rawID))
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// orphan makes a lab look like its owner died, as the record of another
// process that was killed.
func orphan(t *testing.T, l *Lab) {
	t.Helper()
	r := readRecord(t, l.rawID)
	r.PID, r.Start = deadPID(t), 0
	if err := writeRecord(r); err != nil {
		t.Fatal(err)
	}
}

func findSummary(t *testing.T, id string) (Summary, bool) {
	t.Helper()
	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(s Summary) bool { return s.ID == id })
	if i < 0 {
		return Summary{}, false
	}
	return all[i], true
}

func TestKeptLabSurvivesSweepOpenDown(t *testing.T) {
	requireRoot(t)
	topo := Topology{
		Prefix: keepPrefix,
		Hosts:  []Host{{Name: "a"}, {Name: "b"}},
		Links: []Link{
			{Name: "p0", Queues: 2, A: Endpoint{Host: "a", Addrs: []string{"198.18.9.1/24"}}},
			{Name: "ab", A: Endpoint{Host: "a", Addrs: []string{"198.18.10.1/24"}}, B: Endpoint{Host: "b", Addrs: []string{"198.18.10.2/24"}}},
		},
	}
	kt := topo
	kt.Keep = true
	kept := up(t, kt)
	plain := up(t, topo)
	if r := readRecord(t, kept.rawID); !r.Keep || r.Topology == nil || !r.Topology.Keep {
		t.Fatalf("record of kept lab: %+v", r)
	}
	if r := readRecord(t, plain.rawID); r.Keep {
		t.Fatalf("record of plain lab says keep")
	}
	// Both owners "die".
	orphan(t, kept)
	orphan(t, plain)

	removed, err := Sweep(keepPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b"} {
		if slices.Contains(removed, "netns "+kept.Netns(h)) || !netnsExists(kept.Netns(h)) {
			t.Errorf("sweep removed kept namespace %s (removed %v)", kept.Netns(h), removed)
		}
		if !slices.Contains(removed, "netns "+plain.Netns(h)) {
			t.Errorf("sweep left the orphaned plain lab's %s (removed %v)", plain.Netns(h), removed)
		}
	}
	if _, err := netlink.LinkByName(kept.SwitchIf("p0")); err != nil {
		t.Errorf("sweep removed kept switch link: %v", err)
	}
	if _, err := os.Stat(recordPath(kept.rawID)); err != nil {
		t.Errorf("sweep removed kept record: %v", err)
	}
	if _, err := os.Stat(recordPath(plain.rawID)); !os.IsNotExist(err) {
		t.Errorf("sweep left the orphaned record: %v", err)
	}

	s, ok := findSummary(t, kept.ID())
	want := Summary{ID: kept.ID(), Prefix: keepPrefix, Kept: true, PID: s.PID, Alive: false,
		Hosts: []string{"a", "b"}, Netns: []string{kept.Netns("a"), kept.Netns("b")},
		SwitchIfs: []string{kept.SwitchIf("p0")}, Openable: true}
	if !ok || !reflect.DeepEqual(s, want) || s.Stale() {
		t.Errorf("List: %+v\nwant %+v", s, want)
	}
	if _, ok := findSummary(t, plain.ID()); ok {
		t.Errorf("List shows the swept lab %s", plain.ID())
	}

	o, err := Open(kept.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Topology(), kept.Topology()) || o.ID() != kept.ID() ||
		o.Netns("b") != kept.Netns("b") || o.SwitchIf("p0") != kept.SwitchIf("p0") {
		t.Errorf("Open rebuilt %+v, want %+v", o, kept)
	}
	// The opened lab works.
	if _, err := o.Ping("a", "198.18.10.2", 3*time.Second); err != nil {
		t.Error(err)
	}
	st, err := o.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.SwitchLinks) != 1 || !st.SwitchLinks[0].Exists || st.SwitchLinks[0].TxQueues != 2 {
		t.Errorf("status of opened lab: %+v", st.SwitchLinks)
	}

	if err := o.Down(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b"} {
		if _, err := os.Lstat(kept.NetnsPath(h)); !os.IsNotExist(err) {
			t.Errorf("namespace of %s still there after Down of the opened lab: %v", h, err)
		}
	}
	if _, err := netlink.LinkByName(kept.SwitchIf("p0")); err == nil {
		t.Errorf("switch link still there after Down of the opened lab")
	}
	if _, err := os.Stat(recordPath(kept.rawID)); !os.IsNotExist(err) {
		t.Errorf("record still there after Down of the opened lab: %v", err)
	}
	if _, ok := findSummary(t, kept.ID()); ok {
		t.Error("List shows the removed lab")
	}
	if _, err := Open(kept.ID()); !errors.Is(err, ErrUnknownLab) {
		t.Errorf("Open after Down: %v", err)
	}
	// The original handle's Down (in cleanup) finds nothing left: no error.
}

func TestOpenErrors(t *testing.T) {
	requireRoot(t)
	if _, err := Open(keepPrefix + "zzzzz"); !errors.Is(err, ErrUnknownLab) || !strings.Contains(err.Error(), `"ctkeepzzzzz"`) {
		t.Errorf("unknown id: %v", err)
	}

	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	// A record of an older version: no topology.
	old := &record{ID: id, Prefix: keepPrefix, PID: os.Getpid(), Netns: []string{nsName(keepPrefix, id, "h")}}
	old.Start, _ = processStart(old.PID)
	if err := writeRecord(old); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(recordPath(id)) })
	if _, err := Open(keepPrefix + id); err == nil || !strings.Contains(err.Error(), "has no topology") {
		t.Errorf("old record: %v", err)
	}
	if s, ok := findSummary(t, keepPrefix+id); !ok || s.Openable || !s.Alive || !slices.Equal(s.Hosts, []string{"h"}) {
		t.Errorf("List of old record: %+v", s)
	}

	// A record from another network namespace.
	topo := Topology{Prefix: keepPrefix, Hosts: []Host{{Name: "h"}}}.normalized()
	alien := &record{ID: id, Prefix: keepPrefix, PID: os.Getpid(), Netns: old.Netns, SwitchNetns: 1, Topology: &topo}
	if err := writeRecord(alien); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(keepPrefix + id); err == nil || !strings.Contains(err.Error(), "built from network namespace net:[1]") {
		t.Errorf("other namespace: %v", err)
	}
	// A record whose names don't match its topology.
	alien.SwitchNetns, alien.Netns = 0, []string{"bogus"}
	if err := writeRecord(alien); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(keepPrefix + id); err == nil || !strings.Contains(err.Error(), "record lists namespaces [bogus]") {
		t.Errorf("inconsistent record: %v", err)
	}
}

func TestKeptLabFailedUpLeavesNothing(t *testing.T) {
	requireRoot(t)
	_, err := Up(t.Context(), Topology{
		Prefix: keepPrefix, Keep: true,
		Hosts: []Host{{Name: "a", Routes: []Route{{Dst: "198.19.0.0/24", Via: "198.19.9.9"}}}},
		Links: []Link{{Name: "p0", A: Endpoint{Host: "a", Addrs: []string{"198.18.2.1/24"}}}},
	})
	if err == nil {
		t.Fatal("Up succeeded with an unreachable gateway")
	}
	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Prefix == keepPrefix && s.Kept {
			t.Errorf("failed Up left a kept record: %+v", s)
		}
	}
}
