package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/spf13/cobra"

	"github.com/ctswitch/ctswitch/ctl"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/internal/replay"
)

// Client verbs: each sends one request to the daemon's control socket
// and renders the answer (columns, or the answer's JSON with -o json).

type clientFlags struct {
	socket string
	output string
}

func (cf *clientFlags) add(cmd *cobra.Command) {
	def := os.Getenv("CTSWITCH_SOCKET")
	if def == "" {
		def = ctl.DefaultSocket
	}
	cmd.Flags().StringVar(&cf.socket, "socket", def, "the daemon's control socket (default from $CTSWITCH_SOCKET, else "+ctl.DefaultSocket+")")
	cmd.Flags().StringVarP(&cf.output, "output", "o", "text", "output format: text (stable columns) or json")
}

func (cf *clientFlags) client(cmd *cobra.Command) (*ctl.Client, error) {
	if cf.output != "text" && cf.output != "json" {
		return nil, fmt.Errorf("unknown output format %q (want text or json)", cf.output)
	}
	return &ctl.Client{Socket: cf.socket}, nil
}

// interruptible is the command's context, cancelled by SIGINT/SIGTERM.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// simpleVerb makes a command that sends args and renders one answer of type T.
func simpleVerb[T any](use, short, long string, args cobra.PositionalArgs, verb string,
	mkArgs func(cmd *cobra.Command, pos []string) (any, error), render func(w io.Writer, v *T) error,
	extra func(cmd *cobra.Command)) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Args: args,
		RunE: func(cmd *cobra.Command, pos []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			var a any
			if mkArgs != nil {
				if a, err = mkArgs(cmd, pos); err != nil {
					return err
				}
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			var raw json.RawMessage
			if err := c.Get(ctx, verb, a, &raw); err != nil {
				return err
			}
			if cf.output == "json" {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), string(raw))
				return err
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s: decode answer: %w", verb, err)
			}
			return render(cmd.OutOrStdout(), &v)
		},
	}
	cf.add(cmd)
	if extra != nil {
		extra(cmd)
	}
	return cmd
}

func newPortsCmd() *cobra.Command {
	return simpleVerb("ports", "List the switch's ports and their queue counters", "", cobra.NoArgs, ctl.VerbPorts, nil,
		func(w io.Writer, v *[]ctl.PortRow) error { return ctl.PrintPorts(w, *v) }, nil)
}

func newStatsCmd() *cobra.Command {
	var interval time.Duration
	return simpleVerb("stats", "Show per-worker packet rates, hand-off ratio and busy share",
		`Stats samples the counters twice, --interval apart, and prints each worker's
rates: received, processed (as owner), forwarded, dropped, handed to other
workers and taken from them; the hand-off ratio (handed off / received: 0
with symmetric RSS); the share of the interval spent in busy rounds; and
packets per batch.`, cobra.NoArgs, ctl.VerbStats,
		func(*cobra.Command, []string) (any, error) {
			return ctl.StatsArgs{Interval: ctl.Duration(interval)}, nil
		},
		ctl.PrintStats,
		func(cmd *cobra.Command) {
			cmd.Flags().DurationVar(&interval, "interval", time.Second, "measure rates over this interval (10ms..1m)")
		})
}

func newDropsCmd() *cobra.Command {
	var all bool
	return simpleVerb("drops", "List every drop counter with its count and meaning",
		`Drops lists each named drop reason that counted something: the switch's own
(malformed, ct_invalid, policy_deny_rule, ...), each port queue's (ring
full, kernel drops), the tunnels' reasons and conntrack's reasons for invalid
verdicts (the packets behind ct_invalid).`, cobra.NoArgs, ctl.VerbDrops,
		func(*cobra.Command, []string) (any, error) { return ctl.DropsArgs{All: all}, nil },
		func(w io.Writer, v *[]ctl.DropRow) error { return ctl.PrintDrops(w, *v) },
		func(cmd *cobra.Command) {
			cmd.Flags().BoolVar(&all, "all", false, "also list the reasons that counted nothing")
		})
}

func newMACCmd() *cobra.Command {
	c := &cobra.Command{Use: "mac", Short: "MAC table", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	var network string
	c.AddCommand(simpleVerb("list", "List learned and static MAC entries", "", cobra.NoArgs, ctl.VerbMACList,
		func(*cobra.Command, []string) (any, error) { return ctl.MACArgs{Network: network}, nil },
		func(w io.Writer, v *[]ctl.MACRow) error { return ctl.PrintMACs(w, *v) },
		func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&network, "network", "", "only this virtual network (default: all)")
		}))
	return c
}

// ctFilterFlags are the connection filters of ct list, flush and export.
type ctFilterFlags struct {
	zone                int
	proto, addr         string
	src, dst            string
	sport, dport        int
	mark                int64
	state               string
	limit               int
	verbose             bool
	withLimit, withVerb bool
}

func (f *ctFilterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.zone, "zone", -1, "only this conntrack zone (0-65535)")
	fl.StringVar(&f.proto, "proto", "", "only this protocol: tcp, udp, icmp, icmpv6 or a number")
	fl.StringVar(&f.addr, "addr", "", "only connections with this address on either side (a VM's flows)")
	fl.StringVar(&f.src, "src", "", "one connection: its source address (with --dst, --proto and ports)")
	fl.StringVar(&f.dst, "dst", "", "one connection: its destination address")
	fl.IntVar(&f.sport, "sport", 0, "one connection: its source port")
	fl.IntVar(&f.dport, "dport", 0, "one connection: its destination port")
	fl.Int64Var(&f.mark, "mark", -1, "only connections with this mark (0-4294967295)")
	fl.StringVar(&f.state, "state", "", "only connections in this state, e.g. ESTABLISHED, TIME_WAIT, UNREPLIED")
	if f.withLimit {
		fl.IntVar(&f.limit, "limit", 10000, "print at most this many connections")
	}
	if f.withVerb {
		fl.BoolVarP(&f.verbose, "verbose", "v", false, "also print TCP window edges, age and owning worker")
	}
}

func (f *ctFilterFlags) args() (ctl.CTFilterArgs, error) {
	var a ctl.CTFilterArgs
	if f.zone >= 0 {
		if f.zone > 65535 {
			return a, fmt.Errorf("--zone %d: must be 0-65535", f.zone)
		}
		z := uint16(f.zone)
		a.Zone = &z
	}
	if f.mark >= 0 {
		if f.mark > 1<<32-1 {
			return a, fmt.Errorf("--mark %d: must be 0-4294967295", f.mark)
		}
		m := uint32(f.mark)
		a.Mark = &m
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--sport", f.sport}, {"--dport", f.dport}} {
		if p.v < 0 || p.v > 65535 {
			return a, fmt.Errorf("%s %d: must be 0-65535", p.name, p.v)
		}
	}
	a.Proto, a.Addr, a.Src, a.Dst, a.State = f.proto, f.addr, f.src, f.dst, f.state
	a.Sport, a.Dport = uint16(f.sport), uint16(f.dport)
	return a, nil
}

func newCTListCmd() *cobra.Command {
	f := &ctFilterFlags{withLimit: true, withVerb: true}
	return simpleVerb("list", "List tracked connections (ovs-appctl dpctl/dump-conntrack style)", "", cobra.NoArgs, ctl.VerbCTList,
		func(*cobra.Command, []string) (any, error) {
			a, err := f.args()
			return ctl.CTListArgs{CTFilterArgs: a, Limit: f.limit}, err
		},
		func(w io.Writer, v *ctl.CTListAnswer) error { return ctl.PrintConnections(w, v, f.verbose) },
		f.add)
}

func newCTStatsCmd() *cobra.Command {
	return simpleVerb("stats", "Show connection counts by protocol, zone and state, and tracker counters", "", cobra.NoArgs,
		ctl.VerbCTStats, nil, ctl.PrintCTStats, nil)
}

func newCTFlushCmd() *cobra.Command {
	f := &ctFilterFlags{}
	return simpleVerb("flush", "Remove connections (all, or those the filters select)", "", cobra.NoArgs, ctl.VerbCTFlush,
		func(*cobra.Command, []string) (any, error) { return f.args() },
		func(w io.Writer, v *ctl.CountAnswer) error {
			_, err := fmt.Fprintf(w, "flushed %d connections\n", v.Count)
			return err
		}, f.add)
}

func newCTExportCmd() *cobra.Command {
	f := &ctFilterFlags{}
	var cf clientFlags
	var out string
	cmd := &cobra.Command{
		Use:   "export -w FILE",
		Short: "Export connections (all, a zone's, or one VM's with --addr) to a file",
		Long: `Export writes the selected connections in the versioned binary format of
conntrack/EXPORT.md: everything the next packet needs to validate (both
directions' window edges and scales, state, flags, zone, mark, labels,
timeouts). "ctswitch ct import FILE" on another host carries a migrated
VM's flows over.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			a, err := f.args()
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("give -w FILE (or -w - for stdout)")
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			var ans ctl.ExportAnswer
			if err := c.Get(ctx, ctl.VerbCTExport, a, &ans); err != nil {
				return err
			}
			if out == "-" {
				_, err = cmd.OutOrStdout().Write(ans.Data)
			} else {
				err = os.WriteFile(out, ans.Data, 0o600)
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "exported %d connections (%d bytes)\n", ans.Count, len(ans.Data))
			return nil
		},
	}
	cf.add(cmd)
	f.add(cmd)
	cmd.Flags().StringVarP(&out, "write", "w", "", "file to write (- for stdout)")
	return cmd
}

func newCTImportCmd() *cobra.Command {
	return simpleVerb("import FILE", "Import connections exported by ct export (- reads stdin)", "", cobra.ExactArgs(1), ctl.VerbCTImport,
		func(cmd *cobra.Command, pos []string) (any, error) {
			var data []byte
			var err error
			if pos[0] == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(pos[0])
			}
			if err != nil {
				return nil, err
			}
			return ctl.ImportArgs{Data: data}, nil
		},
		func(w io.Writer, v *ctl.CountAnswer) error {
			_, err := fmt.Fprintf(w, "imported %d connections\n", v.Count)
			return err
		}, nil)
}

func newCTSetCmd() *cobra.Command {
	var zone int
	return simpleVerb("set KNOB VALUE", "Change a conntrack knob or timeout live (default zone, or --zone)",
		"Knobs: "+strings.Join(ctl.Knobs(), ", ")+`.
Booleans take true/false, timeouts take durations (30s, 5m, 5d). The change
applies to the next packet of every worker; it is not written to the config
file, and a reload puts the file's value back.`, cobra.ExactArgs(2), ctl.VerbCTSet,
		func(cmd *cobra.Command, pos []string) (any, error) {
			a := ctl.SetArgs{Knob: pos[0], Value: pos[1]}
			if zone >= 0 {
				if zone > 65535 {
					return nil, fmt.Errorf("--zone %d: must be 0-65535", zone)
				}
				z := uint16(zone)
				a.Zone = &z
			}
			return a, nil
		},
		func(w io.Writer, v *ctl.SetAnswer) error {
			_, err := fmt.Fprintf(w, "zone %s: %s %s -> %s\n", v.Zone, v.Knob, v.Old, v.New)
			return err
		},
		func(cmd *cobra.Command) {
			cmd.Flags().IntVar(&zone, "zone", -1, "change this zone's knob (default: the default zone config)")
		})
}

func newCTLimitsCmd() *cobra.Command {
	return simpleVerb("limits", "Show the table capacity and each zone's connection limit and count",
		`Limits change with "ctswitch ct set limit N [--zone Z]".`, cobra.NoArgs, ctl.VerbCTLimits, nil, ctl.PrintLimits, nil)
}

func newTunnelCmd() *cobra.Command {
	c := &cobra.Command{Use: "tunnel", Short: "Tunnel endpoints", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	c.AddCommand(simpleVerb("show", "List tunnel endpoints: next hop, link and path MTU, learned path MTU, counters",
		`Show lists every remote endpoint with its underlay next hop (from the kernel's routes
and neighbours), the link MTU, the path MTU in use (lower when the underlay sent
"fragmentation needed" or "packet too big" about our packets; it expires), the
largest inner IP packet of an untagged frame that fits, and packet counters.`, cobra.NoArgs, ctl.VerbTunnelShow, nil,
		ctl.PrintTunnels, nil))
	return c
}

func newReloadCmd() *cobra.Command {
	return simpleVerb("reload", "Re-read the daemon's config file (as SIGHUP does) and say what changed", "", cobra.NoArgs,
		ctl.VerbReload, nil,
		func(w io.Writer, v *ctl.ReloadAnswer) error {
			if len(v.Applied) == 0 && len(v.Restart) == 0 {
				fmt.Fprintln(w, "no changes")
			}
			for _, c := range v.Applied {
				fmt.Fprintf(w, "applied: %s\n", c)
			}
			for _, c := range v.Restart {
				fmt.Fprintf(w, "needs restart: %s\n", c)
			}
			return nil
		}, nil)
}

func newTraceCmd() *cobra.Command {
	var cf clientFlags
	var count int
	var filterExpr, port, hexFrame, pcapFile string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "trace [--count N] [--filter EXPR] | --packet HEX | --pcap FILE",
		Short: "Follow packets through the pipeline step by step",
		Long: `Trace records the path of the next --count live packets matching --filter:
port and queue, parse (with padding trimmed), owning worker, conntrack
verdict with its reason and window numbers, MAC decision, policy rule, and
the output port or drop reason.

With --packet HEX (an Ethernet frame) or --pcap FILE (each frame of a
capture), it runs synthetic frames through the same pipeline as if received
on --port, without sending them and without changing any state (like
ovs-appctl ofproto/trace).

Filter expressions are tcpdump-like and can look inside GRE and Geneve
tunnels with "inner", e.g.: "tcp port 22", "inner (tcp dport 22 and tcp-syn)".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			w := cmd.OutOrStdout()
			n := 0
			show := func(raw json.RawMessage) error {
				n++
				if cf.output == "json" {
					_, err := fmt.Fprintln(w, string(raw))
					return err
				}
				var r dataplane.TraceRecord
				if err := json.Unmarshal(raw, &r); err != nil {
					return err
				}
				return ctl.PrintTrace(w, n, &r)
			}
			var frames [][]byte
			switch {
			case hexFrame != "" && pcapFile != "":
				return errors.New("give --packet or --pcap, not both")
			case hexFrame != "":
				b, err := hex.DecodeString(strings.NewReplacer(" ", "", ":", "", "\n", "").Replace(hexFrame))
				if err != nil {
					return fmt.Errorf("--packet: not hex: %w", err)
				}
				frames = append(frames, b)
			case pcapFile != "":
				if frames, err = replay.ReadFrames(pcapFile); err != nil {
					return err
				}
				if len(frames) == 0 {
					return fmt.Errorf("%s: no frames", pcapFile)
				}
			}
			if frames != nil {
				for _, f := range frames {
					if err := c.Call(ctx, ctl.VerbTraceFrame, ctl.TraceFrameArgs{Port: port, Frame: f}, show); err != nil {
						return err
					}
				}
				return nil
			}
			err = c.Call(ctx, ctl.VerbTrace, ctl.TraceArgs{Count: count, Filter: filterExpr, Port: port, Timeout: ctl.Duration(timeout)}, show)
			if err != nil {
				return err
			}
			if n < count {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d packets traced before the %s timeout\n", n, count, timeout)
			}
			return nil
		},
	}
	cf.add(cmd)
	fl := cmd.Flags()
	fl.IntVar(&count, "count", 1, "packets to trace (1..1000)")
	fl.StringVar(&filterExpr, "filter", "", `trace only packets matching this expression, e.g. "tcp port 22" or "inner udp"`)
	fl.StringVar(&port, "port", "", "only packets received on this port; with --packet/--pcap, the port they arrive on (default: the first)")
	fl.DurationVar(&timeout, "timeout", time.Minute, "stop waiting for matching packets after this long")
	fl.StringVar(&hexFrame, "packet", "", "trace this Ethernet frame (hex) without sending it")
	fl.StringVar(&pcapFile, "pcap", "", "trace each frame of this capture (pcap or pcapng) without sending it")
	return cmd
}

func newCaptureCmd() *cobra.Command {
	var cf clientFlags
	var rx, tx, drop bool
	var filterExpr, out string
	var count, snap int
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "capture [PORT] [--rx|--tx|--drop] [--filter EXPR] -w FILE.pcap",
		Short: "Capture frames of a port (or all) into a pcap file",
		Long: `Capture copies frames the switch receives (--rx), sends (--tx) or drops
(--drop; the port is the input port) into a pcap file that tcpdump and
Wireshark read. Without a point flag it captures rx and tx. --filter takes
the same expressions as trace, including "inner ..." to match the headers
inside GRE and Geneve tunnels. It stops after --count frames, --duration, or
on Ctrl-C, and reports frames lost because the file could not keep up.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			c, err := cf.client(cmd)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("give -w FILE.pcap (or -w - for stdout)")
			}
			a := ctl.CaptureArgs{Filter: filterExpr, Count: count, Duration: ctl.Duration(duration), Snap: snap}
			if len(pos) == 1 {
				a.Port = pos[0]
			}
			for _, p := range []struct {
				on   bool
				name string
			}{{rx, "rx"}, {tx, "tx"}, {drop, "drop"}} {
				if p.on {
					a.Points = append(a.Points, p.name)
				}
			}
			var f io.Writer = cmd.OutOrStdout()
			if out != "-" {
				file, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer file.Close()
				f = file
			}
			pw := pcapgo.NewWriter(f)
			if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			ctx, cancel := interruptible(cmd)
			defer cancel()
			var sum ctl.CaptureMsg
			n := 0
			err = c.Call(ctx, ctl.VerbCapture, a, func(raw json.RawMessage) error {
				var m ctl.CaptureMsg
				if err := json.Unmarshal(raw, &m); err != nil {
					return err
				}
				if m.Summary {
					sum = m
					return nil
				}
				n++
				ci := gopacket.CaptureInfo{Timestamp: m.Time, CaptureLength: len(m.Data), Length: m.Len}
				return pw.WritePacket(ci, m.Data)
			})
			interrupted := errors.Is(err, context.Canceled)
			if err != nil && !interrupted {
				return err
			}
			lost := ""
			if sum.Summary && sum.Lost > 0 {
				lost = fmt.Sprintf(", %d lost (buffer full)", sum.Lost)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d frames captured to %s%s\n", n, out, lost)
			return nil
		},
	}
	cf.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&rx, "rx", false, "capture the frames the switch receives")
	fl.BoolVar(&tx, "tx", false, "capture the frames the switch sends")
	fl.BoolVar(&drop, "drop", false, "capture dropped frames (of their input port)")
	fl.StringVar(&filterExpr, "filter", "", `capture only frames matching this expression, e.g. "inner tcp port 22"`)
	fl.StringVarP(&out, "write", "w", "", "pcap file to write (- for stdout)")
	fl.IntVar(&count, "count", 0, "stop after this many frames (0: no limit)")
	fl.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C or --count)")
	fl.IntVar(&snap, "snap", 0, "bytes kept of each frame (0: whole frames)")
	return cmd
}
