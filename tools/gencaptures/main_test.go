package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The committed captures are exactly what the generator writes: edit the
// scenarios, then run `make captures` and commit both.
func TestCommittedCapturesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := generate(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", "..", "examples", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("examples/%s differs from the generator's output (%d vs %d bytes): run `make captures`",
				f.name, len(committed), len(got))
		}
	}
}

// Two runs write the same bytes: nothing depends on the clock, maps or
// randomness.
func TestDeterministic(t *testing.T) {
	for _, f := range files {
		a, err := f.build().pcap()
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.build().pcap()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two builds differ", f.name)
		}
	}
}

// The padded frames of the session keep their IP length and carry
// non-zero padding (incident 2).
func TestSessionPadding(t *testing.T) {
	c := session()
	padded := 0
	for i, f := range c.frames {
		if len(f) < 60 {
			t.Errorf("frame %d: %d bytes, below the Ethernet minimum", i+1, len(f))
		}
		if f[12] != 0x08 || f[13] != 0x00 {
			continue
		}
		end := 14 + (int(f[16])<<8 | int(f[17]))
		if end < len(f) && f[23] == 6 { // TCP with padding
			padded++
			if end != 54 {
				t.Errorf("frame %d: padded TCP frame with IP end %d, want 54", i+1, end)
			}
			for j := end; j < len(f); j++ {
				if f[j] == 0 {
					t.Errorf("frame %d: zero padding byte at %d", i+1, j)
				}
			}
		}
	}
	if padded != 2 {
		t.Errorf("%d padded TCP frames, want 2 (the server's FIN/ACK and last ACK)", padded)
	}
}
