package conntrack

import (
	"encoding/binary"
	"testing"
)

// FuzzTrack feeds a sequence of frames through the tracker's entry point
// (parse, classify, defrag, track) under fuzzed zone knobs and time steps.
// Input: knob byte, then records of [u16 length][u8 time step][frame]
// (see fuzzInput).
// Invariants: no panic, a known verdict for every frame, an entry count that
// matches the table's own accounting, an index consistent with the entries.
func FuzzTrack(f *testing.F) {
	seed := func(knobs byte, frames ...[]byte) []byte { return fuzzInput(knobs, frames) }
	c, s := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	f.Add(seed(0,
		frameTCP4(c, s, 1000, 80, 100, 0, fS, 64240, wscaleOpts(7), 0),
		frameTCP4(s, c, 80, 1000, 900, 101, fSA, 65160, wscaleOpts(7), 0),
		frameTCP4(c, s, 1000, 80, 101, 901, fA, 502, nil, 0),
		frameTCP4(c, s, 1000, 80, 101, 901, fA|fP, 502, nil, 20),
		frameTCP4(s, c, 80, 1000, 901, 121, fA|fF, 509, nil, 0),
		frameTCP4(c, s, 1000, 80, 121, 902, fR, 0, nil, 0),
	))
	f.Add(seed(1, frameTCP4(c, s, 1000, 80, 100, 5000, fA, 502, nil, 100), frameUDP4(c, s, 53, 53, 8)))
	f.Add(seed(6, frameUDP4(s, c, 53, 1024, 30), frameUDP4(c, s, 1024, 53, 30)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		knobs := data[0]
		cfg := DefaultConfig()
		cfg.Shards = 1 + int(knobs>>6)
		cfg.MaxConns = 64
		cfg.Default.Loose = knobs&1 == 0
		cfg.Default.BeLiberal = knobs&2 != 0
		cfg.Default.IgnoreInvalidRST = knobs&4 != 0
		cfg.Default.Checksum = knobs&8 == 0
		if knobs&16 != 0 {
			cfg.Default.Limit = 3
		}
		cfg.Defrag.MinFragSizeV4, cfg.Defrag.MinFragSizeV6 = 8, 8
		tbl, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := int64(1e15)
		data = data[1:]
		for len(data) >= 3 {
			n := int(binary.BigEndian.Uint16(data))
			step := data[2]
			data = data[3:]
			if n > len(data) {
				n = len(data)
			}
			frame := append([]byte(nil), data[:n]...)
			data = data[n:]
			now += int64(step) * 250e6
			r := tbl.Process(frame, uint16(step&1), now)
			if r.Verdict < VerdictNew || r.Verdict >= numVerdicts {
				t.Fatalf("verdict %d", r.Verdict)
			}
			_ = r.Why.String()
			_ = r.Tuple.String()
			if step&0x80 != 0 {
				tbl.Poll(now)
			}
		}
		sum := 0
		for i := 0; i < tbl.Shards(); i++ {
			sum += tbl.Shard(i).Len()
			checkIndex(t, tbl.Shard(i))
		}
		if sum != tbl.Len() {
			t.Fatalf("shard entries %d != zone accounting %d", sum, tbl.Len())
		}
	})
}
