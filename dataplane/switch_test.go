package dataplane

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane/policy"
	"github.com/ctswitch/ctswitch/lab"
)

// switchLab is a demo lab (VMs vm1..vmN on veth0, 2 queues) with a running
// switch whose ports are named after the VMs.
type switchLab struct {
	*lab.Lab
	sw *Switch
}

func newSwitchLab(t *testing.T, vms, queues int, mutate func(*SwitchConfig)) *switchLab {
	t.Helper()
	requireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Up(ctx, lab.DemoTopology(lab.DemoOptions{VMs: vms, Queues: queues}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	cfg := SwitchConfig{Workers: queues, Mode: ModeNative, RingSize: 2048}
	for k := 1; k <= vms; k++ {
		name := "vm" + string(rune('0'+k))
		cfg.Ports = append(cfg.Ports, PortSpec{Name: name, Interface: l.SwitchIf(name)})
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sw, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sw.Close(); err != nil {
			t.Errorf("switch close: %v", err)
		}
		if err := sw.Err(); err != nil {
			t.Errorf("worker errors: %v", err)
		}
	})
	return &switchLab{Lab: l, sw: sw}
}

func (s *switchLab) entries(t *testing.T, f conntrack.Filter) []conntrack.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	es, err := s.sw.Conntrack().List(ctx, f, Now())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func (s *switchLab) ctReasons(t *testing.T) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.sw.Conntrack().Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st.Reasons
}

func TestSwitchPingAndTransfer(t *testing.T) {
	s := newSwitchLab(t, 2, 2, nil)
	for _, v6 := range []bool{false, true} {
		dst := lab.DemoAddr(2, v6)
		var err error
		for range 3 {
			if _, err = s.Ping("vm1", dst, 3*time.Second); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("ping %s through the switch: %v (stats %+v)", dst, err, s.sw.Stats().Drops)
		}
	}
	for _, v6 := range []bool{false, true} {
		dst := netip.AddrPortFrom(netip.MustParseAddr(lab.DemoAddr(2, v6)), 5001)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var established []conntrack.Entry
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Sample the table mid-transfer: the flow is ESTABLISHED.
			state := conntrack.TCPEstablished
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) && len(established) == 0 {
				time.Sleep(50 * time.Millisecond)
				established = s.entries(t, conntrack.Filter{Proto: 6, State: &state})
			}
		}()
		tr, err := s.TCPTransfer(ctx, "vm1", "vm2", dst, 100<<20)
		cancel()
		<-done
		if err != nil {
			t.Fatalf("100 MB over %v: %v (drops %v)", dst, err, nonZero(s.sw.Stats().Drops))
		}
		if !tr.Identical || tr.Bytes != 100<<20 {
			t.Fatalf("100 MB over %v: %+v", dst, tr)
		}
		t.Logf("TCP %v: %d bytes in %v, %.0f Mbit/s", dst, tr.Bytes, tr.Duration, tr.Mbps)
		if len(established) == 0 {
			t.Fatalf("no ESTABLISHED TCP entry seen during the transfer to %v", dst)
		}
		if got := established[0].Orig; got.DstPort != 5001 || got.DstAddr() != dst.Addr() {
			t.Errorf("ESTABLISHED entry %v, want the transfer to %v", got.String(), dst)
		}
	}
	st := s.sw.Stats()
	var handoffs, processed uint64
	for _, w := range st.Workers {
		handoffs += w.HandoffOut
		processed += w.Processed
	}
	t.Logf("processed %d frames, %d handed off, drops %v", processed, handoffs, nonZero(st.Drops))
	if st.Drops[DropCTInvalid.Name()] != 0 || st.Drops[DropHandoffFull.Name()] != 0 || st.Drops[DropReorderFull.Name()] != 0 {
		t.Errorf("drops during clean transfers: %v", nonZero(st.Drops))
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestSwitchOutOfWindowDropped injects a segment far beyond the receiver's
// window into a live connection: the switch drops it with conntrack's
// reason, and the connection goes on.
func TestSwitchOutOfWindowDropped(t *testing.T) {
	s := newSwitchLab(t, 2, 2, nil)
	var ln net.Listener
	if err := s.Run("vm2", func() (err error) {
		ln, err = net.Listen("tcp4", lab.DemoAddr(2, false)+":7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var c net.Conn
	if err := s.Run("vm1", func() (err error) {
		c, err = net.DialTimeout("tcp4", lab.DemoAddr(2, false)+":7000", 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := <-accepted
	defer srv.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := srv.Read(buf); err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().(*net.TCPAddr)

	// The connection's entry tells where the window is.
	k := conntrack.Key{Proto: 6, SrcPort: uint16(local.Port), DstPort: 7000}
	k.SetAddrs(netip.MustParseAddr(lab.DemoAddr(1, false)), netip.MustParseAddr(lab.DemoAddr(2, false)))
	es := s.entries(t, conntrack.Filter{Tuple: &k})
	if len(es) != 1 || es[0].State != conntrack.TCPEstablished {
		t.Fatalf("entry for %s: %+v", k.String(), es)
	}
	before := s.ctReasons(t)["tcp_seq_over_upper_bound"]
	dropsBefore := s.sw.Stats().Drops[DropCTInvalid.Name()]
	seq := es[0].TCP[0].End + 1<<30 // far beyond anything the receiver allows
	frame := tcpFrame(lab.DemoMAC(2), lab.DemoMAC(1), lab.DemoAddr(1, false), lab.DemoAddr(2, false),
		uint16(local.Port), 7000, seq, es[0].TCP[1].End, 0x18, []byte("out of window"))
	raw, err := s.OpenRaw("vm1", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Write(frame); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && s.sw.Stats().Drops[DropCTInvalid.Name()] == dropsBefore {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.sw.Stats().Drops[DropCTInvalid.Name()]; got != dropsBefore+1 {
		t.Fatalf("ct_invalid drops %d -> %d, want one more", dropsBefore, got)
	}
	if got := s.ctReasons(t)["tcp_seq_over_upper_bound"]; got != before+1 {
		t.Errorf("tcp_seq_over_upper_bound %d -> %d, want one more", before, got)
	}
	// The live connection is unharmed.
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := srv.Read(buf); err != nil || string(buf) != "again" {
		t.Fatalf("after the injection: %q %v", buf, err)
	}
}

// TestSwitchPolicy denies new TCP connections to port 7001 from vm1 and
// checks that they fail and are counted, while others pass.
func TestSwitchPolicy(t *testing.T) {
	rule, err := policy.ParseRule("deny in=vm1 proto=tcp dport=7001")
	if err != nil {
		t.Fatal(err)
	}
	s := newSwitchLab(t, 2, 2, func(c *SwitchConfig) {
		c.Networks = []NetworkSpec{{Name: "lab", Policy: policy.Config{Rules: []policy.Rule{rule}}}}
	})
	for _, port := range []string{"7001", "7002"} {
		var ln net.Listener
		if err := s.Run("vm2", func() (err error) {
			ln, err = net.Listen("tcp4", lab.DemoAddr(2, false)+":"+port)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	dial := func(port string) error {
		return s.Run("vm1", func() error {
			c, err := net.DialTimeout("tcp4", lab.DemoAddr(2, false)+":"+port, 1500*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	if err := dial("7002"); err != nil {
		t.Fatalf("allowed connection failed: %v", err)
	}
	if err := dial("7001"); err == nil {
		t.Fatal("denied connection succeeded")
	}
	if n := s.sw.Stats().Drops[DropPolicyRule.Name()]; n == 0 {
		t.Errorf("policy_deny_rule not counted (drops %v)", nonZero(s.sw.Stats().Drops))
	}
	// The reverse direction is not denied by an in=vm1 rule.
	var ln net.Listener
	if err := s.Run("vm1", func() (err error) {
		ln, err = net.Listen("tcp4", lab.DemoAddr(1, false)+":7001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	if err := s.Run("vm2", func() error {
		c, err := net.DialTimeout("tcp4", lab.DemoAddr(1, false)+":7001", 3*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Errorf("vm2 -> vm1:7001 should pass: %v", err)
	}
}

// tcpFrame builds an Ethernet/IPv4/TCP frame with valid checksums.
func tcpFrame(dstMAC, srcMAC, src, dst string, sport, dport uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	f := make([]byte, 14+20+20+len(payload))
	d, _ := net.ParseMAC(dstMAC)
	sm, _ := net.ParseMAC(srcMAC)
	copy(f, d)
	copy(f[6:], sm)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[8], ip[9] = 64, 6
	s4, d4 := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^csum(0, ip))
	tcp := f[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	var ph [12]byte
	copy(ph[0:], s4[:])
	copy(ph[4:], d4[:])
	ph[9] = 6
	binary.BigEndian.PutUint16(ph[10:], uint16(len(tcp)))
	binary.BigEndian.PutUint16(tcp[16:], ^csum(uint32(csum(0, ph[:])), tcp))
	return f
}

func csum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// pinnedWriter sends frames from a thread pinned to one CPU: a packet
// socket with qdisc bypass puts them on tx queue (CPU % queues), so the
// switch receives them on that rx queue.
type pinnedWriter struct {
	reqs chan []byte
	errs chan error
}

func newPinnedWriter(t *testing.T, raw *lab.RawConn, cpu int) *pinnedWriter {
	w := &pinnedWriter{reqs: make(chan []byte), errs: make(chan error)}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its affinity
		var set unix.CPUSet
		set.Set(cpu)
		ready <- unix.SchedSetaffinity(0, &set)
		for f := range w.reqs {
			w.errs <- raw.Write(f)
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("pin writer to cpu %d: %v", cpu, err)
	}
	t.Cleanup(func() { close(w.reqs) })
	return w
}

func (w *pinnedWriter) write(f []byte) error { w.reqs <- f; return <-w.errs }

// TestIncident3AckRstOrder is incident 3: an ACK and the RST/ACK right
// behind it arrive on different queues, so at different workers. Each of
// 10,000 connections must leave the switch in order, and conntrack must
// end CLOSE for each.
func TestIncident3AckRstOrder(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Fatal("needs 2 CPUs to steer frames to two queues")
	}
	s := newSwitchLab(t, 2, 2, func(c *SwitchConfig) {
		// CLOSE entries must outlive the test (Linux: 10 s).
		c.Conntrack.Default = conntrack.DefaultZoneConfig()
		c.Conntrack.Default.Timeouts.TCPClose = 10 * time.Minute
	})
	const reps = 10000
	// Frames go to an address vm2 does not have, so neither kernel answers
	// them: only the switch and the capture see them.
	src, dst := lab.DemoAddr(1, false), "198.18.1.200"
	vm1, err := s.OpenRaw("vm1", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	defer vm1.Close()
	vm2, err := s.OpenRaw("vm2", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	defer vm2.Close()
	// Teach the switch vm2's MAC first, so nothing is flooded.
	if err := vm2.Write(tcpFrame("ff:ff:ff:ff:ff:ff", lab.DemoMAC(2), "198.18.1.201", "198.18.1.202", 1, 1, 0, 0, 0x02, nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	cpu0, cpu1 := newPinnedWriter(t, vm1, 0), newPinnedWriter(t, vm1, 1)

	// The capture at vm2: per source port, the flags in arrival order.
	order := make(map[uint16][]uint8, reps)
	var mu sync.Mutex
	stop := make(chan struct{})
	captured := make(chan struct{})
	go func() {
		defer close(captured)
		buf := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := vm2.Read(buf, 100*time.Millisecond)
			if err != nil || n < 54 || buf[12] != 0x08 || buf[13] != 0 || buf[23] != 6 {
				continue
			}
			sport := binary.BigEndian.Uint16(buf[34:])
			mu.Lock()
			order[sport] = append(order[sport], buf[47])
			mu.Unlock()
		}
	}()

	const iss, irs = 1000, 5000
	buf := make([]byte, 2048)
	for i := range reps {
		sport := uint16(10000 + i)
		syn := tcpFrame(lab.DemoMAC(2), lab.DemoMAC(1), src, dst, sport, 80, iss, 0, 0x02, nil)
		synack := tcpFrame(lab.DemoMAC(1), lab.DemoMAC(2), dst, src, 80, sport, irs, iss+1, 0x12, nil)
		ack := tcpFrame(lab.DemoMAC(2), lab.DemoMAC(1), src, dst, sport, 80, iss+1, irs+1, 0x10, nil)
		rst := tcpFrame(lab.DemoMAC(2), lab.DemoMAC(1), src, dst, sport, 80, iss+1, irs+1, 0x14, nil)
		if err := cpu0.write(syn); err != nil {
			t.Fatal(err)
		}
		// As in a real handshake, the SYN/ACK answers the delivered SYN.
		if !waitSeen(&mu, order, sport, 1, 2*time.Second) {
			t.Fatalf("connection %d: SYN not delivered", sport)
		}
		if err := vm2.Write(synack); err != nil {
			t.Fatal(err)
		}
		// The handshake completes before the pair under test: the SYN/ACK
		// has crossed the switch.
		if err := readTCP(vm1, buf, 80, sport, 0x12, 2*time.Second); err != nil {
			st := s.sw.Stats()
			for _, w := range st.Workers {
				t.Logf("worker %+v", w)
			}
			for _, p := range st.Ports {
				for _, q := range p.Queues {
					t.Logf("port %s queue %+v", p.Name, q)
				}
			}
			t.Fatalf("connection %d: SYN/ACK: %v", sport, err)
		}
		if err := cpu0.write(ack); err != nil {
			t.Fatal(err)
		}
		if err := cpu1.write(rst); err != nil {
			t.Fatal(err)
		}
	}
	waitProcessed(s.sw, uint64(4*reps), 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-captured

	bad := 0
	mu.Lock()
	for i := range reps {
		sport := uint16(10000 + i)
		got := order[sport]
		// SYN, ACK, RST/ACK (the SYN/ACK goes to vm1).
		if len(got) != 3 || got[0] != 0x02 || got[1] != 0x10 || got[2] != 0x14 {
			if bad < 5 {
				t.Errorf("connection %d: flags at vm2 %x, want [02 10 14]", sport, got)
			}
			bad++
		}
	}
	mu.Unlock()
	st := s.sw.Stats()
	var handoffs, reordered, timeouts uint64
	for _, w := range st.Workers {
		handoffs += w.HandoffOut
		reordered += w.Reordered
		timeouts += w.OrderWaitTO
	}
	t.Logf("%d connections, %d hand-offs, %d frames held for order, %d order-wait timeouts, drops %v",
		reps, handoffs, reordered, timeouts, nonZero(st.Drops))
	if bad > 0 {
		t.Fatalf("%d of %d connections left the switch out of order or incomplete", bad, reps)
	}
	if handoffs < reps/4 {
		t.Errorf("only %d hand-offs: the frames were not steered to both workers", handoffs)
	}
	closed := conntrack.TCPClose
	es := s.entries(t, conntrack.Filter{Proto: 6})
	notClosed := 0
	for _, e := range es {
		if e.Orig.DstPort == 80 && e.State != closed {
			if notClosed < 5 {
				t.Errorf("connection %s ended %v, want CLOSE", e.Orig.String(), e.State)
			}
			notClosed++
		}
	}
	if len(es) < reps || notClosed > 0 {
		t.Fatalf("%d entries, %d not CLOSE (want %d CLOSE)", len(es), notClosed, reps)
	}
}

// waitSeen waits until the capture saw n frames of the connection.
func waitSeen(mu *sync.Mutex, order map[uint16][]uint8, sport uint16, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		mu.Lock()
		got := len(order[sport])
		mu.Unlock()
		if got >= n {
			return true
		}
		time.Sleep(20 * time.Microsecond)
	}
	return false
}

// readTCP waits on c for a TCP frame from sport to dport with the flags.
func readTCP(c *lab.RawConn, buf []byte, sport, dport uint16, flags uint8, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.Read(buf, time.Until(deadline))
		if err != nil {
			return err
		}
		if n >= 54 && buf[12] == 0x08 && buf[13] == 0 && buf[23] == 6 &&
			binary.BigEndian.Uint16(buf[34:]) == sport && binary.BigEndian.Uint16(buf[36:]) == dport && buf[47] == flags {
			return nil
		}
	}
}

// waitProcessed waits until the workers have processed n frames in all.
func waitProcessed(sw *Switch, n uint64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var got uint64
		for _, w := range sw.workers {
			got += w.ctr.processed.load() + w.ctr.drops[DropCTInvalid].load()
		}
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// TestManyFlowsOrder sends 500 UDP flows, 40 datagrams each, every flow
// alternating between the two queues: none may be reordered or lost.
func TestManyFlowsOrder(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Fatal("needs 2 CPUs to steer frames to two queues")
	}
	s := newSwitchLab(t, 2, 2, nil)
	vm1, err := s.OpenRaw("vm1", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	defer vm1.Close()
	vm2, err := s.OpenRaw("vm2", lab.DemoIfName)
	if err != nil {
		t.Fatal(err)
	}
	defer vm2.Close()
	if err := vm2.Write(tcpFrame("ff:ff:ff:ff:ff:ff", lab.DemoMAC(2), "198.18.1.201", "198.18.1.202", 1, 1, 0, 0, 0x02, nil)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	writers := []*pinnedWriter{newPinnedWriter(t, vm1, 0), newPinnedWriter(t, vm1, 1)}
	const flows, per = 500, 40
	last := make(map[uint16]int, flows)
	var mu sync.Mutex
	reorders, got := 0, 0
	stop := make(chan struct{})
	captured := make(chan struct{})
	go func() {
		defer close(captured)
		buf := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := vm2.Read(buf, 100*time.Millisecond)
			if err != nil || n < 46 || buf[23] != 17 {
				continue
			}
			sport := binary.BigEndian.Uint16(buf[34:])
			seq := int(binary.BigEndian.Uint32(buf[42:]))
			mu.Lock()
			if prev, ok := last[sport]; ok && seq <= prev {
				reorders++
			}
			last[sport] = seq
			got++
			mu.Unlock()
		}
	}()
	sent := 0
	for seq := range per {
		for f := range flows {
			frame := udpFrame(lab.DemoMAC(2), lab.DemoMAC(1), lab.DemoAddr(1, false), "198.18.1.200", uint16(20000+f), 9, uint32(seq))
			if err := writers[(seq+f)%2].write(frame); err != nil {
				t.Fatal(err)
			}
			sent++
			if sent%250 == 0 {
				// Pace to the capture, whose socket buffer is small.
				deadline := time.Now().Add(200 * time.Millisecond)
				for time.Now().Before(deadline) {
					mu.Lock()
					behind := sent - got
					mu.Unlock()
					if behind < 50 {
						break
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
	}
	waitProcessed(s.sw, flows*per, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-captured
	st := s.sw.Stats()
	var handoffs uint64
	for _, w := range st.Workers {
		handoffs += w.HandoffOut
	}
	t.Logf("%d datagrams sent, %d received, %d reordered, %d hand-offs, drops %v", flows*per, got, reorders, handoffs, nonZero(st.Drops))
	if got != flows*per {
		for _, w := range st.Workers {
			t.Logf("worker %+v", w)
		}
		for _, p := range st.Ports {
			for _, q := range p.Queues {
				t.Logf("port %s queue %+v", p.Name, q)
			}
		}
	}
	if reorders != 0 {
		t.Errorf("%d datagrams arrived out of order within their flow", reorders)
	}
	if got != flows*per {
		t.Errorf("received %d of %d datagrams", got, flows*per)
	}
}

// udpFrame builds an Ethernet/IPv4/UDP frame carrying a 32-bit sequence
// number; the UDP checksum is left 0 (none).
func udpFrame(dstMAC, srcMAC, src, dst string, sport, dport uint16, seq uint32) []byte {
	f := make([]byte, 14+20+8+4)
	d, _ := net.ParseMAC(dstMAC)
	sm, _ := net.ParseMAC(srcMAC)
	copy(f, d)
	copy(f[6:], sm)
	f[12], f[13] = 0x08, 0x00
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 32)
	ip[8], ip[9] = 64, 17
	s4, d4 := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^csum(0, ip))
	binary.BigEndian.PutUint16(f[34:], sport)
	binary.BigEndian.PutUint16(f[36:], dport)
	binary.BigEndian.PutUint16(f[38:], 12)
	binary.BigEndian.PutUint32(f[42:], seq)
	return f
}
