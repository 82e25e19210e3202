package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/ctl"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/dataplane/policy"
)

// runFlags are the flags of "ctswitch run" (until the config file exists).
type runFlags struct {
	configFile   string
	ports        []string
	workers      int
	cpus         string
	mode         string
	ringSize     int
	frameSize    int
	batch        int
	rules        []string
	defaultNew   string
	invalid      string
	zone         int
	loose        bool
	liberal      bool
	checksum     bool
	ignoreRST    bool
	maxRetrans   int
	maxConns     int
	macMaxAge    time.Duration
	macLimit     int
	macCapacity  int
	statsEvery   time.Duration
	duration     time.Duration
	logFormat    string
	logLevel     string
	orderWait    time.Duration
	handoffSlots int
	spin         bool
}

func newRunCmd() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "run --config FILE | --port [NAME=]INTERFACE ...",
		Short: "Run the switch on interfaces until interrupted",
		Long: `With --config FILE, run is the daemon: the YAML file (see README, "The
config file") sets ports, networks, policy, conntrack zones and knobs and
workers, and the daemon serves a control socket (ctswitch ports, stats,
drops, mac list, ct ..., trace, capture), Prometheus metrics, reloads the
file on SIGHUP, and on SIGTERM writes a conntrack snapshot that the next
start restores, so established connections survive a restart.

Without --config, run attaches ctswitch to the given interfaces (AF_XDP, one socket per queue,
an XDP program through a bpf_link that the kernel removes if ctswitch dies)
and switches frames among them by MAC in one virtual network, with
connection tracking and a stateful policy, until SIGINT or SIGTERM. On exit
it prints the counters: per worker, per port queue, and every drop reason.

Each port is --port NAME=INTERFACE (or just INTERFACE, named after it); a
port needs at least as many queues as there are workers (veth: numrxqueues
and numtxqueues; NICs: ethtool -L). "ctswitch lab up" prints a ready-made
command line for a lab.

Policy rules (--rule, in order, first match wins) decide new connections;
packets of established and related connections pass, invalid ones are
dropped (or only counted with --invalid monitor). Rule syntax:
  ACTION [name=N] [in=PORT] [out=PORT] [proto=tcp|udp|icmp|icmpv6|N]
         [family=4|6] [src=CIDR,...] [dst=CIDR,...] [sport=P,LO-HI,...]
         [dport=...] [type=ICMP-TYPE]
e.g. --rule "deny in=vm1 proto=tcp dport=22" --rule "allow proto=icmp".

Needs root (CAP_NET_ADMIN, CAP_BPF, CAP_IPC_LOCK).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSwitch(cmd, &rf) },
	}
	f := cmd.Flags()
	f.StringVar(&rf.configFile, "config", "", "run as a daemon from this YAML config file (control socket, metrics, snapshots, SIGHUP reload); no other flags then")
	f.StringArrayVar(&rf.ports, "port", nil, "a switch port: [NAME=]INTERFACE (repeat for each port)")
	f.IntVar(&rf.workers, "workers", 0, "workers (0: one per CPU the process may use); worker i owns queue i of every port")
	f.StringVar(&rf.cpus, "cpus", "", "CPUs to pin the workers to, e.g. 0-3,6 (default: those the process may use)")
	f.StringVar(&rf.mode, "mode", "auto", "AF_XDP mode: auto (zerocopy, then native, then generic), native, generic or zerocopy")
	f.IntVar(&rf.ringSize, "ring-size", 2048, "entries of each AF_XDP ring (a power of two, 64..16384)")
	f.IntVar(&rf.frameSize, "frame-size", 0, "UMEM frame size, 2048 or 4096 (0: 2048, or 4096 when the MTU needs it)")
	f.IntVar(&rf.batch, "batch", 64, "most frames a worker takes from one queue at a time (1..1024)")
	f.StringArrayVar(&rf.rules, "rule", nil, "a policy rule for new connections, e.g. \"deny in=vm1 proto=tcp dport=22\" (repeat; first match wins)")
	f.StringVar(&rf.defaultNew, "default", "allow", "what happens to new connections no rule matches: allow or deny")
	f.StringVar(&rf.invalid, "invalid", "drop", "packets conntrack finds invalid: drop, or monitor (count and forward)")
	f.IntVar(&rf.zone, "zone", 0, "conntrack zone of the network (0-65535)")
	f.BoolVar(&rf.loose, "ct-loose", true, "pick up TCP connections seen mid-stream (Linux nf_conntrack_tcp_loose)")
	f.BoolVar(&rf.liberal, "ct-liberal", false, "accept out-of-window TCP packets (Linux nf_conntrack_tcp_be_liberal)")
	f.BoolVar(&rf.checksum, "ct-checksum", true, "verify L4 checksums, over the packet trimmed to its IP length (Linux nf_conntrack_checksum)")
	f.BoolVar(&rf.ignoreRST, "ct-ignore-invalid-rst", false, "let RSTs below the peer's highest ACK through (Linux nf_conntrack_tcp_ignore_invalid_rst)")
	f.IntVar(&rf.maxRetrans, "ct-max-retrans", 3, "retransmissions after which a connection gets the tcp_retrans timeout (0-255)")
	f.IntVar(&rf.maxConns, "ct-max-conns", conntrack.DefaultMaxConns, "connection table capacity")
	f.DurationVar(&rf.macMaxAge, "mac-max-age", 300*time.Second, "learned MACs not seen for this long are forgotten")
	f.IntVar(&rf.macLimit, "mac-limit", 0, "most MACs learned in the network (0: no limit); beyond it new MACs are not learned (counted)")
	f.IntVar(&rf.macCapacity, "mac-capacity", 65536, "most MACs the table holds, over all networks")
	f.DurationVar(&rf.statsEvery, "stats-interval", 0, "print rates every interval (0: only at exit)")
	f.DurationVar(&rf.duration, "duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	f.StringVar(&rf.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.StringVar(&rf.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&rf.orderWait, "order-wait", 100*time.Millisecond, "longest a worker holds frames for a stalled worker before processing them anyway")
	f.BoolVar(&rf.spin, "spin", false, "idle workers poll their rings instead of sleeping: lower latency, but each worker uses a whole core even without traffic")
	f.IntVar(&rf.handoffSlots, "handoff-slots", 0, "slots of each worker-to-worker hand-off ring (0: 1024 for two workers, fewer for many)")
	return cmd
}

func runSwitch(cmd *cobra.Command, rf *runFlags) error {
	if rf.configFile != "" {
		var others []string
		cmd.Flags().Visit(func(f *pflag.Flag) {
			if f.Name != "config" {
				others = append(others, "--"+f.Name)
			}
		})
		if len(others) > 0 {
			return fmt.Errorf("--config and %s: with a config file, every setting comes from the file", strings.Join(others, ", "))
		}
		return ctl.RunDaemon(cmd.Context(), rf.configFile, ctl.DaemonOptions{Stderr: cmd.ErrOrStderr()})
	}
	cfg, err := rf.config()
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run needs root: it attaches XDP programs and AF_XDP sockets")
	}
	log := newLogger(cmd.ErrOrStderr(), rf.logFormat, rf.logLevel)
	cfg.Logger = log
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sw, err := dataplane.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := sw.Start(); err != nil {
		return err
	}
	log.Info("running; SIGINT or SIGTERM stops", "workers", sw.Workers(), "ports", strings.Join(sw.PortNames(), ","))
	var tick <-chan time.Time
	if rf.statsEvery > 0 {
		t := time.NewTicker(rf.statsEvery)
		defer t.Stop()
		tick = t.C
	}
	var deadline <-chan time.Time
	if rf.duration > 0 {
		deadline = time.After(rf.duration)
	}
	prev, prevAt := sw.Stats(), time.Now()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-deadline:
			break loop
		case <-tick:
			cur, now := sw.Stats(), time.Now()
			printRates(cmd.OutOrStdout(), prev, cur, now.Sub(prevAt))
			prev, prevAt = cur, now
		}
		if err := sw.Err(); err != nil {
			break loop
		}
	}
	werr := sw.Err()
	st := sw.Stats()
	cerr := sw.Close()
	printTotals(cmd.OutOrStdout(), st)
	if werr != nil {
		return werr
	}
	return cerr
}

// config turns the flags into a switch configuration, with errors that
// name the flag.
func (rf *runFlags) config() (dataplane.SwitchConfig, error) {
	var cfg dataplane.SwitchConfig
	if len(rf.ports) == 0 {
		return cfg, fmt.Errorf("no ports: give at least one --port [NAME=]INTERFACE")
	}
	for _, p := range rf.ports {
		name, ifname, ok := strings.Cut(p, "=")
		if !ok {
			name, ifname = "", p
		}
		if ifname == "" || (ok && name == "") {
			return cfg, fmt.Errorf("--port %q: want [NAME=]INTERFACE", p)
		}
		cfg.Ports = append(cfg.Ports, dataplane.PortSpec{Name: name, Interface: ifname})
	}
	mode, err := dataplane.ParseMode(rf.mode)
	if err != nil {
		return cfg, fmt.Errorf("--mode: %w", err)
	}
	cfg.Mode = mode
	if rf.workers < 0 || rf.workers > dataplane.MaxQueues {
		return cfg, fmt.Errorf("--workers %d: must be 0 (one per CPU) to %d", rf.workers, dataplane.MaxQueues)
	}
	cfg.Workers = rf.workers
	if rf.cpus != "" {
		cpus, err := parseCPUList(rf.cpus)
		if err != nil {
			return cfg, fmt.Errorf("--cpus %q: %w", rf.cpus, err)
		}
		cfg.CPUs = cpus
	}
	cfg.RingSize, cfg.FrameSize, cfg.Batch = rf.ringSize, rf.frameSize, rf.batch
	cfg.OrderWait, cfg.HandoffSlots, cfg.Spin = rf.orderWait, rf.handoffSlots, rf.spin
	if rf.zone < 0 || rf.zone > 65535 {
		return cfg, fmt.Errorf("--zone %d: must be 0-65535", rf.zone)
	}
	pc := policy.Config{}
	if pc.Default, err = policy.ParseAction(rf.defaultNew); err != nil {
		return cfg, fmt.Errorf("--default: %w", err)
	}
	if pc.Invalid, err = policy.ParseInvalidMode(rf.invalid); err != nil {
		return cfg, fmt.Errorf("--invalid: %w", err)
	}
	for _, r := range rf.rules {
		rule, err := policy.ParseRule(r)
		if err != nil {
			return cfg, fmt.Errorf("--rule: %w", err)
		}
		pc.Rules = append(pc.Rules, rule)
	}
	cfg.Networks = []dataplane.NetworkSpec{{Name: "default", Zone: uint16(rf.zone), Policy: pc, MACLimit: rf.macLimit}}
	if rf.macLimit < 0 {
		return cfg, fmt.Errorf("--mac-limit %d: must be >= 0", rf.macLimit)
	}
	ct := conntrack.DefaultConfig()
	ct.MaxConns = rf.maxConns
	ct.Default.Loose, ct.Default.BeLiberal, ct.Default.Checksum = rf.loose, rf.liberal, rf.checksum
	ct.Default.IgnoreInvalidRST, ct.Default.MaxRetrans = rf.ignoreRST, rf.maxRetrans
	if err := ct.Validate(); err != nil {
		return cfg, fmt.Errorf("conntrack flags: %w", err)
	}
	cfg.Conntrack = ct
	cfg.MAC = l2.Config{Capacity: rf.macCapacity, MaxAge: rf.macMaxAge}
	if rf.statsEvery < 0 || rf.duration < 0 {
		return cfg, fmt.Errorf("--stats-interval and --duration must not be negative")
	}
	return cfg, nil
}

// parseCPUList reads "0-3,6".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 || a > 1023 {
			return nil, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a || b > 1023 {
				return nil, fmt.Errorf("bad CPU range %q", part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func sumPorts(st dataplane.Stats) (rx, tx uint64) {
	for _, p := range st.Ports {
		for _, q := range p.Queues {
			rx += q.RxPackets
			tx += q.TxPackets
		}
	}
	return rx, tx
}

func printRates(w io.Writer, prev, cur dataplane.Stats, dt time.Duration) {
	rx0, tx0 := sumPorts(prev)
	rx1, tx1 := sumPorts(cur)
	var drops0, drops1 uint64
	for _, v := range prev.Drops {
		drops0 += v
	}
	for _, v := range cur.Drops {
		drops1 += v
	}
	s := dt.Seconds()
	fmt.Fprintf(w, "%s rx %.0f pps, tx %.0f pps, drops %.0f/s", time.Now().Format(time.TimeOnly),
		float64(rx1-rx0)/s, float64(tx1-tx0)/s, float64(drops1-drops0)/s)
	for i, wk := range cur.Workers {
		p := prev.Workers[i]
		fmt.Fprintf(w, "; w%d %.0f pps busy %.0f%% handoff %.0f/s", wk.Worker, float64(wk.Processed-p.Processed)/s,
			100*float64(wk.BusyNs-p.BusyNs)/float64(dt.Nanoseconds()), float64(wk.HandoffOut-p.HandoffOut)/s)
	}
	fmt.Fprintln(w)
}

func printTotals(w io.Writer, st dataplane.Stats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WORKER\tCPU\tPROCESSED\tFORWARDED\tHANDED OFF\tFROM OTHERS\tHELD FOR ORDER\tORDER TIMEOUTS\t")
	for _, wk := range st.Workers {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", wk.Worker, wk.CPU, wk.Processed, wk.Forwarded, wk.HandoffOut, wk.HandoffIn, wk.Reordered, wk.OrderWaitTO)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PORT\tQUEUE\tRX PACKETS\tRX BYTES\tTX PACKETS\tTX BYTES\tKERNEL DROPS\t")
	for _, p := range st.Ports {
		for _, q := range p.Queues {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.Name, q.Queue, q.RxPackets, q.RxBytes, q.TxPackets, q.TxBytes, q.Drops())
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	names := make([]string, 0, len(st.Drops))
	for n := range st.Drops {
		names = append(names, n)
	}
	sort.Strings(names)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DROP\tCOUNT")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%d\n", n, st.Drops[n])
	}
	tw.Flush()
}
