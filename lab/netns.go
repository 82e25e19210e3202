package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces live, as with `ip netns`.
const netnsDir = "/run/netns"

// onThreadIn runs fn on a fresh goroutine whose OS thread is locked and
// switched into the namespace target. The thread is switched back before it
// is unlocked; if that fails it stays locked, so the runtime destroys it when
// the goroutine ends instead of reusing a thread in the wrong namespace.
// A panic in fn becomes an error.
func onThreadIn(target netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("get current netns: %w", err)
			return // thread still locked: discarded
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		ferr := callSafely(fn)
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func callSafely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// createNetns creates the named namespace name (like `ip netns add`).
func createNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("create netns %s: already exists", name)
	}
	// netns.NewNamed moves the calling thread into the new namespace, so it
	// runs on a throw-away thread (onThreadIn with the current namespace
	// switches it back afterwards).
	self, err := netns.Get()
	if err != nil {
		return fmt.Errorf("create netns %s: get current netns: %w", name, err)
	}
	defer self.Close()
	err = onThreadIn(self, func() error {
		h, err := netns.NewNamed(name)
		if err != nil {
			return err
		}
		return h.Close()
	})
	if err != nil {
		// NewNamed leaves the mount point file behind when the mount fails.
		_ = deleteNetns(name)
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	return nil
}

// deleteNetns removes a named namespace; a missing one is not an error.
// The namespace itself (and every veth end in it) goes away once nothing
// refers to it any more.
func deleteNetns(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("delete netns %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

func netnsExists(name string) bool {
	var st unix.Statfs_t
	// A namespace file is a bind mount of nsfs; a plain file left behind
	// by a half-finished create does not count.
	if err := unix.Statfs(filepath.Join(netnsDir, name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// listNetns returns the names in /run/netns.
func listNetns() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
