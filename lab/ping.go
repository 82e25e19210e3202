package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Ping sends ICMP (v4) or ICMPv6 echo requests from host to dst, one every
// 200 ms, until a matching reply arrives or timeout passes. It returns the
// round-trip time of the answered request. The kernels of the namespaces do
// all the work (ARP/ND, routing, the reply), as with ping(8), which a fresh
// machine may lack. dst must be in the lab's address ranges.
func (l *Lab) Ping(host, dst string, timeout time.Duration) (time.Duration, error) {
	ip, err := checkAddr(dst)
	if err != nil {
		return 0, fmt.Errorf("lab %s: ping %s from %s: %w", l.id, dst, host, err)
	}
	var rtt time.Duration
	err = l.Run(host, func() error {
		var err error
		rtt, err = ping(ip.AsSlice(), timeout)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("lab %s: ping %s from %s: %w", l.id, dst, host, err)
	}
	return rtt, nil
}

func ping(dst []byte, timeout time.Duration) (time.Duration, error) {
	v6 := len(dst) == 16
	var (
		fd  int
		err error
		sa  unix.Sockaddr
	)
	if v6 {
		// The kernel computes ICMPv6 checksums on raw sockets itself.
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		sa = &unix.SockaddrInet6{Addr: [16]byte(dst)}
	} else {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		sa = &unix.SockaddrInet4{Addr: [4]byte(dst)}
	}
	if err != nil {
		return 0, fmt.Errorf("raw icmp socket: %w", err)
	}
	defer unix.Close(fd)

	var nonce [10]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return 0, err
	}
	id := binary.BigEndian.Uint16(nonce[:2])
	payload := append([]byte("ctswitch-lab-ping-"), nonce[2:]...)
	reqType, replyType := byte(8), byte(0)
	if v6 {
		reqType, replyType = 128, 129
	}

	deadline := time.Now().Add(timeout)
	sent := map[uint16]time.Time{}
	buf := make([]byte, 2048)
	for seq := uint16(1); ; seq++ {
		msg := make([]byte, 8+len(payload))
		msg[0] = reqType
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], seq)
		copy(msg[8:], payload)
		if !v6 {
			binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
		}
		if err := unix.Sendto(fd, msg, 0, sa); err != nil && !errors.Is(err, unix.EHOSTUNREACH) {
			return 0, fmt.Errorf("send echo request: %w", err)
		}
		sent[seq] = time.Now()
		next := time.Now().Add(200 * time.Millisecond)
		for {
			now := time.Now()
			if now.After(deadline) {
				return 0, fmt.Errorf("no echo reply within %v (%d requests sent)", timeout, len(sent))
			}
			wait := min(next.Sub(now), deadline.Sub(now))
			if wait <= 0 {
				break
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, int(wait/time.Millisecond)+1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("poll: %w", err)
			}
			if n == 0 {
				continue
			}
			m, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				continue
			}
			pkt := buf[:m]
			if !v6 {
				// Raw IPv4 sockets deliver the IP header too.
				if len(pkt) < 20 || int(pkt[0]&0xf)*4 > len(pkt) {
					continue
				}
				pkt = pkt[int(pkt[0]&0xf)*4:]
			}
			if !fromAddr(from, dst) || len(pkt) < 8 || pkt[0] != replyType ||
				binary.BigEndian.Uint16(pkt[4:]) != id || !bytes.Equal(pkt[8:], payload) {
				continue
			}
			if t0, ok := sent[binary.BigEndian.Uint16(pkt[6:])]; ok {
				return time.Since(t0), nil
			}
		}
	}
}

func fromAddr(sa unix.Sockaddr, want []byte) bool {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return bytes.Equal(a.Addr[:], want)
	case *unix.SockaddrInet6:
		return bytes.Equal(a.Addr[:], want)
	}
	return false
}

// icmpChecksum is the RFC 1071 checksum of an ICMPv4 message.
func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}
