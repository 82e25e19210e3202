package config

import (
	"strings"
	"testing"
)

// FuzzParse checks that no input panics, that errors keep their promises
// (positioned, bounded in number) and that a config that parses compares
// equal to itself.
func FuzzParse(f *testing.F) {
	// Not Example: its comments add no coverage and make every
	// minimization of its mutants slow.
	for _, s := range []string{full, diffBase, base, "", "ports: [{interface: a, mode: fast}]\n", tunnels, diffTunnels} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config returned with an error")
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			if len(errs) == 0 || len(errs) > MaxErrors {
				t.Fatalf("%d errors", len(errs))
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "f.yaml:") {
					t.Fatalf("error without position: %q", e)
				}
			}
			return
		}
		if len(c.Switch.Ports) == 0 || len(c.Switch.Networks) == 0 {
			t.Fatalf("valid config without ports or networks: %+v", c.Switch)
		}
		if d := Diff(c, c); !d.Empty() {
			t.Fatalf("config differs from itself: %+v", d)
		}
		c2, err := Parse("f.yaml", data)
		if err != nil {
			t.Fatalf("second parse: %v", err)
		}
		if d := Diff(c, c2); !d.Empty() {
			t.Fatalf("two parses differ: %+v", d)
		}
	})
}
