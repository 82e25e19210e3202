package dataplane

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Errors that Open, Close and the queue primitives wrap, for errors.Is.
var (
	ErrNoInterface         = errors.New("no such interface")
	ErrXDPUnsupported      = errors.New("XDP not supported")
	ErrZeroCopyUnsupported = errors.New("AF_XDP zero-copy not supported")
	ErrMemlock             = errors.New("not enough locked memory for the UMEM")
	ErrQueueCount          = errors.New("not enough queues")
	ErrForeignProgram      = errors.New("another XDP program is attached")
	ErrInUse               = errors.New("in use by another ctswitch port")
	ErrClosed              = errors.New("port closed")
	ErrBusy                = errors.New("queue used by two goroutines at once")
	ErrInvalidDesc         = errors.New("invalid descriptor")
)

// sysError keeps an errno recovered from asavie/xdp's text-only errors
// (it formats with %v), so errors.Is(err, unix.EBUSY) works.
type sysError struct {
	errno unix.Errno // 0 if unknown
	text  string
}

func (e *sysError) Error() string { return e.text }
func (e *sysError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// errnoCandidates are the errnos socket setup can fail with; asavie/xdp
// ends its messages with the errno's text.
var errnoCandidates = []unix.Errno{
	unix.EBUSY, unix.EOPNOTSUPP, unix.EINVAL, unix.ENOBUFS, unix.ENOMEM, unix.EPERM,
	unix.ENODEV, unix.ENXIO, unix.ENETDOWN, unix.EAFNOSUPPORT, unix.EACCES, unix.EFAULT,
}

// asavieError turns an asavie/xdp error into one that unwraps to its errno.
func asavieError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, e := range errnoCandidates {
		if strings.HasSuffix(msg, e.Error()) {
			return &sysError{errno: e, text: msg}
		}
	}
	return &sysError{text: msg}
}

// panicError turns a recovered panic from asavie/xdp into an error. Its
// Transmit panics with "sendto failed with rc=%d and errno=%d".
func panicError(r any) error {
	msg := fmt.Sprint(r)
	var (
		rc    uint64
		errno int
	)
	if i := strings.Index(msg, "sendto failed"); i >= 0 {
		if _, err := fmt.Sscanf(msg[i:], "sendto failed with rc=%d and errno=%d", &rc, &errno); err == nil && errno > 0 {
			e := unix.Errno(errno)
			return &sysError{errno: e, text: "sendto: " + e.Error()}
		}
	}
	return &sysError{text: "asavie/xdp panicked: " + msg}
}
