package dataplane

import "sync/atomic"

// Drop is a named reason the switch dropped a frame. Every drop has one
// and a counter (per worker, summed by Stats).
type Drop uint8

const (
	DropNone                  Drop = iota
	DropRunt                       // shorter than an Ethernet header
	DropOversize                   // longer than the input port's MTU allows
	DropMalformed                  // IP/L4 headers do not parse (packet.Parse); see conntrack for the check
	DropFragment                   // IP fragment refused by reassembly (conntrack counts why)
	DropCTInvalid                  // conntrack verdict invalid (its reason is counted by conntrack)
	DropPolicyRule                 // a policy rule denied the new connection
	DropPolicyDefault              // no rule allowed the new connection and the default is deny
	DropHairpin                    // destination MAC is on the input port
	DropNoPort                     // flooding found no other port in the network
	DropMTUExceeded                // longer than the output port's MTU
	DropHandoffFull                // the owner worker's hand-off ring was full
	DropReorderFull                // the worker's reorder buffer was full
	DropTxRingFull                 // the output queue's tx ring was full
	DropTxError                    // the output queue failed to send
	DropSrcMulticast               // multicast or broadcast source MAC
	DropTunnelDecap                // a tunnel packet failed decapsulation (tunnel counts the reason)
	DropTunnelReassembly           // an outer fragment could not be reassembled (ipfrag counts the reason)
	DropTunnelNoNextHop            // no route or neighbour towards the remote endpoint yet
	DropTunnelFragNeeded           // too big for the tunnel with DF: dropped, ICMP fragmentation needed sent
	DropTunnelPacketTooBig         // IPv6 too big for the tunnel: dropped, ICMPv6 packet too big sent
	DropTunnelTooBig               // too big for the tunnel, no remedy (non-IP, or fragmentation failed)
	DropTunnelEncap                // encapsulation failed (frame too large for a tx buffer)
	DropFragmentBuffers            // a reassembled datagram found no buffer this round
	DropTunnelNotIP                // a frame for an IP-GRE endpoint that is not IP (nor ARP/ND for its gateway)
	DropTunnelNoInnerNeighbor      // out of an IP-GRE tunnel to an address no host has claimed yet (the gateway asks)
	numDrops
)

var dropNames = [numDrops]string{
	DropNone:          "none",
	DropRunt:          "runt",
	DropOversize:      "oversize",
	DropMalformed:     "malformed",
	DropFragment:      "ip_fragment",
	DropCTInvalid:     "ct_invalid",
	DropPolicyRule:    "policy_deny_rule",
	DropPolicyDefault: "policy_deny_default",
	DropHairpin:       "l2_hairpin",
	DropNoPort:        "l2_no_port",
	DropMTUExceeded:   "mtu_exceeded",
	DropHandoffFull:   "handoff_ring_full",
	DropReorderFull:   "reorder_buffer_full",
	DropTxRingFull:    "tx_ring_full",
	DropTxError:       "tx_error",
	DropSrcMulticast:  "l2_src_multicast",

	DropTunnelDecap:           "tunnel_decap",
	DropTunnelReassembly:      "tunnel_reassembly",
	DropTunnelNoNextHop:       "tunnel_no_next_hop",
	DropTunnelFragNeeded:      "tunnel_frag_needed",
	DropTunnelPacketTooBig:    "tunnel_packet_too_big",
	DropTunnelTooBig:          "tunnel_too_big",
	DropTunnelEncap:           "tunnel_encap",
	DropFragmentBuffers:       "fragment_buffers_full",
	DropTunnelNotIP:           "tunnel_not_ip",
	DropTunnelNoInnerNeighbor: "tunnel_no_inner_neighbor",
}

var dropHelp = [numDrops]string{
	DropNone:          "not dropped",
	DropRunt:          "frame shorter than an Ethernet header",
	DropOversize:      "frame longer than the input port's MTU (plus Ethernet header and one VLAN tag)",
	DropMalformed:     "IP or L4 headers do not parse",
	DropFragment:      "IP fragment refused by reassembly (conntrack counts the reason: overlap, too small, table full...)",
	DropCTInvalid:     "connection tracking verdict invalid (conntrack counts the reason)",
	DropPolicyRule:    "a policy rule denied the new connection",
	DropPolicyDefault: "no policy rule allowed the new connection and the default is deny",
	DropHairpin:       "destination MAC was learned on the input port",
	DropNoPort:        "no other port in the virtual network to flood to",
	DropMTUExceeded:   "frame longer than the output port's MTU",
	DropHandoffFull:   "the owning worker's hand-off ring was full",
	DropReorderFull:   "the worker's reorder buffer was full",
	DropTxRingFull:    "the output queue's tx ring was full",
	DropTxError:       "the output queue failed to send",
	DropSrcMulticast:  "multicast or broadcast source MAC address",

	DropTunnelDecap:           "a tunnel packet failed decapsulation (see the tunnel reasons)",
	DropTunnelReassembly:      "an outer IP fragment could not be reassembled (see the reassembly reasons)",
	DropTunnelNoNextHop:       "no route or neighbour towards the remote tunnel endpoint yet",
	DropTunnelFragNeeded:      "IPv4 with DF too big for the tunnel: dropped, ICMP fragmentation needed sent to its source",
	DropTunnelPacketTooBig:    "IPv6 too big for the tunnel: dropped, ICMPv6 packet too big sent to its source",
	DropTunnelTooBig:          "too big for the tunnel with no remedy (not IP, or fragmentation failed)",
	DropTunnelEncap:           "encapsulation failed (frame too large for a transmit buffer)",
	DropFragmentBuffers:       "a reassembled IP datagram found no free buffer in this round",
	DropTunnelNotIP:           "a frame for an IP-GRE endpoint that is not IP (ARP and ND for its gateway are answered)",
	DropTunnelNoInnerNeighbor: "a packet out of an IP-GRE tunnel to an address no host has claimed yet: the gateway asked for it (ARP/ND)",
}

// Name is the stable counter name, e.g. "ct_invalid".
func (d Drop) Name() string {
	if d < numDrops {
		return dropNames[d]
	}
	return "unknown"
}

// Help says what the drop means.
func (d Drop) Help() string {
	if d < numDrops {
		return dropHelp[d]
	}
	return ""
}

func (d Drop) String() string { return d.Name() }

// Drops lists every drop reason, in counter order.
func Drops() []Drop {
	ds := make([]Drop, 0, numDrops-1)
	for d := DropNone + 1; d < numDrops; d++ {
		ds = append(ds, d)
	}
	return ds
}

// counter is written by one goroutine and read by any: a plain
// load-add-store (no locked instruction on the owner's fast path), atomic
// so readers never see a torn value.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) inc()         { c.v.Store(c.v.Load() + 1) }
func (c *counter) load() uint64 { return c.v.Load() }

// workerCounters are one worker's counters; only that worker writes them.
type workerCounters struct {
	processed    counter // frames this worker ran through the pipeline as owner
	forwarded    counter // frames queued for transmission (a flood counts once per copy)
	handoffOut   counter // frames handed to their owner
	handoffIn    counter // frames received from other workers
	reordered    counter // frames held until other workers' watermarks passed them
	orderWaitTO  counter // times the worker stopped waiting for a stalled worker's watermark
	batches      counter
	sleeps       counter
	busyNs       counter // time spent with work in hand
	fragHeld     counter // IP fragments held until their datagram is complete
	reassembled  counter // IP datagrams reassembled from fragments (then tracked and forwarded whole, or refragmented)
	refragmented counter // reassembled datagrams too big for their output port, sent fragmented again
	refragments  counter // the fragments those were sent as
	drops        [numDrops]counter
	_            [64]byte
}
