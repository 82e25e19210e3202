package conntrack

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// The index maps a canonical key's hash to its entry. It is an array of
// buckets of one cache line each, holding up to bucketSlots entry indices
// with an 8-bit tag from the hash. A lookup reads its bucket's line, and
// only the entries whose tag matches (one in 256 by chance), so the entry
// a packet needs is known before any entry is read: the batch pipeline
// prefetches exactly that one, and a miss (a new connection) reads no
// entry at all. A full bucket spills into the next (linear probing by
// bucket); its ovf counts the entries that passed it, so a lookup stops at
// the first bucket nobody passed.
const bucketSlots = 12

type bucket struct {
	idx  [bucketSlots]uint32 // entry index; 0 = empty slot
	tags [bucketSlots]uint8  // tag of the entry's hash; 0 = empty slot
	ovf  uint32              // entries that passed this bucket (at most the shard's capacity)
}

func init() {
	if unsafe.Sizeof(bucket{}) != 64 {
		panic("conntrack: bucket is not one cache line")
	}
	if unsafe.Sizeof(conn{}) != 128 || unsafe.Offsetof(conn{}.tcp) != 64 {
		panic("conntrack: entry is not two cache lines split at the TCP state")
	}
}

// bucketsFor sizes the index for a shard's capacity: a full shard fills
// half the slots, where a bucket overflows rarely (Poisson mean 6 of 12).
func bucketsFor(capacity int) int { return max(1, (capacity+bucketSlots/2-1)/(bucketSlots/2)) }

// hashTag is the entry's tag: the low byte, which the bucket choice (the
// top bits of the low word, see home) barely uses; never 0, which marks an
// empty slot. Tag and home depend only on the low word, which the entry
// keeps (conn.hash) so removal needs no rehash.
func hashTag(h uint32) uint8 {
	t := uint8(h)
	if t == 0 {
		t = 1
	}
	return t
}

// home is the first bucket a hash probes: a multiply-shift reduction, so the
// bucket count need not be a power of two (memory per connection counts).
func (s *Shard) home(h uint32) uint32 { return uint32(uint64(h) * uint64(len(s.buckets)) >> 32) }

func (s *Shard) nextBucket(b uint32) uint32 {
	if b++; int(b) == len(s.buckets) {
		return 0
	}
	return b
}

// tagMatchesLo and tagMatchesHi return a mask with bit 8k+7 set for each
// slot k holding tag t, for slots 0-7 and 8-11 (as k-8). Exact per byte, no
// false positives from borrows. Slots fill from 0, so a lookup usually
// needs only the first.
func tagMatchesLo(b *bucket, t uint8) uint64 {
	return zeroBytes(binary.LittleEndian.Uint64(b.tags[0:8]) ^ uint64(t)*0x0101010101010101)
}

func tagMatchesHi(b *bucket, t uint8) uint64 {
	return zeroBytes(uint64(binary.LittleEndian.Uint32(b.tags[8:12])^uint32(t)*0x01010101) | 0xffffffff00000000)
}

// zeroBytes sets the top bit of each byte of x that is zero, exactly.
func zeroBytes(x uint64) uint64 {
	const high7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&high7 + high7) | x | high7)
}

// find returns the index of the entry with canonical key ck, or 0.
func (s *Shard) find(ck *Key, h uint32) uint32 {
	t := hashTag(h)
	b := s.home(h)
	for {
		bk := &s.buckets[b]
		for m := tagMatchesLo(bk, t); m != 0; m &= m - 1 {
			if i := bk.idx[bits.TrailingZeros64(m)>>3]; keyEqual(&s.at(i).key, ck) {
				return i
			}
		}
		for m := tagMatchesHi(bk, t); m != 0; m &= m - 1 {
			if i := bk.idx[8+bits.TrailingZeros64(m)>>3]; keyEqual(&s.at(i).key, ck) {
				return i
			}
		}
		if bk.ovf == 0 {
			return 0
		}
		b = s.nextBucket(b)
	}
}

// candidate returns the first entry of h's home bucket whose tag matches:
// the one to prefetch. The bucket line should be cached by then.
func (s *Shard) candidate(h uint32) uint32 {
	bk := &s.buckets[s.home(h)]
	t := hashTag(h)
	if m := tagMatchesLo(bk, t); m != 0 {
		return bk.idx[bits.TrailingZeros64(m)>>3]
	}
	if m := tagMatchesHi(bk, t); m != 0 {
		return bk.idx[8+bits.TrailingZeros64(m)>>3]
	}
	return 0
}

// indexAdd files entry i under hash h. The shard never holds more entries
// than half the slots, so a free slot exists.
func (s *Shard) indexAdd(i uint32, h uint32) {
	t := hashTag(h)
	b := s.home(h)
	for {
		bk := &s.buckets[b]
		if m := tagMatchesLo(bk, 0); m != 0 {
			k := bits.TrailingZeros64(m) >> 3
			bk.idx[k], bk.tags[k] = i, t
			return
		}
		if m := tagMatchesHi(bk, 0); m != 0 {
			k := 8 + bits.TrailingZeros64(m)>>3
			bk.idx[k], bk.tags[k] = i, t
			return
		}
		bk.ovf++
		b = s.nextBucket(b)
	}
}

// indexDel removes entry i, filed under hash h, and releases the buckets
// it had passed.
func (s *Shard) indexDel(i uint32, h uint32) {
	t := hashTag(h)
	home := s.home(h)
	b := home
	for steps := 0; steps < len(s.buckets); steps++ {
		bk := &s.buckets[b]
		for k := range bk.idx {
			if bk.idx[k] == i && bk.tags[k] == t {
				bk.idx[k], bk.tags[k] = 0, 0
				for p := home; p != b; p = s.nextBucket(p) {
					s.buckets[p].ovf--
				}
				return
			}
		}
		b = s.nextBucket(b)
	}
}
