package conntrack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket/pcapgo"
)

// TestFuzzTrackCorpus keeps the committed FuzzTrack seed corpus complete and
// current: it rebuilds every seed and checks the file under
// testdata/fuzz/FuzzTrack. To (re)write the corpus after changing seeds:
//
//	CTSWITCH_WRITE_FUZZ_CORPUS=1 go test ./conntrack -run TestFuzzTrackCorpus
func TestFuzzTrackCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzTrack")
	write := os.Getenv("CTSWITCH_WRITE_FUZZ_CORPUS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seeds := fuzzTrackSeeds(t)
	names := make([]string, 0, len(seeds))
	for n := range seeds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seeds[name])
		path := filepath.Join(dir, "seed-"+name)
		if write {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s missing or stale (%v): regenerate with CTSWITCH_WRITE_FUZZ_CORPUS=1", path, err)
		}
	}
}

// fuzzInput encodes frames as FuzzTrack reads them: knobs, then
// [u16 length][u8 time step][frame] records.
func fuzzInput(knobs byte, frames [][]byte) []byte {
	b := []byte{knobs}
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, 1)
		b = append(b, f...)
	}
	return b
}

func fuzzTrackSeeds(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{}
	for _, capture := range []string{"session", "migration"} {
		frames := readCapture(t, filepath.Join("..", "examples", capture+".pcap"))
		for _, k := range []struct {
			name  string
			knobs byte
		}{{"default", 0}, {"strict", 1}, {"liberal", 2}, {"nochecksum", 8}, {"limit_4shards", 16 | 0xc0}} {
			seeds[capture+"_"+k.name] = fuzzInput(k.knobs, frames)
		}
	}
	// Fragments, in order and overlapping, and an ICMP error about the
	// reassembled datagram's connection.
	c, s := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	dgram := frameUDP4(c, s, 4000, 53, 1200)
	frags := fragment4(dgram, 400)
	seeds["fragments"] = fuzzInput(8, append(frags, frameUDP4(s, c, 53, 4000, 20), icmpUnreach4(s, c, dgram)))
	overlap := fragment4(dgram, 400)
	ip := packet.IPv4(overlap[1][14:])
	ip.SetFlagsFragment(false, true, 392)
	ip.SetChecksum()
	seeds["fragments_overlap"] = fuzzInput(8, overlap)
	return seeds
}

func readCapture(t *testing.T, path string) [][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, data)
	}
}

// fragment4 splits an Ethernet/IPv4 frame (20-byte header) into fragments
// carrying size payload bytes each (a multiple of 8).
func fragment4(frame []byte, size int) [][]byte {
	payload := frame[34:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		f := append(append([]byte(nil), frame[:34]...), payload[off:end]...)
		ip := packet.IPv4(f[14:])
		ip.SetTotalLength(uint16(20 + end - off))
		ip.SetID(0x4242)
		ip.SetFlagsFragment(false, end < len(payload), uint16(off))
		ip.SetChecksum()
		out = append(out, f)
	}
	return out
}

// icmpUnreach4 builds an ICMP port unreachable from src to dst quoting the
// first 28 bytes of the IP packet in quoted (an Ethernet frame).
func icmpUnreach4(src, dst [4]byte, quoted []byte) []byte {
	q := quoted[14:min(len(quoted), 14+28)]
	f := frameIPv4(packet.ProtoICMP, src, dst, 8+len(q))
	f[34] = packet.ICMPv4DstUnreach
	f[35] = 3
	copy(f[42:], q)
	fixChecksums(f)
	return f
}
