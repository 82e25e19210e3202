package lab

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// recordDir holds one record per live lab. A record is written before the
// lab creates anything, so every object with the lab prefix either belongs
// to a record whose owner is alive, or is stale.
const recordDir = "/run/ctswitch-lab"

const idLen = 5

// record says who owns a lab and what it may have created.
type record struct {
	ID          string   `json:"id"`
	Prefix      string   `json:"prefix"`
	PID         int      `json:"pid"`
	Start       uint64   `json:"start"` // process start time (clock ticks since boot) against PID reuse
	Netns       []string `json:"netns"`
	SwitchLinks []string `json:"switch_links"`
	// Keep: the lab is kept (Topology.Keep); the sweeper leaves it alone
	// whether or not its owner runs. Set once the lab is complete.
	Keep bool `json:"keep,omitempty"`
	// SwitchNetns is the inode of the namespace that holds the
	// switch-side ends (the one Up ran in); Open checks it.
	SwitchNetns uint64 `json:"switch_netns,omitempty"`
	// Topology is the normalized topology, from which Open rebuilds the
	// lab. Records of older versions lack it.
	Topology *Topology `json:"topology,omitempty"`
}

func recordPath(id string) string { return filepath.Join(recordDir, id+".json") }

func writeRecord(r *record) error {
	if err := os.MkdirAll(recordDir, 0o755); err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	tmp := recordPath(r.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	if err := os.Rename(tmp, recordPath(r.ID)); err != nil {
		return fmt.Errorf("write lab record: %w", err)
	}
	return nil
}

func readRecords() (map[string]*record, error) {
	ents, err := os.ReadDir(recordDir)
	if os.IsNotExist(err) {
		return map[string]*record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab records: %w", err)
	}
	recs := map[string]*record{}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(recordDir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		var r record
		if json.Unmarshal(b, &r) != nil || r.ID != id {
			r = record{ID: id} // unreadable: treated as dead
		}
		recs[id] = &r
	}
	return recs, nil
}

// processStart returns the start time of pid (field 22 of /proc/pid/stat),
// or false if there is no such process.
func processStart(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// comm (field 2) may contain spaces and parentheses: split after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

func (r *record) alive() bool {
	if r.PID <= 0 {
		return false
	}
	start, ok := processStart(r.PID)
	return ok && start == r.Start
}

func newID() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, idLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("lab id: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

func nsName(prefix, id, host string) string { return prefix + id + "-" + host }
func switchIfName(prefix, id string, idx int) string {
	return prefix + id + strconv.Itoa(idx)
}

// Sweep removes what killed runs left behind: namespaces in /run/netns and
// links in the caller's namespace whose names carry prefix and a lab id,
// unless the process that created that lab is still running or the lab
// is kept (Topology.Keep). It returns the names it removed. Up calls it
// before building a lab.
func Sweep(prefix string) ([]string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("lab: sweep: invalid prefix %q", prefix)
	}
	nsRE := regexp.MustCompile(`^` + prefix + `([a-z0-9]{5})-`)
	ifRE := regexp.MustCompile(`^` + prefix + `([a-z0-9]{5})[0-9]{1,2}$`)

	// Objects first, records second: a record is written before its
	// objects exist, so any object seen here has a visible record.
	nss, err := listNetns()
	if err != nil {
		return nil, fmt.Errorf("lab: sweep: %w", err)
	}
	links, err := linkListRetry(nil)
	if err != nil {
		return nil, fmt.Errorf("lab: sweep: %w", err)
	}
	recs, err := readRecords()
	if err != nil {
		return nil, fmt.Errorf("lab: sweep: %w", err)
	}
	live := func(id string) bool {
		r, ok := recs[id]
		return ok && (r.Keep || r.alive())
	}

	var removed []string
	var errs []error
	for _, l := range links {
		m := ifRE.FindStringSubmatch(l.Attrs().Name)
		if m == nil || live(m[1]) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete stale link %s: %w", l.Attrs().Name, err))
			continue
		}
		removed = append(removed, "link "+l.Attrs().Name)
	}
	for _, n := range nss {
		m := nsRE.FindStringSubmatch(n)
		if m == nil || live(m[1]) {
			continue
		}
		if err := deleteNetns(n); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, "netns "+n)
	}
	for id, r := range recs {
		if (r.Prefix == prefix || r.Prefix == "") && !r.Keep && !r.alive() {
			if err := os.Remove(recordPath(id)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Errorf("remove stale lab record %s: %w", id, err))
			}
		}
	}
	return removed, errors.Join(errs...)
}

// linkListRetry lists links, retrying a dump that the kernel interrupted
// because links changed meanwhile (other tests create and delete links).
func linkListRetry(h *netlink.Handle) ([]netlink.Link, error) {
	var (
		links []netlink.Link
		err   error
	)
	for range 5 {
		if h == nil {
			links, err = netlink.LinkList()
		} else {
			links, err = h.LinkList()
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	return links, nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such device")
}
