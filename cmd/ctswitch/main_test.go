package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func runArgs(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runArgs("version")
	if code != 0 || !strings.HasPrefix(out, "ctswitch ") {
		t.Errorf("code %d, stdout %q", code, out)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `ctswitch: unknown command "bogus" for "ctswitch"`},
		{[]string{"ct", "bogus"}, `ctswitch: unknown command "bogus" for "ctswitch ct"`},
		{[]string{"ct", "replay"}, "ctswitch: ctswitch ct replay needs exactly one capture file"},
		{[]string{"ct", "replay", "a", "b"}, "needs exactly one capture file, got 2"},
		{[]string{"ct", "replay", "/nonexistent.pcap"}, "ctswitch: open /nonexistent.pcap: "},
		{[]string{"ct", "replay", "main.go"}, "ctswitch: main.go: not a pcap or pcapng file"},
		{[]string{"ct", "replay", "-o", "yaml", "../../examples/session.pcap"}, `ctswitch: unknown output format "yaml"`},
		{[]string{"ct", "replay", "--max-retrans", "300", "../../examples/session.pcap"}, "ctswitch: --max-retrans 300 out of range"},
		{[]string{"ct", "replay", "--zone", "70000", "x"}, `ctswitch: invalid argument "70000" for "--zone"`},
		{[]string{"ct", "replay", "--nope", "x"}, "ctswitch: unknown flag: --nope"},
	} {
		code, _, errOut := runArgs(tc.args...)
		if code != 1 || !strings.HasPrefix(errOut, "ctswitch: ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: code %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestReplay(t *testing.T) {
	code, out, errOut := runArgs("ct", "replay", "../../examples/session.pcap")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if !strings.HasPrefix(strings.TrimLeft(out, " "), "N  TUPLE") || !strings.Contains(errOut, "summary: 27 packets") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	code, out, _ = runArgs("ct", "replay", "-o", "json", "--zone", "3", "../../examples/session.pcap")
	if code != 0 || !strings.HasPrefix(out, `{"n":1,`) || !strings.Contains(out, `"zone":3`) {
		t.Errorf("json: code %d:\n%s", code, out)
	}
}

// Every flag of every command says what it does.
func TestFlagsDocumented(t *testing.T) {
	root := newRootCmd()
	cmds := root.Commands()
	for len(cmds) > 0 {
		c := cmds[0]
		cmds = append(cmds[1:], c.Commands()...)
		if c.Short == "" {
			t.Errorf("%s: no short help", c.CommandPath())
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if len(f.Usage) < 20 {
				t.Errorf("%s --%s: usage %q", c.CommandPath(), f.Name, f.Usage)
			}
		})
	}
}
