package tunnel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFuzzCorpus keeps the committed seed corpus under
// testdata/fuzz/FuzzXxx/seed-* complete and current: it rebuilds every
// seed and compares. To (re)write the corpus after changing seeds:
//
//	TUNNEL_WRITE_FUZZ_CORPUS=1 go test ./tunnel -run TestFuzzCorpus
//
// Crashers the fuzzer finds live beside the seeds under their hash names
// and are kept as regression cases.
func TestFuzzCorpus(t *testing.T) {
	regenerate := os.Getenv("TUNNEL_WRITE_FUZZ_CORPUS") == "1"
	want := map[string]bool{}
	write := func(target, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		var sb strings.Builder
		sb.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&sb, "[]byte(%q)\n", v)
			case uint8:
				fmt.Fprintf(&sb, "byte(%d)\n", v)
			case uint32:
				fmt.Fprintf(&sb, "uint32(%d)\n", v)
			case uint64:
				fmt.Fprintf(&sb, "uint64(%d)\n", v)
			default:
				t.Fatalf("unsupported %T", a)
			}
		}
		path := filepath.Join(dir, "seed-"+name)
		if want[path] {
			t.Fatalf("seed %s twice", path)
		}
		want[path] = true
		if regenerate {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("missing seed %s (run with TUNNEL_WRITE_FUZZ_CORPUS=1)", path)
			return
		}
		if string(got) != sb.String() {
			t.Errorf("seed %s is stale (run with TUNNEL_WRITE_FUZZ_CORPUS=1)", path)
		}
	}
	for _, s := range greSeeds(t) {
		write("FuzzDecapGRE", s.name, s.mode, s.data)
	}
	for _, s := range geneveSeeds(t) {
		write("FuzzDecapGeneve", s.name, s.mode, s.data)
	}
	for _, s := range encapSeeds(t) {
		write("FuzzEncapDecap", s.name, s.sel, s.flags, s.key, s.vni, s.hash, s.opts, s.inner)
	}
	// Stale seeds (a renamed case) would linger unchecked.
	for _, target := range []string{"FuzzDecapGRE", "FuzzDecapGeneve", "FuzzEncapDecap"} {
		names, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "seed-*"))
		for _, n := range names {
			if !want[n] {
				if regenerate {
					_ = os.Remove(n)
				} else {
					t.Errorf("seed %s is no longer generated", n)
				}
			}
		}
	}
}
