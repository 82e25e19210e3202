package l2

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// Defaults and bounds of Config.
const (
	DefaultCapacity = 65536
	MaxCapacity     = 1 << 24
	DefaultMaxAge   = 300 * time.Second // Linux bridge ageing_time
	MinMaxAge       = time.Second       // timestamps have one-second resolution
	// MaxMaxAge keeps ages representable as int32 differences of the 32-bit
	// timestamps, with room to spare.
	MaxMaxAge = (1 << 30) * time.Second

	// MaxNetwork is the highest network id; ids are 1..MaxNetwork.
	MaxNetwork = 4094
)

const (
	numNetworks = 4096

	// Key word: network<<48 | MAC, plus state flags that only in-flight
	// operations set. Real networks fit 12 bits, so bits 60..63 are free.
	keyMAC   = 1<<48 - 1
	flagLock = 1 << 60 // a remover holds the slot
	flagDead = 1 << 61 // a pending duplicate, to be backed out by its owner
	flagPend = 1 << 62 // claimed by an inserter, not yet published
	flagMask = flagLock | flagDead | flagPend
	keyTomb  = 0xffff << 48 // network 0xffff is reserved; bit 63 set, so no flagged key equals it

	// Value word.
	valPort      = 0xffff
	valSeenShift = 16
	valSeen      = 0xffffffff << valSeenShift
	valStatic    = 1 << 48
	valFrozen    = 1 << 49 // a remover is deciding; CASes from unfrozen values fail
	valGenShift  = 50      // 14 bits, bumped on every claim of the slot

	maxProbeLimit = 128 // fits the per-home byte with room; see the package doc

	// Attempts before giving up on a slot that keeps changing under us. Every
	// failed attempt means another operation succeeded, so these are never
	// reached in practice; they just make "never hangs" obvious.
	maxFastAttempts    = 64
	maxControlAttempts = 1 << 16
)

// LearnResult says what Learn did with a source MAC.
type LearnResult uint8

// Learn results. Each except LearnRefreshed and LearnStatic (without a port
// conflict) has a counter in Stats.
const (
	LearnRefreshed LearnResult = iota // known on this port; timestamp written at most once a second
	LearnNew                          // learned (also: an expired entry not yet aged, revived)
	LearnMoved                        // known on another port: port updated
	LearnStatic                       // a static entry: learning never overrides it
	LearnLimit                        // the network is at its limit: not learned
	LearnFull                         // the table is full: not learned
	LearnIgnored                      // multicast, broadcast or zero source MAC, or a bad network id

	NumLearnResults = iota
)

var learnNames = [NumLearnResults]string{"refreshed", "new", "moved", "static", "limit", "full", "ignored"}

// String returns a stable lower-case name, for counters and logs.
func (r LearnResult) String() string {
	if int(r) < len(learnNames) {
		return learnNames[r]
	}
	return fmt.Sprintf("LearnResult(%d)", r)
}

// Config sizes a Table. Zero fields take the defaults.
type Config struct {
	Capacity int           // total entries over all networks (default 65536)
	MaxAge   time.Duration // dynamic entries not seen for this long expire (default 300s)
}

// Entry is one row of List.
type Entry struct {
	Network uint16
	MAC     packet.MAC
	Port    uint16
	Static  bool
	Age     time.Duration // since last seen, one-second resolution; 0 for static entries
}

// NetworkStats is one network's share of Stats.
type NetworkStats struct {
	Dynamic int
	Static  int
	Limit   int // 0 = none
}

// Stats is a snapshot of a Table's counters. Counts include inserts in
// flight at the moment of the snapshot, and expired entries Age has not
// removed yet.
type Stats struct {
	Entries    int // all entries, static included
	Static     int
	Tombstones int // slots freed by removals, reusable by inserts
	Slots      int // size of the slot array

	Learned         uint64 // LearnNew results
	Moved           uint64
	StaticConflicts uint64 // learning on a static MAC from another port
	LimitDrops      uint64
	FullDrops       uint64
	Ignored         uint64
	Aged            uint64 // removed by Age

	Networks map[uint16]NetworkStats // networks with entries or a limit
}

// Network returns one network's counts (zero if it has none).
func (s Stats) Network(network uint16) NetworkStats { return s.Networks[network] }

type slot struct {
	key atomic.Uint64
	val atomic.Uint64
}

type counters struct {
	learned, moved, conflicts, limitDrops, fullDrops, ignored, aged atomic.Uint64
}

// Table is the MAC table of all virtual networks. All methods are safe for
// concurrent use; Lookup and Learn never lock or allocate.
type Table struct {
	// Read-only after New, read by every lookup: kept apart from the
	// counters below so that their writes don't evict it.
	slots     []slot
	maxDist   []atomic.Uint32 // per home slot, one byte: farthest distance ever used
	mask      uint64
	seed      uint64
	maxProbe  int
	maxAgeSec uint32
	capacity  int64
	maxAge    time.Duration
	_         [64]byte

	total atomic.Int64 // entries, static included, plus reserved in-flight inserts
	tombs atomic.Int64
	ctr   counters
	_     [64]byte

	dyn   [numNetworks]atomic.Int32 // dynamic entries per network (limit applies)
	stat  [numNetworks]atomic.Int32
	limit [numNetworks]atomic.Int32

	ageMu  sync.Mutex // Age's cursor; control plane only
	cursor uint64
}

// New returns an empty table.
func New(cfg Config) (*Table, error) {
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Capacity < 1 || cfg.Capacity > MaxCapacity {
		return nil, fmt.Errorf("l2: new table: capacity %d outside 1..%d: %w", cfg.Capacity, MaxCapacity, ErrConfig)
	}
	if cfg.MaxAge < MinMaxAge || cfg.MaxAge > MaxMaxAge {
		return nil, fmt.Errorf("l2: new table: max age %v outside %v..%v: %w", cfg.MaxAge, MinMaxAge, MaxMaxAge, ErrConfig)
	}
	n := 1 << bits.Len(uint(2*cfg.Capacity-1)) // smallest power of two >= 2*Capacity
	t := &Table{
		slots:     make([]slot, n),
		maxDist:   make([]atomic.Uint32, (n+3)/4),
		mask:      uint64(n - 1),
		seed:      rand.Uint64(),
		maxProbe:  min(n, maxProbeLimit),
		maxAgeSec: uint32((cfg.MaxAge + time.Second - 1) / time.Second),
		capacity:  int64(cfg.Capacity),
		maxAge:    cfg.MaxAge,
	}
	return t, nil
}

// MaxAge returns the configured age limit of dynamic entries.
func (t *Table) MaxAge() time.Duration { return t.maxAge }

// Capacity returns the configured maximum number of entries.
func (t *Table) Capacity() int { return int(t.capacity) }

func validNetwork(n uint16) bool { return n-1 < MaxNetwork } // 0 wraps to 0xffff

func makeKey(network uint16, m packet.MAC) uint64 {
	return uint64(network)<<48 | uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 |
		uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func keyMACOf(k uint64) packet.MAC {
	return packet.MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

// seconds converts the caller's nanoseconds to whole seconds (floor), kept
// modulo 2^32: ages are int32 differences, so the clock's origin is free.
func seconds(now int64) uint32 {
	s := now / 1e9
	if now%1e9 < 0 {
		s--
	}
	return uint32(s)
}

func mkVal(gen uint64, port uint16, seen uint32, static bool) uint64 {
	v := gen<<valGenShift | uint64(seen)<<valSeenShift | uint64(port)
	if static {
		v |= valStatic
	}
	return v
}

func valSeenOf(v uint64) uint32 { return uint32(v >> valSeenShift) }

// expired: more than maxAgeSec whole seconds since last seen, so an entry
// never goes before MaxAge. A clock that went backwards reads as age 0.
func (t *Table) expired(v uint64, nowSec uint32) bool {
	return v&valStatic == 0 && int32(nowSec-valSeenOf(v)) > int32(t.maxAgeSec)
}

// home is the slot a key's probe run starts at. murmur3's finalizer over the
// seeded key: MACs of one vendor differ only in their low bytes.
func (t *Table) home(k uint64) uint64 {
	x := k ^ t.seed
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x & t.mask
}

func (t *Table) loadMaxDist(home uint64) int {
	return int(t.maxDist[home>>2].Load() >> ((home & 3) * 8) & 0xff)
}

// raiseMaxDist makes the run of home at least d+1 slots long. It only ever
// grows (see the package doc for why that is fine).
func (t *Table) raiseMaxDist(home uint64, d int) {
	w := &t.maxDist[home>>2]
	shift := (home & 3) * 8
	for {
		old := w.Load()
		if int(old>>shift&0xff) >= d {
			return
		}
		if w.CompareAndSwap(old, old&^(0xff<<shift)|uint32(d)<<shift) {
			return
		}
	}
}

// Lookup returns the port of a MAC in a network. Expired dynamic entries
// are misses. now is the caller's monotonic clock in nanoseconds.
func (t *Table) Lookup(network uint16, mac packet.MAC, now int64) (port uint16, ok bool) {
	if !validNetwork(network) || mac[0]&1 != 0 {
		return 0, false
	}
	k := makeKey(network, mac)
	h := t.home(k)
	md := -1 // loaded lazily: most hits are in the home slot
	for d := 0; ; d++ {
		s := &t.slots[(h+uint64(d))&t.mask]
		kk := s.key.Load()
		if kk == k {
			v := s.val.Load()
			// The slot may have been removed and reused between the two
			// loads; a changed key means a remover holds it: a miss.
			if s.key.Load() != k || t.expired(v, seconds(now)) {
				return 0, false
			}
			return uint16(v), true
		}
		if kk == 0 {
			return 0, false
		}
		if md < 0 {
			md = t.loadMaxDist(h)
		}
		if d >= md {
			return 0, false
		}
	}
}

// Learn records that mac was seen as a source on port in network.
func (t *Table) Learn(network uint16, mac packet.MAC, port uint16, now int64) LearnResult {
	if !validNetwork(network) || mac[0]&1 != 0 || mac == (packet.MAC{}) {
		t.ctr.ignored.Add(1)
		return LearnIgnored
	}
	k := makeKey(network, mac)
	nowSec := seconds(now)
	for range maxFastAttempts {
		r, i := t.upsert(k, port, nowSec, false)
		switch r {
		case upFound:
			if res, ok := t.refresh(i, k, port, nowSec); ok {
				return res
			}
		case upBusy:
			// Another worker is inserting or removing this MAC right now:
			// its outcome stands; the next frame from the MAC learns again.
			return LearnRefreshed
		case upInserted:
			t.ctr.learned.Add(1)
			return LearnNew
		case upLimit:
			t.ctr.limitDrops.Add(1)
			return LearnLimit
		case upFull:
			t.ctr.fullDrops.Add(1)
			return LearnFull
		}
	}
	t.ctr.fullDrops.Add(1)
	return LearnFull
}

// refresh applies a learn to the published entry in slot i. ok is false
// when the slot no longer holds k: the caller probes again.
func (t *Table) refresh(i int, k uint64, port uint16, nowSec uint32) (LearnResult, bool) {
	s := &t.slots[i]
	for {
		v := s.val.Load()
		if s.key.Load() != k {
			return 0, false
		}
		if v&valFrozen != 0 {
			return LearnRefreshed, true // a remover is deciding; like upBusy
		}
		if v&valStatic != 0 {
			if uint16(v) != port {
				t.ctr.conflicts.Add(1)
			}
			return LearnStatic, true
		}
		exp := t.expired(v, nowSec)
		if uint16(v) == port && !exp {
			// Write only when the second moved forward: the common case
			// leaves the cache line shared between cores.
			if int32(nowSec-valSeenOf(v)) <= 0 {
				return LearnRefreshed, true
			}
			if s.val.CompareAndSwap(v, v&^valSeen|uint64(nowSec)<<valSeenShift) {
				return LearnRefreshed, true
			}
			continue
		}
		nv := v&^(valSeen|valPort) | uint64(nowSec)<<valSeenShift | uint64(port)
		if s.val.CompareAndSwap(v, nv) {
			if exp {
				t.ctr.learned.Add(1) // it was a miss for Lookup: new again
				return LearnNew, true
			}
			t.ctr.moved.Add(1)
			return LearnMoved, true
		}
	}
}

// testHook lets tests stop an insert between the steps of the protocol, to
// force the interleavings of racing inserts. Nil outside tests; only the
// insert path (not lookups or refreshes) checks it.
var testHook func(stage hookStage, port uint16)

type hookStage uint8

const (
	hookBeforeClaim hookStage = iota
	hookAfterClaim
	hookBeforePublish
)

type upsertResult uint8

const (
	upInserted upsertResult = iota
	upFound                 // published copy at the returned index
	upBusy                  // another operation on this key is in flight
	upLimit
	upFull
	upRetry // lost a claim race: probe again
)

// upsert finds k, or inserts it with the given value. See the package doc
// for the claim / rescan / publish protocol.
func (t *Table) upsert(k uint64, port uint16, nowSec uint32, static bool) (upsertResult, int) {
	h := t.home(k)
	md := -1 // loaded lazily, as in Lookup: a refresh usually hits the home slot
	free, freeD := -1, 0
	var freeOld uint64
	for d := 0; d < t.maxProbe; d++ {
		i := int((h + uint64(d)) & t.mask)
		kk := t.slots[i].key.Load()
		if kk == 0 || kk == keyTomb {
			if free < 0 {
				free, freeD, freeOld = i, d, kk
			}
			if kk == 0 {
				break // nothing homed here lives beyond a never-used slot
			}
		} else if kk&^flagMask == k {
			switch kk & flagMask {
			case 0:
				return upFound, i
			case flagDead:
				continue // a losing duplicate; the winner is elsewhere
			default:
				return upBusy, i
			}
		}
		if md < 0 {
			md = t.loadMaxDist(h)
		}
		if d >= md && free >= 0 {
			break // the run holds no copy of k, and we have a slot
		}
	}
	if free < 0 {
		return upFull, -1
	}

	n := k >> 48
	if !static {
		c := t.dyn[n].Add(1)
		if lim := t.limit[n].Load(); lim > 0 && c > lim {
			t.dyn[n].Add(-1)
			return upLimit, -1
		}
	} else {
		t.stat[n].Add(1)
	}
	if t.total.Add(1) > t.capacity {
		t.total.Add(-1)
		t.unreserve(n, static)
		return upFull, -1
	}

	// Raise the run length before claiming, so a racing insert's rescan,
	// which reads it after its own claim, reaches our slot.
	t.raiseMaxDist(h, freeD)
	if testHook != nil {
		testHook(hookBeforeClaim, port)
	}
	s := &t.slots[free]
	if !s.key.CompareAndSwap(freeOld, k|flagPend) {
		t.total.Add(-1)
		t.unreserve(n, static)
		return upRetry, -1
	}
	if freeOld == keyTomb {
		t.tombs.Add(-1)
	}
	// We own the slot: a stale CAS from an earlier occupant carries an older
	// generation and fails.
	s.val.Store(mkVal(s.val.Load()>>valGenShift+1, port, nowSec, static))
	if testHook != nil {
		testHook(hookAfterClaim, port)
	}

	md = t.loadMaxDist(h)
	for d := 0; d <= md && d < t.maxProbe; d++ {
		if d == freeD {
			continue
		}
		i := int((h + uint64(d)) & t.mask)
		o := &t.slots[i].key
	recheck:
		kk := o.Load()
		if kk == 0 {
			break
		}
		if kk&^flagMask != k {
			continue
		}
		switch kk & flagMask {
		case 0: // published elsewhere: that copy wins
			t.backOut(s, n, static)
			return upFound, i
		case flagLock:
			t.backOut(s, n, static)
			return upBusy, i
		case flagPend:
			if d < freeD { // nearer the home slot: it wins
				t.backOut(s, n, static)
				return upBusy, i
			}
			if !o.CompareAndSwap(kk, k|flagDead) {
				goto recheck // it published or backed out meanwhile
			}
		}
	}
	if testHook != nil {
		testHook(hookBeforePublish, port)
	}
	if !s.key.CompareAndSwap(k|flagPend, k) {
		// A nearer pending copy marked ours dead.
		t.backOut(s, n, static)
		return upBusy, -1
	}
	return upInserted, free
}

func (t *Table) unreserve(n uint64, static bool) {
	if static {
		t.stat[n].Add(-1)
	} else {
		t.dyn[n].Add(-1)
	}
}

// backOut gives up a slot we claimed (pending or marked dead: either way
// only we may change it now).
func (t *Table) backOut(s *slot, n uint64, static bool) {
	s.key.Store(keyTomb)
	t.tombs.Add(1)
	t.total.Add(-1)
	t.unreserve(n, static)
}

type findResult uint8

const (
	findAbsent findResult = iota
	findPublished
	findBusy
)

// find locates a published copy of k.
func (t *Table) find(k uint64) (int, findResult) {
	h := t.home(k)
	md := t.loadMaxDist(h)
	for d := 0; d <= md; d++ {
		i := int((h + uint64(d)) & t.mask)
		kk := t.slots[i].key.Load()
		if kk == 0 {
			break
		}
		if kk&^flagMask == k {
			switch kk & flagMask {
			case 0:
				return i, findPublished
			case flagDead:
			default:
				return i, findBusy
			}
		}
	}
	return -1, findAbsent
}

type removeMode uint8

const (
	removeAny     removeMode = iota
	removeExpired            // dynamic and expired at nowSec
	removeDynamic            // dynamic, on port (port -1 = any)
)

// remove removes the published entry k in slot i if the mode's condition
// holds on its value, decided on a frozen value so that concurrent updates
// can't slip in between the decision and the counters.
func (t *Table) remove(i int, k uint64, mode removeMode, nowSec uint32, port int) bool {
	s := &t.slots[i]
	if !s.key.CompareAndSwap(k, k|flagLock) {
		return false
	}
	var v uint64
	for {
		v = s.val.Load()
		if s.val.CompareAndSwap(v, v|valFrozen) {
			break
		}
	}
	keep := false
	switch mode {
	case removeExpired:
		keep = !t.expired(v, nowSec)
	case removeDynamic:
		keep = v&valStatic != 0 || port >= 0 && uint16(v) != uint16(port)
	}
	if keep {
		s.val.Store(v) // unfreeze before unlocking: readers of k see a live value
		s.key.Store(k)
		return false
	}
	s.key.Store(keyTomb)
	t.tombs.Add(1)
	t.total.Add(-1)
	t.unreserve(k>>48, v&valStatic != 0)
	return true
}

// SetLimit caps the dynamic entries of a network (0 = no per-network
// limit). Entries above a lowered limit stay until they age out.
func (t *Table) SetLimit(network uint16, limit int) error {
	if !validNetwork(network) {
		return fmt.Errorf("l2: set limit of network %d: %w", network, ErrNetwork)
	}
	if limit < 0 {
		return fmt.Errorf("l2: set limit of network %d to %d: %w", network, limit, ErrLimit)
	}
	t.limit[network].Store(int32(min(limit, MaxCapacity)))
	return nil
}

// AddStatic adds a static entry, or turns an existing entry static on port.
// Static entries never age, learning never moves them, and they don't count
// against the network's limit (they do count against Capacity).
func (t *Table) AddStatic(network uint16, mac packet.MAC, port uint16) error {
	if !validNetwork(network) {
		return fmt.Errorf("l2: add static %s in network %d: %w", macString(mac), network, ErrNetwork)
	}
	if mac.IsMulticast() {
		return fmt.Errorf("l2: add static %s in network %d: %w", macString(mac), network, ErrMulticastMAC)
	}
	if mac == (packet.MAC{}) {
		return fmt.Errorf("l2: add static %s in network %d: %w", macString(mac), network, ErrZeroMAC)
	}
	k := makeKey(network, mac)
	for range maxControlAttempts {
		r, i := t.upsert(k, port, 0, true)
		switch r {
		case upInserted:
			return nil
		case upFound:
			if t.makeStatic(i, k, port) {
				return nil
			}
		case upFull:
			return fmt.Errorf("l2: add static %s in network %d: %d of %d entries: %w",
				macString(mac), network, t.total.Load(), t.capacity, ErrFull)
		case upBusy:
			runtime.Gosched() // an insert or removal of k is in flight: let it finish
		}
	}
	return fmt.Errorf("l2: add static %s in network %d: %w", macString(mac), network, ErrBusy)
}

func (t *Table) makeStatic(i int, k uint64, port uint16) bool {
	s := &t.slots[i]
	for {
		v := s.val.Load()
		if s.key.Load() != k || v&valFrozen != 0 {
			return false
		}
		if s.val.CompareAndSwap(v, v&^valPort|valStatic|uint64(port)) {
			if v&valStatic == 0 {
				t.dyn[k>>48].Add(-1)
				t.stat[k>>48].Add(1)
			}
			return true
		}
	}
}

// Delete removes a MAC's entry, static or dynamic (also an expired one Age
// has not reached yet), and reports whether there was one.
func (t *Table) Delete(network uint16, mac packet.MAC) bool {
	if !validNetwork(network) {
		return false
	}
	k := makeKey(network, mac)
	for range maxControlAttempts {
		i, r := t.find(k)
		switch r {
		case findAbsent:
			return false
		case findPublished:
			if t.remove(i, k, removeAny, 0, 0) {
				return true
			}
		case findBusy:
			runtime.Gosched()
		}
	}
	return false
}

// Flush removes the dynamic entries of a network (0 = all networks) on a
// port (-1 = any port) and returns how many it removed. Static entries
// stay. An invalid network or port removes nothing. It is one pass over the
// slots: a MAC learned on the port while it runs may survive, so flush after
// the port stopped delivering frames.
func (t *Table) Flush(network uint16, port int) int {
	if network != 0 && !validNetwork(network) || port < -1 || port > 0xffff {
		return 0
	}
	removed := 0
	for i := range t.slots {
		s := &t.slots[i]
		kk := s.key.Load()
		if kk == 0 || kk == keyTomb || kk&flagMask != 0 {
			continue
		}
		if network != 0 && uint16(kk>>48) != network {
			continue
		}
		if v := s.val.Load(); v&valStatic != 0 || port >= 0 && uint16(v) != uint16(port) {
			continue
		}
		if t.remove(i, kk, removeDynamic, 0, port) {
			removed++
		}
	}
	return removed
}

// Age examines at most budget slots, continuing from where the previous
// call stopped, removes the dynamic entries that expired at now, and
// returns how many it removed. A budget of Stats().Slots sweeps the whole
// table. It may run concurrently with the fast path.
func (t *Table) Age(now int64, budget int) int {
	if budget <= 0 {
		return 0
	}
	budget = min(budget, len(t.slots))
	nowSec := seconds(now)
	t.ageMu.Lock()
	defer t.ageMu.Unlock()
	removed := 0
	for range budget {
		i := int(t.cursor)
		t.cursor = (t.cursor + 1) & t.mask
		s := &t.slots[i]
		kk := s.key.Load()
		if kk == 0 || kk == keyTomb || kk&flagMask != 0 {
			continue
		}
		if !t.expired(s.val.Load(), nowSec) {
			continue
		}
		if t.remove(i, kk, removeExpired, nowSec, 0) {
			removed++
		}
	}
	t.ctr.aged.Add(uint64(removed))
	return removed
}

// List returns the entries of a network (0 = all) that Lookup would find at
// now, sorted by network and MAC.
func (t *Table) List(network uint16, now int64) []Entry {
	if network != 0 && !validNetwork(network) {
		return nil
	}
	nowSec := seconds(now)
	var out []Entry
	for i := range t.slots {
		s := &t.slots[i]
		kk := s.key.Load()
		if kk == 0 || kk == keyTomb || kk&flagMask != 0 {
			continue
		}
		if network != 0 && uint16(kk>>48) != network {
			continue
		}
		v := s.val.Load()
		if s.key.Load() != kk || t.expired(v, nowSec) {
			continue
		}
		e := Entry{Network: uint16(kk >> 48), MAC: keyMACOf(kk), Port: uint16(v), Static: v&valStatic != 0}
		if !e.Static {
			e.Age = time.Duration(max(int32(nowSec-valSeenOf(v)), 0)) * time.Second
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		ka, kb := makeKey(a.Network, a.MAC), makeKey(b.Network, b.MAC)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	return out
}

// Len returns the number of entries of a network (0 = all networks),
// static included, counting expired entries until Age removes them.
func (t *Table) Len(network uint16) int {
	if network == 0 {
		return int(t.total.Load())
	}
	if !validNetwork(network) {
		return 0
	}
	return int(t.dyn[network].Load() + t.stat[network].Load())
}

// Stats returns a snapshot of the counters.
func (t *Table) Stats() Stats {
	s := Stats{
		Entries:         int(t.total.Load()),
		Tombstones:      int(t.tombs.Load()),
		Slots:           len(t.slots),
		Learned:         t.ctr.learned.Load(),
		Moved:           t.ctr.moved.Load(),
		StaticConflicts: t.ctr.conflicts.Load(),
		LimitDrops:      t.ctr.limitDrops.Load(),
		FullDrops:       t.ctr.fullDrops.Load(),
		Ignored:         t.ctr.ignored.Load(),
		Aged:            t.ctr.aged.Load(),
		Networks:        map[uint16]NetworkStats{},
	}
	for n := 1; n <= MaxNetwork; n++ {
		ns := NetworkStats{Dynamic: int(t.dyn[n].Load()), Static: int(t.stat[n].Load()), Limit: int(t.limit[n].Load())}
		if ns != (NetworkStats{}) {
			s.Networks[uint16(n)] = ns
			s.Static += ns.Static
		}
	}
	return s
}
