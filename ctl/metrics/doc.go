// Package metrics exposes the ctswitch daemon's counters to Prometheus.
//
// It owns the translation from the switch's snapshots (dataplane.Stats) and
// the connection tracker's (conntrack.Stats and conntrack.Table.Census) to
// metric families, the scrape timeout on conntrack calls, the
// ctswitch_scrape_errors_total counter, and the HTTP handler with its own
// registry (this collector plus the Go runtime and process collectors).
// It holds no counters of its own besides scrape errors: every value is read
// from a Source at scrape time, so a scrape costs one dataplane.Stats
// snapshot, one conntrack Stats request and one Census per shard owner.
//
// A scrape bounds its conntrack calls with one timeout (2 s by default). When
// conntrack does not answer in time (or fails), the switch metrics are still
// served, the conntrack families that could not be read are left out of that
// scrape and ctswitch_scrape_errors_total is incremented once.
//
// Metric families (counters end in _total; units are in the name):
//
// Per port and queue, labels port, interface, queue:
//
//	ctswitch_port_receive_packets_total
//	ctswitch_port_receive_bytes_total
//	ctswitch_port_transmit_packets_total
//	ctswitch_port_transmit_bytes_total
//	ctswitch_port_drop_total{reason}      rx_ring_full, rx_fill_ring_empty, rx_dropped,
//	                                      rx_invalid_descs, tx_invalid_descs (the socket's
//	                                      XDP_STATISTICS, left out while unreadable),
//	                                      tx_ring_full, tx_errors (the queue's own counters)
//	ctswitch_port_tx_kicks_total
//	ctswitch_port_receive_batches_total
//	ctswitch_port_info{port,interface,network,mode}   gauge, always 1
//
// Switch drops, label reason (every dataplane.Drop but "none", zeros
// included; dataplane.Drop.Help explains each):
//
//	ctswitch_drops_total
//
// Per worker, labels worker, cpu:
//
//	ctswitch_worker_processed_packets_total
//	ctswitch_worker_forwarded_packets_total
//	ctswitch_worker_handoff_packets_total{direction="out"|"in"}
//	ctswitch_worker_reordered_packets_total
//	ctswitch_worker_order_wait_timeouts_total
//	ctswitch_worker_batches_total
//	ctswitch_worker_sleeps_total
//	ctswitch_worker_busy_seconds_total    rate() of it is the worker's busy ratio
//
// Connection tracking:
//
//	ctswitch_conntrack_entries{zone,protocol,state}   gauge, from Census
//	ctswitch_conntrack_capacity                       gauge
//	ctswitch_conntrack_packets_total
//	ctswitch_conntrack_verdicts_total{verdict}        every verdict, zeros included
//	ctswitch_conntrack_invalid_total{reason}          conntrack.Reason names, zeros included
//	ctswitch_conntrack_inserted_total
//	ctswitch_conntrack_deleted_total
//	ctswitch_conntrack_expired_total
//	ctswitch_conntrack_early_drop_total
//	ctswitch_conntrack_fragments_pending              gauge
//
// The collector itself:
//
//	ctswitch_scrape_errors_total          scrapes in which a conntrack call failed or timed out
package metrics
