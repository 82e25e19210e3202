package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// run executes the command line and returns the process exit code. Every
// failure, including a panic that escaped a command, is reported as one
// "ctswitch: <message>" line with exit code 1.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "ctswitch: internal error (a bug, please report it): %v\n", v)
			code = 1
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "ctswitch: %v\n", err)
		return 1
	}
	return 0
}

// newRootCmd builds the command tree. Each command group lives in its own
// file and contributes one constructor here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ctswitch",
		Short: "Userspace packet switch with Linux-style connection tracking",
		Long: `ctswitch is a userspace L2 switch for lab clouds and test hosts, with
stateful connection tracking that follows Linux nf_conntrack semantics.

"ctswitch run --config FILE" runs the daemon; the other verbs (ports,
stats, drops, mac, ct, trace, capture, reload) talk to it over its control
socket. "ctswitch demo" runs a namespace lab end to end, and "ctswitch ct
replay" explains conntrack's verdict on every packet of a capture.`,
		SilenceErrors: true, // run prints errors, once, prefixed
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(
		newVersionCmd(),
		newCTCmd(),
		newLabCmd(),
		newRunCmd(),
		newDemoCmd(),
		newPortsCmd(),
		newStatsCmd(),
		newDropsCmd(),
		newMACCmd(),
		newTraceCmd(),
		newCaptureCmd(),
		newReloadCmd(),
		newTunnelCmd(),
	)
	return root
}

// flagError points at the help of the command whose flags were wrong.
func flagError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())
}

// groupRunE makes a command group without an action of its own show its
// help, and reject unknown subcommands instead of ignoring them.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q (see '%s --help')", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return cmd.Help()
}
