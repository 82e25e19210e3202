// Package l2 owns the MAC tables of ctswitch's virtual networks (bridge
// domains): learning, aging, per-network limits, static entries. It is read
// and written by every worker on the per-packet path, concurrently, with no
// locks and no allocations on that path.
//
// A virtual network is a uint16 id 1..4094 (0 and 0xffff are reserved; 0
// means "all networks" where an API says so). One Table holds every
// network's entries, so memory is bounded by one Config.Capacity instead of
// one per network; SetLimit keeps one network from taking the whole table.
//
// # Layout
//
// The table is open addressing with linear probing over a fixed array of
// slots (Capacity rounded up so that the load factor stays <= 0.5). A slot
// is two atomic words:
//
//	key: network<<48 | MAC          (network 1..4094 uses bits 48..59)
//	     + state flags in bits 60..62: pending insert, dead, locked
//	     0 = never used, 0xffff<<48 = tombstone
//	val: port (16) | last seen, seconds of the caller's clock (32) |
//	     static (1) | frozen (1) | generation (14)
//
// A lookup hashes the key (seeded, so crafted MACs can't target one
// cluster), loads the key words of the run and, on a match, the value word
// of the same cache line. Refreshing a known MAC on its port writes nothing
// unless the second changed, so the common case does not move cache lines
// between cores.
//
// # Inserting without duplicates
//
// Inserts are lock-free: an insert first scans the whole probe run for the
// key, then claims the first free slot (never-used or tombstone) with a CAS
// to key|pending, writes the value, scans the run again and only then
// publishes the key with a second CAS. Two workers inserting the same MAC
// at once both claim before they rescan, so (Go atomics being sequentially
// consistent) at least one rescan sees the other's claim. The rules after
// the rescan keep exactly one copy: a published (or locked) copy wins; of
// two pending copies the one nearer the home slot wins, by backing the
// farther one out itself or by marking it dead, which makes the farther
// one's publishing CAS fail. The loser turns its slot into a tombstone and
// reports the MAC as refreshed: it was being learned by someone else.
//
// A run ends at a never-used slot or at the maximum distance from the home
// slot at which any key homed there was ever placed (kept per home slot, in
// a byte, raised before the claim so the rescan of a racing insert covers
// it). Slots never go back to never-used, so a run can't be cut short under
// a concurrent reader.
//
// # Removing
//
// Delete, Flush and Age lock a published key (CAS key -> key|locked), then
// freeze the value word (so a racing refresh or static conversion fails its
// CAS and retries instead of being lost), decide on the frozen value, and
// either store a tombstone or unfreeze and unlock. Generation bits in the
// value make a worker's stale CAS on a slot that was removed and reused
// fail; it would take 2^14 reuses of one slot inside one CAS window to fool
// it.
//
// # Limits
//
// Tombstones are reused by inserts but never compacted: clearing one back
// to never-used while inserters run would need them to pause, and the
// fast path never waits. What bounds their cost is the per-home maximum
// distance: a probe never looks further than the farthest key ever homed
// there, which stays short at load factor 0.5 because inserts fill the
// first free slot. A key is never placed more than 128 slots from its home;
// when that run is full, Learn reports LearnFull (at load 0.5 about one
// insert in 10^10). Timestamps have one-second resolution: a dynamic entry
// expires between MaxAge and MaxAge+2s after it was last seen.
package l2
