package conntrack

// prefetch asks the CPU to bring the cache line at addr closer without
// waiting for it (PREFETCHT0). Unlike a load used as a hint, a prefetch
// never holds up instruction retirement, so it overlaps with real work.
//
//go:noescape
func prefetch(addr uintptr)

// prefetch2 prefetches the two cache lines from addr (an entry) in one call.
//
//go:noescape
func prefetch2(addr uintptr)

//go:noescape
func prefetchw2(addr uintptr)
