package dataplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config says how to open a port.
type Config struct {
	// Interface is the Linux interface name, in the calling thread's
	// network namespace.
	Interface string
	// Mode is auto (default), native, generic or zerocopy.
	Mode Mode
	// Queues opens sockets on queues 0..Queues-1 (default 1, at most 64).
	Queues int
	// RingSize is the size of each of a socket's four rings (default
	// 1024; a power of two, 64..16384). A socket's UMEM holds 2*RingSize
	// frames: RingSize for receiving, RingSize for sending.
	RingSize int
	// FrameSize is 2048 or 4096 (default: 2048, or 4096 when the MTU needs
	// it). A received frame can be FrameSize-256 bytes long (XDP headroom).
	FrameSize int
	// Filter, if set, is spliced into the XDP program to pass chosen
	// frames to the kernel (see Filter).
	Filter *Filter
	// Timeout bounds waiting for a queue that a just-closed socket still
	// holds (the kernel releases it asynchronously). Default 3s.
	Timeout time.Duration
}

const (
	defaultRingSize = 1024
	xdpHeadroom     = 256 // XDP_PACKET_HEADROOM: AF_XDP reserves it in every rx frame
	closeWait       = 2 * time.Second
	netlinkTimeout  = 5 * time.Second
)

// forceNetlinkAttach makes Open attach the program the legacy way, as on
// kernels without bpf_link for XDP (< 5.9). Tests use it to leave a stale
// program behind.
var forceNetlinkAttach = false

// Port is an interface attached to ctswitch: the XDP program plus one
// AF_XDP socket per queue.
type Port struct {
	name      string
	ifindex   int
	driver    string
	mtu       int
	mode      Mode
	fallbacks []error
	replaced  uint32 // id of a stale program removed by Open

	ns     netns.NsHandle  // the interface's namespace
	nh     *netlink.Handle // netlink socket in that namespace
	nlLink netlink.Link
	prog   *ebpf.Program
	progID uint32
	xsks   *ebpf.Map
	xdp    link.Link // bpf_link, or nil
	legacy int       // netlink attach flags if attached without bpf_link

	frameSize int
	ringSize  int
	queues    []*Queue

	closeMu sync.Mutex
	closed  bool
}

// attempt is one way to run a port: where the program goes and how the
// sockets bind.
type attempt struct {
	mode      Mode
	attach    link.XDPAttachFlags
	bindFlags uint16
}

func attempts(m Mode) ([]attempt, error) {
	zc := attempt{ModeZeroCopy, link.XDPDriverMode, unix.XDP_ZEROCOPY}
	drv := attempt{ModeNative, link.XDPDriverMode, unix.XDP_COPY}
	skb := attempt{ModeGeneric, link.XDPGenericMode, unix.XDP_COPY}
	switch m {
	case ModeAuto:
		return []attempt{zc, drv, skb}, nil
	case ModeNative:
		return []attempt{drv}, nil
	case ModeGeneric:
		return []attempt{skb}, nil
	case ModeZeroCopy:
		return []attempt{zc}, nil
	}
	return nil, fmt.Errorf("unknown mode %d", int(m))
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// Open attaches ctswitch to an interface of the calling thread's network
// namespace: it checks the interface and its queues, refuses a foreign XDP
// program, replaces a stale ctswitch one, loads and attaches the program in
// the first mode that works, and binds one AF_XDP socket per queue. Every
// namespace-dependent step runs on the calling goroutine, so Open may be
// called inside lab.Run (a locked thread in another namespace).
func Open(ctx context.Context, cfg Config) (*Port, error) {
	p, err := open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open port %q: %w", cfg.Interface, err)
	}
	return p, nil
}

func open(ctx context.Context, cfg Config) (_ *Port, err error) {
	if cfg.Queues == 0 {
		cfg.Queues = 1
	}
	if cfg.RingSize == 0 {
		cfg.RingSize = defaultRingSize
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	switch {
	case cfg.Interface == "" || len(cfg.Interface) >= unix.IFNAMSIZ:
		return nil, fmt.Errorf("%w: invalid interface name", ErrNoInterface)
	case cfg.Queues < 1 || cfg.Queues > 64:
		return nil, fmt.Errorf("%w: queue count %d out of range 1..64", ErrQueueCount, cfg.Queues)
	case !isPow2(cfg.RingSize) || cfg.RingSize < 64 || cfg.RingSize > 16384:
		return nil, fmt.Errorf("ring size %d: want a power of two in 64..16384", cfg.RingSize)
	case cfg.FrameSize != 0 && cfg.FrameSize != 2048 && cfg.FrameSize != 4096:
		return nil, fmt.Errorf("frame size %d: want 2048 or 4096", cfg.FrameSize)
	}
	tries, err := attempts(cfg.Mode)
	if err != nil {
		return nil, err
	}

	p := &Port{name: cfg.Interface, ringSize: cfg.RingSize, ns: netns.None()}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close())
		}
	}()

	// Both live in the calling thread's namespace, so Close can detach
	// from any goroutine.
	if p.ns, err = netns.Get(); err != nil {
		return nil, fmt.Errorf("get netns: %w", err)
	}
	if p.nh, err = netlink.NewHandleAt(p.ns); err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	if err := p.nh.SetSocketTimeout(netlinkTimeout); err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	if p.nlLink, err = p.nh.LinkByName(cfg.Interface); err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w in this network namespace", ErrNoInterface)
		}
		return nil, fmt.Errorf("look up interface: %w", err)
	}
	attrs := p.nlLink.Attrs()
	p.ifindex, p.mtu = attrs.Index, attrs.MTU
	p.driver = driverName(cfg.Interface)

	avail := ifQueues(cfg.Interface, attrs.NumRxQueues, attrs.NumTxQueues)
	if cfg.Queues > avail {
		return nil, fmt.Errorf("%w: %d queues requested, the interface has %d (veth: create it with numrxqueues/numtxqueues; NICs: ethtool -L)",
			ErrQueueCount, cfg.Queues, avail)
	}

	p.frameSize = cfg.FrameSize
	maxFrame := p.mtu + 14 + 4 // Ethernet header + one VLAN tag
	if p.frameSize == 0 {
		p.frameSize = 2048
		if maxFrame+xdpHeadroom > 2048 {
			p.frameSize = 4096
		}
	}
	if maxFrame+xdpHeadroom > p.frameSize {
		return nil, fmt.Errorf("MTU %d too large for %d-byte AF_XDP frames (at most %d bytes of frame after %d of headroom)",
			p.mtu, p.frameSize, p.frameSize-xdpHeadroom, xdpHeadroom)
	}
	umemBytes := uint64(cfg.Queues) * 2 * uint64(cfg.RingSize) * uint64(p.frameSize)
	if err := ensureMemlock(umemBytes); err != nil {
		return nil, err
	}

	if cur := inspectXDP(p.nlLink); cur != nil {
		if cur.name != ProgramName {
			return nil, fmt.Errorf("%w: %s; ctswitch does not replace other programs: detach it (ip link set dev %s xdp off) or use another interface",
				ErrForeignProgram, cur, cfg.Interface)
		}
		if err := removeStale(p.ns, p.nlLink, cur); err != nil {
			return nil, err
		}
		p.replaced = cur.id
	}

	if p.xsks, err = newXSKMap(max(avail, attrs.NumRxQueues, cfg.Queues)); err != nil {
		return nil, err
	}
	if p.prog, err = newProgram(p.xsks, cfg.Filter); err != nil {
		return nil, err
	}
	if info, err := p.prog.Info(); err == nil {
		if id, ok := info.ID(); ok {
			p.progID = uint32(id)
		}
	}

	var attached link.XDPAttachFlags
	for i, try := range tries {
		last := i == len(tries)-1
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if attached != try.attach {
			if attached != 0 {
				if err := p.detach(); err != nil {
					return nil, err
				}
				attached = 0
			}
			if err := p.attach(try.attach); err != nil {
				if !last && errors.Is(err, ErrXDPUnsupported) {
					p.fallbacks = append(p.fallbacks, fmt.Errorf("%s: %w", try.mode, err))
					continue
				}
				return nil, err
			}
			attached = try.attach
		}
		err := p.openQueues(ctx, cfg, try)
		if err == nil {
			p.mode = try.mode
			break
		}
		if cerr := p.closeQueues(); cerr != nil {
			return nil, errors.Join(err, cerr)
		}
		if !last && errors.Is(err, ErrZeroCopyUnsupported) {
			p.fallbacks = append(p.fallbacks, fmt.Errorf("%s: %w", try.mode, err))
			continue
		}
		return nil, err
	}

	// Register last: until a slot is filled, its queue's frames go to the
	// kernel, and every socket already has its fill ring stocked.
	for _, q := range p.queues {
		if err := p.xsks.Put(uint32(q.id), uint32(q.fd)); err != nil {
			return nil, fmt.Errorf("register queue %d socket in XSKMAP: %w", q.id, err)
		}
	}
	return p, nil
}

// attach puts the program on the interface in driver or generic mode.
func (p *Port) attach(mode link.XDPAttachFlags) error {
	modeName := "native (driver)"
	nlFlags := xdpFlagsDrvMode
	if mode == link.XDPGenericMode {
		modeName, nlFlags = "generic (skb)", xdpFlagsSKBMode
	}
	var err error
	if !forceNetlinkAttach {
		var l link.Link
		l, err = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: p.ifindex, Flags: mode})
		if err == nil {
			p.xdp = l
			return nil
		}
	}
	if forceNetlinkAttach || errors.Is(err, ebpf.ErrNotSupported) {
		// No bpf_link for XDP: the legacy attach survives a crash; the
		// next Open recognises the program by name and replaces it.
		// UPDATE_IF_NOEXIST: never replace a program someone just attached.
		err = setXDPFd(p.ns, p.ifindex, p.prog.FD(), xdpFlagsUpdateIfNoExist|nlFlags)
		if err == nil {
			p.legacy = nlFlags
			return nil
		}
	}
	drv := p.driver
	if drv == "" {
		drv = "unknown"
	}
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: driver %s has no %s XDP support: %v", ErrXDPUnsupported, drv, modeName, err)
	case errors.Is(err, unix.ERANGE):
		return fmt.Errorf("%w: MTU %d is too large for %s XDP on driver %s (veth with 4 KiB pages: at most 3506, both ends): lower the MTU or use generic mode: %v",
			ErrXDPUnsupported, p.mtu, modeName, drv, err)
	case errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST):
		cur, _ := p.nh.LinkByName(p.name)
		what := "another program"
		if cur != nil {
			if a := inspectXDP(cur); a != nil {
				what = a.String()
			}
		}
		return fmt.Errorf("%w: %s was attached meanwhile: %v", ErrForeignProgram, what, err)
	}
	return fmt.Errorf("attach XDP program in %s mode: %w", modeName, err)
}

// detach removes the program, only if it is still ours.
func (p *Port) detach() error {
	if p.xdp != nil {
		err := p.xdp.Close()
		p.xdp = nil
		if err != nil {
			return fmt.Errorf("detach XDP link: %w", err)
		}
		return nil
	}
	if p.legacy != 0 {
		flags := p.legacy
		p.legacy = 0
		cur, err := p.nh.LinkByName(p.name)
		if err != nil {
			return fmt.Errorf("detach XDP program: %w", err)
		}
		if a := inspectXDP(cur); a == nil || a.id != p.progID {
			return nil // gone already, or not ours any more
		}
		if err := setXDPFd(p.ns, p.ifindex, -1, flags); err != nil {
			return fmt.Errorf("detach XDP program: %w", err)
		}
	}
	return nil
}

// openQueues binds the sockets of one attempt.
func (p *Port) openQueues(ctx context.Context, cfg Config, try attempt) error {
	opts := xdpSocketOptions(cfg.RingSize, p.frameSize)
	for qid := range cfg.Queues {
		s, err := bindRetry(ctx, p.ifindex, qid, opts, try.bindFlags, cfg.Timeout)
		if err != nil {
			return p.bindError(qid, try, opts, err)
		}
		q := &Queue{
			port: p.name, id: qid, xsk: s, fd: s.FD(),
			frameSize: uint64(p.frameSize), ringSize: cfg.RingSize,
			txBase:   uint64(cfg.RingSize) * uint64(p.frameSize),
			refillAt: max(cfg.RingSize/16, 16),
		}
		q.umem = s.GetFrame(Desc{Addr: 0, Len: uint32(opts.NumFrames * opts.FrameSize)})
		// One sendto may then send the whole ring instead of 32 frames.
		// Kernels before 6.17 lack the option; then Transmit kicks more.
		q.budgetSet = unix.SetsockoptInt(q.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, cfg.RingSize) == nil
		p.queues = append(p.queues, q)
		if err := q.refill(1); err != nil {
			return fmt.Errorf("queue %d: fill: %w", qid, err)
		}
	}
	return nil
}

// xdpSocketOptions lays out a socket: asavie hands out frames
// [0, FillRingNumDescs) for receiving and the rest for sending.
func xdpSocketOptions(ringSize, frameSize int) xdp.SocketOptions {
	return xdp.SocketOptions{
		NumFrames:              2 * ringSize,
		FrameSize:              frameSize,
		FillRingNumDescs:       ringSize,
		CompletionRingNumDescs: ringSize,
		RxRingNumDescs:         ringSize,
		TxRingNumDescs:         ringSize,
	}
}

// bindRetry creates a socket, retrying while the queue is still held by a
// socket the kernel has not finished tearing down (EBUSY for some ms after
// a close or a killed process).
func bindRetry(ctx context.Context, ifindex, qid int, opts xdp.SocketOptions, flags uint16, timeout time.Duration) (*xdp.Socket, error) {
	deadline := time.Now().Add(timeout)
	backoff := 5 * time.Millisecond
	for {
		s, err := newXSK(ifindex, qid, opts, flags)
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().Add(backoff).After(deadline) {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// bindError explains a failed socket creation.
func (p *Port) bindError(qid int, try attempt, opts xdp.SocketOptions, err error) error {
	umem := opts.NumFrames * opts.FrameSize
	switch {
	case try.bindFlags == unix.XDP_ZEROCOPY && errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("queue %d: %w by driver %s: %v", qid, ErrZeroCopyUnsupported, p.driver, err)
	case errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) || (errors.Is(err, unix.EPERM) && !hasCap(unix.CAP_IPC_LOCK)):
		return fmt.Errorf("queue %d: %w: registering %d KiB of UMEM failed (%v); %s; %s",
			qid, ErrMemlock, umem>>10, err, memlockText(), memlockAdvice)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("queue %d: %w: another AF_XDP socket is bound to it: %v", qid, ErrInUse, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("queue %d: socket setup rejected (queue id, ring or frame size): %w", qid, err)
	}
	return fmt.Errorf("queue %d: create AF_XDP socket: %w", qid, err)
}

func (p *Port) closeQueues() error {
	var errs []error
	for _, q := range p.queues {
		if p.xsks != nil {
			// Removing the slot drops the map's reference to the socket,
			// which otherwise keeps it alive after close.
			if err := p.xsks.Delete(uint32(q.id)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				errs = append(errs, fmt.Errorf("unregister queue %d: %w", q.id, err))
			}
		}
		if err := q.close(closeWait); err != nil {
			errs = append(errs, err)
		}
	}
	p.queues = nil
	return errors.Join(errs...)
}

// Close detaches the program (the interface's traffic goes back to the
// kernel), closes the sockets and frees the program and map. It is
// idempotent. Call it after the queues' owners have stopped.
func (p *Port) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if err := p.detach(); err != nil {
		errs = append(errs, err)
	}
	if err := p.closeQueues(); err != nil {
		errs = append(errs, err)
	}
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	if p.xsks != nil {
		errs = append(errs, p.xsks.Close())
	}
	if p.nh != nil {
		p.nh.Close()
	}
	if p.ns.IsOpen() {
		p.ns.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close port %q: %w", p.name, err)
	}
	return nil
}

// Name returns the interface name.
func (p *Port) Name() string { return p.name }

// Ifindex returns the interface index.
func (p *Port) Ifindex() int { return p.ifindex }

// Driver returns the interface's driver name ("" if unknown).
func (p *Port) Driver() string { return p.driver }

// Mode returns the mode the port runs in (never ModeAuto).
func (p *Port) Mode() Mode { return p.mode }

// Fallbacks says why auto mode skipped the modes before Mode().
func (p *Port) Fallbacks() []error { return p.fallbacks }

// ProgramID returns the kernel id of the attached XDP program.
func (p *Port) ProgramID() uint32 { return p.progID }

// Replaced returns the id of a stale ctswitch program that Open removed
// from the interface, or 0.
func (p *Port) Replaced() uint32 { return p.replaced }

// FrameSize returns the UMEM frame size.
func (p *Port) FrameSize() int { return p.frameSize }

// MaxFrame returns the largest frame the port receives whole: MTU plus an
// Ethernet header and one VLAN tag.
func (p *Port) MaxFrame() int { return p.mtu + 18 }

// Queues returns the port's queues, by queue number.
func (p *Port) Queues() []*Queue { return p.queues }

// Queue returns queue i, or nil.
func (p *Port) Queue(i int) *Queue {
	if i < 0 || i >= len(p.queues) {
		return nil
	}
	return p.queues[i]
}

// Stats returns every queue's counters.
func (p *Port) Stats() []QueueStats {
	out := make([]QueueStats, 0, len(p.queues))
	for _, q := range p.queues {
		out = append(out, q.Stats())
	}
	return out
}
