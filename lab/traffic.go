package lab

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of the traffic helpers, on top of the caller's context.
const (
	// connectTimeout bounds a TCP handshake (ARP/ND included).
	connectTimeout = 5 * time.Second
	// stallTimeout ends a transfer that made no progress for so long.
	stallTimeout = 10 * time.Second
	// udpWindow datagrams are in flight at most; udpWait is how long
	// UDPExchange waits for the missing echoes of a window after the last
	// echo came (or the window was sent).
	udpWindow = 32
	udpWait   = 250 * time.Millisecond
	// MaxUDPSize is the largest datagram payload UDPExchange sends; the
	// smallest is MinUDPSize (a nonce and a sequence number).
	MaxUDPSize = 65507
	MinUDPSize = 12

	trafficChunk = 256 << 10
)

// Transfer is the outcome of a TCPTransfer.
type Transfer struct {
	// Bytes the server received (on success, the size asked for).
	Bytes int64
	// Duration from the first byte written until the server read the end
	// of the stream.
	Duration time.Duration
	// Mbps is Bytes over Duration in 10^6 bit/s (0 for an empty transfer).
	Mbps float64
	// Identical says the SHA-256 of what the server received equals that
	// of what the client sent.
	Identical bool
}

// TCPTransfer sends size bytes over TCP from host from to host to: a
// server in to listens on dst (port 0: any free port), a client in from
// connects to it and writes a deterministic pseudo-random stream, and the
// server reads to the end and hashes what it got. The namespaces' kernels
// do everything, so the stream crosses whatever lies between them (a
// switch, a direct veth).
//
// It returns an error naming the lab, hosts and phase if the server can't
// listen, the connection fails (5 s for the handshake), the transfer stalls
// for 10 s, ctx ends, or the server received a different number of bytes
// than were sent; a stream that arrives complete but different has
// Identical false and no error. All sockets are closed when it returns.
func (l *Lab) TCPTransfer(ctx context.Context, from, to string, dst netip.AddrPort, size int64) (Transfer, error) {
	return l.tcpTransfer(ctx, from, to, dst, size, 0)
}

// TCPTransferPaced is TCPTransfer with the client writing at most rate
// bytes per second, so that a transfer lasts long enough to live through
// events (a switch restart) in the middle of it.
func (l *Lab) TCPTransferPaced(ctx context.Context, from, to string, dst netip.AddrPort, size, rate int64) (Transfer, error) {
	if rate <= 0 {
		return Transfer{}, fmt.Errorf("lab %s: paced tcp transfer: rate %d must be positive", l.id, rate)
	}
	return l.tcpTransfer(ctx, from, to, dst, size, rate)
}

func (l *Lab) tcpTransfer(ctx context.Context, from, to string, dst netip.AddrPort, size, rate int64) (Transfer, error) {
	where := fmt.Sprintf("lab %s: tcp transfer of %d bytes from %s to %s at %s", l.id, size, from, to, dst)
	fail := func(err error) (Transfer, error) { return Transfer{}, fmt.Errorf("%s: %w", where, err) }
	if size < 0 {
		return fail(errors.New("negative size"))
	}
	if err := l.checkPeers(from, to, dst.Addr()); err != nil {
		return fail(err)
	}

	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// why prefers the reason the transfer was stopped over the socket
	// error it caused (a deadline in the past).
	why := func(err error) error {
		if c := context.Cause(tctx); c != nil {
			return c
		}
		return err
	}

	var ln *net.TCPListener
	if err := l.inNs(to, func() error {
		var lc net.ListenConfig
		x, err := lc.Listen(tctx, "tcp", dst.String())
		if err != nil {
			return err
		}
		ln = x.(*net.TCPListener)
		return nil
	}); err != nil {
		return fail(fmt.Errorf("listen in %s: %w", to, err))
	}
	defer ln.Close()
	// Every blocked socket call returns once tctx ends (the deferred
	// cancel below runs before the deferred Wait).
	context.AfterFunc(tctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	target := netip.AddrPortFrom(dst.Addr(), uint16(ln.Addr().(*net.TCPAddr).Port))

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel(nil)
	var progress atomic.Int64
	wg.Go(func() { watchdog(tctx, cancel, &progress, stallTimeout) })

	type result struct {
		n   int64
		sum [sha256.Size]byte
		end time.Time
		err error
	}
	srv := make(chan result, 1)
	wg.Go(func() {
		var r result
		defer func() { srv <- r }()
		c, err := ln.AcceptTCP()
		if err != nil {
			r.err = fmt.Errorf("server: accept: %w", why(err))
			return
		}
		defer c.Close()
		context.AfterFunc(tctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
		h := sha256.New()
		buf := make([]byte, trafficChunk)
		for {
			m, err := c.Read(buf)
			h.Write(buf[:m])
			r.n += int64(m)
			progress.Add(int64(m))
			if err == io.EOF {
				break
			}
			if err != nil {
				r.err = fmt.Errorf("server: receive after %d bytes: %w", r.n, why(err))
				return
			}
		}
		r.end = time.Now()
		h.Sum(r.sum[:0])
	})

	var c *net.TCPConn
	if err := l.inNs(from, func() error {
		d := net.Dialer{Timeout: connectTimeout}
		x, err := d.DialContext(tctx, "tcp", target.String())
		if err != nil {
			return err
		}
		c = x.(*net.TCPConn)
		return nil
	}); err != nil {
		return fail(fmt.Errorf("connect from %s: %w", from, why(err)))
	}
	defer c.Close()
	context.AfterFunc(tctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })

	var gen stream
	gen.seed(uint64(size))
	h := sha256.New()
	chunk := int64(trafficChunk)
	if rate > 0 {
		chunk = max(min(chunk, rate/20), 1) // about 20 writes a second
	}
	buf := make([]byte, chunk)
	start := time.Now()
	for sent := int64(0); sent < size; {
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-tctx.Done():
				}
			}
		}
		b := buf[:min(int64(len(buf)), size-sent)]
		gen.fill(b)
		h.Write(b)
		if _, err := c.Write(b); err != nil {
			err = fmt.Errorf("client: send after %d bytes: %w", sent, why(err))
			cancel(err)
			return fail(errors.Join(err, (<-srv).err))
		}
		sent += int64(len(b))
		progress.Add(int64(len(b)))
	}
	if err := c.CloseWrite(); err != nil {
		err = fmt.Errorf("client: close: %w", why(err))
		cancel(err)
		return fail(errors.Join(err, (<-srv).err))
	}
	r := <-srv
	if r.err != nil {
		return fail(r.err)
	}
	if r.n != size {
		return fail(fmt.Errorf("server received %d bytes, client sent %d", r.n, size))
	}
	t := Transfer{Bytes: r.n, Duration: r.end.Sub(start)}
	if t.Duration > 0 && t.Bytes > 0 {
		t.Mbps = float64(t.Bytes) * 8 / t.Duration.Seconds() / 1e6
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	t.Identical = sum == r.sum
	return t, nil
}

// UDPResult is the outcome of a UDPExchange.
type UDPResult struct {
	// Sent datagrams (all count of them unless an error ended the exchange).
	Sent int
	// Echoed is how many distinct datagrams came back intact.
	Echoed int
	// Lost is Sent - Echoed.
	Lost int
}

// UDPExchange sends count datagrams of size bytes (MinUDPSize to
// MaxUDPSize) from host from to dst in host to (port 0: any free port),
// where a server echoes each back. Datagrams go out in windows of 32; the
// exchange moves to the next window when all of the current one came back
// or 250 ms passed without an echo, so lost datagrams cost little time:
// the whole exchange takes at most about count/32 × 250 ms plus the round
// trips. Datagrams that can't be delivered because neighbour resolution
// failed count as sent and lost; other send errors, such as no route to
// dst, end the exchange with an error.
func (l *Lab) UDPExchange(ctx context.Context, from, to string, dst netip.AddrPort, count, size int) (UDPResult, error) {
	where := fmt.Sprintf("lab %s: udp exchange of %d x %d bytes from %s to %s at %s", l.id, count, size, from, to, dst)
	var res UDPResult
	fail := func(err error) (UDPResult, error) {
		res.Lost = res.Sent - res.Echoed
		return res, fmt.Errorf("%s: %w", where, err)
	}
	if count < 1 || count > 1<<24 {
		return fail(fmt.Errorf("count %d out of range 1..%d", count, 1<<24))
	}
	if size < MinUDPSize || size > MaxUDPSize {
		return fail(fmt.Errorf("size %d out of range %d..%d", size, MinUDPSize, MaxUDPSize))
	}
	if err := l.checkPeers(from, to, dst.Addr()); err != nil {
		return fail(err)
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var srv *net.UDPConn
	if err := l.inNs(to, func() error {
		var lc net.ListenConfig
		x, err := lc.ListenPacket(tctx, "udp", dst.String())
		if err != nil {
			return err
		}
		srv = x.(*net.UDPConn)
		return nil
	}); err != nil {
		return fail(fmt.Errorf("listen in %s: %w", to, err))
	}
	defer srv.Close()
	_ = srv.SetReadBuffer(4 << 20)
	target := netip.AddrPortFrom(dst.Addr(), uint16(srv.LocalAddr().(*net.UDPAddr).Port))

	var cl *net.UDPConn
	if err := l.inNs(from, func() error {
		var d net.Dialer
		x, err := d.DialContext(tctx, "udp", target.String())
		if err != nil {
			return err
		}
		cl = x.(*net.UDPConn)
		return nil
	}); err != nil {
		return fail(fmt.Errorf("connect from %s: %w", from, err))
	}
	defer cl.Close()
	_ = cl.SetReadBuffer(4 << 20)

	// Both goroutines return once tctx ends: the deferred cancel runs
	// before the deferred Wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	context.AfterFunc(tctx, func() {
		_ = srv.SetDeadline(time.Unix(1, 0))
		_ = cl.SetDeadline(time.Unix(1, 0))
	})

	wg.Go(func() { // the echo server
		buf := make([]byte, MaxUDPSize+1)
		for {
			n, peer, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				if transientUDP(err) {
					continue
				}
				return
			}
			if _, err := srv.WriteToUDPAddrPort(buf[:n], peer); err != nil && !transientUDP(err) {
				return
			}
		}
	})

	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return fail(err)
	}
	var echoed atomic.Int64
	notify := make(chan struct{}, 1)
	wg.Go(func() { // the client's receiver
		seen := make([]bool, count)
		buf := make([]byte, MaxUDPSize+1)
		for {
			n, err := cl.Read(buf)
			if err != nil {
				if transientUDP(err) {
					continue
				}
				return
			}
			seq, ok := checkDatagram(buf[:n], nonce, size, count)
			if !ok || seen[seq] {
				continue
			}
			seen[seq] = true
			echoed.Add(1)
			select {
			case notify <- struct{}{}:
			default:
			}
		}
	})

	msg := make([]byte, size)
	copy(msg, nonce[:])
	timer := time.NewTimer(udpWait)
	defer timer.Stop()
	for res.Sent < count {
		for w := 0; w < udpWindow && res.Sent < count; w++ {
			fillDatagram(msg, uint32(res.Sent))
			if _, err := cl.Write(msg); err != nil && !transientUDP(err) {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				res.Echoed = int(echoed.Load())
				return fail(fmt.Errorf("send datagram %d: %w", res.Sent, err))
			}
			res.Sent++
		}
		timer.Reset(udpWait)
	wait:
		for echoed.Load() < int64(res.Sent) {
			select {
			case <-notify:
				timer.Reset(udpWait)
			case <-timer.C:
				break wait
			case <-ctx.Done():
				res.Echoed = int(echoed.Load())
				return fail(ctx.Err())
			}
		}
	}
	res.Echoed = int(echoed.Load())
	res.Lost = res.Sent - res.Echoed
	return res, nil
}

// checkPeers checks the hosts and destination of a traffic helper.
func (l *Lab) checkPeers(from, to string, dst netip.Addr) error {
	for _, h := range []string{from, to} {
		if _, ok := l.hostNs[h]; !ok {
			return fmt.Errorf("unknown host %q", h)
		}
	}
	if _, err := checkAddr(dst.String()); err != nil {
		return err
	}
	return nil
}

// transientUDP: errors a UDP socket reports for ICMP errors or failed
// neighbour resolution of earlier datagrams; the socket stays usable.
func transientUDP(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// fillDatagram writes seq and the payload pattern after the nonce.
func fillDatagram(b []byte, seq uint32) {
	binary.BigEndian.PutUint32(b[8:], seq)
	for i := 12; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
}

func checkDatagram(b []byte, nonce [8]byte, size, count int) (int, bool) {
	if len(b) != size || [8]byte(b[:8]) != nonce {
		return 0, false
	}
	seq := binary.BigEndian.Uint32(b[8:])
	if int64(seq) >= int64(count) {
		return 0, false
	}
	for i := 12; i < len(b); i++ {
		if b[i] != byte(seq)+byte(i) {
			return 0, false
		}
	}
	return int(seq), true
}

// watchdog cancels ctx when progress has not moved for idle.
func watchdog(ctx context.Context, cancel context.CancelCauseFunc, progress *atomic.Int64, idle time.Duration) {
	t := time.NewTicker(idle / 20)
	defer t.Stop()
	last, since := progress.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if p := progress.Load(); p != last {
				last, since = p, now
			} else if now.Sub(since) >= idle {
				cancel(fmt.Errorf("stalled: no progress for %v", idle))
				return
			}
		}
	}
}

// stream is a deterministic pseudo-random byte stream (xorshift64*),
// fast enough not to limit a transfer.
type stream struct {
	s    uint64
	tail [8]byte
	nt   int // unread bytes at the end of tail
}

func (g *stream) seed(v uint64) {
	g.s = v*0x9e3779b97f4a7c15 ^ 0x6a09e667f3bcc908
	if g.s == 0 {
		g.s = 1
	}
	g.nt = 0
}

func (g *stream) next() uint64 {
	g.s ^= g.s >> 12
	g.s ^= g.s << 25
	g.s ^= g.s >> 27
	return g.s * 0x2545f4914f6cdd1d
}

// fill writes the next len(b) bytes of the stream; the stream does not
// depend on how it is cut into calls.
func (g *stream) fill(b []byte) {
	for g.nt > 0 && len(b) > 0 {
		b[0] = g.tail[8-g.nt]
		b, g.nt = b[1:], g.nt-1
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, g.next())
		b = b[8:]
	}
	if len(b) > 0 {
		binary.LittleEndian.PutUint64(g.tail[:], g.next())
		g.nt = 8 - copy(b, g.tail[:])
	}
}
