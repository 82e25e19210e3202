// Package dataplane owns ctswitch's frame I/O. So far that is the port
// layer: a Port is one Linux interface with ctswitch's XDP program attached
// through a bpf_link, and one AF_XDP socket (a Queue, with its own UMEM)
// per interface queue, opened with github.com/asavie/xdp. Workers,
// hand-off rings and the per-packet pipeline will live here too; protocol
// logic stays in packet, conntrack and tunnel.
//
// # The XDP program
//
// The program ("ctswitch_xsk", built at run time with cilium/ebpf's asm
// package, so building ctswitch needs no clang) redirects each frame into
// the XSKMAP slot of the queue it arrived on; a queue without a socket gets
// XDP_PASS, so the kernel keeps whatever the switch does not consume. A
// Filter spliced in front of the redirect can hand chosen frames to the
// kernel: that is the hook for underlay ports, where only tunnel traffic
// for a local endpoint belongs to the switch.
//
// It is attached through a bpf_link, which the kernel removes when the
// process dies, so a crash can't leave an interface black-holing traffic.
// Open refuses interfaces that carry someone else's XDP program, and
// removes a stale ctswitch program left by a legacy (netlink) attach.
//
// # Modes
//
// ModeZeroCopy binds with XDP_ZEROCOPY (driver support needed), ModeNative
// attaches in driver mode and copies, ModeGeneric attaches in skb mode and
// copies, ModeAuto tries them in that order and Port.Mode says what it got.
// veth has no zero-copy: auto ends up native there.
//
// # Ownership
//
// A Queue belongs to exactly one goroutine (a worker) at a time: Receive,
// AllocTx, Transmit, Flush and Wait must not run concurrently on one
// queue, and say so with ErrBusy rather than corrupt the rings. Stats may
// be read from anywhere. Port.Close must come after the owners stopped; it
// waits briefly for a queue's current call and leaks the queue's memory
// rather than pull the rings out from under a running call.
//
// # asavie/xdp
//
// asavie/xdp is used for the sockets and rings only, behind guards: its
// Transmit panics on unexpected errno (recovered into an error), its Stats
// and Program are not used (they panic or hang, see
// shared/reference/afxdp-on-veth.md), its package-global bind flags are set
// under a lock, and its Close leaves the ring mappings, which keep the
// socket (and the queue binding) alive until the process exits: Queue.close
// unmaps them.
package dataplane
