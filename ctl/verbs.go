package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/packet/filter"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
	"github.com/ctswitch/ctswitch/tunnel/ipfrag"
)

// Backend is what the verbs act on: a running switch and the daemon's
// hooks. The verbs never touch a worker's memory: conntrack calls become
// requests its owners execute between batches, and the rest reads
// counters and lock-free tables.
type Backend struct {
	Switch *dataplane.Switch
	// Reload re-reads the config file and applies what can change live
	// (nil: the verb answers that reloading is not available).
	Reload func(ctx context.Context) (*ReloadAnswer, error)
	Log    *slog.Logger
}

// Verb names, as typed after "ctswitch".
const (
	VerbPorts      = "ports"
	VerbStats      = "stats"
	VerbDrops      = "drops"
	VerbMACList    = "mac list"
	VerbCTList     = "ct list"
	VerbCTStats    = "ct stats"
	VerbCTFlush    = "ct flush"
	VerbCTExport   = "ct export"
	VerbCTImport   = "ct import"
	VerbCTSet      = "ct set"
	VerbCTLimits   = "ct limits"
	VerbTrace      = "trace"
	VerbTraceFrame = "trace packet"
	VerbCapture    = "capture"
	VerbReload     = "reload"
	VerbTunnelShow = "tunnel show"
)

// Handlers returns every verb's handler.
func (b *Backend) Handlers() map[string]Handler {
	return map[string]Handler{
		VerbPorts:      b.ports,
		VerbStats:      b.stats,
		VerbDrops:      b.drops,
		VerbMACList:    b.macList,
		VerbCTList:     b.ctList,
		VerbCTStats:    b.ctStats,
		VerbCTFlush:    b.ctFlush,
		VerbCTExport:   b.ctExport,
		VerbCTImport:   b.ctImport,
		VerbCTSet:      b.ctSet,
		VerbCTLimits:   b.ctLimits,
		VerbTrace:      b.trace,
		VerbTraceFrame: b.traceFrame,
		VerbCapture:    b.capture,
		VerbReload:     b.reload,
		VerbTunnelShow: b.tunnelShow,
	}
}

// PortRow is one port queue of "ports".
type PortRow struct {
	Port      string `json:"port"`
	Interface string `json:"interface"`
	Network   string `json:"network"`
	Mode      string `json:"mode"`
	Queue     int    `json:"queue"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	Drops     uint64 `json:"drops"`
}

func (b *Backend) ports(ctx context.Context, args json.RawMessage, send func(any) error) error {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return err
	}
	var rows []PortRow
	for _, p := range b.Switch.Stats().Ports {
		for _, q := range p.Queues {
			rows = append(rows, PortRow{
				Port: p.Name, Interface: p.Interface, Network: p.Network, Mode: p.Mode, Queue: q.Queue,
				RxPackets: q.RxPackets, RxBytes: q.RxBytes, TxPackets: q.TxPackets, TxBytes: q.TxBytes, Drops: q.Drops(),
			})
		}
	}
	return send(rows)
}

// StatsArgs: rates are measured over Interval (default 1s).
type StatsArgs struct {
	Interval Duration `json:"interval,omitempty"`
}

// WorkerRate is one worker's rates over the interval and its totals.
type WorkerRate struct {
	Worker       int     `json:"worker"`
	CPU          int     `json:"cpu"`
	RxPPS        float64 `json:"rx_pps"`
	ProcessedPPS float64 `json:"processed_pps"`
	ForwardedPPS float64 `json:"forwarded_pps"`
	HandoffOut   float64 `json:"handoff_out_pps"`
	HandoffIn    float64 `json:"handoff_in_pps"`
	HandoffRatio float64 `json:"handoff_ratio"` // handed off / received
	DropPPS      float64 `json:"drop_pps"`
	Busy         float64 `json:"busy"` // share of the interval spent in rounds with work
	PerBatch     float64 `json:"packets_per_batch"`
	Processed    uint64  `json:"processed"`
	Forwarded    uint64  `json:"forwarded"`
	Dropped      uint64  `json:"dropped"`
	OrderWaitTO  uint64  `json:"order_wait_timeouts"`
}

// StatsAnswer is "stats".
type StatsAnswer struct {
	Interval Duration     `json:"interval"`
	Workers  []WorkerRate `json:"workers"`
	Total    WorkerRate   `json:"total"`
}

func workerRx(st *dataplane.Stats, w int) uint64 {
	var n uint64
	for _, p := range st.Ports {
		for _, q := range p.Queues {
			if q.Queue == w {
				n += q.RxPackets
			}
		}
	}
	return n
}

func sumDrops(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}

func (b *Backend) stats(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a StatsArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	iv := time.Duration(a.Interval)
	if iv == 0 {
		iv = time.Second
	}
	if iv < 10*time.Millisecond || iv > time.Minute {
		return fmt.Errorf("interval %s: must be 10ms..1m", iv)
	}
	s0 := b.Switch.Stats()
	t0 := time.Now()
	select {
	case <-time.After(iv):
	case <-ctx.Done():
		return ctx.Err()
	}
	s1 := b.Switch.Stats()
	secs := time.Since(t0).Seconds()
	ans := StatsAnswer{Interval: Duration(iv)}
	var tot WorkerRate
	tot.Worker, tot.CPU = -1, -1
	var totRx, totOut, totBusy, totBatches, totProc float64
	for i, w1 := range s1.Workers {
		w0 := s0.Workers[i]
		rx := float64(workerRx(&s1, w1.Worker) - workerRx(&s0, w0.Worker))
		proc := float64(w1.Processed - w0.Processed)
		out := float64(w1.HandoffOut - w0.HandoffOut)
		batches := float64(w1.Batches - w0.Batches)
		busy := float64(w1.BusyNs-w0.BusyNs) / 1e9
		r := WorkerRate{
			Worker: w1.Worker, CPU: w1.CPU, RxPPS: rx / secs, ProcessedPPS: proc / secs,
			ForwardedPPS: float64(w1.Forwarded-w0.Forwarded) / secs, HandoffOut: out / secs,
			HandoffIn: float64(w1.HandoffIn-w0.HandoffIn) / secs,
			DropPPS:   float64(sumDrops(w1.Drops)-sumDrops(w0.Drops)) / secs,
			Busy:      busy / secs, Processed: w1.Processed, Forwarded: w1.Forwarded,
			Dropped: sumDrops(w1.Drops), OrderWaitTO: w1.OrderWaitTO,
		}
		if rx > 0 {
			r.HandoffRatio = out / rx
		}
		if batches > 0 {
			r.PerBatch = proc / batches
		}
		ans.Workers = append(ans.Workers, r)
		tot.RxPPS += r.RxPPS
		tot.ProcessedPPS += r.ProcessedPPS
		tot.ForwardedPPS += r.ForwardedPPS
		tot.HandoffOut += r.HandoffOut
		tot.HandoffIn += r.HandoffIn
		tot.DropPPS += r.DropPPS
		tot.Processed += r.Processed
		tot.Forwarded += r.Forwarded
		tot.Dropped += r.Dropped
		tot.OrderWaitTO += r.OrderWaitTO
		totRx += rx
		totOut += out
		totBusy += r.Busy
		totBatches += batches
		totProc += proc
	}
	if totRx > 0 {
		tot.HandoffRatio = totOut / totRx
	}
	if totBatches > 0 {
		tot.PerBatch = totProc / totBatches
	}
	if n := len(ans.Workers); n > 0 {
		tot.Busy = totBusy / float64(n)
	}
	ans.Total = tot
	return send(ans)
}

// DropRow is one drop counter: where it is counted, its reason, the
// count and what it means (like VPP's "show errors").
type DropRow struct {
	Where  string `json:"where"`
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
	Help   string `json:"help"`
}

// DropsArgs: All includes counters at zero.
type DropsArgs struct {
	All bool `json:"all,omitempty"`
}

func (b *Backend) drops(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a DropsArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	st := b.Switch.Stats()
	var rows []DropRow
	for _, d := range dataplane.Drops() {
		if d == dataplane.DropNone {
			continue
		}
		if n := st.Drops[d.Name()]; n > 0 || a.All {
			rows = append(rows, DropRow{Where: "switch", Reason: d.Name(), Count: n, Help: d.Help()})
		}
	}
	for _, p := range st.Ports {
		for _, q := range p.Queues {
			where := fmt.Sprintf("port %s queue %d", p.Name, q.Queue)
			for _, c := range []struct {
				name string
				n    uint64
				help string
			}{
				{"rx_ring_full", q.Kernel.RxRingFull, "the switch did not empty the rx ring in time (kernel count)"},
				{"rx_fill_ring_empty", q.Kernel.RxFillRingEmpty, "no free frame to receive into (kernel count)"},
				{"rx_dropped", q.Kernel.RxDropped, "the kernel dropped the frame, e.g. larger than a UMEM frame"},
				{"rx_invalid_descs", q.Kernel.RxInvalidDescs, "invalid rx descriptors (kernel count)"},
				{"tx_invalid_descs", q.Kernel.TxInvalidDescs, "invalid tx descriptors (kernel count)"},
				{"tx_ring_full", q.TxRingFull, "frames the tx ring had no room for"},
				{"tx_errors", q.TxErrors, "failed sendto calls"},
			} {
				if c.n > 0 || a.All {
					rows = append(rows, DropRow{Where: where, Reason: c.name, Count: c.n, Help: c.help})
				}
			}
		}
	}
	for _, m := range []struct {
		where string
		m     map[string]uint64
	}{{"tunnel", st.TunnelReasons}, {"tunnel reassembly", st.ReassemblyReasons}, {"tunnel icmp not sent", st.ICMPSuppressed}} {
		var keys []string
		for k := range m.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if n := m.m[k]; n > 0 || a.All {
				rows = append(rows, DropRow{Where: m.where, Reason: k, Count: n, Help: tunnelHelp(m.where, k)})
			}
		}
	}
	cst, err := b.Switch.Conntrack().Stats(ctx)
	if err != nil {
		return fmt.Errorf("conntrack stats: %w", err)
	}
	for _, r := range conntrack.Reasons() {
		if r == conntrack.ReasonNone {
			continue
		}
		// Only invalid verdicts' reasons: an ignored packet passes.
		if n := cst.InvalidReasons[r.Name()]; n > 0 || a.All {
			rows = append(rows, DropRow{Where: "conntrack", Reason: r.Name(), Count: n, Help: r.Text()})
		}
	}
	return send(rows)
}

// MACArgs selects a network (default: all).
type MACArgs struct {
	Network string `json:"network,omitempty"`
}

// MACRow is one MAC table entry.
type MACRow struct {
	Network string   `json:"network"`
	MAC     string   `json:"mac"`
	Port    string   `json:"port"`
	Static  bool     `json:"static"`
	Age     Duration `json:"age"`
}

func (b *Backend) macList(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a MACArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	names := map[uint16]string{}
	var id uint16
	for _, n := range b.Switch.Networks() {
		names[n.ID] = n.Name
		if n.Name == a.Network {
			id = n.ID
		}
	}
	if a.Network != "" && id == 0 {
		return fmt.Errorf("no network %q", a.Network)
	}
	rows := []MACRow{}
	for _, e := range b.Switch.MACs().List(id, dataplane.Now()) {
		rows = append(rows, MACRow{
			Network: names[e.Network], MAC: macString(e.MAC), Port: b.Switch.PortName(int(e.Port)),
			Static: e.Static, Age: Duration(e.Age),
		})
	}
	return send(rows)
}

// CTFilterArgs selects connections; zero fields match all. Proto is a
// name (tcp, udp, icmp, icmpv6) or number; Addr matches either side (a
// VM's flows); Src/Dst/Sport/Dport together name one connection (either
// direction).
type CTFilterArgs struct {
	Zone  *uint16 `json:"zone,omitempty"`
	Proto string  `json:"proto,omitempty"`
	Addr  string  `json:"addr,omitempty"`
	Src   string  `json:"src,omitempty"`
	Dst   string  `json:"dst,omitempty"`
	Sport uint16  `json:"sport,omitempty"`
	Dport uint16  `json:"dport,omitempty"`
	Mark  *uint32 `json:"mark,omitempty"`
	State string  `json:"state,omitempty"`
}

// ParseProto accepts a protocol name or number.
func ParseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "":
		return 0, nil
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "icmp":
		return 1, nil
	case "icmpv6", "icmp6":
		return 58, nil
	case "sctp":
		return 132, nil
	case "gre":
		return 47, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("protocol %q: want tcp, udp, icmp, icmpv6 or a number 0..255", s)
	}
	return uint8(n), nil
}

func (a *CTFilterArgs) filter() (conntrack.Filter, error) {
	var f conntrack.Filter
	f.Zone, f.Mark = a.Zone, a.Mark
	p, err := ParseProto(a.Proto)
	if err != nil {
		return f, err
	}
	f.Proto = p
	if a.Addr != "" {
		ip, err := netip.ParseAddr(a.Addr)
		if err != nil {
			return f, fmt.Errorf("addr: %w", err)
		}
		var k conntrack.Key
		k.SetAddrs(ip.Unmap(), ip.Unmap())
		f.Addr = &k
	}
	if a.Src != "" || a.Dst != "" || a.Sport != 0 || a.Dport != 0 {
		if a.Src == "" || a.Dst == "" || f.Proto == 0 {
			return f, errors.New("a connection tuple needs proto, src and dst (and sport, dport for tcp/udp)")
		}
		src, err := netip.ParseAddr(a.Src)
		if err != nil {
			return f, fmt.Errorf("src: %w", err)
		}
		dst, err := netip.ParseAddr(a.Dst)
		if err != nil {
			return f, fmt.Errorf("dst: %w", err)
		}
		if src.Unmap().Is4() != dst.Unmap().Is4() {
			return f, errors.New("src and dst are of different address families")
		}
		k := conntrack.Key{Proto: f.Proto, SrcPort: a.Sport, DstPort: a.Dport}
		k.SetAddrs(src.Unmap(), dst.Unmap())
		if a.Zone != nil {
			k.Zone = *a.Zone
		}
		f.Tuple = &k
	}
	if a.State != "" {
		st, err := conntrack.ParseState(a.State)
		if err != nil {
			return f, err
		}
		f.State = &st
	}
	return f, nil
}

// CTEndpoints is one direction of a connection.
type CTEndpoints struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Sport uint16 `json:"sport"`
	Dport uint16 `json:"dport"`
}

// CTRow is one connection of "ct list".
type CTRow struct {
	Proto     string                  `json:"proto"`
	Orig      CTEndpoints             `json:"orig"`
	Reply     CTEndpoints             `json:"reply"`
	Zone      uint16                  `json:"zone"`
	State     string                  `json:"state"`
	Timeout   Duration                `json:"timeout"`
	Age       Duration                `json:"age"`
	Mark      uint32                  `json:"mark"`
	Labels    string                  `json:"labels"`
	Assured   bool                    `json:"assured"`
	SeenReply bool                    `json:"seen_reply"`
	Shard     int                     `json:"worker"`
	TCP       *[2]conntrack.TCPWindow `json:"tcp,omitempty"`
}

func endpoints(k conntrack.Key) CTEndpoints {
	return CTEndpoints{Src: k.SrcAddr().String(), Dst: k.DstAddr().String(), Sport: k.SrcPort, Dport: k.DstPort}
}

func rowOf(e *conntrack.Entry) CTRow {
	r := CTRow{
		Proto: conntrack.ProtoName(e.Orig.Proto), Orig: endpoints(e.Orig), Reply: endpoints(e.Orig.Reverse()),
		Zone: e.Orig.Zone, State: e.State.String(), Timeout: Duration(e.Timeout), Age: Duration(e.Age),
		Mark: e.Mark, Labels: fmt.Sprintf("0x%016x%016x", e.Labels[0], e.Labels[1]),
		Assured: e.Assured, SeenReply: e.SeenReply, Shard: e.Shard,
	}
	if e.Orig.Proto == 6 {
		w := e.TCP
		r.TCP = &w
	}
	return r
}

// CTListArgs: a filter and a cap on the rows (default 10000, 0 = default).
type CTListArgs struct {
	CTFilterArgs
	Limit int `json:"limit,omitempty"`
}

// CTListAnswer is "ct list".
type CTListAnswer struct {
	Total       int     `json:"total"` // matching connections
	Connections []CTRow `json:"connections"`
}

func (b *Backend) ctList(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a CTListArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	f, err := a.filter()
	if err != nil {
		return err
	}
	limit := a.Limit
	if limit <= 0 {
		limit = 10000
	}
	es, err := b.Switch.Conntrack().List(ctx, f, dataplane.Now())
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Orig.String() < es[j].Orig.String() })
	ans := CTListAnswer{Total: len(es), Connections: []CTRow{}}
	for i := range es[:min(len(es), limit)] {
		ans.Connections = append(ans.Connections, rowOf(&es[i]))
	}
	return send(ans)
}

// CTStatsAnswer is "ct stats".
type CTStatsAnswer struct {
	Entries   int               `json:"entries"`
	Capacity  int               `json:"capacity"`
	Packets   uint64            `json:"packets"`
	Inserted  uint64            `json:"inserted"`
	Deleted   uint64            `json:"deleted"`
	Expired   uint64            `json:"expired"`
	EarlyDrop uint64            `json:"early_drop"`
	Fragments int               `json:"fragments_pending"`
	Verdicts  map[string]uint64 `json:"verdicts"`
	Reasons   map[string]uint64 `json:"reasons"`
	ByProto   map[string]int    `json:"by_proto"`
	ByState   []CTCensusRow     `json:"by_state"`
}

// CTCensusRow counts connections of one zone, protocol and state.
type CTCensusRow struct {
	Zone  uint16 `json:"zone"`
	Proto string `json:"proto"`
	State string `json:"state"`
	Count int    `json:"count"`
}

func (b *Backend) ctStats(ctx context.Context, args json.RawMessage, send func(any) error) error {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return err
	}
	ct := b.Switch.Conntrack()
	st, err := ct.Stats(ctx)
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	census, err := ct.Census(ctx)
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	ans := CTStatsAnswer{
		Entries: st.Entries, Capacity: st.Capacity, Packets: st.Packets, Inserted: st.Inserted,
		Deleted: st.Deleted, Expired: st.Expired, EarlyDrop: st.EarlyDrop, Fragments: st.Fragments,
		Verdicts: st.Verdicts, Reasons: st.Reasons, ByProto: map[string]int{}, ByState: []CTCensusRow{},
	}
	for k, n := range census {
		p := conntrack.ProtoName(k.Proto)
		ans.ByProto[p] += n
		ans.ByState = append(ans.ByState, CTCensusRow{Zone: k.Zone, Proto: p, State: k.State.String(), Count: n})
	}
	sort.Slice(ans.ByState, func(i, j int) bool {
		a, c := ans.ByState[i], ans.ByState[j]
		if a.Zone != c.Zone {
			return a.Zone < c.Zone
		}
		if a.Proto != c.Proto {
			return a.Proto < c.Proto
		}
		return a.State < c.State
	})
	return send(ans)
}

// CountAnswer answers verbs that change a number of things.
type CountAnswer struct {
	Count int `json:"count"`
}

// filterArgs decodes a request's connection filter.
func filterArgs(args json.RawMessage) (CTFilterArgs, conntrack.Filter, error) {
	var a CTFilterArgs
	if err := decodeArgs(args, &a); err != nil {
		return a, conntrack.Filter{}, err
	}
	f, err := a.filter()
	return a, f, err
}

func (b *Backend) ctFlush(ctx context.Context, args json.RawMessage, send func(any) error) error {
	a, f, err := filterArgs(args)
	if err != nil {
		return err
	}
	n, err := b.Switch.Conntrack().Flush(ctx, f, dataplane.Now())
	if err != nil {
		return fmt.Errorf("conntrack: %w", err)
	}
	b.Log.Info("conntrack flushed", "filter", fmt.Sprintf("%+v", a), "removed", n)
	return send(CountAnswer{Count: n})
}

// ExportAnswer carries exported entries in the format of conntrack/EXPORT.md.
type ExportAnswer struct {
	Count int    `json:"count"`
	Data  []byte `json:"data"`
}

func (b *Backend) ctExport(ctx context.Context, args json.RawMessage, send func(any) error) error {
	_, f, err := filterArgs(args)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	n, err := b.Switch.Conntrack().Export(ctx, &buf, f, dataplane.Now())
	if err != nil {
		return fmt.Errorf("conntrack export: %w", err)
	}
	return send(ExportAnswer{Count: n, Data: buf.Bytes()})
}

// ImportArgs carries entries to import.
type ImportArgs struct {
	Data []byte `json:"data"`
}

func (b *Backend) ctImport(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a ImportArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	es, err := conntrack.ReadEntries(bytes.NewReader(a.Data))
	if err != nil {
		return fmt.Errorf("conntrack import: %w", err)
	}
	n, err := b.Switch.Conntrack().Import(ctx, es, dataplane.Now())
	if err != nil {
		return fmt.Errorf("conntrack import (%d of %d imported): %w", n, len(es), err)
	}
	b.Log.Info("conntrack imported", "entries", n)
	return send(CountAnswer{Count: n})
}

// SetArgs changes one conntrack knob, of one zone or of the default.
type SetArgs struct {
	Knob  string  `json:"knob"`
	Value string  `json:"value"`
	Zone  *uint16 `json:"zone,omitempty"`
}

// SetAnswer reports the change.
type SetAnswer struct {
	Zone string `json:"zone"` // a number or "default"
	Knob string `json:"knob"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// Knobs lists what "ct set" changes: the zone knobs, then the timeouts.
func Knobs() []string {
	return append([]string{"loose", "liberal", "ignore_invalid_rst", "max_retrans", "checksum", "limit"}, conntrack.TimeoutNames...)
}

// SetKnob changes one knob of zc, returning the old and new values as text.
func SetKnob(zc *conntrack.ZoneConfig, knob, value string) (string, string, error) {
	boolKnob := func(p *bool) (string, string, error) {
		v, err := strconv.ParseBool(value)
		if err != nil {
			return "", "", fmt.Errorf("%s: %q is not true or false", knob, value)
		}
		old := strconv.FormatBool(*p)
		*p = v
		return old, strconv.FormatBool(v), nil
	}
	intKnob := func(p *int, lo, hi int) (string, string, error) {
		v, err := strconv.Atoi(value)
		if err != nil || v < lo || v > hi {
			return "", "", fmt.Errorf("%s: %q is not an integer in [%d, %d]", knob, value, lo, hi)
		}
		old := strconv.Itoa(*p)
		*p = v
		return old, strconv.Itoa(v), nil
	}
	switch knob {
	case "loose":
		return boolKnob(&zc.Loose)
	case "liberal", "be_liberal":
		return boolKnob(&zc.BeLiberal)
	case "ignore_invalid_rst":
		return boolKnob(&zc.IgnoreInvalidRST)
	case "checksum":
		return boolKnob(&zc.Checksum)
	case "max_retrans":
		return intKnob(&zc.MaxRetrans, 0, 255)
	case "limit":
		return intKnob(&zc.Limit, 0, 1<<28)
	}
	old, ok := zc.Timeouts.Get(knob)
	if !ok {
		return "", "", fmt.Errorf("unknown knob %q (known: %s)", knob, strings.Join(Knobs(), ", "))
	}
	d, err := ParseDuration(value)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", knob, err)
	}
	if err := zc.Timeouts.Set(knob, d); err != nil {
		return "", "", err
	}
	return old.String(), d.String(), nil
}

func (b *Backend) ctSet(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a SetArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	ct := b.Switch.Conntrack()
	ans := SetAnswer{Zone: "default", Knob: a.Knob}
	var err error
	if a.Zone != nil {
		zc := ct.ZoneConfig(*a.Zone)
		if ans.Old, ans.New, err = SetKnob(&zc, a.Knob, a.Value); err != nil {
			return err
		}
		if err := ct.SetZoneConfig(*a.Zone, zc); err != nil {
			return err
		}
		ans.Zone = strconv.Itoa(int(*a.Zone))
	} else {
		zc := ct.Config().Default
		if ans.Old, ans.New, err = SetKnob(&zc, a.Knob, a.Value); err != nil {
			return err
		}
		if err := ct.SetDefaultZoneConfig(zc); err != nil {
			return err
		}
	}
	b.Log.Info("conntrack knob set", "zone", ans.Zone, "knob", a.Knob, "old", ans.Old, "new", ans.New)
	return send(ans)
}

// LimitRow is one zone's limit and count (OVS ct-get-limits).
type LimitRow struct {
	Zone  string `json:"zone"` // a number, or "default" for zones without their own
	Limit int    `json:"limit"`
	Count int    `json:"count"`
}

// LimitsAnswer is "ct limits".
type LimitsAnswer struct {
	MaxConns int        `json:"max_conns"`
	Entries  int        `json:"entries"`
	Zones    []LimitRow `json:"zones"`
}

func (b *Backend) ctLimits(ctx context.Context, args json.RawMessage, send func(any) error) error {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return err
	}
	ct := b.Switch.Conntrack()
	cfg := ct.Config()
	ans := LimitsAnswer{MaxConns: cfg.MaxConns, Entries: ct.Len()}
	ans.Zones = append(ans.Zones, LimitRow{Zone: "default", Limit: cfg.Default.Limit, Count: -1})
	zones := map[uint16]bool{}
	for z := range cfg.Zones {
		zones[z] = true
	}
	for _, n := range b.Switch.Networks() {
		zones[n.Zone] = true
	}
	var ids []int
	for z := range zones {
		ids = append(ids, int(z))
	}
	sort.Ints(ids)
	for _, z := range ids {
		ans.Zones = append(ans.Zones, LimitRow{Zone: strconv.Itoa(z), Limit: ct.ZoneConfig(uint16(z)).Limit, Count: ct.ZoneCount(uint16(z))})
	}
	return send(ans)
}

// TraceArgs asks for the next Count packets matching Filter (on Port, if
// given), waiting at most Timeout (default 60s).
type TraceArgs struct {
	Count   int      `json:"count,omitempty"`
	Filter  string   `json:"filter,omitempty"`
	Port    string   `json:"port,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

func compileFilter(expr string) (func([]byte) bool, error) {
	if expr == "" {
		return nil, nil
	}
	f, err := filter.Compile(expr)
	if err != nil {
		return nil, err
	}
	return f.Match, nil
}

func (b *Backend) trace(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a TraceArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	if a.Count == 0 {
		a.Count = 1
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(time.Minute)
	}
	match, err := compileFilter(a.Filter)
	if err != nil {
		return err
	}
	tr, err := b.Switch.StartTrace(dataplane.TraceConfig{Count: a.Count, Port: a.Port, Match: match})
	if err != nil {
		return err
	}
	defer tr.Stop()
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.Timeout))
	defer cancel()
	for range a.Count {
		r, err := tr.Next(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil // fewer packets than asked for came by
			}
			return err
		}
		if err := send(r); err != nil {
			return err
		}
	}
	return nil
}

// TraceFrameArgs is a synthetic frame to trace, as received on Port.
type TraceFrameArgs struct {
	Port  string `json:"port"`
	Frame []byte `json:"frame"`
}

func (b *Backend) traceFrame(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a TraceFrameArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	if a.Port == "" {
		names := b.Switch.PortNames()
		if len(names) == 0 {
			return errors.New("no ports")
		}
		a.Port = names[0]
	}
	r, err := b.Switch.TraceFrame(ctx, a.Port, a.Frame)
	if err != nil {
		return err
	}
	return send(r)
}

// CaptureArgs says what to capture: frames at Points ("rx", "tx",
// "drop"; default rx and tx) of Port (default all) matching Filter, until
// Count frames (0: no limit) or Duration (0: until the client stops).
type CaptureArgs struct {
	Port     string   `json:"port,omitempty"`
	Points   []string `json:"points,omitempty"`
	Filter   string   `json:"filter,omitempty"`
	Count    int      `json:"count,omitempty"`
	Duration Duration `json:"duration,omitempty"`
	Snap     int      `json:"snap,omitempty"`
}

// CaptureMsg is one message of a capture stream: a frame, or (last) the
// summary.
type CaptureMsg struct {
	Time     time.Time `json:"time,omitzero"`
	Port     string    `json:"port,omitempty"`
	Queue    int       `json:"queue,omitempty"`
	Point    string    `json:"point,omitempty"`
	Drop     string    `json:"drop,omitempty"`
	Len      int       `json:"len,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Summary  bool      `json:"summary,omitempty"`
	Captured uint64    `json:"captured,omitempty"`
	Lost     uint64    `json:"lost,omitempty"`
}

var errCaptureDone = errors.New("capture count reached")

func (b *Backend) capture(ctx context.Context, args json.RawMessage, send func(any) error) error {
	var a CaptureArgs
	if err := decodeArgs(args, &a); err != nil {
		return err
	}
	var points dataplane.TapPoint
	for _, p := range a.Points {
		switch p {
		case "rx":
			points |= dataplane.TapRx
		case "tx":
			points |= dataplane.TapTx
		case "drop":
			points |= dataplane.TapDrop
		default:
			return fmt.Errorf("capture point %q: want rx, tx or drop", p)
		}
	}
	if a.Count < 0 {
		return fmt.Errorf("count %d: must be >= 0", a.Count)
	}
	match, err := compileFilter(a.Filter)
	if err != nil {
		return err
	}
	tap, err := b.Switch.AddTap(dataplane.TapConfig{Port: a.Port, Points: points, Match: match, Snap: a.Snap})
	if err != nil {
		return err
	}
	defer tap.Close()
	if a.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(a.Duration))
		defer cancel()
	}
	n := 0
	var lost uint64
	err = tap.Read(ctx, func(cf *dataplane.CapturedFrame) error {
		lost = cf.LostBefore
		m := CaptureMsg{Time: cf.Time, Port: cf.Port, Queue: cf.Queue, Point: cf.Point.String(), Len: cf.Len, Data: cf.Data}
		if cf.Point == dataplane.TapDrop {
			m.Drop = cf.Drop.Name()
		}
		if err := send(m); err != nil {
			return err
		}
		n++
		if a.Count > 0 && n >= a.Count {
			return errCaptureDone
		}
		return nil
	})
	tap.Close()
	if !errors.Is(err, errCaptureDone) {
		lost = tap.Lost() // the capture ran to its end: every loss counts
	}
	switch {
	case err == nil, errors.Is(err, errCaptureDone), errors.Is(err, context.DeadlineExceeded):
	case errors.Is(err, context.Canceled):
		return err // the client hung up
	default:
		return err
	}
	return send(CaptureMsg{Summary: true, Captured: uint64(n), Lost: lost})
}

// ReloadAnswer reports a reload: what was applied and what needs a restart.
type ReloadAnswer struct {
	Applied []string `json:"applied"`
	Restart []string `json:"restart"`
}

func (b *Backend) reload(ctx context.Context, args json.RawMessage, send func(any) error) error {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return err
	}
	if b.Reload == nil {
		return errors.New("reload: this daemon runs without a config file")
	}
	ans, err := b.Reload(ctx)
	if err != nil {
		return err
	}
	return send(ans)
}

// Duration is a time.Duration that is text in JSON ("1.5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: want a string like \"1.5s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration is time.ParseDuration plus a "d" (24h) unit: "5d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("duration %q: bad day count", s)
		}
		rest := time.Duration(0)
		if s[i+1:] != "" {
			if rest, err = time.ParseDuration(s[i+1:]); err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
		}
		return time.Duration(days)*24*time.Hour + rest, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s, 5m, 2h or 5d", s)
	}
	return d, nil
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

func tunnelHelp(where, reason string) string {
	switch where {
	case "tunnel":
		for _, r := range tunnel.Reasons() {
			if r.Name() == reason {
				return r.Help()
			}
		}
	case "tunnel reassembly":
		for r := ipfrag.Reason(0); int(r) < ipfrag.NumReasons; r++ {
			if r.Name() == reason {
				return r.Help()
			}
		}
	case "tunnel icmp not sent":
		for r := icmperr.Reason(0); int(r) < icmperr.NumReasons; r++ {
			if r.Name() == reason {
				return "a too-big packet got no ICMP error: " + r.Help()
			}
		}
		return "a too-big packet got no ICMP error: rate limit"
	}
	return ""
}

// TunnelRow is one endpoint of "tunnel show".
type TunnelRow struct {
	Name       string   `json:"name"`
	Network    string   `json:"network"`
	Type       string   `json:"type"`
	Local      string   `json:"local"`
	Remote     string   `json:"remote"`
	ID         string   `json:"id"` // "key 42", "vni 7", ""
	Underlay   string   `json:"underlay"`
	Via        string   `json:"via,omitempty"`
	NextHopMAC string   `json:"next_hop_mac,omitempty"`
	NextHopErr string   `json:"next_hop_error,omitempty"`
	LinkMTU    int      `json:"link_mtu"`
	PathMTU    int      `json:"path_mtu"`
	Learned    int      `json:"learned_pmtu,omitempty"`
	LearnedTTL Duration `json:"learned_expires,omitempty"`
	InnerMTU   int      `json:"inner_mtu"`
	Rx         uint64   `json:"rx_packets"`
	Tx         uint64   `json:"tx_packets"`
	Drops      uint64   `json:"drops"`
}

// TunnelAnswer is "tunnel show".
type TunnelAnswer struct {
	Tunnels  []TunnelRow       `json:"tunnels"`
	Counters map[string]uint64 `json:"counters"`
}

func (b *Backend) tunnelShow(ctx context.Context, args json.RawMessage, send func(any) error) error {
	if err := decodeArgs(args, &struct{}{}); err != nil {
		return err
	}
	st := b.Switch.Stats()
	ans := TunnelAnswer{Tunnels: []TunnelRow{}, Counters: st.TunnelCounters}
	for _, t := range st.Tunnels {
		c := t.Config
		r := TunnelRow{
			Name: t.Name, Network: t.Network, Type: c.Kind.String(), Local: c.Local.String(), Remote: c.Remote.String(),
			Underlay: t.Underlay, NextHopErr: t.NextHopErr, LinkMTU: t.LinkMTU, PathMTU: t.PathMTU,
			Learned: t.Learned, LearnedTTL: Duration(t.LearnedTTL), InnerMTU: t.InnerMTU,
			Rx: t.RxPackets, Tx: t.TxPackets, Drops: t.Drops,
		}
		switch {
		case c.Kind == tunnel.Geneve:
			r.ID = fmt.Sprintf("vni %d", c.VNI)
		case c.Key != nil:
			r.ID = fmt.Sprintf("key %d", *c.Key)
		}
		if t.NextHop != nil {
			r.Via, r.NextHopMAC = t.NextHop.Via.String(), macString(t.NextHop.DstMAC)
		}
		ans.Tunnels = append(ans.Tunnels, r)
	}
	return send(ans)
}
