package ctl

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctswitch/ctswitch/dataplane"
)

// Text renderings of the answers, for the CLI. Columns are stable: new
// ones are only ever added at the end. -o json prints the answers as they
// came instead.

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// PrintPorts renders "ports".
func PrintPorts(w io.Writer, rows []PortRow) error {
	tw := table(w)
	fmt.Fprintln(tw, "PORT\tINTERFACE\tNETWORK\tMODE\tQUEUE\tRX_PACKETS\tRX_BYTES\tTX_PACKETS\tTX_BYTES\tDROPS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Port, r.Interface, r.Network, r.Mode, r.Queue,
			r.RxPackets, r.RxBytes, r.TxPackets, r.TxBytes, r.Drops)
	}
	return tw.Flush()
}

// PrintStats renders "stats".
func PrintStats(w io.Writer, s *StatsAnswer) error {
	fmt.Fprintf(w, "rates over %s\n", time.Duration(s.Interval))
	tw := table(w)
	fmt.Fprintln(tw, "WORKER\tCPU\tRX_PPS\tPROCESSED_PPS\tFORWARDED_PPS\tDROP_PPS\tHANDOFF_OUT_PPS\tHANDOFF_IN_PPS\tHANDOFF_RATIO\tBUSY\tPKTS/BATCH\tORDER_WAIT_TIMEOUTS")
	line := func(name, cpu string, r *WorkerRate) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.3f\t%.1f%%\t%.1f\t%d\n", name, cpu,
			r.RxPPS, r.ProcessedPPS, r.ForwardedPPS, r.DropPPS, r.HandoffOut, r.HandoffIn, r.HandoffRatio,
			100*r.Busy, r.PerBatch, r.OrderWaitTO)
	}
	for i := range s.Workers {
		r := &s.Workers[i]
		line(fmt.Sprint(r.Worker), fmt.Sprint(r.CPU), r)
	}
	line("total", "-", &s.Total)
	return tw.Flush()
}

// PrintDrops renders "drops" (like VPP's "show errors").
func PrintDrops(w io.Writer, rows []DropRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no drops")
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "COUNT\tWHERE\tREASON\tMEANING")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Count, r.Where, r.Reason, r.Help)
	}
	return tw.Flush()
}

// PrintMACs renders "mac list".
func PrintMACs(w io.Writer, rows []MACRow) error {
	tw := table(w)
	fmt.Fprintln(tw, "NETWORK\tMAC\tPORT\tTYPE\tAGE")
	for _, r := range rows {
		kind, age := "dynamic", time.Duration(r.Age).String()
		if r.Static {
			kind, age = "static", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Network, r.MAC, r.Port, kind, age)
	}
	return tw.Flush()
}

func formatEndpoints(e CTEndpoints, proto string) string {
	switch proto {
	case "tcp", "udp", "sctp":
		return fmt.Sprintf("src=%s,dst=%s,sport=%d,dport=%d", e.Src, e.Dst, e.Sport, e.Dport)
	case "icmp", "icmpv6":
		return fmt.Sprintf("src=%s,dst=%s,id=%d,type=%d", e.Src, e.Dst, e.Sport, e.Dport)
	}
	return fmt.Sprintf("src=%s,dst=%s", e.Src, e.Dst)
}

// FormatConnection renders a connection as one line, in the field order of
// ovs-appctl dpctl/dump-conntrack, which operators already read.
func FormatConnection(r *CTRow, verbose bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s,orig=(%s),reply=(%s)", r.Proto, formatEndpoints(r.Orig, r.Proto), formatEndpoints(r.Reply, r.Proto))
	if r.Zone != 0 {
		fmt.Fprintf(&b, ",zone=%d", r.Zone)
	}
	fmt.Fprintf(&b, ",timeout=%s", time.Duration(r.Timeout).Round(time.Second))
	if r.Mark != 0 {
		fmt.Fprintf(&b, ",mark=%d", r.Mark)
	}
	if r.Labels != "" && strings.Trim(r.Labels[2:], "0") != "" {
		fmt.Fprintf(&b, ",labels=%s", r.Labels)
	}
	var flags []string
	if r.Assured {
		flags = append(flags, "ASSURED")
	}
	if r.SeenReply {
		flags = append(flags, "SEEN_REPLY")
	}
	if len(flags) > 0 {
		fmt.Fprintf(&b, ",status=%s", strings.Join(flags, "|"))
	}
	fmt.Fprintf(&b, ",protoinfo=(state=%s", r.State)
	if verbose && r.TCP != nil {
		for d, name := range [2]string{"orig", "reply"} {
			w := &r.TCP[d]
			fmt.Fprintf(&b, ",%s=(end=%d,maxend=%d,maxwin=%d,scale=%d", name, w.End, w.MaxEnd, w.MaxWin, w.Scale)
			if w.SackPerm {
				b.WriteString(",sack")
			}
			if w.Liberal {
				b.WriteString(",liberal")
			}
			b.WriteString(")")
		}
	}
	b.WriteString(")")
	if verbose {
		fmt.Fprintf(&b, ",age=%s,worker=%d", time.Duration(r.Age).Round(time.Second), r.Shard)
	}
	return b.String()
}

// PrintConnections renders "ct list".
func PrintConnections(w io.Writer, a *CTListAnswer, verbose bool) error {
	for i := range a.Connections {
		if _, err := fmt.Fprintln(w, FormatConnection(&a.Connections[i], verbose)); err != nil {
			return err
		}
	}
	if a.Total > len(a.Connections) {
		fmt.Fprintf(w, "(%d of %d connections shown; --limit shows more)\n", len(a.Connections), a.Total)
	}
	return nil
}

func sortedCounts(m map[string]uint64) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return out
}

// PrintCTStats renders "ct stats" (like dpctl/ct-stats-show).
func PrintCTStats(w io.Writer, s *CTStatsAnswer) error {
	fmt.Fprintf(w, "connections: %d of %d\n", s.Entries, s.Capacity)
	var protos []string
	for p := range s.ByProto {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		fmt.Fprintf(w, "  %s: %d\n", p, s.ByProto[p])
	}
	if len(s.ByState) > 0 {
		tw := table(w)
		fmt.Fprintln(tw, "ZONE\tPROTO\tSTATE\tCOUNT")
		for _, r := range s.ByState {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", r.Zone, r.Proto, r.State, r.Count)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "packets: %d  inserted: %d  deleted: %d  expired: %d  early_drop: %d  fragments_pending: %d\n",
		s.Packets, s.Inserted, s.Deleted, s.Expired, s.EarlyDrop, s.Fragments)
	fmt.Fprintf(w, "verdicts: %s\n", strings.Join(sortedCounts(s.Verdicts), " "))
	if len(s.Reasons) > 0 {
		fmt.Fprintf(w, "reasons: %s\n", strings.Join(sortedCounts(s.Reasons), " "))
	}
	return nil
}

// PrintLimits renders "ct limits" (like dpctl/ct-get-limits).
func PrintLimits(w io.Writer, a *LimitsAnswer) error {
	fmt.Fprintf(w, "max_conns: %d  entries: %d\n", a.MaxConns, a.Entries)
	tw := table(w)
	fmt.Fprintln(tw, "ZONE\tLIMIT\tCOUNT")
	for _, r := range a.Zones {
		limit, count := fmt.Sprint(r.Limit), fmt.Sprint(r.Count)
		if r.Limit == 0 {
			limit = "none"
		}
		if r.Count < 0 {
			count = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Zone, limit, count)
	}
	return tw.Flush()
}

// PrintTrace renders one traced packet as a block of steps.
func PrintTrace(w io.Writer, n int, r *dataplane.TraceRecord) error {
	kind := ""
	if r.Synthetic {
		kind = " (synthetic: nothing was sent or changed)"
	}
	fmt.Fprintf(w, "packet %d: port %s, %d bytes, %s%s\n", n, r.Port, r.Len, r.Time.Format(time.RFC3339Nano), kind)
	tw := table(w)
	for _, s := range r.Steps {
		who := "ctl"
		if s.Worker >= 0 {
			who = fmt.Sprintf("w%d", s.Worker)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Stage, who, s.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "  => %s\n", r.Outcome)
	return err
}

// PrintTunnels renders "tunnel show".
func PrintTunnels(w io.Writer, a *TunnelAnswer) error {
	if len(a.Tunnels) == 0 {
		_, err := fmt.Fprintln(w, "no tunnels")
		return err
	}
	tw := table(w)
	fmt.Fprintln(tw, "TUNNEL\tNETWORK\tTYPE\tID\tLOCAL\tREMOTE\tNEXT_HOP\tLINK_MTU\tPATH_MTU\tLEARNED\tINNER_MTU\tRX\tTX\tDROPS")
	for _, r := range a.Tunnels {
		nh := r.Via + " " + r.NextHopMAC
		if r.Via == "" {
			nh = "unresolved: " + r.NextHopErr
		}
		learned := "-"
		if r.Learned > 0 {
			learned = fmt.Sprintf("%d (%s left)", r.Learned, time.Duration(r.LearnedTTL).Round(time.Second))
		}
		id := r.ID
		if id == "" {
			id = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\n", r.Name, r.Network, r.Type, id, r.Local, r.Remote,
			nh, r.LinkMTU, r.PathMTU, learned, r.InnerMTU, r.Rx, r.Tx, r.Drops)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var keys []string
	for k, v := range a.Counters {
		if v > 0 {
			keys = append(keys, fmt.Sprintf("%s=%d", k, v))
		}
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		_, err := fmt.Fprintf(w, "counters: %s\n", strings.Join(keys, " "))
		return err
	}
	return nil
}
