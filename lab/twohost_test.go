package lab

import (
	"context"
	"testing"
	"time"
)

func TestTwoHostTopology(t *testing.T) {
	for _, router := range []bool{false, true} {
		name := "direct"
		if router {
			name = "router"
		}
		t.Run(name, func(t *testing.T) {
			requireRoot(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			l, err := Up(ctx, TwoHostTopology(TwoHostOptions{Router: router}))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := l.Down(); err != nil {
					t.Error(err)
				}
			}()
			for _, v6 := range []bool{false, true} {
				dst := TwoHostUnderlayAddr('b', router, v6)
				if _, err := l.Ping(TwoHostSwitchA, dst, 5*time.Second); err != nil {
					t.Errorf("underlay swa -> %s: %v", dst, err)
				}
			}
			// The VMs have no switch yet: they cannot reach each other.
			if _, err := l.Ping(TwoHostVM('a', 1), TwoHostVMAddr('b', 1, false), 300*time.Millisecond); err == nil {
				t.Error("VMs reach each other without a switch")
			}
			if router {
				out, err := l.Exec(TwoHostRouter, "cat", "/proc/sys/net/ipv4/ip_forward")
				if err != nil || string(out) != "1\n" {
					t.Errorf("router forwarding: %q %v", out, err)
				}
			}
		})
	}
	if err := TwoHostTopology(TwoHostOptions{VMs: 9}).Validate(); err == nil {
		t.Error("9 VMs per host accepted")
	}
}
