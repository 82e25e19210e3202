package conntrack

import (
	"math/rand/v2"
	"testing"
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
			for _, i := range ids {
				c := s.at(i)
				k := Key{Family: 4, Proto: protoUDP, SrcPort: uint16(indexOf(ids, i) + 1), DstPort: 53}
				got := s.find(&k, base|uint32(indexOf(ids, i)%3+1))
				if live[i] && got != i {
					t.Fatalf("entry %d (key %v): found %d", i, c.key, got)
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

func indexOf(s []uint32, v uint32) int {
	for k, x := range s {
		if x == v {
			return k
		}
	}
	return -1
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
			lo, hi := tagMatches(&b, uint8(tag))
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
