package conntrack

import (
	"runtime"
	"unsafe"
)

// Entry pages and the bucket index of large shards live in memory mapped
// outside the Go heap and backed by 2 MiB huge pages where the kernel allows
// (transparent huge pages in madvise mode): a 100k-connection table spans
// thousands of 4 KiB pages, and a TLB miss on every lookup costs more than
// the lookup. This is safe because entries and buckets hold no Go pointers.
// Small shards use the Go heap, so short-lived tables (tests, fuzzing) do
// not churn mappings.

const (
	hugeChunk    = 2 << 20
	hugeMinConns = 32 << 10 // shards at least this large use huge pages
)

// arena owns a shard's mappings. It is separate from the Shard so a cleanup
// can release it once the Shard is unreachable.
type arena struct {
	maps  [][]byte
	bytes int // mapped bytes, for memory accounting
}

func (a *arena) release() {
	for _, m := range a.maps {
		unmapHuge(m)
	}
	a.maps, a.bytes = nil, 0
}

// alloc returns n zeroed bytes aligned to hugeChunk, or nil if mapping fails
// (the caller falls back to the Go heap).
func (a *arena) alloc(n int) []byte {
	n = (n + hugeChunk - 1) &^ (hugeChunk - 1)
	m := mapHuge(n)
	if m == nil {
		return nil
	}
	a.maps = append(a.maps, m)
	a.bytes += len(m)
	return m
}

func newArena(owner *Shard) *arena {
	a := &arena{}
	runtime.AddCleanup(owner, func(a *arena) { a.release() }, a)
	return a
}

// newBuckets allocates the index, cache-line aligned: huge-page backed when
// it spans at least a huge page.
func (s *Shard) newBuckets(n int) []bucket {
	const bsz = int(unsafe.Sizeof(bucket{}))
	if n*bsz >= hugeChunk {
		if m := s.arena.alloc(n * bsz); m != nil {
			return unsafe.Slice((*bucket)(unsafe.Pointer(&m[0])), n)
		}
	}
	// The heap guarantees 8-byte alignment only: over-allocate and align
	// by hand (the slice's interior pointer keeps the allocation alive).
	raw := make([]byte, (n+1)*bsz)
	off := (bsz - int(uintptr(unsafe.Pointer(&raw[0]))&uintptr(bsz-1))) & (bsz - 1)
	return unsafe.Slice((*bucket)(unsafe.Pointer(&raw[off])), n)
}

// newFreeStack allocates the free stack: n indices, empty.
func (s *Shard) newFreeStack(n int) []uint32 {
	if n*4 >= hugeChunk {
		if m := s.arena.alloc(n * 4); m != nil {
			return unsafe.Slice((*uint32)(unsafe.Pointer(&m[0])), n)[:0]
		}
	}
	return make([]uint32, 0, n)
}

// growPages adds entry pages: one huge chunk's worth for a large shard, one
// heap page otherwise.
func (s *Shard) growPages() {
	if s.capacity >= hugeMinConns {
		const psz = int(unsafe.Sizeof([pageSize]conn{}))
		if m := s.arena.alloc(hugeChunk); m != nil {
			for off := 0; off+psz <= len(m); off += psz {
				s.pages = append(s.pages, (*[pageSize]conn)(unsafe.Pointer(&m[off])))
			}
			return
		}
	}
	s.pages = append(s.pages, new([pageSize]conn))
}

// MemoryBytes returns the memory a shard holds outside the Go heap (mapped
// entry pages and index). Heap-allocated pages show in the heap profile.
func (s *Shard) MemoryBytes() int { return s.arena.bytes }

// Close releases the table's mapped memory. The table must not be used
// afterwards. Without Close the memory is released when the table is
// garbage collected.
func (t *Table) Close() {
	for _, s := range t.shards {
		s.arena.release()
		s.pages, s.buckets, s.free = nil, nil, nil
	}
}
