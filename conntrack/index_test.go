package conntrack

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
)

// TestIndexOverflow files many entries under one home bucket, so they
// spill over the next buckets (and wrap around the end), then removes them
// in random order: every entry is found until removed, none after, and the
// pass counts return to zero.
func TestIndexOverflow(t *testing.T) {
	for _, homeLast := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.MaxConns = 48
		tbl, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := tbl.Shard(0)
		nb := len(s.buckets)
		if nb != bucketsFor(48) || nb < 4 {
			t.Fatalf("%d buckets", nb)
		}
		// A low word whose home is bucket 0, or the last bucket; tags cycle
		// through few values so equal tags share buckets.
		var base uint32
		if homeLast {
			base = ^uint32(0) &^ 0xff
		}
		if got, want := s.home(base), map[bool]uint32{false: 0, true: uint32(nb - 1)}[homeLast]; got != want {
			t.Fatalf("home %d, want %d", got, want)
		}
		const n = 30 // more than two buckets hold
		ids := make([]uint32, n)
		for k := range ids {
			i := s.alloc()
			c := s.at(i)
			c.key = Key{Family: 4, Proto: protoUDP, SrcPort: uint16(k + 1), DstPort: 53}
			c.hash = base | uint32(k%3+1)
			s.indexAdd(i, c.hash)
			ids[k] = i
		}
		check := func(live map[uint32]bool) {
			t.Helper()
			for k, i := range ids {
				key := Key{Family: 4, Proto: protoUDP, SrcPort: uint16(k + 1), DstPort: 53}
				got := s.find(&key, base|uint32(k%3+1))
				if live[i] && got != i {
					t.Fatalf("entry %d (key %v): found %d", i, key, got)
				}
				if !live[i] && got != 0 {
					t.Fatalf("removed entry %d still found as %d", i, got)
				}
			}
		}
		live := map[uint32]bool{}
		for _, i := range ids {
			live[i] = true
		}
		check(live)
		home := s.home(base)
		if s.buckets[home].ovf != n-bucketSlots || s.buckets[s.nextBucket(home)].ovf != n-2*bucketSlots {
			t.Fatalf("pass counts %d, %d", s.buckets[home].ovf, s.buckets[s.nextBucket(home)].ovf)
		}
		for _, k := range rand.New(rand.NewPCG(7, 8)).Perm(n) {
			i := ids[k]
			s.indexDel(i, s.at(i).hash)
			delete(live, i)
			check(live)
		}
		for b := range s.buckets {
			bk := &s.buckets[b]
			if bk.ovf != 0 || bk.idx != [bucketSlots]uint32{} || bk.tags != [bucketSlots]uint8{} {
				t.Fatalf("bucket %d not empty after removing all: %+v", b, *bk)
			}
		}
	}
}

// TestTagMatches checks the byte-parallel tag comparison against a plain
// loop for every tag value over random buckets.
func TestTagMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for round := 0; round < 2000; round++ {
		var b bucket
		for k := range b.tags {
			b.tags[k] = uint8(r.IntN(4)) * uint8(r.IntN(80)) // zeros and repeats
		}
		for tag := 0; tag < 256; tag++ {
			lo, hi := tagMatchesLo(&b, uint8(tag)), tagMatchesHi(&b, uint8(tag))
			for k := range b.tags {
				var got bool
				if k < 8 {
					got = lo>>(8*k+7)&1 == 1
				} else {
					got = hi>>(8*(k-8)+7)&1 == 1
				}
				if got != (b.tags[k] == uint8(tag)) {
					t.Fatalf("tags %v, tag %d: slot %d match %v", b.tags, tag, k, got)
				}
			}
			if lo&^0x8080808080808080 != 0 || hi&^0x80808080 != 0 {
				t.Fatalf("stray bits %x %x", lo, hi)
			}
		}
	}
}

// checkIndex verifies the index against the entries: every filed slot names
// a live entry under its own tag that find returns, every live entry is
// filed once, and each bucket's pass count is the number of entries filed
// beyond it from a home at or before it.
func checkIndex(t testing.TB, s *Shard) {
	t.Helper()
	nb := uint32(len(s.buckets))
	want := make([]uint32, nb)
	filed := 0
	for b := uint32(0); b < nb; b++ {
		bk := &s.buckets[b]
		for k, i := range bk.idx {
			if (i == 0) != (bk.tags[k] == 0) {
				t.Fatalf("bucket %d slot %d: index %d with tag %d", b, k, i, bk.tags[k])
			}
			if i == 0 {
				continue
			}
			filed++
			c := s.at(i)
			if c.status&stInUse == 0 || hashTag(c.hash) != bk.tags[k] || c.hash != uint32(c.key.hash()) {
				t.Fatalf("bucket %d slot %d: entry %d in use %v, tag %d, hash %#x of key %#x", b, k, i,
					c.status&stInUse != 0, bk.tags[k], c.hash, uint32(c.key.hash()))
			}
			if got := s.find(&c.key, c.hash); got != i {
				t.Fatalf("entry %d (%v) filed in bucket %d, found as %d", i, c.key, b, got)
			}
			for p := s.home(c.hash); p != b; p = s.nextBucket(p) {
				want[p]++
			}
		}
	}
	if filed != s.count {
		t.Fatalf("%d entries filed, shard counts %d", filed, s.count)
	}
	for b := range want {
		if s.buckets[b].ovf != want[b] {
			t.Fatalf("bucket %d: pass count %d, want %d", b, s.buckets[b].ovf, want[b])
		}
	}
}

// TestBatchChurn runs enough flows through TrackBatch for its prefetching
// pipeline to engage, lets them all expire, and fills the table again from
// the free stack: verdicts stay right and the index consistent throughout.
func TestBatchChurn(t *testing.T) {
	const flows = 3 * prefetchMinConns
	cfg := DefaultConfig()
	cfg.MaxConns = flows + 1000
	tbl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := tbl.Shard(0)
	server := [4]byte{198, 19, 255, 253}
	run := func(now int64, reply bool, sport uint16, want Verdict) {
		t.Helper()
		const batch = 32
		var ctx [batch]Packet
		var ptrs [batch]*Packet
		var out [batch]Result
		for lo := 0; lo < flows; lo += batch {
			k := min(batch, flows-lo)
			for j := 0; j < k; j++ {
				c := addr4(lo + j)
				f := frameUDP4(c, server, sport, 53, 16)
				if reply {
					f = frameUDP4(server, c, 53, sport, 16)
				}
				p := &ctx[j]
				p.Frame = f
				if err := packet.Parse(f, &p.Meta); err != nil {
					t.Fatal(err)
				}
				tbl.Classify(p)
				s.Prefetch(p)
				ptrs[j] = p
			}
			s.TrackBatch(ptrs[:k], now, out[:])
			for j := 0; j < k; j++ {
				if out[j].Verdict != want {
					t.Fatalf("flow %d (reply %v): %s %s, want %s", lo+j, reply, out[j].Verdict, out[j].Why, want)
				}
			}
		}
	}
	now := int64(1e15)
	run(now, false, 1000, VerdictNew)
	run(now, true, 1000, VerdictEstablished)
	checkIndex(t, s)
	if s.Len() != flows {
		t.Fatalf("%d entries, want %d", s.Len(), flows)
	}
	// Past the UDP timeout every entry expires, a bounded amount per Poll.
	now += int64(5 * time.Minute)
	for k := 0; k < 100_000 && s.Len() > 0; k++ {
		s.Poll(now)
		now += int64(time.Millisecond)
	}
	if s.Len() != 0 {
		t.Fatalf("%d entries left after expiry", s.Len())
	}
	checkIndex(t, s)
	// New flows take the freed entries, in the stack's scattered order.
	run(now, false, 2000, VerdictNew)
	run(now, false, 2000, VerdictNew) // NEW until a reply is seen, from the same entries
	checkIndex(t, s)
	if s.Len() != flows || s.next != flows+1 {
		t.Fatalf("%d entries, next index %d: freed entries not reused", s.Len(), s.next)
	}
}
