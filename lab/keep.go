package lab

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrUnknownLab is returned (wrapped) by Open for an id without a record.
var ErrUnknownLab = errors.New("no such lab")

// Summary is what the record of a lab says about it (see List).
type Summary struct {
	// ID is the lab id (prefix + random suffix), as Lab.ID returns it.
	ID     string
	Prefix string
	// Kept labs survive their owner (Topology.Keep); only Down removes them.
	Kept bool
	// PID is the process that built the lab; Alive says whether that very
	// process (not a later one with a reused pid) still runs. A lab that
	// is neither kept nor alive is stale: the next Up or Sweep with its
	// prefix removes it.
	PID   int
	Alive bool
	// Hosts are the host names, Netns their namespaces (same order).
	Hosts []string
	Netns []string
	// SwitchIfs are the switch-side interfaces, in the namespace the lab
	// was built from (these become switch ports).
	SwitchIfs []string
	// Openable says the record holds the topology Open needs; records
	// written by older versions of this package don't.
	Openable bool
}

// Stale reports whether the sweeper would remove the lab.
func (s Summary) Stale() bool { return !s.Kept && !s.Alive }

// List returns the recorded labs of every prefix, sorted by id: kept ones,
// live ones of running processes (tests, benchmarks) and stale ones not
// swept yet. A record that can't be read is listed with its file name as
// ID and nothing else.
func List() ([]Summary, error) {
	recs, err := readRecords()
	if err != nil {
		return nil, fmt.Errorf("lab: list: %w", err)
	}
	out := make([]Summary, 0, len(recs))
	for _, r := range recs {
		s := Summary{
			ID: r.Prefix + r.ID, Prefix: r.Prefix, Kept: r.Keep, PID: r.PID, Alive: r.alive(),
			Netns:     slices.Clone(r.Netns),
			SwitchIfs: slices.Clone(r.SwitchLinks),
			Openable:  r.Topology != nil,
		}
		if r.Topology != nil {
			for _, h := range r.Topology.Hosts {
				s.Hosts = append(s.Hosts, h.Name)
			}
		} else {
			for _, n := range r.Netns {
				s.Hosts = append(s.Hosts, strings.TrimPrefix(n, r.Prefix+r.ID+"-"))
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Open returns the lab with the given id (as printed by Lab.ID) from its
// record, in this or any other process: kept labs (see Topology.Keep),
// but also labs of running processes and stale ones. The Lab works like
// the one Up returned: Run, Exec, Ping, Status, the traffic helpers, and
// Down, which removes the namespaces, switch-side interfaces and the
// record. Open checks nothing about the objects themselves (Status does);
// it must be called from the namespace the lab was built from, which
// holds the switch-side interfaces.
func Open(id string) (*Lab, error) {
	recs, err := readRecords()
	if err != nil {
		return nil, fmt.Errorf("lab: open %q: %w", id, err)
	}
	var r *record
	for _, x := range recs {
		if x.Prefix != "" && x.Prefix+x.ID == id {
			r = x
		}
	}
	if r == nil {
		return nil, fmt.Errorf("lab: open %q: %w (no record in %s)", id, ErrUnknownLab, recordDir)
	}
	if r.Topology == nil {
		return nil, fmt.Errorf("lab %s: open: its record %s was written by an older version and has no topology to rebuild the lab from (once its owner is gone, Sweep(%q) removes it)",
			id, recordPath(r.ID), r.Prefix)
	}
	t := r.Topology.normalized()
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("lab %s: open: recorded topology: %w", id, err)
	}
	if t.Prefix != r.Prefix {
		return nil, fmt.Errorf("lab %s: open: record prefix %q but topology prefix %q", id, r.Prefix, t.Prefix)
	}
	self, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("lab %s: open: get caller netns: %w", id, err)
	}
	if ino, err := nsInode(self); err == nil && r.SwitchNetns != 0 && ino != r.SwitchNetns {
		self.Close()
		return nil, fmt.Errorf("lab %s: open: built from network namespace net:[%d], but this process is in net:[%d], which does not hold the lab's switch-side interfaces",
			id, r.SwitchNetns, ino)
	}
	l := &Lab{topo: t, self: self, swIfs: map[string]string{}, hostNs: map[string]string{}}
	l.setNames(r.ID)
	rec := l.record(false)
	if !slices.Equal(rec.Netns, r.Netns) || !slices.Equal(rec.SwitchLinks, r.SwitchLinks) {
		self.Close()
		return nil, fmt.Errorf("lab %s: open: record lists namespaces %v and switch links %v, its topology gives %v and %v",
			id, r.Netns, r.SwitchLinks, rec.Netns, rec.SwitchLinks)
	}
	return l, nil
}

// nsInode returns the inode number that identifies a namespace.
func nsInode(h netns.NsHandle) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}
