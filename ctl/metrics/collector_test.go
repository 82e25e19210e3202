package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/tunnel"
)

// fakeSource returns fixed stats; census, when set, replaces the census call.
type fakeSource struct {
	census func(ctx context.Context) (map[conntrack.CensusKey]int, error)
}

func (fakeSource) SwitchStats() dataplane.Stats {
	drops := map[string]uint64{}
	for _, d := range dataplane.Drops() {
		drops[d.Name()] = 0
	}
	drops["ct_invalid"] = 7
	drops["l2_hairpin"] = 2
	return dataplane.Stats{
		Ports: []dataplane.PortStats{
			{Name: "vm1", Interface: "veth-vm1", Network: "default", Mode: "native", Queues: []dataplane.QueueStats{
				{Queue: 0, RxPackets: 100, RxBytes: 64000, RxBatches: 10, TxPackets: 90, TxBytes: 57600, TxKicks: 9,
					TxRingFull: 3, TxErrors: 1,
					Kernel: dataplane.KernelStats{RxRingFull: 5, RxFillRingEmpty: 4, RxDropped: 2, RxInvalidDescs: 1, TxInvalidDescs: 0}},
				// Kernel statistics unreadable: their reasons are left out.
				{Queue: 1, RxPackets: 50, RxBytes: 3000, KernelErr: errors.New("closed")},
			}},
			{Name: "vm2", Interface: "veth-vm2", Network: "default", Mode: "generic", Queues: []dataplane.QueueStats{
				{Queue: 0, RxPackets: 90, RxBytes: 57600, RxBatches: 9, TxPackets: 100, TxBytes: 64000, TxKicks: 10},
			}},
			{Name: "idle", Interface: "veth-idle", Network: "lab"}, // no I/O: info only
		},
		Workers: []dataplane.WorkerStats{
			{Worker: 0, CPU: 2, Processed: 120, Forwarded: 110, HandoffOut: 20, HandoffIn: 30, Reordered: 4,
				OrderWaitTO: 1, Batches: 12, Sleeps: 40, BusyNs: 1_500_000_000},
			{Worker: 1, CPU: 3, Processed: 70, Forwarded: 80, HandoffOut: 30, HandoffIn: 20, Batches: 7, Sleeps: 50, BusyNs: 250_000_000},
		},
		Drops: drops,
		Tunnels: []dataplane.TunnelStats{{Name: "hostb", Network: "lab",
			Config:  tunnel.Config{Kind: tunnel.Geneve, Remote: netip.MustParseAddr("198.18.100.2")},
			PathMTU: 1400, RxPackets: 5, TxPackets: 6, Drops: 1}},
		TunnelCounters:    map[string]uint64{"rx_packets": 5, "frag_needed_sent": 1},
		TunnelReasons:     map[string]uint64{"gre_key_mismatch": 2},
		ReassemblyReasons: map[string]uint64{"overlap": 1},
		ICMPSuppressed:    map[string]uint64{"about_icmp_error": 1},
	}
}

func (fakeSource) ConntrackStats(context.Context) (conntrack.Stats, error) {
	return conntrack.Stats{
		Entries: 5, Capacity: 65536, Packets: 190,
		Verdicts: map[string]uint64{"new": 6, "established": 170, "invalid": 7, "untracked": 7},
		Reasons:  map[string]uint64{"tcp_invalid_state": 4, "bad_checksum": 3, "future_reason": 1},
		Inserted: 9, Deleted: 3, Expired: 1, EarlyDrop: 0, Fragments: 2,
	}, nil
}

func (f fakeSource) ConntrackCensus(ctx context.Context) (map[conntrack.CensusKey]int, error) {
	if f.census != nil {
		return f.census(ctx)
	}
	return map[conntrack.CensusKey]int{
		{Zone: 0, Proto: 6, State: conntrack.TCPEstablished}: 3,
		{Zone: 0, Proto: 17, State: conntrack.Replied}:       1,
		{Zone: 7, Proto: 1, State: conntrack.Unreplied}:      1,
	}, nil
}

const wantSubset = `
# HELP ctswitch_conntrack_capacity Connections the table can hold, over all shards.
# TYPE ctswitch_conntrack_capacity gauge
ctswitch_conntrack_capacity 65536
# HELP ctswitch_conntrack_entries Live tracked connections by zone, protocol and state.
# TYPE ctswitch_conntrack_entries gauge
ctswitch_conntrack_entries{protocol="icmp",state="UNREPLIED",zone="7"} 1
ctswitch_conntrack_entries{protocol="tcp",state="ESTABLISHED",zone="0"} 3
ctswitch_conntrack_entries{protocol="udp",state="REPLIED",zone="0"} 1
# HELP ctswitch_conntrack_fragments_pending IP datagrams pending reassembly.
# TYPE ctswitch_conntrack_fragments_pending gauge
ctswitch_conntrack_fragments_pending 2
# HELP ctswitch_conntrack_verdicts_total Packets tracked, by verdict.
# TYPE ctswitch_conntrack_verdicts_total counter
ctswitch_conntrack_verdicts_total{verdict="established"} 170
ctswitch_conntrack_verdicts_total{verdict="ignored"} 0
ctswitch_conntrack_verdicts_total{verdict="invalid"} 7
ctswitch_conntrack_verdicts_total{verdict="new"} 6
ctswitch_conntrack_verdicts_total{verdict="pending"} 0
ctswitch_conntrack_verdicts_total{verdict="related"} 0
ctswitch_conntrack_verdicts_total{verdict="untracked"} 7
# HELP ctswitch_port_drop_total Frames lost by the port queue, by reason: rx_* and tx_invalid_descs from the socket's XDP_STATISTICS, tx_ring_full (frames the tx ring could not take) and tx_errors (failed sendto calls) from the queue.
# TYPE ctswitch_port_drop_total counter
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="rx_dropped"} 2
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="rx_fill_ring_empty"} 4
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="rx_invalid_descs"} 1
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="rx_ring_full"} 5
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="tx_errors"} 1
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="tx_invalid_descs"} 0
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="0",reason="tx_ring_full"} 3
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="1",reason="tx_errors"} 0
ctswitch_port_drop_total{interface="veth-vm1",port="vm1",queue="1",reason="tx_ring_full"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="rx_dropped"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="rx_fill_ring_empty"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="rx_invalid_descs"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="rx_ring_full"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="tx_errors"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="tx_invalid_descs"} 0
ctswitch_port_drop_total{interface="veth-vm2",port="vm2",queue="0",reason="tx_ring_full"} 0
# HELP ctswitch_port_info Switch port, with its interface, virtual network and XDP mode; always 1.
# TYPE ctswitch_port_info gauge
ctswitch_port_info{interface="veth-idle",mode="",network="lab",port="idle"} 1
ctswitch_port_info{interface="veth-vm1",mode="native",network="default",port="vm1"} 1
ctswitch_port_info{interface="veth-vm2",mode="generic",network="default",port="vm2"} 1
# HELP ctswitch_port_receive_packets_total Frames received on the port queue.
# TYPE ctswitch_port_receive_packets_total counter
ctswitch_port_receive_packets_total{interface="veth-vm1",port="vm1",queue="0"} 100
ctswitch_port_receive_packets_total{interface="veth-vm1",port="vm1",queue="1"} 50
ctswitch_port_receive_packets_total{interface="veth-vm2",port="vm2",queue="0"} 90
# HELP ctswitch_scrape_errors_total Scrapes in which a conntrack call failed or timed out (its metrics were left out of that scrape).
# TYPE ctswitch_scrape_errors_total counter
ctswitch_scrape_errors_total 0
# HELP ctswitch_worker_busy_seconds_total Time the worker spent with work in hand; its rate is the busy ratio.
# TYPE ctswitch_worker_busy_seconds_total counter
ctswitch_worker_busy_seconds_total{cpu="2",worker="0"} 1.5
ctswitch_worker_busy_seconds_total{cpu="3",worker="1"} 0.25
# HELP ctswitch_worker_handoff_packets_total Frames handed to their owning worker (out) or received from other workers (in).
# TYPE ctswitch_worker_handoff_packets_total counter
ctswitch_worker_handoff_packets_total{cpu="2",direction="in",worker="0"} 30
ctswitch_worker_handoff_packets_total{cpu="2",direction="out",worker="0"} 20
ctswitch_worker_handoff_packets_total{cpu="3",direction="in",worker="1"} 20
ctswitch_worker_handoff_packets_total{cpu="3",direction="out",worker="1"} 30
`

var subsetNames = []string{
	"ctswitch_conntrack_capacity", "ctswitch_conntrack_entries", "ctswitch_conntrack_fragments_pending",
	"ctswitch_conntrack_verdicts_total", "ctswitch_port_drop_total", "ctswitch_port_info",
	"ctswitch_port_receive_packets_total", "ctswitch_scrape_errors_total",
	"ctswitch_worker_busy_seconds_total", "ctswitch_worker_handoff_packets_total",
}

func TestCollectAndCompare(t *testing.T) {
	c := NewCollector(fakeSource{})
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantSubset), subsetNames...); err != nil {
		t.Fatal(err)
	}
}

func TestDropsEveryReason(t *testing.T) {
	c := NewCollector(fakeSource{})
	if got, want := testutil.CollectAndCount(c, "ctswitch_drops_total"), len(dataplane.Drops()); got != want {
		t.Fatalf("ctswitch_drops_total: %d series, want %d (every Drop but none)", got, want)
	}
	want := `
# HELP ctswitch_drops_total Frames the switch dropped, by reason (dataplane.Drop names; dataplane.Drop.Help explains each).
# TYPE ctswitch_drops_total counter
`
	for _, d := range dataplane.Drops() {
		v := "0"
		switch d.Name() {
		case "ct_invalid":
			v = "7"
		case "l2_hairpin":
			v = "2"
		}
		want += `ctswitch_drops_total{reason="` + d.Name() + `"} ` + v + "\n"
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "ctswitch_drops_total"); err != nil {
		t.Fatal(err)
	}
}

func TestCollectAndCount(t *testing.T) {
	c := NewCollector(fakeSource{})
	const (
		queues        = 3
		kernelQueues  = 2 // queue 1 of vm1 has no kernel statistics
		workers       = 2
		ports         = 3
		censusSeries  = 3
		verdicts      = int(conntrack.VerdictPending - conntrack.VerdictNew + 1)
		ctScalars     = 7 // capacity, packets, inserted, deleted, expired, early_drop, fragments_pending
		extraReasons  = 1 // future_reason
		perQueue      = 6 // rx/tx packets/bytes, kicks, batches
		perQueueDrops = 2 // tx_ring_full, tx_errors
		perKernel     = 5
		perWorker     = 9                 // 8 families, handoff twice
		tunnelSeries  = 4 + 2 + 1 + 1 + 1 // per endpoint 4, events 2, decap, reassembly, icmp
	)
	want := ports + queues*(perQueue+perQueueDrops) + kernelQueues*perKernel +
		len(dataplane.Drops()) + workers*perWorker +
		censusSeries + ctScalars + verdicts + conntrack.NumReasons - 1 + extraReasons +
		1 + // scrape errors
		tunnelSeries
	if got := testutil.CollectAndCount(c); got != want {
		t.Fatalf("CollectAndCount = %d, want %d", got, want)
	}
	for name, want := range map[string]int{
		"ctswitch_port_transmit_bytes_total":        queues,
		"ctswitch_worker_processed_packets_total":   workers,
		"ctswitch_worker_order_wait_timeouts_total": workers,
		"ctswitch_conntrack_invalid_total":          conntrack.NumReasons - 1 + extraReasons,
		"ctswitch_conntrack_packets_total":          1,
		"ctswitch_conntrack_early_drop_total":       1,
	} {
		if got := testutil.CollectAndCount(c, name); got != want {
			t.Errorf("%s: %d series, want %d", name, got, want)
		}
	}
}

func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(fakeSource{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Every described family is collected (checked collector: a registry
// refuses metrics that were not described).
func TestRegistryGather(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(fakeSource{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	c := newCollector(fakeSource{}, time.Second)
	ch := make(chan *prometheus.Desc, 64)
	c.Describe(ch)
	close(ch)
	n := 0
	for d := range ch {
		n++
		name := d.String()
		name = name[strings.Index(name, `"`)+1:]
		name = name[:strings.Index(name, `"`)]
		if !got[name] {
			t.Errorf("%s described but not collected", name)
		}
	}
	if n != len(mfs) {
		t.Errorf("%d families described, %d gathered", n, len(mfs))
	}
}

func TestConntrackTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// The census ignores its context: the collector's deadline must hold anyway.
	src := fakeSource{census: func(context.Context) (map[conntrack.CensusKey]int, error) {
		<-release
		return nil, nil
	}}
	c := newCollector(src, 50*time.Millisecond)

	start := time.Now()
	want := `
# HELP ctswitch_port_receive_packets_total Frames received on the port queue.
# TYPE ctswitch_port_receive_packets_total counter
ctswitch_port_receive_packets_total{interface="veth-vm1",port="vm1",queue="0"} 100
ctswitch_port_receive_packets_total{interface="veth-vm1",port="vm1",queue="1"} 50
ctswitch_port_receive_packets_total{interface="veth-vm2",port="vm2",queue="0"} 90
# HELP ctswitch_scrape_errors_total Scrapes in which a conntrack call failed or timed out (its metrics were left out of that scrape).
# TYPE ctswitch_scrape_errors_total counter
ctswitch_scrape_errors_total 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"ctswitch_port_receive_packets_total", "ctswitch_scrape_errors_total"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("scrape took %v with a 50ms timeout", d)
	}
	// Stats answered before the census hung: they are served, the census is not.
	if n := testutil.CollectAndCount(c, "ctswitch_conntrack_entries"); n != 0 {
		t.Errorf("ctswitch_conntrack_entries: %d series after a census timeout", n)
	}
	if n := testutil.CollectAndCount(c, "ctswitch_conntrack_capacity"); n != 1 {
		t.Errorf("ctswitch_conntrack_capacity: %d series, want 1", n)
	}
	// Three scrapes so far, each timed out.
	if v := testutil.ToFloat64(c.scrapeErrors); v != 3 {
		t.Errorf("scrape errors = %v, want 3", v)
	}
}

// A source that honours its context and fails: counted once per scrape.
func TestConntrackError(t *testing.T) {
	src := fakeSource{census: func(ctx context.Context) (map[conntrack.CensusKey]int, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	c := newCollector(src, 20*time.Millisecond)
	if n := testutil.CollectAndCount(c, "ctswitch_worker_batches_total"); n != 2 {
		t.Errorf("ctswitch_worker_batches_total: %d series, want 2", n)
	}
	if v := testutil.ToFloat64(c.scrapeErrors); v != 1 {
		t.Errorf("scrape errors = %v, want 1", v)
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(fakeSource{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for _, name := range []string{
		"ctswitch_port_receive_packets_total{", "ctswitch_drops_total{", "ctswitch_worker_busy_seconds_total{",
		"ctswitch_conntrack_entries{", "ctswitch_scrape_errors_total 0", "go_goroutines", "promhttp_metric_handler_requests_total",
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("response lacks %q", name)
		}
	}
}
