// Package demo is the logic of `ctswitch demo`: it builds a namespace lab
// of VMs, runs a switch over their ports, drives real traffic through the
// VMs' kernel stacks (ping, TCP with byte-exact verification, UDP, IPv4 and
// IPv6, a connection the policy denies) and reports what happened:
// throughput, conntrack entries, drop counters. It tears everything down
// when done or when its context is cancelled (Ctrl-C).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/lab"
)

// Options shape the demo.
type Options struct {
	Workers  int            // 0: min(CPUs, 2)
	Mode     dataplane.Mode // port mode
	TCPBytes int64          // per TCP transfer (default 100 MiB)
	UDPCount int            // datagrams echoed (default 1000)
	Logger   *slog.Logger
}

// deniedPort is the TCP port the demo's policy denies from vm1.
const deniedPort = 23

// Run builds the lab and the switch, runs the traffic and writes the report
// to out. Everything it created is removed before it returns.
func Run(ctx context.Context, out io.Writer, opt Options) (err error) {
	if opt.Workers == 0 {
		opt.Workers = min(dataplane.NumCPU(), 2)
	}
	if opt.TCPBytes == 0 {
		opt.TCPBytes = 100 << 20
	}
	if opt.UDPCount == 0 {
		opt.UDPCount = 1000
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	upCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l, err := lab.Up(upCtx, lab.DemoTopology(lab.DemoOptions{VMs: 2, Queues: opt.Workers}))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() { err = errors.Join(err, l.Down()) }()

	rule, err := policy.ParseRule(fmt.Sprintf("deny in=vm1 proto=tcp dport=%d name=no-telnet", deniedPort))
	if err != nil {
		return fmt.Errorf("demo: policy: %w", err)
	}
	cfg := dataplane.SwitchConfig{
		Workers: opt.Workers, Mode: opt.Mode, RingSize: 2048, Logger: opt.Logger,
		Networks: []dataplane.NetworkSpec{{Name: "demo", Policy: policy.Config{Rules: []policy.Rule{rule}}}},
	}
	for k := 1; k <= 2; k++ {
		name := fmt.Sprintf("vm%d", k)
		cfg.Ports = append(cfg.Ports, dataplane.PortSpec{Name: name, Interface: l.SwitchIf(name)})
	}
	sw, err := dataplane.New(upCtx, cfg)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer func() { err = errors.Join(err, sw.Close()) }()
	if err := sw.Start(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	fmt.Fprintf(out, "lab %s: 2 VMs in network namespaces, veth pairs with %d queues, switch with %d workers\n", l.ID(), opt.Workers, sw.Workers())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for k := 1; k <= 2; k++ {
		name := fmt.Sprintf("vm%d", k)
		p := sw.Port(name)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\tport %s on %s (%s mode)\n", name, lab.DemoMAC(k), lab.DemoAddr(k, false), lab.DemoAddr(k, true), name, l.SwitchIf(name), p.Mode())
	}
	tw.Flush()
	fmt.Fprintln(out)

	step := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	for _, v6 := range []bool{false, true} {
		dst := lab.DemoAddr(2, v6)
		var rtt time.Duration
		var perr error
		for range 3 { // the first may wait for ARP/ND
			if rtt, perr = l.Ping("vm1", dst, 3*time.Second); perr == nil {
				break
			}
		}
		if perr != nil {
			return fmt.Errorf("demo: ping vm1 -> %s: %w", dst, perr)
		}
		step("ping  vm1 -> vm2 %-28s ok, rtt %v", dst, rtt.Round(time.Microsecond))
	}

	var sampled []conntrack.Entry
	for i, v6 := range []bool{false, true} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(lab.DemoAddr(2, v6)), uint16(5001+i))
		sampleDone := make(chan []conntrack.Entry, 1)
		sctx, scancel := context.WithCancel(ctx)
		go func() { sampleDone <- sampleEstablished(sctx, sw.Conntrack()) }()
		tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
		tr, terr := l.TCPTransfer(tctx, "vm1", "vm2", dst, opt.TCPBytes)
		tcancel()
		scancel()
		sampled = append(sampled, <-sampleDone...)
		if terr != nil {
			return fmt.Errorf("demo: %w", terr)
		}
		verdict := "identical bytes"
		if !tr.Identical {
			verdict = "DIFFERENT BYTES"
		}
		step("tcp   vm1 -> vm2 %-28s %d MiB in %v, %.0f Mbit/s, %s", dst, tr.Bytes>>20, tr.Duration.Round(time.Millisecond), tr.Mbps, verdict)
		if !tr.Identical {
			return errors.New("demo: the TCP stream arrived corrupted")
		}
	}
	for i, v6 := range []bool{false, true} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(lab.DemoAddr(2, v6)), uint16(5101+i))
		uctx, ucancel := context.WithTimeout(ctx, 30*time.Second)
		ur, uerr := l.UDPExchange(uctx, "vm1", "vm2", dst, opt.UDPCount, 512)
		ucancel()
		if uerr != nil {
			return fmt.Errorf("demo: %w", uerr)
		}
		step("udp   vm1 -> vm2 %-28s %d datagrams of 512 bytes, %d echoed, %d lost", dst, ur.Sent, ur.Echoed, ur.Lost)
	}
	denied := deniedAttempt(l)
	step("tcp   vm1 -> vm2 %-28s %s", fmt.Sprintf("%s:%d", lab.DemoAddr(2, false), deniedPort), denied)

	fmt.Fprintln(out)
	fmt.Fprintln(out, "conntrack entries seen during the transfers:")
	printEntries(out, sampled)
	now, err := sw.Conntrack().List(ctx, conntrack.Filter{}, dataplane.Now())
	if err != nil {
		return fmt.Errorf("demo: conntrack list: %w", err)
	}
	fmt.Fprintf(out, "\nconntrack entries now (%d):\n", len(now))
	printEntries(out, now)

	st := sw.Stats()
	fmt.Fprintln(out, "\nworkers:")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  WORKER\tCPU\tPROCESSED\tFORWARDED\tHANDED OFF\tRECEIVED FROM OTHERS\tHELD FOR ORDER\t")
	for _, w := range st.Workers {
		fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", w.Worker, w.CPU, w.Processed, w.Forwarded, w.HandoffOut, w.HandoffIn, w.Reordered)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nports:")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  PORT\tQUEUE\tRX PACKETS\tRX BYTES\tTX PACKETS\tTX BYTES\tKERNEL DROPS\t")
	for _, p := range st.Ports {
		for _, q := range p.Queues {
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.Name, q.Queue, q.RxPackets, q.RxBytes, q.TxPackets, q.TxBytes, q.Drops())
		}
	}
	tw.Flush()
	fmt.Fprintln(out, "\ndrops:")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, d := range dataplane.Drops() {
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", d.Name(), st.Drops[d.Name()], d.Help())
	}
	tw.Flush()
	ctst, err := sw.Conntrack().Stats(ctx)
	if err == nil {
		var rs []string
		for name, n := range ctst.Reasons {
			if n > 0 {
				rs = append(rs, fmt.Sprintf("%s %d", name, n))
			}
		}
		sort.Strings(rs)
		if len(rs) == 0 {
			rs = []string{"none"}
		}
		fmt.Fprintf(out, "\nconntrack invalid/ignored reasons: %s\n", strings.Join(rs, ", "))
	}
	if n := st.Drops[dataplane.DropPolicyRule.Name()]; n == 0 {
		return errors.New("demo: the connection to the denied port was not dropped by the policy")
	}
	return nil
}

// sampleEstablished lists the ESTABLISHED TCP entries a few times while a
// transfer runs and returns the last non-empty list.
func sampleEstablished(ctx context.Context, ct *conntrack.Table) []conntrack.Entry {
	est := conntrack.TCPEstablished
	var last []conntrack.Entry
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last
		case <-t.C:
			lctx, cancel := context.WithTimeout(ctx, time.Second)
			es, err := ct.List(lctx, conntrack.Filter{Proto: 6, State: &est}, dataplane.Now())
			cancel()
			if err == nil && len(es) > 0 {
				last = es
			}
		}
	}
}

// deniedAttempt tries a connection the demo policy denies.
func deniedAttempt(l *lab.Lab) string {
	var res string
	err := l.Run("vm1", func() error {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort(lab.DemoAddr(2, false), fmt.Sprint(deniedPort)), time.Second)
		if err == nil {
			c.Close()
			res = "connected (the policy should have denied it)"
			return nil
		}
		res = "no answer: denied by policy rule no-telnet (counted as policy_deny_rule)"
		return nil
	})
	if err != nil {
		return "error: " + err.Error()
	}
	return res
}

func printEntries(out io.Writer, es []conntrack.Entry) {
	if len(es) == 0 {
		fmt.Fprintln(out, "  (none)")
		return
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Orig.String() < es[j].Orig.String() })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TUPLE\tSTATE\tREPLIED\tASSURED\tTIMEOUT")
	for _, e := range es {
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%v\t%v\n", e.Orig.String(), e.State, e.SeenReply, e.Assured, e.Timeout.Round(time.Second))
	}
	tw.Flush()
}
