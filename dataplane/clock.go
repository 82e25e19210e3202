package dataplane

import (
	_ "unsafe" // go:linkname

	"golang.org/x/sys/unix"
)

// Now returns CLOCK_MONOTONIC in nanoseconds: the clock of the XDP
// program's arrival stamps (bpf_ktime_get_ns), so stamps and the workers'
// own readings compare directly. It is the runtime's clock, read through
// the vDSO (a few ns); unix.ClockGettime would be a system call.
func Now() int64 { return nanotime() }

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// clockGettime is the system call, for checking that nanotime is the
// same clock.
func clockGettime() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// schedYield gives the CPU to another runnable thread on it, if any.
func schedYield() { _, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
