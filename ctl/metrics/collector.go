package metrics

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
)

// Source is what the collector reads at each scrape; the daemon implements
// it over a running switch.
type Source interface {
	SwitchStats() dataplane.Stats
	ConntrackStats(ctx context.Context) (conntrack.Stats, error)
	ConntrackCensus(ctx context.Context) (map[conntrack.CensusKey]int, error)
}

// DefaultTimeout bounds the conntrack calls of one scrape.
const DefaultTimeout = 2 * time.Second

const namespace = "ctswitch"

var (
	queueLabels  = []string{"port", "interface", "queue"}
	workerLabels = []string{"worker", "cpu"}
)

// collector is a checked collector: Describe sends every family's Desc, and
// Collect builds const metrics from one snapshot per scrape. Safe for
// concurrent scrapes.
type collector struct {
	src     Source
	timeout time.Duration

	scrapeErrors prometheus.Counter

	portRxPackets, portRxBytes, portTxPackets, portTxBytes *prometheus.Desc
	portDrops, portTxKicks, portRxBatches, portInfo        *prometheus.Desc

	drops *prometheus.Desc

	wProcessed, wForwarded, wHandoff, wReordered, wOrderWaitTO *prometheus.Desc
	wBatches, wSleeps, wBusy                                   *prometheus.Desc

	ctEntries, ctCapacity, ctPackets, ctVerdicts, ctInvalid    *prometheus.Desc
	ctInserted, ctDeleted, ctExpired, ctEarlyDrop, ctFragments *prometheus.Desc

	tunRx, tunTx, tunDrops, tunPathMTU       *prometheus.Desc
	tunEvents, tunDecap, tunReasm, tunNoICMP *prometheus.Desc
}

// NewCollector returns a collector reading src at every scrape, with
// conntrack calls bounded by DefaultTimeout.
func NewCollector(src Source) prometheus.Collector { return newCollector(src, DefaultTimeout) }

func newCollector(src Source, timeout time.Duration) *collector {
	d := func(subsystem, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
	}
	ql := func(extra ...string) []string { return append(slices.Clone(queueLabels), extra...) }
	wl := func(extra ...string) []string { return append(slices.Clone(workerLabels), extra...) }
	return &collector{
		src:     src,
		timeout: timeout,
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "scrape_errors_total",
			Help: "Scrapes in which a conntrack call failed or timed out (its metrics were left out of that scrape).",
		}),

		portRxPackets: d("port", "receive_packets_total", "Frames received on the port queue.", ql()...),
		portRxBytes:   d("port", "receive_bytes_total", "Bytes received on the port queue.", ql()...),
		portTxPackets: d("port", "transmit_packets_total", "Frames queued for transmission on the port queue.", ql()...),
		portTxBytes:   d("port", "transmit_bytes_total", "Bytes queued for transmission on the port queue.", ql()...),
		portDrops: d("port", "drop_total",
			"Frames lost by the port queue, by reason: rx_* and tx_invalid_descs from the socket's XDP_STATISTICS, tx_ring_full (frames the tx ring could not take) and tx_errors (failed sendto calls) from the queue.",
			ql("reason")...),
		portTxKicks:   d("port", "tx_kicks_total", "sendto calls made to kick the port queue's transmission.", ql()...),
		portRxBatches: d("port", "receive_batches_total", "Non-empty receive batches taken from the port queue.", ql()...),
		portInfo: d("port", "info", "Switch port, with its interface, virtual network and XDP mode; always 1.",
			"port", "interface", "network", "mode"),

		drops: d("", "drops_total", "Frames the switch dropped, by reason (dataplane.Drop names; dataplane.Drop.Help explains each).", "reason"),

		wProcessed:   d("worker", "processed_packets_total", "Frames the worker ran through the pipeline as their owner.", wl()...),
		wForwarded:   d("worker", "forwarded_packets_total", "Frames the worker queued for transmission (a flood counts once per copy).", wl()...),
		wHandoff:     d("worker", "handoff_packets_total", "Frames handed to their owning worker (out) or received from other workers (in).", wl("direction")...),
		wReordered:   d("worker", "reordered_packets_total", "Frames held until the other workers' watermarks passed them.", wl()...),
		wOrderWaitTO: d("worker", "order_wait_timeouts_total", "Times the worker stopped waiting for a stalled worker's watermark.", wl()...),
		wBatches:     d("worker", "batches_total", "Batches the worker processed.", wl()...),
		wSleeps:      d("worker", "sleeps_total", "Times the worker slept waiting for work.", wl()...),
		wBusy:        d("worker", "busy_seconds_total", "Time the worker spent with work in hand; its rate is the busy ratio.", wl()...),

		ctEntries:   d("conntrack", "entries", "Live tracked connections by zone, protocol and state.", "zone", "protocol", "state"),
		ctCapacity:  d("conntrack", "capacity", "Connections the table can hold, over all shards."),
		ctPackets:   d("conntrack", "packets_total", "Packets the connection tracker processed."),
		ctVerdicts:  d("conntrack", "verdicts_total", "Packets tracked, by verdict.", "verdict"),
		ctInvalid:   d("conntrack", "invalid_total", "Packets by the check behind an invalid or ignored verdict (or another notable outcome), by conntrack reason.", "reason"),
		ctInserted:  d("conntrack", "inserted_total", "Connections inserted."),
		ctDeleted:   d("conntrack", "deleted_total", "Connections deleted."),
		ctExpired:   d("conntrack", "expired_total", "Connections expired."),
		ctEarlyDrop: d("conntrack", "early_drop_total", "Connections evicted early to make room."),
		ctFragments: d("conntrack", "fragments_pending", "IP datagrams pending reassembly."),

		tunRx:      d("tunnel", "receive_packets_total", "Packets decapsulated from the tunnel endpoint and switched.", tunnelLabels...),
		tunTx:      d("tunnel", "transmit_packets_total", "Packets encapsulated towards the tunnel endpoint.", tunnelLabels...),
		tunDrops:   d("tunnel", "drops_total", "Packets to the endpoint dropped: no next hop, too big (ICMP sent or not), encapsulation failed.", tunnelLabels...),
		tunPathMTU: d("tunnel", "path_mtu_bytes", "The L3 path MTU in use towards the endpoint (0 while its next hop is unresolved).", tunnelLabels...),
		tunEvents:  d("tunnel", "events_total", "Tunnel events over all endpoints: packets fragmented, ICMP errors sent, outer datagrams reassembled, path MTUs learned.", "event"),
		tunDecap:   d("tunnel", "decap_drops_total", "Underlay packets that failed decapsulation, by tunnel reason.", "reason"),
		tunReasm:   d("tunnel", "reassembly_drops_total", "Outer fragments refused by reassembly, by reason.", "reason"),
		tunNoICMP:  d("tunnel", "icmp_not_sent_total", "Packets too big for a tunnel that got no ICMP error, by reason (RFC exclusions, rate limits).", "reason"),
	}
}

var tunnelLabels = []string{"tunnel", "network", "type", "remote"}

func (c *collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.portRxPackets, c.portRxBytes, c.portTxPackets, c.portTxBytes,
		c.portDrops, c.portTxKicks, c.portRxBatches, c.portInfo,
		c.drops,
		c.wProcessed, c.wForwarded, c.wHandoff, c.wReordered, c.wOrderWaitTO,
		c.wBatches, c.wSleeps, c.wBusy,
		c.ctEntries, c.ctCapacity, c.ctPackets, c.ctVerdicts, c.ctInvalid,
		c.ctInserted, c.ctDeleted, c.ctExpired, c.ctEarlyDrop, c.ctFragments,
		c.tunRx, c.tunTx, c.tunDrops, c.tunPathMTU, c.tunEvents, c.tunDecap, c.tunReasm, c.tunNoICMP,
	}
}

func (c *collector) collectTunnels(ch chan<- prometheus.Metric, st dataplane.Stats) {
	for _, t := range st.Tunnels {
		l := []string{t.Name, t.Network, t.Config.Kind.String(), t.Config.Remote.String()}
		counter(ch, c.tunRx, t.RxPackets, l...)
		counter(ch, c.tunTx, t.TxPackets, l...)
		counter(ch, c.tunDrops, t.Drops, l...)
		gauge(ch, c.tunPathMTU, float64(t.PathMTU), l...)
	}
	for _, m := range []struct {
		d *prometheus.Desc
		v map[string]uint64
	}{{c.tunEvents, st.TunnelCounters}, {c.tunDecap, st.TunnelReasons}, {c.tunReasm, st.ReassemblyReasons}, {c.tunNoICMP, st.ICMPSuppressed}} {
		for _, k := range sortedKeys(m.v) {
			counter(ch, m.d, m.v[k], k)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
	c.scrapeErrors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.SwitchStats()
	c.collectSwitch(ch, st)
	c.collectTunnels(ch, st)
	c.collectConntrack(ch)
	ch <- c.scrapeErrors
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *collector) collectSwitch(ch chan<- prometheus.Metric, st dataplane.Stats) {
	for _, p := range st.Ports {
		gauge(ch, c.portInfo, 1, p.Name, p.Interface, p.Network, p.Mode)
		for _, q := range p.Queues {
			l := []string{p.Name, p.Interface, strconv.Itoa(q.Queue)}
			counter(ch, c.portRxPackets, q.RxPackets, l...)
			counter(ch, c.portRxBytes, q.RxBytes, l...)
			counter(ch, c.portTxPackets, q.TxPackets, l...)
			counter(ch, c.portTxBytes, q.TxBytes, l...)
			counter(ch, c.portTxKicks, q.TxKicks, l...)
			counter(ch, c.portRxBatches, q.RxBatches, l...)
			drop := func(reason string, v uint64) { counter(ch, c.portDrops, v, append(l, reason)...) }
			if q.KernelErr == nil {
				// Left out when unreadable rather than reported as zero,
				// which Prometheus would take for a counter reset.
				k := q.Kernel
				drop("rx_ring_full", k.RxRingFull)
				drop("rx_fill_ring_empty", k.RxFillRingEmpty)
				drop("rx_dropped", k.RxDropped)
				drop("rx_invalid_descs", k.RxInvalidDescs)
				drop("tx_invalid_descs", k.TxInvalidDescs)
			}
			drop("tx_ring_full", q.TxRingFull)
			drop("tx_errors", q.TxErrors)
		}
	}

	seen := map[string]bool{dataplane.DropNone.Name(): true}
	for _, d := range dataplane.Drops() {
		seen[d.Name()] = true
		counter(ch, c.drops, st.Drops[d.Name()], d.Name())
	}
	for _, name := range sortedKeys(st.Drops) {
		if !seen[name] {
			counter(ch, c.drops, st.Drops[name], name)
		}
	}

	for _, w := range st.Workers {
		l := []string{strconv.Itoa(w.Worker), strconv.Itoa(w.CPU)}
		counter(ch, c.wProcessed, w.Processed, l...)
		counter(ch, c.wForwarded, w.Forwarded, l...)
		counter(ch, c.wHandoff, w.HandoffOut, append(l, "out")...)
		counter(ch, c.wHandoff, w.HandoffIn, append(l, "in")...)
		counter(ch, c.wReordered, w.Reordered, l...)
		counter(ch, c.wOrderWaitTO, w.OrderWaitTO, l...)
		counter(ch, c.wBatches, w.Batches, l...)
		counter(ch, c.wSleeps, w.Sleeps, l...)
		ch <- prometheus.MustNewConstMetric(c.wBusy, prometheus.CounterValue, float64(w.BusyNs)/1e9, l...)
	}
}

// collectConntrack reads the tracker under one deadline: Stats, then
// Census unless the deadline already passed. The calls run in a goroutine
// so the deadline holds even for a Source that does not honour ctx; one
// that never returns leaves that goroutine behind.
func (c *collector) collectConntrack(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	type statsResult struct {
		st  conntrack.Stats
		err error
	}
	type censusResult struct {
		census map[conntrack.CensusKey]int
		err    error
	}
	statsc, censusc := make(chan statsResult, 1), make(chan censusResult, 1)
	go func() {
		st, err := c.src.ConntrackStats(ctx)
		statsc <- statsResult{st, err}
		if ctx.Err() != nil {
			return
		}
		census, err := c.src.ConntrackCensus(ctx)
		censusc <- censusResult{census, err}
	}()

	failed := false
	fail := func(what string, err error) {
		failed = true
		slog.Default().Warn("metrics: conntrack "+what, "err", err, "timeout", c.timeout)
	}
	select {
	case r := <-statsc:
		if r.err != nil {
			fail("stats", r.err)
		} else {
			c.emitConntrackStats(ch, r.st)
		}
	case <-ctx.Done():
		fail("stats", ctx.Err())
	}
	if !failed || ctx.Err() == nil {
		select {
		case r := <-censusc:
			if r.err != nil {
				fail("census", r.err)
			} else {
				for k, n := range r.census {
					gauge(ch, c.ctEntries, float64(n),
						strconv.Itoa(int(k.Zone)), conntrack.ProtoName(k.Proto), k.State.String())
				}
			}
		case <-ctx.Done():
			fail("census", ctx.Err())
		}
	}
	if failed {
		c.scrapeErrors.Inc()
	}
}

func (c *collector) emitConntrackStats(ch chan<- prometheus.Metric, st conntrack.Stats) {
	gauge(ch, c.ctCapacity, float64(st.Capacity))
	counter(ch, c.ctPackets, st.Packets)
	counter(ch, c.ctInserted, st.Inserted)
	counter(ch, c.ctDeleted, st.Deleted)
	counter(ch, c.ctExpired, st.Expired)
	counter(ch, c.ctEarlyDrop, st.EarlyDrop)
	gauge(ch, c.ctFragments, float64(st.Fragments))

	// Every known verdict and reason, zeros included, so rate() works from
	// the first occurrence; then any name this package does not know.
	seen := map[string]bool{}
	for v := conntrack.VerdictNew; v <= conntrack.VerdictPending; v++ {
		seen[v.String()] = true
		counter(ch, c.ctVerdicts, st.Verdicts[v.String()], v.String())
	}
	for _, name := range sortedKeys(st.Verdicts) {
		if !seen[name] {
			counter(ch, c.ctVerdicts, st.Verdicts[name], name)
		}
	}
	clear(seen)
	seen[conntrack.ReasonNone.Name()] = true
	for _, r := range conntrack.Reasons() {
		if r == conntrack.ReasonNone {
			continue
		}
		seen[r.Name()] = true
		counter(ch, c.ctInvalid, st.Reasons[r.Name()], r.Name())
	}
	for _, name := range sortedKeys(st.Reasons) {
		if !seen[name] {
			counter(ch, c.ctInvalid, st.Reasons[name], name)
		}
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
