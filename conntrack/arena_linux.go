package conntrack

import "syscall"

const madvHugepage = 14 // MADV_HUGEPAGE

// mapHuge maps n bytes (a multiple of hugeChunk) aligned to hugeChunk and
// asks for huge pages. It maps one chunk more and trims, because mmap only
// promises page alignment.
func mapHuge(n int) []byte {
	m, err := syscall.Mmap(-1, 0, n+hugeChunk, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	addr := uintptrOf(m)
	off := int((addr+hugeChunk-1)&^(hugeChunk-1) - addr)
	if off > 0 {
		_ = syscall.Munmap(m[:off])
	}
	if tail := hugeChunk - off; tail > 0 {
		_ = syscall.Munmap(m[off+n:])
	}
	m = m[off : off+n : off+n]
	_ = syscall.Madvise(m, madvHugepage) // best effort: without THP we still work, on 4 KiB pages
	return m
}

func unmapHuge(m []byte) { _ = syscall.Munmap(m) }
