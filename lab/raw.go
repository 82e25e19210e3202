package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// RawConn sends and receives whole Ethernet frames on one interface of a
// host, through an AF_PACKET socket created inside the host's namespace.
// Tests use it to inject exact frames and to see exactly what arrives.
//
// Frames are sent with PACKET_QDISC_BYPASS: on a multi-queue veth the
// frame then lands on queue (sending CPU % queues) of the peer, which
// WriteOnCPU uses to steer frames to a chosen queue.
//
// Read and the writes may run concurrently; Close must not.
type RawConn struct {
	fd        int
	ifindex   int
	closeOnce sync.Once
}

// OpenRaw opens a raw frame socket on host's interface ifname; host ""
// means the caller's (switch) namespace, e.g. OpenRaw("", l.SwitchIf(link))
// to see what the switch side's kernel receives.
func (l *Lab) OpenRaw(host, ifname string) (*RawConn, error) {
	c := &RawConn{fd: -1}
	err := l.inNs(host, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("interface %s: %w", ifname, err)
		}
		// Protocol 0 until bind: nothing is queued from other interfaces
		// in between.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket to %s: %w", ifname, err)
		}
		c.fd, c.ifindex = fd, ifi.Index
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s: open raw %s/%s: %w", l.id, host, ifname, err)
	}
	return c, nil
}

// Write sends one frame (Ethernet header included).
func (c *RawConn) Write(frame []byte) error {
	if err := unix.Sendto(c.fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: c.ifindex}); err != nil {
		return fmt.Errorf("raw write: %w", err)
	}
	return nil
}

// WriteOnCPU sends one frame from a thread pinned to cpu. The pinned thread
// is thrown away afterwards rather than returned to the scheduler.
func (c *RawConn) WriteOnCPU(cpu int, frame []byte) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its new affinity
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("pin to cpu %d: %w", cpu, err)
			return
		}
		errc <- c.Write(frame)
	}()
	return <-errc
}

// Read waits up to timeout for a frame arriving on the interface (frames
// the interface sends are skipped) and copies it into buf. It returns
// os.ErrDeadlineExceeded when nothing came.
func (c *RawConn) Read(buf []byte, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("raw read: poll: %w", err)
		}
		if n == 0 {
			continue
		}
		m, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("raw read: %w", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		return m, nil
	}
}

// Close closes the socket.
func (c *RawConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if e := unix.Close(c.fd); e != nil {
			err = fmt.Errorf("raw close: %w", e)
		}
	})
	return err
}

// htons converts to network byte order, as sockaddr_ll wants.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}
