package dataplane

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// onThreadIn runs fn on a fresh locked OS thread inside namespace ns. The
// thread is switched back before it is unlocked; if that fails it stays
// locked and dies with its goroutine rather than serve others in the wrong
// namespace. Used for the netlink calls that have no per-namespace handle
// variant (XDP attach/detach by netlink), so Close works from any goroutine.
func onThreadIn(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(netlinkTimeout):
		// The goroutine is left behind with its thread; better than
		// hanging the caller (Close in particular).
		return fmt.Errorf("netlink call in the port's namespace: no answer after %v", netlinkTimeout)
	}
}

// setXDPFd attaches (fd >= 0) or detaches (fd -1) a program by netlink in
// the port's namespace.
func setXDPFd(ns netns.NsHandle, ifindex, fd, flags int) error {
	return onThreadIn(ns, func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Index = ifindex
		return netlink.LinkSetXdpFdWithFlags(&netlink.Device{LinkAttrs: attrs}, fd, flags)
	})
}
