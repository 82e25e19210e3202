package conntrack

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Table is the connection table: one Shard per owning worker plus the
// configuration they share. Create it with New.
type Table struct {
	shards []*Shard
	zones  atomic.Pointer[zoneSet]
	// zoneCount counts live entries per zone across shards; touched only on
	// insert and delete, never per packet.
	zoneCount [1 << 16]atomic.Int32
	cfgMu     sync.Mutex // serialises configuration changes
	cfg       Config
}

type zone struct {
	id  uint16
	cfg ZoneConfig
	to  zoneTicks
}

// zoneTicks is a zone's timeout policy converted to ticks once, so the
// per-packet path does no conversion.
type zoneTicks struct {
	tcp                         [numTCPStates]uint32
	tcpRetrans, tcpUnack        uint32
	udpUnreplied, udpStream     uint32
	icmp, generic, udpStreamAge uint32
}

func newZone(id uint16, cfg ZoneConfig) *zone {
	z := &zone{id: id, cfg: cfg}
	t := &cfg.Timeouts
	for st := State(0); st < numTCPStates; st++ {
		z.to.tcp[st] = durTicks(int64(t.tcpState(st)))
	}
	z.to.tcpRetrans = durTicks(int64(t.TCPRetrans))
	z.to.tcpUnack = durTicks(int64(t.TCPUnack))
	z.to.udpUnreplied = durTicks(int64(t.UDPUnreplied))
	z.to.udpStream = durTicks(int64(t.UDPStream))
	z.to.icmp = durTicks(int64(t.ICMP))
	z.to.generic = durTicks(int64(t.Generic))
	z.to.udpStreamAge = durTicks(int64(2 * time.Second))
	return z
}

// zoneSet is an immutable snapshot of the zone configuration, replaced as a
// whole on change (copy-on-write): the per-packet path only loads a pointer.
type zoneSet struct {
	def   *zone
	byID  map[uint16]*zone
	epoch uint64
}

func (zs *zoneSet) get(id uint16) *zone {
	if z, ok := zs.byID[id]; ok {
		return z
	}
	return zs.def
}

// New builds a table from cfg.
func New(cfg Config) (*Table, error) {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("conntrack config: %w", err)
	}
	t := &Table{cfg: cfg}
	t.publishZones(0)
	per := (cfg.MaxConns + cfg.Shards - 1) / cfg.Shards
	for i := 0; i < cfg.Shards; i++ {
		t.shards = append(t.shards, newShard(t, i, per, cfg.Defrag))
	}
	return t, nil
}

func (t *Table) publishZones(epoch uint64) {
	zs := &zoneSet{def: newZone(0, t.cfg.Default), byID: make(map[uint16]*zone, len(t.cfg.Zones)), epoch: epoch}
	for id, zc := range t.cfg.Zones {
		zs.byID[id] = newZone(id, zc)
	}
	t.zones.Store(zs)
}

// Config returns a copy of the current configuration.
func (t *Table) Config() Config {
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	c := t.cfg
	c.Zones = make(map[uint16]ZoneConfig, len(t.cfg.Zones))
	for k, v := range t.cfg.Zones {
		c.Zones[k] = v
	}
	return c
}

// ZoneConfig returns the knobs in force for zone id.
func (t *Table) ZoneConfig(id uint16) ZoneConfig { return t.zones.Load().get(id).cfg }

// SetZoneConfig replaces the knobs of one zone; it applies to the next
// packet of every shard. Existing connections keep their state.
func (t *Table) SetZoneConfig(id uint16, zc ZoneConfig) error {
	if err := zc.validate(); err != nil {
		return fmt.Errorf("zone %d: %w", id, err)
	}
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	zones := make(map[uint16]ZoneConfig, len(t.cfg.Zones)+1)
	for k, v := range t.cfg.Zones {
		zones[k] = v
	}
	zones[id] = zc
	t.cfg.Zones = zones
	t.publishZones(t.zones.Load().epoch + 1)
	return nil
}

// SetDefaultZoneConfig replaces the knobs of every zone without its own.
func (t *Table) SetDefaultZoneConfig(zc ZoneConfig) error {
	if err := zc.validate(); err != nil {
		return fmt.Errorf("default zone: %w", err)
	}
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	t.cfg.Default = zc
	t.publishZones(t.zones.Load().epoch + 1)
	return nil
}

// Shards returns the number of shards.
func (t *Table) Shards() int { return len(t.shards) }

// Shard returns shard i.
func (t *Table) Shard(i int) *Shard { return t.shards[i] }

// ZoneCount returns the live entries of one zone across all shards.
func (t *Table) ZoneCount(id uint16) int { return int(t.zoneCount[id].Load()) }

// Storage of a shard: entries live in fixed-size pages addressed by a uint32
// index (0 means none), so memory grows with use and indices stay stable.
const (
	pageShift = 10
	pageSize  = 1 << pageShift
	pageMask  = pageSize - 1
)

// The expiry wheel: one slot per 64 ticks (about 1.07 s). An entry whose deadline moves later
// is not relinked per packet; when its slot comes round it is moved to the
// slot of its current deadline. Deadlines beyond the wheel's span wait in
// the last slot and are revisited once per revolution.
const (
	wheelSlots   = 4096
	wheelPending = 0xFFFF // wslot of entries on the detached list being expired
)

// Shard is one owner's part of the table. All methods except those
// documented otherwise must be called by the owning goroutine only.
type Shard struct {
	t        *Table
	id       int
	pages    []*[pageSize]conn
	arena    *arena
	next     uint32   // next never-used index
	free     []uint32 // freed indices, a stack: the next ones to reuse are known ahead, so they can be prefetched
	count    int
	capacity int
	buckets  []bucket
	labels   map[uint32][2]uint64

	wheel     [wheelSlots]uint32
	wheelPos  int64 // in slots since the epoch: every slot before it has been expired
	wpend     uint32
	epoch     int64 // ns: time origin of ticks
	lastNow   int64
	nowAbs    int64  // ticks since the epoch
	nowTick   uint32 // uint32(nowAbs)
	startedAt bool

	zs       *zoneSet // cached zone lookup
	zcacheID uint16
	zcache   *zone

	defrag *defragger

	stats ShardStats

	owned     atomic.Bool
	reqs      chan func(*Shard)
	evictWant atomic.Uint32 // zone+1 another shard wants an entry evicted from; 0 none
	evictNext int
	mu        sync.Mutex // serialises inline control calls while no owner runs
}

// ShardStats are a shard's counters, written only by its owner.
type ShardStats struct {
	Packets  uint64
	Verdicts [numVerdicts]uint64
	Reasons  [numReasons]uint64
	// Invalid counts the reasons of invalid verdicts only (the packets
	// conntrack would have dropped), where Reasons counts every verdict's.
	Invalid   [numReasons]uint64
	Inserted  uint64
	Deleted   uint64
	Expired   uint64
	EarlyDrop uint64
	Entries   int
	Capacity  int
}

func newShard(t *Table, id, capacity int, dc DefragConfig) *Shard {
	s := &Shard{
		t:        t,
		id:       id,
		next:     1,
		capacity: capacity,
		labels:   make(map[uint32][2]uint64),
		reqs:     make(chan func(*Shard), 16),
	}
	s.arena = newArena(s)
	s.buckets = s.newBuckets(bucketsFor(capacity))
	s.free = s.newFreeStack(capacity + 2)
	s.defrag = newDefragger(dc)
	return s
}

func (s *Shard) at(i uint32) *conn { return &s.pages[i>>pageShift][i&pageMask] }

const slotShift = 6 // ticks per wheel slot: 64

// clock records now and initialises the epoch on first use. Time that
// appears to run backwards (a replayed capture, a clock step) is clamped
// so deadlines never move into the past en masse.
func (s *Shard) clock(now int64) int64 {
	if !s.startedAt {
		s.startedAt = true
		s.epoch = now
	}
	if now < s.lastNow {
		now = s.lastNow
	}
	s.lastNow = now
	s.nowAbs = (now - s.epoch) >> tickShift
	s.nowTick = uint32(s.nowAbs)
	return now
}

// expired reports whether c's deadline has passed.
func (s *Shard) expired(c *conn) bool { return int32(c.deadline-s.nowTick) <= 0 }

// refresh sets c to expire timeout ticks from now.
func (s *Shard) refresh(c *conn, timeout uint32) { c.deadline = s.nowTick + timeout }

func (s *Shard) zone(id uint16) *zone {
	zs := s.t.zones.Load()
	if zs != s.zs || id != s.zcacheID || s.zcache == nil {
		s.zs, s.zcacheID, s.zcache = zs, id, zs.get(id)
	}
	return s.zcache
}

// lookup finds the live entry with canonical key ck. An expired entry found
// on the way is removed: lookups never return the dead.
func (s *Shard) lookup(ck *Key, h uint64) uint32 {
	i := s.find(ck, uint32(h))
	if i != 0 && s.expired(s.at(i)) {
		s.stats.Expired++
		s.remove(i)
		return 0
	}
	return i
}

// freeAhead is how far down the free stack alloc prefetches: the entry the
// fourth next new connection will take.
const freeAhead = 4

func (s *Shard) alloc() uint32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		if n > freeAhead {
			s.prefetchConn(s.free[n-1-freeAhead])
		}
		return i
	}
	i := s.next
	if int(i>>pageShift) >= len(s.pages) {
		s.growPages()
	}
	s.next++
	return i
}

// freeSlot returns entry i to the free stack. The stack holds capacity+2
// indices, more than can ever be free at once, so this never allocates.
func (s *Shard) freeSlot(i uint32) {
	*s.at(i) = conn{}
	s.free = append(s.free, i)
}

// insert links a prepared entry (key, deadline set) into the index and the
// wheel. The caller has checked capacity.
func (s *Shard) insert(i uint32, h uint64) {
	c := s.at(i)
	c.status |= stInUse
	c.hash = uint32(h)
	s.indexAdd(i, c.hash)
	s.wheelLink(i, c.deadline)
	s.count++
	s.stats.Inserted++
	s.t.zoneCount[c.key.Zone].Add(1)
}

// remove unlinks entry i from the index and the wheel and frees it.
func (s *Shard) remove(i uint32) {
	c := s.at(i)
	s.indexDel(i, c.hash)
	s.wheelUnlink(i)
	if c.status&stHasLabels != 0 {
		delete(s.labels, i)
	}
	s.t.zoneCount[c.key.Zone].Add(-1)
	s.freeSlot(i)
	s.count--
	s.stats.Deleted++
}

// slotOf returns the wheel slot (absolute, in slots since the epoch) for a
// deadline, clamped to the wheel's span.
func (s *Shard) slotOf(deadline uint32) int64 {
	abs := s.nowAbs + int64(int32(deadline-s.nowTick))
	slot := abs >> slotShift
	if slot < s.wheelPos {
		slot = s.wheelPos
	}
	if last := s.wheelPos + wheelSlots - 1; slot > last {
		slot = last
	}
	return slot
}

func (s *Shard) wheelLink(i uint32, deadline uint32) {
	slot := uint16(s.slotOf(deadline) % wheelSlots)
	s.pushList(&s.wheel[slot], i, slot)
}

func (s *Shard) pushList(head *uint32, i uint32, slot uint16) {
	c := s.at(i)
	c.wslot = slot
	c.wprev = 0
	c.wnext = *head
	if *head != 0 {
		s.at(*head).wprev = i
	}
	*head = i
}

func (s *Shard) wheelUnlink(i uint32) {
	c := s.at(i)
	if c.wprev != 0 {
		s.at(c.wprev).wnext = c.wnext
	} else if c.wslot == wheelPending {
		s.wpend = c.wnext
	} else {
		s.wheel[c.wslot] = c.wnext
	}
	if c.wnext != 0 {
		s.at(c.wnext).wprev = c.wprev
	}
	c.wprev, c.wnext = 0, 0
}

// expire advances the wheel up to the shard's clock, examining at most
// budget entries. It returns the number of entries it removed.
func (s *Shard) expire(budget int) int {
	nowSlot := s.nowAbs >> slotShift
	removed := 0
	for budget > 0 {
		if s.wpend == 0 {
			if s.wheelPos >= nowSlot {
				break
			}
			// Detach the slot; its entries are checked one by one below.
			slot := s.wheelPos % wheelSlots
			s.wpend = s.wheel[slot]
			s.wheel[slot] = 0
			for j := s.wpend; j != 0; j = s.at(j).wnext {
				s.at(j).wslot = wheelPending
			}
			s.wheelPos++
			continue
		}
		i := s.wpend
		c := s.at(i)
		budget--
		if s.expired(c) {
			s.stats.Expired++
			s.remove(i)
			removed++
			continue
		}
		s.wheelUnlink(i)
		s.wheelLink(i, c.deadline)
	}
	return removed
}

// earlyDrop evicts one entry that Linux would also sacrifice under pressure
// (never assured, or a TCP connection already closing), preferring those
// closest to expiry; zone >= 0 restricts the search to that zone. It looks
// at a bounded number of entries so a full table cannot stall the owner.
func (s *Shard) earlyDrop(zoneID int) bool {
	const maxLook = 256
	looked := 0
	for k := int64(0); k < wheelSlots && looked < maxLook; k++ {
		var head uint32
		if k == 0 && s.wpend != 0 {
			head = s.wpend
		} else {
			head = s.wheel[(s.wheelPos+k)%wheelSlots]
		}
		for i := head; i != 0 && looked < maxLook; i = s.at(i).wnext {
			looked++
			c := s.at(i)
			if zoneID >= 0 && int(c.key.Zone) != zoneID {
				continue
			}
			if c.status&stAssured == 0 || (c.key.Proto == protoTCP && c.state >= TCPFinWait && c.state <= TCPClose) {
				s.remove(i)
				s.stats.EarlyDrop++
				return true
			}
		}
	}
	return false
}

// admit makes room for a new entry of zone z, evicting if needed.
func (s *Shard) admit(z *zone, zoneID uint16) Why {
	if lim := z.cfg.Limit; lim > 0 && int(s.t.zoneCount[zoneID].Load()) >= lim {
		if !s.earlyDrop(int(zoneID)) && !s.evictElsewhere(zoneID) {
			return Why{Reason: ReasonZoneLimit, A: uint32(zoneID), B: uint32(lim)}
		}
	}
	if s.count >= s.capacity && !s.earlyDrop(-1) {
		return Why{Reason: ReasonTableFull, A: uint32(s.count), B: uint32(s.capacity)}
	}
	return Why{}
}

// evictElsewhere makes room for zoneID when the evictable entries of a
// table-wide zone limit live on other shards, which only their owners may
// touch. Without owners (single-threaded use) it evicts directly. With
// owners it asks the next shard in turn to evict one unassured entry of the
// zone at its next Poll, and reports failure: this packet is refused, a
// retransmission finds room. One word per shard, no allocation, so a flood
// at the limit costs nothing extra.
func (s *Shard) evictElsewhere(zoneID uint16) bool {
	n := len(s.t.shards)
	for k := 1; k < n; k++ {
		o := s.t.shards[(s.id+k)%n]
		if o.owned.Load() {
			s.evictNext = (s.evictNext + 1) % n
			if s.evictNext == s.id {
				s.evictNext = (s.evictNext + 1) % n
			}
			s.t.shards[s.evictNext].evictWant.Store(uint32(zoneID) + 1)
			return false
		}
		if o.earlyDrop(int(zoneID)) {
			return true
		}
	}
	return false
}

// Len returns the shard's live and not yet reclaimed entries. Owner only.
func (s *Shard) Len() int { return s.count }
