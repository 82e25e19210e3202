package dataplane

import (
	"fmt"
	"testing"
	"time"
)

// TestArrivalStamp checks that the XDP program's arrival stamp reaches user
// space in front of the frame in both copy modes veth offers, and that it
// lies between the send and the receive.
func TestArrivalStamp(t *testing.T) {
	requireRoot(t)
	for _, mode := range []Mode{ModeNative, ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			l := newLab(t, 1, 0)
			p := openPort(t, Config{Interface: l.sw, Mode: mode})
			q := p.Queue(0)
			vm := l.raw(t)
			for i := range 5 {
				marker := fmt.Sprintf("stamp-%d", i)
				before := Now()
				if err := vm.Write(testFrame(swMAC, vmMAC, marker, 0)); err != nil {
					t.Fatal(err)
				}
				descs := make([]Desc, 64)
				deadline := time.Now().Add(3 * time.Second)
				found := false
				for !found && time.Now().Before(deadline) {
					if _, err := q.Wait(50 * time.Millisecond); err != nil {
						t.Fatal(err)
					}
					n, err := q.Receive(descs)
					if err != nil {
						t.Fatal(err)
					}
					after := Now()
					for _, d := range descs[:n] {
						if string(q.Frame(d)[14:14+len(marker)]) != marker {
							continue
						}
						found = true
						ts, ok := q.Stamp(d)
						if !ok {
							t.Fatalf("frame %q has no arrival stamp", marker)
						}
						if ts < before || ts > after {
							t.Fatalf("stamp %d outside [%d, %d]", ts, before, after)
						}
						t.Logf("%s: arrival %v after the send, received %v later", marker, time.Duration(ts-before), time.Duration(after-ts))
					}
				}
				if !found {
					t.Fatalf("frame %q not received", marker)
				}
			}
		})
	}
}

// Now must be CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func TestNowIsClockMonotonic(t *testing.T) {
	a := clockGettime()
	n := Now()
	b := clockGettime()
	if n < a || n > b {
		t.Errorf("Now %d not between two CLOCK_MONOTONIC readings %d and %d", n, a, b)
	}
}
