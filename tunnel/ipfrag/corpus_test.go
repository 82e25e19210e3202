package ipfrag

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFuzzCorpus keeps the committed seed corpus under
// testdata/fuzz/FuzzReassembler/seed-* equal to the seed programs. To
// (re)write it after changing seeds:
//
//	IPFRAG_WRITE_FUZZ_CORPUS=1 go test ./tunnel/ipfrag -run TestFuzzCorpus
func TestFuzzCorpus(t *testing.T) {
	regenerate := os.Getenv("IPFRAG_WRITE_FUZZ_CORPUS") == "1"
	dir := filepath.Join("testdata", "fuzz", "FuzzReassembler")
	for _, s := range reassemblerSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.prog)
		path := filepath.Join(dir, "seed-"+s.name)
		if regenerate {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, []byte(content)) {
			t.Errorf("%s missing or stale (%v): regenerate with IPFRAG_WRITE_FUZZ_CORPUS=1", path, err)
		}
	}
}
