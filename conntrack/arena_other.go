//go:build !linux

package conntrack

// Without mmap huge pages the arena falls back to the Go heap.
func mapHuge(n int) []byte { return nil }

func unmapHuge(m []byte) {}
