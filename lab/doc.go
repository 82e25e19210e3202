// Package lab builds network-namespace topologies for tests, the demo and
// benchmarks: hosts are network namespaces, links are veth pairs with one
// end in a host and the other end in another host or left in the caller's
// (switch) namespace, each with its MTU, queue count, MAC, addresses,
// static neighbours and the hosts' routes.
//
// Up returns once every link is operationally up and every IPv6 address
// can be resolved by its neighbours: until the kernel has seen the carrier
// (through linkwatch, up to a second later) IPv6 drops neighbour
// solicitations on the link, and until it has joined the solicited-node
// multicast group of an address (from a work queue, a millisecond or so
// later) it ignores solicitations for that address.
//
// Lab owns every namespace and link it creates and nothing else: Down
// removes exactly those, and the sweeper only removes objects that carry
// the lab prefix and whose creating process is gone (each lab records its
// owner's pid and start time in /run/ctswitch-lab before creating anything). It never touches
// interfaces or addresses it did not create. Addresses must come from the
// benchmarking range 198.18.0.0/15 or the documentation range 2001:db8::/32.
//
// A kept lab (Topology.Keep) outlives its creator: the sweeper leaves it
// alone, and any process can rebuild it from its record with Open (which
// is why records hold the topology) and remove it with Down. List shows
// every recorded lab. DemoTopology is the lab of "ctswitch lab up": VMs
// whose veths end in the caller's namespace as switch ports.
//
// TCPTransfer, UDPExchange and Ping run traffic between hosts through the
// namespaces' own kernel stacks, bounded by timeouts and the context.
//
// Everything is done with netlink (vishvananda/netlink and netns); the
// library never shells out to ip(8). Code that has to run inside a host
// (Run, Exec, Ping, OpenRaw) runs on a locked OS thread that is switched
// into the namespace and back; a thread that cannot be switched back is
// discarded, never returned to the Go scheduler.
//
// A lab is not safe for concurrent Up/Down, but Run, Exec, Ping, OpenRaw
// and the traffic helpers may be called from many goroutines at once.
package lab
