package dataplane

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

// xskMu serialises every creation and destruction of AF_XDP sockets in the
// process: asavie/xdp takes its bind flags from a package global, and the
// ring reaper must not see a socket that is half created.
var xskMu sync.Mutex

// mmap offsets of the AF_XDP rings (uapi if_xdp.h).
const (
	pgoffRxRing         = 0
	pgoffTxRing         = 0x80000000
	pgoffFillRing       = 0x100000000
	pgoffCompletionRing = 0x180000000
)

// newXSK creates one AF_XDP socket bound to (ifindex, queue) with the given
// bind flags (XDP_COPY or XDP_ZEROCOPY).
func newXSK(ifindex, queue int, opts xdp.SocketOptions, bindFlags uint16) (*xdp.Socket, error) {
	xskMu.Lock()
	defer xskMu.Unlock()
	prev := xdp.DefaultSocketFlags
	xdp.DefaultSocketFlags = bindFlags
	defer func() { xdp.DefaultSocketFlags = prev }()

	// asavie creates the socket without SOCK_CLOEXEC. A child forked
	// meanwhile (lab.Exec, any os/exec) would inherit it and keep the queue
	// bound after we close it, so no fork may happen until FD_CLOEXEC is
	// set: ForkLock is exactly that lock.
	syscall.ForkLock.RLock()
	s, err := func() (s *xdp.Socket, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(r)
			}
		}()
		return xdp.NewSocket(ifindex, queue, &opts)
	}()
	if err == nil {
		if _, ferr := unix.FcntlInt(uintptr(s.FD()), unix.F_SETFD, unix.FD_CLOEXEC); ferr != nil {
			err = fmt.Errorf("set close-on-exec: %w", ferr)
		}
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		if s != nil {
			closeXSKLocked(s)
		} else {
			// A failed NewSocket closes its fd but leaves the rings it
			// mapped, which keep the socket and its pinned UMEM alive.
			reapXSKRings(0)
		}
		return nil, asavieError(err)
	}
	return s, nil
}

// closeXSK closes a socket and unmaps its rings (asavie leaves them mapped,
// which keeps the socket bound to its queue until the process exits).
// The socket must not be used afterwards: its ring pointers dangle.
func closeXSK(s *xdp.Socket) error {
	xskMu.Lock()
	defer xskMu.Unlock()
	return closeXSKLocked(s)
}

func closeXSKLocked(s *xdp.Socket) error {
	var st unix.Stat_t
	ino := uint64(0)
	if err := unix.Fstat(s.FD(), &st); err == nil {
		ino = st.Ino
	}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(r)
			}
		}()
		return s.Close()
	}()
	if ino != 0 {
		reapXSKRings(ino)
	}
	if err != nil {
		return fmt.Errorf("close AF_XDP socket: %w", err)
	}
	return nil
}

// reapXSKRings unmaps the AF_XDP ring mappings of socket inode ino, or, for
// ino 0, of every AF_XDP socket whose fd is no longer open in this process
// (what a failed asavie NewSocket leaves). AF_XDP sockets are recognised in
// /proc/self/maps by their fill/completion ring offsets. The caller holds
// xskMu. The unmapped ranges stay in package syscall's record of mappings,
// which is harmless: nothing calls syscall.Munmap on them.
func reapXSKRings(ino uint64) {
	type mapping struct{ start, end, ino uint64 }
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	var maps []mapping
	xsks := map[uint64]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 || !strings.HasPrefix(fl[5], "socket:[") {
			continue
		}
		n, err1 := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(fl[5], "socket:["), "]"), 10, 64)
		off, err2 := strconv.ParseUint(fl[2], 16, 64)
		se := strings.SplitN(fl[0], "-", 2)
		if err1 != nil || err2 != nil || len(se) != 2 {
			continue
		}
		start, err1 := strconv.ParseUint(se[0], 16, 64)
		end, err2 := strconv.ParseUint(se[1], 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		maps = append(maps, mapping{start, end, n})
		if off == pgoffFillRing || off == pgoffCompletionRing {
			xsks[n] = true
		}
	}
	f.Close()

	target := func(n uint64) bool { return n == ino && xsks[n] }
	if ino == 0 {
		// Maps were read first: a socket created after that can't be hit.
		open := openSocketInodes()
		target = func(n uint64) bool { return xsks[n] && !open[n] }
	}
	for _, m := range maps {
		if target(m.ino) {
			_, _, _ = unix.Syscall(unix.SYS_MUNMAP, uintptr(m.start), uintptr(m.end-m.start), 0)
		}
	}
}

func openSocketInodes() map[uint64]bool {
	open := map[uint64]bool{}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return open
	}
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat("/proc/self/fd/"+e.Name(), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			open[st.Ino] = true
		}
	}
	return open
}

// hasCap reports whether the calling thread has capability c in its
// effective set (the kernel checks the thread's own credentials).
func hasCap(c uint) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// ensureMemlock makes room for need bytes of UMEM. The kernel charges UMEM
// to RLIMIT_MEMLOCK (per user, summed over all sockets) unless the thread
// has CAP_IPC_LOCK; BPF maps are memcg-charged on current kernels.
func ensureMemlock(need uint64) error {
	if hasCap(unix.CAP_IPC_LOCK) {
		return nil
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		return fmt.Errorf("get RLIMIT_MEMLOCK: %w", err)
	}
	if rl.Cur == unix.RLIM_INFINITY || rl.Cur >= need {
		return nil
	}
	// Unlimited needs CAP_SYS_RESOURCE; otherwise the soft limit may rise
	// to the hard one.
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}) == nil {
		return nil
	}
	if rl.Max > rl.Cur {
		_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: rl.Max, Max: rl.Max})
		_ = unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl)
	}
	if rl.Cur == unix.RLIM_INFINITY || rl.Cur >= need {
		return nil
	}
	return fmt.Errorf("%w: the UMEM needs %d KiB of locked memory, RLIMIT_MEMLOCK is %d KiB and cannot be raised, and the process lacks CAP_IPC_LOCK: %s",
		ErrMemlock, need>>10, rl.Cur>>10, memlockAdvice)
}

const memlockAdvice = "grant CAP_IPC_LOCK, raise the limit (ulimit -l, systemd LimitMEMLOCK=infinity) or use a smaller RingSize (the limit is per user and shared by all AF_XDP sockets)"

func memlockText() string {
	var rl unix.Rlimit
	lim := "unknown"
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl) == nil {
		if rl.Cur == unix.RLIM_INFINITY {
			lim = "unlimited"
		} else {
			lim = strconv.FormatUint(rl.Cur>>10, 10) + " KiB"
		}
	}
	return fmt.Sprintf("RLIMIT_MEMLOCK %s, CAP_IPC_LOCK %v", lim, hasCap(unix.CAP_IPC_LOCK))
}

// ifQueues returns how many queues an AF_XDP socket may bind to on ifname:
// the kernel accepts queue ids below max(real rx, real tx) queue count.
// ethtool channels give the real counts; netlink's are the allocated ones.
func ifQueues(ifname string, nlRx, nlTx int) int {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		defer unix.Close(fd)
		ch := &ethtoolChannels{cmd: unix.ETHTOOL_GCHANNELS}
		req := &ifreqData{data: unsafe.Pointer(ch)}
		copy(req.name[:unix.IFNAMSIZ-1], ifname)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(req)))
		runtime.KeepAlive(ch)
		if n := max(ch.rx, ch.tx) + ch.combined; errno == 0 && n > 0 {
			return int(n)
		}
	}
	return max(nlRx, nlTx, 1)
}

// ethtoolChannels is struct ethtool_channels.
type ethtoolChannels struct {
	cmd, maxRx, maxTx, maxOther, maxCombined, rx, tx, other, combined uint32
}

// ifreqData is struct ifreq with its ifr_data member.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte // the rest of the ifreq union
}

// driverName returns the interface's driver (ethtool), or "".
func driverName(ifname string) string {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	info, err := unix.IoctlGetEthtoolDrvinfo(fd, ifname)
	if err != nil {
		return ""
	}
	return unix.ByteSliceToString(info.Driver[:])
}
