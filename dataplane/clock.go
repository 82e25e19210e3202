package dataplane

import (
	"golang.org/x/sys/unix"
)

// Now returns CLOCK_MONOTONIC in nanoseconds: the clock of the XDP
// program's arrival stamps (bpf_ktime_get_ns), so stamps and the workers'
// own readings compare directly. The vDSO makes it a few ns, no syscall.
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// schedYield gives the CPU to another runnable thread on it, if any.
func schedYield() { _, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
