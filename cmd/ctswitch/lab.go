package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctswitch/ctswitch/lab"
)

// geteuid is replaced by tests of the not-root errors.
var geteuid = os.Geteuid

// labUpTimeout bounds building a demo lab.
const labUpTimeout = 30 * time.Second

// newLabCmd is the "lab" group: network-namespace labs to run the switch in.
func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Build, inspect and remove network-namespace labs: VMs to switch between",
		Long: `A lab is a set of network namespaces ("VMs") whose veth interfaces end in
this machine's namespace, where ctswitch takes them as ports:

  ctswitch lab up            build one (kept until "ctswitch lab down")
  ctswitch lab status        show the labs there are and their interfaces
  ctswitch lab down ID       remove one

Labs use addresses of 198.18.0.0/15 and 2001:db8::/32 only, and names that
start with their prefix and id; nothing else on the machine is touched. All
of it needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	c.AddCommand(newLabUpCmd(), newLabDownCmd(), newLabStatusCmd())
	return c
}

func needRoot(cmd *cobra.Command) error {
	if geteuid() != 0 {
		return fmt.Errorf("%s needs root: labs are network namespaces and veth pairs (CAP_SYS_ADMIN and CAP_NET_ADMIN); try 'sudo %s'",
			cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// oneLine keeps a joined error on the one "ctswitch: " line run prints.
func oneLine(err error) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
}

func checkRange(flag string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("--%s %d out of range [%d, %d]", flag, v, lo, hi)
	}
	return nil
}

func checkPrefix(p string) error {
	if len(p) < 2 || len(p) > 6 || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
		return fmt.Errorf("--prefix %q: want 2 to 6 lower-case letters", p)
	}
	return nil
}

func newLabUpCmd() *cobra.Command {
	opt := lab.DemoOptions{
		Prefix: lab.DefaultPrefix, VMs: lab.DefaultDemoVMs,
		Queues: lab.DefaultDemoQueues, MTU: lab.DefaultDemoMTU,
	}
	quiet := false
	var th twoHostFlags
	cmd := &cobra.Command{
		Use:   "up [--two-host [--router] [--tunnel gretap|geneve]]",
		Short: "Build a lab of VMs whose interfaces become switch ports, kept until 'lab down'",
		Long: `Up builds the demo lab: VMs vm1..vmN, each a network namespace with one
interface, veth0, whose peer stays in this namespace as a switch port.
VM K has:

  MAC    02:c7:00:00:00:0K
  IPv4   198.18.1.K/24
  IPv6   2001:db8:1::K/64 (usable at once: no duplicate address detection)

There are no static neighbours: ARP and neighbour discovery, like every
other frame, must cross the switch, so the VMs reach each other only while
ctswitch runs on the ports. IPv6 is off on the switch-side interfaces.

The lab is kept: it stays when this command exits, until 'ctswitch lab down
ID'. Up prints the lab id, each VM's namespace (for 'ip netns exec'), MAC,
addresses and switch-side interface, and the command line that runs the
switch on those interfaces.

With --two-host it builds two switch hosts instead (namespaces swa and swb,
each with --vms VMs aK / bK in one network 198.18.1.0/24): their underlay
interfaces ul0 are linked directly (MTU 1500) or, with --router, through a
router namespace whose link towards swb has --router-mtu (1400): the
topology of incident 5. It writes a config file per switch host, tunnelling
the network over --tunnel, and prints the commands that run both daemons.`,
		Example: `  sudo ctswitch lab up
  sudo ctswitch lab up --vms 4 --queues 4 --mtu 9000
  sudo ctswitch lab up --two-host --router --tunnel geneve
  id=$(sudo ctswitch lab up -q) && sudo ctswitch lab status "$id"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var bad []string
			for _, err := range []error{
				checkRange("vms", opt.VMs, 1, lab.MaxDemoVMs),
				checkRange("queues", opt.Queues, 1, lab.MaxQueues),
				checkRange("mtu", opt.MTU, lab.MinMTU, lab.MaxMTU),
				checkPrefix(opt.Prefix),
			} {
				if err != nil {
					bad = append(bad, err.Error())
				}
			}
			if th.on {
				if err := checkRange("vms", opt.VMs, 1, lab.MaxTwoHostVMs); err != nil && cmd.Flags().Changed("vms") {
					bad = append(bad, err.Error())
				}
				if th.kind != "gretap" && th.kind != "geneve" {
					bad = append(bad, fmt.Sprintf("--tunnel %q: want gretap or geneve", th.kind))
				}
			}
			if len(bad) > 0 {
				return fmt.Errorf("%s (see '%s --help')", strings.Join(bad, "; "), cmd.CommandPath())
			}
			if err := needRoot(cmd); err != nil {
				return err
			}
			if th.on {
				return labUpTwoHost(cmd, opt, &th)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, labUpTimeout)
			defer cancel()
			topo := lab.DemoTopology(opt)
			topo.Keep = true
			l, err := lab.Up(ctx, topo)
			if err != nil {
				return oneLine(err)
			}
			if l.SweepErr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "ctswitch: warning: removing stale labs: %v\n", l.SweepErr)
			}
			out := cmd.OutOrStdout()
			if quiet {
				fmt.Fprintln(out, l.ID())
				return nil
			}
			printUp(out, l, opt)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.VMs, "vms", opt.VMs, fmt.Sprintf("number of VMs, 1-%d (vm1..vmN, one switch port each)", lab.MaxDemoVMs))
	f.IntVar(&opt.Queues, "queues", opt.Queues, fmt.Sprintf("tx and rx queues of every veth, both ends, 1-%d", lab.MaxQueues))
	f.IntVar(&opt.MTU, "mtu", opt.MTU, fmt.Sprintf("MTU of every veth, both ends, %d-%d", lab.MinMTU, lab.MaxMTU))
	f.StringVar(&opt.Prefix, "prefix", opt.Prefix,
		"2 to 6 lower-case letters that start the lab id and so every namespace and\ninterface name of the lab")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the lab id (for scripts)")
	f.BoolVar(&th.on, "two-host", false, "build two switch hosts joined by an underlay, for tunnels (see above)")
	f.BoolVar(&th.router, "router", false, "with --two-host: a router between the switch hosts, with a smaller MTU towards swb")
	f.IntVar(&th.routerMTU, "router-mtu", lab.DefaultRouterMTU, "with --router: MTU of the router's link towards swb (1280-9000)")
	f.StringVar(&th.kind, "tunnel", "gretap", "with --two-host: the tunnel the generated configs use: gretap or geneve")
	f.StringVar(&th.dir, "config-dir", "", "with --two-host: where to write swa.yaml and swb.yaml (default: /run/ctswitch/LAB)")
	return cmd
}

func printUp(out io.Writer, l *lab.Lab, opt lab.DemoOptions) {
	fmt.Fprintf(out, "lab %s is up: %d VMs, %d queues, MTU %d; kept until 'ctswitch lab down %s'\n\n",
		l.ID(), opt.VMs, opt.Queues, opt.MTU, l.ID())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VM\tNETNS\tIFACE\tMAC\tIPV4\tIPV6\tSWITCH-IF")
	var ports []string
	for k := 1; k <= opt.VMs; k++ {
		vm := "vm" + strconv.Itoa(k)
		sw := l.SwitchIf(vm)
		ports = append(ports, "--port "+sw)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/24\t%s/64\t%s\n", vm, l.Netns(vm), lab.DemoIfName,
			lab.DemoMAC(k), lab.DemoAddr(k, false), lab.DemoAddr(k, true), sw)
	}
	tw.Flush()
	fmt.Fprintf(out, "\nRun the switch on its ports:\n\n  ctswitch run %s\n", strings.Join(ports, " "))
	if opt.VMs > 1 {
		fmt.Fprintf(out, "\nthen, for instance:\n\n  ip netns exec %s ping %s\n  ip netns exec %s ping %s\n",
			l.Netns("vm1"), lab.DemoAddr(2, false), l.Netns("vm1"), lab.DemoAddr(2, true))
	}
}

func newLabDownCmd() *cobra.Command {
	all := false
	prefix := ""
	cmd := &cobra.Command{
		Use:   "down [ID ...] [--all]",
		Short: "Remove kept labs and labs whose owner is gone",
		Long: `Down removes labs: their namespaces, their switch-side interfaces and their
records. Give the ids printed by 'lab up' (or listed by 'lab status'), or
--all for every kept lab and every lab whose owner process is gone.

A lab of a running process that is not kept (one a test or benchmark is
using) is left alone: it goes away when that process ends, and naming it
is an error.`,
		Example: `  sudo ctswitch lab down ctlabk3f9q
  sudo ctswitch lab down --all
  sudo ctswitch lab down --all --prefix ctlab`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return fmt.Errorf("give lab ids or --all, not both (see '%s --help')", cmd.CommandPath())
			case !all && len(args) == 0:
				return fmt.Errorf("which lab? give lab ids or --all (see 'ctswitch lab status' for the labs there are)")
			case cmd.Flags().Changed("prefix") && !all:
				return fmt.Errorf("--prefix only goes with --all (see '%s --help')", cmd.CommandPath())
			}
			if prefix != "" {
				if err := checkPrefix(prefix); err != nil {
					return err
				}
			}
			if err := needRoot(cmd); err != nil {
				return err
			}
			if all {
				return oneLine(labDownAll(cmd.OutOrStdout(), prefix))
			}
			return oneLine(labDownIDs(cmd.OutOrStdout(), args))
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every kept lab and every lab whose owner process is gone\n(labs that running processes use are left alone)")
	cmd.Flags().StringVar(&prefix, "prefix", "", "with --all: only labs whose ids start with this prefix (default: all prefixes)")
	return cmd
}

// labDownIDs removes the named labs; it goes on after a failure and
// reports all of them.
func labDownIDs(out io.Writer, ids []string) error {
	sums, err := lab.List()
	if err != nil {
		return err
	}
	var errs []string
	for _, id := range ids {
		i := slices.IndexFunc(sums, func(s lab.Summary) bool { return s.ID == id })
		if i < 0 {
			errs = append(errs, fmt.Sprintf("no lab %q (see 'ctswitch lab status' for the labs there are)", id))
			continue
		}
		s := sums[i]
		if !s.Kept && s.Alive {
			errs = append(errs, fmt.Sprintf("lab %s belongs to running process %d and is not kept: it goes away when that process ends", id, s.PID))
			continue
		}
		if err := downOne(out, s); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func downOne(out io.Writer, s lab.Summary) error {
	l, err := lab.Open(s.ID)
	if err != nil {
		return err
	}
	if err := l.Down(); err != nil {
		return err
	}
	// The configs "lab up --two-host" wrote by default.
	if err := os.RemoveAll(filepath.Join("/run/ctswitch", s.ID)); err != nil {
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	what := "stale"
	if s.Kept {
		what = "kept"
	}
	fmt.Fprintf(out, "removed %s lab %s (%s, %s)\n", what, s.ID,
		plural(len(s.Netns), "namespace"), plural(len(s.SwitchIfs), "switch-side interface"))
	return nil
}

// labDownAll removes kept labs and labs of dead owners, then sweeps what
// killed runs left without a usable record.
func labDownAll(out io.Writer, prefix string) error {
	sums, err := lab.List()
	if err != nil {
		return err
	}
	var errs []string
	prefixes := []string{lab.DefaultPrefix}
	if prefix != "" {
		prefixes = []string{prefix}
	}
	n := 0
	for _, s := range sums {
		if prefix != "" && s.Prefix != prefix {
			continue
		}
		if s.Prefix != "" && !slices.Contains(prefixes, s.Prefix) {
			prefixes = append(prefixes, s.Prefix)
		}
		if s.Alive && !s.Kept || !s.Openable {
			continue // in use, or left to the sweep below
		}
		if err := downOne(out, s); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		n++
	}
	for _, p := range prefixes {
		if checkPrefix(p) != nil {
			continue
		}
		swept, err := lab.Sweep(p)
		if err != nil {
			errs = append(errs, err.Error())
		}
		for _, obj := range swept {
			fmt.Fprintf(out, "removed stale %s\n", obj)
			n++
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	if n == 0 {
		fmt.Fprintln(out, "no labs to remove")
	}
	return nil
}

// labJSON is one lab in 'lab status -o json'.
type labJSON struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	Kept       bool       `json:"kept"`
	OwnerPID   int        `json:"owner_pid"`
	OwnerAlive bool       `json:"owner_alive"`
	Stale      bool       `json:"stale"`
	SwitchIfs  []string   `json:"switch_ifs"`
	Hosts      []hostJSON `json:"hosts"`
	Error      string     `json:"error,omitempty"`
}

type hostJSON struct {
	Name       string   `json:"name"`
	Netns      string   `json:"netns"`
	Exists     bool     `json:"exists"`
	Interfaces []ifJSON `json:"interfaces"`
}

type ifJSON struct {
	Name     string   `json:"name"`
	Link     string   `json:"link"`
	SwitchIf string   `json:"switch_if,omitempty"`
	State    string   `json:"state"`
	MTU      int      `json:"mtu,omitempty"`
	TxQueues int      `json:"tx_queues,omitempty"`
	RxQueues int      `json:"rx_queues,omitempty"`
	MAC      string   `json:"mac,omitempty"`
	Addrs    []string `json:"addrs"`
}

func newLabStatusCmd() *cobra.Command {
	format := "text"
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "Show the labs there are, their hosts and interfaces",
		Long: `Status shows every recorded lab (kept ones, those of running tests, stale
ones not yet swept), or the one named, with one line per lab interface:

  LAB        lab id
  HOST       host (VM) name
  NETNS      its network namespace (for 'ip netns exec')
  IFACE      the interface in the host
  SWITCH-IF  its peer in this namespace, a switch port ("-": the peer is in
             another host)
  MTU        MTU of IFACE
  QUEUES     tx queues of IFACE (tx/rx if they differ)
  STATE      up (both ends exist and are up), down (one is down), missing
             (the namespace or an end is gone), stale (the lab's owner is
             gone and it is not kept: the next 'lab up' or 'lab down --all'
             removes it), unknown (an old record Status can't read)
  ADDRS      the addresses of IFACE, link-local ones left out

A host without interfaces gets one line with "-" for IFACE.

-o json prints an array with one object per lab: id, prefix, kept,
owner_pid, owner_alive (that process still runs), stale, switch_ifs, error
(if the lab could not be inspected) and hosts, each with name, netns,
exists and interfaces, each with name, link (the lab link), switch_if,
state (as above), mtu, tx_queues, rx_queues, mac and addrs (CIDRs, link-local
ones included).`,
		Example: `  sudo ctswitch lab status
  sudo ctswitch lab status ctlabk3f9q -o json | jq -r '.[0].switch_ifs[]'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("%s takes at most one lab id, got %d arguments (see '%s --help')", cmd.CommandPath(), len(args), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("unknown output format %q (want text or json)", format)
			}
			if err := needRoot(cmd); err != nil {
				return err
			}
			sums, err := lab.List()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				i := slices.IndexFunc(sums, func(s lab.Summary) bool { return s.ID == args[0] })
				if i < 0 {
					return fmt.Errorf("no lab %q (see 'ctswitch lab status' for the labs there are)", args[0])
				}
				sums = sums[i : i+1]
			}
			labs := make([]labJSON, 0, len(sums))
			for _, s := range sums {
				lj, err := inspect(s)
				if errors.Is(err, lab.ErrUnknownLab) && len(args) == 0 {
					continue // removed meanwhile
				}
				if err != nil {
					lj.Error = err.Error()
					if len(args) == 1 {
						return oneLine(err)
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "ctswitch: warning: %v\n", oneLine(err))
				}
				labs = append(labs, lj)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(labs)
			}
			printStatus(out, labs)
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "output", "o", format,
		"output format: text (a table) or json (see above for the fields)")
	return cmd
}

// inspect opens a lab and reads the state of its interfaces.
func inspect(s lab.Summary) (labJSON, error) {
	lj := labJSON{ID: s.ID, Prefix: s.Prefix, Kept: s.Kept, OwnerPID: s.PID, OwnerAlive: s.Alive,
		Stale: s.Stale(), SwitchIfs: s.SwitchIfs, Hosts: []hostJSON{}}
	if lj.SwitchIfs == nil {
		lj.SwitchIfs = []string{}
	}
	if !s.Openable {
		for i, h := range s.Hosts {
			lj.Hosts = append(lj.Hosts, hostJSON{Name: h, Netns: s.Netns[i], Interfaces: []ifJSON{}})
		}
		lj.Error = "the lab's record was written by an older version and has no topology"
		return lj, nil
	}
	l, err := lab.Open(s.ID)
	if err != nil {
		return lj, err
	}
	st, err := l.Status()
	if err != nil {
		return lj, err
	}
	sw := map[string]lab.IfStatus{}
	for _, s := range st.SwitchLinks {
		sw[s.Link] = s
	}
	topo := l.Topology()
	for _, h := range st.Hosts {
		hj := hostJSON{Name: h.Name, Netns: h.Netns, Exists: h.Exists, Interfaces: []ifJSON{}}
		// One entry per lab link end in the host, in topology order.
		for _, lk := range topo.Links {
			for _, ep := range []lab.Endpoint{lk.A, lk.B} {
				if ep.Host != h.Name {
					continue
				}
				ij := ifJSON{Name: ep.IfName, Link: lk.Name, SwitchIf: l.SwitchIf(lk.Name), State: "missing", Addrs: []string{}}
				i := slices.IndexFunc(h.Links, func(x lab.IfStatus) bool { return x.Name == ep.IfName })
				if i >= 0 {
					is := h.Links[i]
					ij.MTU, ij.TxQueues, ij.RxQueues, ij.MAC = is.MTU, is.TxQueues, is.RxQueues, is.MAC
					ij.Addrs = append(ij.Addrs, is.Addrs...)
					peerOK, peerUp := true, true
					if ij.SwitchIf != "" {
						p := sw[lk.Name]
						peerOK, peerUp = p.Exists, p.Up
					}
					switch {
					case !peerOK:
						ij.State = "missing"
					case is.Up && peerUp:
						ij.State = "up"
					default:
						ij.State = "down"
					}
				}
				hj.Interfaces = append(hj.Interfaces, ij)
			}
		}
		lj.Hosts = append(lj.Hosts, hj)
	}
	return lj, nil
}

func printStatus(out io.Writer, labs []labJSON) {
	if len(labs) == 0 {
		fmt.Fprintln(out, "no labs")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tHOST\tNETNS\tIFACE\tSWITCH-IF\tMTU\tQUEUES\tSTATE\tADDRS")
	row := func(lj labJSON, h hostJSON, ij *ifJSON) {
		iface, swIf, mtu, queues, state, addrs := "-", "-", "-", "-", "missing", "-"
		if h.Exists {
			state = "up"
		}
		if ij != nil {
			iface, state = ij.Name, ij.State
			if ij.SwitchIf != "" {
				swIf = ij.SwitchIf
			}
			if ij.MTU > 0 {
				mtu = strconv.Itoa(ij.MTU)
				queues = strconv.Itoa(ij.TxQueues)
				if ij.RxQueues != ij.TxQueues {
					queues += "/" + strconv.Itoa(ij.RxQueues)
				}
			}
			var as []string
			for _, a := range ij.Addrs {
				if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLinkLocalUnicast() {
					as = append(as, a)
				}
			}
			if len(as) > 0 {
				addrs = strings.Join(as, ",")
			}
		}
		switch {
		case lj.Error != "":
			state = "unknown"
		case lj.Stale:
			state = "stale"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lj.ID, h.Name, h.Netns, iface, swIf, mtu, queues, state, addrs)
	}
	for _, lj := range labs {
		if len(lj.Hosts) == 0 {
			row(lj, hostJSON{Name: "-", Netns: "-"}, nil)
		}
		for _, h := range lj.Hosts {
			if len(h.Interfaces) == 0 {
				row(lj, h, nil)
			}
			for i := range h.Interfaces {
				row(lj, h, &h.Interfaces[i])
			}
		}
	}
	tw.Flush()
}

type twoHostFlags struct {
	on, router bool
	routerMTU  int
	kind, dir  string
}

// labUpTwoHost builds the two-host lab and writes a daemon config for
// each switch host.
func labUpTwoHost(cmd *cobra.Command, opt lab.DemoOptions, th *twoHostFlags) error {
	vms := opt.VMs
	if !cmd.Flags().Changed("vms") {
		vms = 1
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, labUpTimeout)
	defer cancel()
	topo := lab.TwoHostTopology(lab.TwoHostOptions{Prefix: opt.Prefix, VMs: vms, Queues: opt.Queues, Router: th.router, RouterMTU: th.routerMTU})
	topo.Keep = true
	l, err := lab.Up(ctx, topo)
	if err != nil {
		return oneLine(err)
	}
	dir := th.dir
	if dir == "" {
		dir = filepath.Join("/run/ctswitch", l.ID())
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "lab %s is up: two switch hosts, %d VM(s) each, underlay %s; kept until 'ctswitch lab down %s'\n\n",
		l.ID(), vms, map[bool]string{true: fmt.Sprintf("through a router (MTU 1500, then %d)", th.routerMTU), false: "direct (MTU 1500)"}[th.router], l.ID())
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tNETNS\tIPV4\tIPV6\tON")
	for _, side := range []byte{'a', 'b'} {
		sw := lab.TwoHostSwitchA
		if side == 'b' {
			sw = lab.TwoHostSwitchB
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t(underlay %s)\n", sw, l.Netns(sw), lab.TwoHostUnderlayAddr(side, th.router, false),
			lab.TwoHostUnderlayAddr(side, th.router, true), lab.UnderlayIfName)
		for k := 1; k <= vms; k++ {
			vm := lab.TwoHostVM(side, k)
			fmt.Fprintf(tw, "%s\t%s\t%s/24\t%s/64\t%s\n", vm, l.Netns(vm), lab.TwoHostVMAddr(side, k, false), lab.TwoHostVMAddr(side, k, true), sw)
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "\nRun a switch on each host:\n\n")
	for _, side := range []byte{'a', 'b'} {
		sw, other := lab.TwoHostSwitchA, byte('b')
		if side == 'b' {
			sw, other = lab.TwoHostSwitchB, 'a'
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# ctswitch on %s of lab %s (generated by ctswitch lab up --two-host)\nworkers: %d\nmode: native\nports:\n", sw, l.ID(), opt.Queues)
		for k := 1; k <= vms; k++ {
			fmt.Fprintf(&b, "  - {name: %s, interface: %s}\n", lab.TwoHostVM(side, k), lab.TwoHostVM(side, k))
		}
		fmt.Fprintf(&b, "underlay:\n  - {name: up, interface: %s}\nnetworks:\n  - name: lab\n    tunnels:\n", lab.UnderlayIfName)
		id := "key: 1"
		if th.kind == "geneve" {
			id = "vni: 1"
		}
		fmt.Fprintf(&b, "      - {name: host%c, type: %s, remote: %s, %s}\n", other, th.kind, lab.TwoHostUnderlayAddr(other, th.router, false), id)
		fmt.Fprintf(&b, "control: {socket: %s}\nmetrics: {listen: \"off\"}\nsnapshot: {path: %s}\n",
			filepath.Join(dir, sw+".sock"), filepath.Join(dir, sw+".snap"))
		path := filepath.Join(dir, sw+".yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "  ip netns exec %s ctswitch run --config %s &\n", l.Netns(sw), path)
	}
	fmt.Fprintf(out, "\nthen, for instance:\n\n  ip netns exec %s ping -M do -s 1472 %s\n  ctswitch tunnel show --socket %s\n",
		l.Netns(lab.TwoHostVM('a', 1)), lab.TwoHostVMAddr('b', 1, false), filepath.Join(dir, lab.TwoHostSwitchA+".sock"))
	return nil
}
