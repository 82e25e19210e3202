package dataplane

import "fmt"

// Mode is how a port runs AF_XDP.
type Mode int

const (
	// ModeAuto tries zero-copy, then native, then generic.
	ModeAuto Mode = iota
	// ModeNative attaches XDP in the driver and binds in copy mode.
	ModeNative
	// ModeGeneric attaches XDP in the skb path (any interface) and copies.
	ModeGeneric
	// ModeZeroCopy attaches in the driver and binds with XDP_ZEROCOPY.
	ModeZeroCopy
)

var modeNames = [...]string{"auto", "native", "generic", "zerocopy"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses auto|native|generic|zerocopy.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown XDP mode %q (want auto, native, generic or zerocopy)", s)
}

// Set and Type make *Mode a flag.Value / pflag.Value.
func (m *Mode) Set(s string) error {
	v, err := ParseMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Type names the flag value type.
func (m *Mode) Type() string { return "mode" }
