package lab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct{ cmd, data uint32 }

// ifreqPtr is struct ifreq with its ifr_data member.
type ifreqPtr struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

const ethtoolSTxCsum = 0x17 // ETHTOOL_STXCSUM

// DisableTxChecksum turns off transmit checksum offload (and so TSO) on a
// host's interface, as `ethtool -K IF tx off` does. A veth's kernel stack
// otherwise sends TCP and UDP with only the pseudo-header sum filled in
// (CHECKSUM_PARTIAL), trusting the peer's kernel to know; a userspace
// switch that receives the frame over AF_XDP sees a wrong checksum, and so
// does the kernel it forwards the frame to. (Open vSwitch's AF_XDP
// datapath documents the same step for veth.)
func (l *Lab) DisableTxChecksum(host, ifname string) error {
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("lab %s: %s/%s: interface name too long", l.id, host, ifname)
	}
	err := l.inNs(host, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		v := ethtoolValue{cmd: ethtoolSTxCsum, data: 0}
		var req ifreqPtr
		copy(req.name[:], ifname)
		req.data = unsafe.Pointer(&v)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req))); errno != 0 {
			return fmt.Errorf("ETHTOOL_STXCSUM: %w", errno)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("lab %s: disable tx checksum offload on %s/%s: %w", l.id, host, ifname, err)
	}
	return nil
}
