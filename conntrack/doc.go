// Package conntrack owns ctswitch's connection table: the TCP, UDP, ICMP and
// generic trackers, zones and their knobs, timeouts and incremental expiry,
// connection limits, IP fragment reassembly before tracking, the reason behind
// every invalid verdict, and export/import of entries.
//
// Semantics follow Linux nf_conntrack (ACCEPT / IGNORE / INVALID, RFC 5961
// reset handling, loose pickup, be_liberal) rather than the pf-derived Open
// vSwitch userspace tracker; see ../shared/reference/conntrack.md.
//
// Ownership: the table is split into shards, one per owning worker. A
// symmetric hash of (zone, 5-tuple) picks the shard, so both directions of a
// connection meet in the same shard and are processed by one goroutine in
// arrival order. Only that goroutine touches the shard: the per-packet path
// takes no locks. The control plane (list, flush, export, import, stats)
// submits requests that the owner executes between batches (Shard.Poll).
//
// The package does no I/O and knows nothing about AF_XDP.
package conntrack
