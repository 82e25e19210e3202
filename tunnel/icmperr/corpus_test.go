package icmperr

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzCorpus keeps the committed seed corpus under
// testdata/fuzz/FuzzXxx/seed-* equal to the seeds the fuzz targets add.
// To (re)write it after changing seeds:
//
//	ICMPERR_WRITE_FUZZ_CORPUS=1 go test ./tunnel/icmperr -run TestFuzzCorpus
func TestFuzzCorpus(t *testing.T) {
	regenerate := os.Getenv("ICMPERR_WRITE_FUZZ_CORPUS") == "1"
	for target, seeds := range map[string][]seed{
		"FuzzFragNeeded":   fragNeededSeeds(t),
		"FuzzPacketTooBig": packetTooBigSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			var sb strings.Builder
			sb.WriteString("go test fuzz v1\n")
			fmt.Fprintf(&sb, "[]byte(%q)\nuint16(%d)\nbyte(%d)\n", s.frame, s.mtu, s.src)
			path := filepath.Join(dir, "seed-"+s.name)
			if regenerate {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, []byte(sb.String())) {
				t.Errorf("%s missing or stale (%v): regenerate with ICMPERR_WRITE_FUZZ_CORPUS=1", path, err)
			}
		}
	}
}
