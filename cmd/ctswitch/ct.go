package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ctswitch/ctswitch/internal/replay"
)

// newCTCmd is the "ct" group: connection tracking tools.
func newCTCmd() *cobra.Command {
	ct := &cobra.Command{
		Use:   "ct",
		Short: "Connection tracking tools",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	ct.AddCommand(newCTReplayCmd(), newCTListCmd(), newCTStatsCmd(), newCTFlushCmd(), newCTExportCmd(),
		newCTImportCmd(), newCTSetCmd(), newCTLimitsCmd())
	return ct
}

func newCTReplayCmd() *cobra.Command {
	opts := replay.DefaultOptions()
	format := replay.FormatText
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Run a capture through a fresh connection tracker and explain every verdict",
		Long: `Replay reads a pcap or pcapng capture (Ethernet link type; gzip-compressed
files too), runs every frame in order through a fresh connection tracker,
using each packet's capture timestamp as the clock, and prints one line per
packet:

  N        position of the packet in the capture, from 1
  TUPLE    protocol, source > destination (ICMP: id and type), or what a
           non-IP frame is (arp, lldp, ethertype 0x....)
  DIR      orig or reply: the packet's direction within its connection
  VERDICT  new, established, related, ignored, invalid, untracked, pending
  STATE    the connection's state after the packet (SYN_SENT, ESTABLISHED,
           ..., UNREPLIED, REPLIED, ASSURED; NONE without a connection)
  REASON   for invalid, ignored and pending packets: the check behind the
           verdict, with its numbers

Packets captured shorter than they were on the wire (caplen < len) get a
warning line on stderr; the tracker sees the captured bytes. A summary of
the verdicts and reasons goes to stderr at the end.

The exit status is 0 whatever the verdicts are (this is a diagnosis tool),
and 1 if the file cannot be read to its end.`,
		Example: `  ctswitch ct replay examples/session.pcap
  ctswitch ct replay -o json capture.pcapng | jq 'select(.verdict == "invalid")'
  ctswitch ct replay --loose=false examples/migration.pcap`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%s needs exactly one capture file, got %d arguments (see '%s --help')",
					cmd.CommandPath(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.MaxRetrans < 0 || opts.MaxRetrans > 255 {
				return fmt.Errorf("--max-retrans %d out of range [0, 255]", opts.MaxRetrans)
			}
			return replay.Run(args[0], opts, format, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&opts.Zone, "zone", opts.Zone,
		"conntrack zone to track the packets in (0-65535); the knobs below apply to it")
	f.BoolVar(&opts.Loose, "loose", opts.Loose,
		"pick up TCP connections seen mid-stream, without their handshake, and check their\n"+
			"windows liberally (Linux nf_conntrack_tcp_loose); --loose=false makes such packets invalid")
	f.BoolVar(&opts.BeLiberal, "be-liberal", opts.BeLiberal,
		"accept out-of-window TCP packets; only out-of-window RSTs stay invalid\n"+
			"(Linux nf_conntrack_tcp_be_liberal)")
	f.BoolVar(&opts.IgnoreInvalidRST, "ignore-invalid-rst", opts.IgnoreInvalidRST,
		"let RSTs below the peer's highest ACK through instead of marking them invalid\n"+
			"(Linux nf_conntrack_tcp_ignore_invalid_rst)")
	f.IntVar(&opts.MaxRetrans, "max-retrans", opts.MaxRetrans,
		"retransmissions of the same segment after which the connection gets the shorter\n"+
			"tcp_retrans timeout, 0-255 (Linux nf_conntrack_tcp_max_retrans)")
	f.BoolVar(&opts.Checksum, "checksum", opts.Checksum,
		"verify L4 checksums (over the packet trimmed to its IP length) and mark bad ones\n"+
			"invalid; --checksum=false trusts them (Linux nf_conntrack_checksum)")
	f.StringVarP(&format, "output", "o", format,
		"output format: "+strings.Join(replay.Formats, " or ")+"; json prints one object per line with\n"+
			"the fields n, time, tuple, dir, verdict, state, reason (when there is one), zone")
	return cmd
}
