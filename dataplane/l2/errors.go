package l2

import (
	"errors"
	"fmt"

	"github.com/ctswitch/ctswitch/packet"
)

// Errors the control-plane calls wrap, for errors.Is.
var (
	ErrConfig       = errors.New("invalid configuration")
	ErrNetwork      = errors.New("network id outside 1..4094")
	ErrLimit        = errors.New("limit must be >= 0 (0 = no limit)")
	ErrMulticastMAC = errors.New("multicast or broadcast MAC")
	ErrZeroMAC      = errors.New("all-zero MAC")
	ErrFull         = errors.New("table full")
	ErrBusy         = errors.New("entry kept changing under concurrent updates")
)

// macString formats a MAC for error messages (control plane only: it
// allocates).
func macString(m packet.MAC) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}
