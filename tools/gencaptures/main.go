// Command gencaptures writes the example captures in examples/ that the
// README, the replay tests and `ctswitch ct replay` demonstrations use.
//
//	go run ./tools/gencaptures            # rewrites examples/*.pcap
//	go run ./tools/gencaptures -out DIR
//
// The output is deterministic: the same program writes the same bytes, and
// a test checks that the committed files match. Every address is from the
// benchmarking ranges 198.18.0.0/15 and 2001:db8::/32.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

// files maps each example capture to the scenario that builds it.
var files = []struct {
	name  string
	build func() *capture
}{
	{"session.pcap", session},
	{"migration.pcap", migration},
}

// generate writes every example capture into dir.
func generate(dir string) error {
	for _, f := range files {
		b, err := f.build().pcap()
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	out := flag.String("out", "examples", "directory to write the captures to")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintf(os.Stderr, "gencaptures: %v\n", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println("wrote", filepath.Join(*out, f.name))
	}
}
