package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var (
		opt  demo.Options
		mode string
		mib  int64
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build a namespace lab, switch real traffic through ctswitch, report and clean up",
		Long: `Demo needs no hardware: it creates two "VMs" (network namespaces) attached by
multi-queue veth pairs to ctswitch ports, starts the switch (AF_XDP, one
worker per queue, connection tracking, a policy that denies TCP port 23
from vm1), and runs real traffic through the VMs' kernel stacks: ping over
IPv4 and IPv6, a TCP transfer each way of the address families with the
received bytes checked against the sent ones, UDP echo, and a connection
the policy denies. It prints throughput, the conntrack entries seen while
the transfers ran (ESTABLISHED) and afterwards, per-worker and per-queue
counters and every drop counter, then removes the lab, also on Ctrl-C.

Needs root (network namespaces, XDP, AF_XDP).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := dataplane.ParseMode(mode)
			if err != nil {
				return err
			}
			if mib < 1 || mib > 10240 {
				return fmt.Errorf("--tcp-mib %d: must be 1..10240", mib)
			}
			if opt.Workers < 0 || opt.Workers > dataplane.MaxQueues {
				return fmt.Errorf("--workers %d: must be 0 (auto) to %d", opt.Workers, dataplane.MaxQueues)
			}
			if opt.UDPCount < 1 || opt.UDPCount > 1000000 {
				return fmt.Errorf("--udp-count %d: must be 1..1000000", opt.UDPCount)
			}
			if os.Geteuid() != 0 {
				return fmt.Errorf("demo needs root: it creates network namespaces and attaches XDP programs")
			}
			opt.Mode = m
			opt.TCPBytes = mib << 20
			opt.Logger = newLogger(cmd.ErrOrStderr(), "text", "warn")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return demo.Run(ctx, cmd.OutOrStdout(), opt)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.Workers, "workers", 0, "switch workers, one per veth queue (0: one per CPU, at most 2)")
	f.StringVar(&mode, "mode", "auto", "AF_XDP mode of the ports: auto, native, generic or zerocopy")
	f.Int64Var(&mib, "tcp-mib", 100, "MiB sent by each TCP transfer")
	f.IntVar(&opt.UDPCount, "udp-count", 1000, "UDP datagrams echoed per address family")
	return cmd
}
