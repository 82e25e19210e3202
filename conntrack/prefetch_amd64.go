package conntrack

// prefetch asks the CPU to bring the cache line at addr closer without
// waiting for it (PREFETCHT0). Unlike a load used as a hint, a prefetch
// never holds up instruction retirement, so it overlaps with real work.
//
//go:noescape
func prefetch(addr uintptr)

// prefetchEntryLines prefetches the two cache lines of an entry (from
// addr), for writing where the CPU has PREFETCHW (encoded by hand: Go's
// assembler lacks the mnemonic): the tracker writes both lines, so asking
// for them exclusive saves the upgrade a plain prefetch would need.
//
//go:noescape
func prefetchEntryLines(addr uintptr)

//lint:ignore U1000 read by prefetchEntryLines, in assembly
var havePrefetchW = cpuidPrefetchW()

// cpuidPrefetchW reports CPUID.80000001H:ECX.PRFCHW[bit 8].
func cpuidPrefetchW() bool
