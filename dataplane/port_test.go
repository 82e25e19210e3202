package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// echoResponder owns q until stop is called: it answers ICMP and ICMPv6
// echo requests, so the VM's kernel can ping "the switch" through AF_XDP.
func echoResponder(t *testing.T, q *Queue) (stop func() (answered int)) {
	var (
		quit     atomic.Bool
		answered int
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		rx := make([]Desc, 64)
		tx := make([]Desc, 64)
		for !quit.Load() {
			if _, err := q.Wait(20 * time.Millisecond); err != nil {
				t.Errorf("responder: %v", err)
				return
			}
			n, err := q.Receive(rx)
			if err != nil {
				t.Errorf("responder: %v", err)
				return
			}
			if n == 0 {
				continue
			}
			nt, err := q.AllocTx(tx[:n])
			if err != nil {
				t.Errorf("responder: %v", err)
				return
			}
			out := tx[:0]
			for _, d := range rx[:n] {
				if len(out) == nt {
					break
				}
				if l := echoReply(q.FrameCap(tx[len(out)]), q.Frame(d)); l > 0 {
					td := tx[len(out)]
					td.Len = uint32(l)
					out = append(out, td)
				}
			}
			if len(out) == 0 {
				continue
			}
			sent, err := q.Transmit(out)
			if err != nil {
				t.Errorf("responder: %v", err)
				return
			}
			answered += sent
		}
	}()
	return func() int {
		quit.Store(true)
		wg.Wait()
		return answered
	}
}

// echoReply writes the reply to an ICMP(v6) echo request in into out and
// returns its length, or 0 if in is not a valid echo request.
func echoReply(out, in []byte) int {
	var m packet.Meta
	if packet.Parse(in, &m) != nil || m.Fragment || !m.L4Complete || !packet.VerifyL4Checksum(in, &m) {
		return 0
	}
	var req, rep uint8
	var addrOff, addrLen int
	switch {
	case m.IPVersion == 4 && m.L4Proto == 1:
		req, rep, addrOff, addrLen = 8, 0, 12, 4
	case m.IPVersion == 6 && m.L4Proto == 58:
		req, rep, addrOff, addrLen = 128, 129, 8, 16
	default:
		return 0
	}
	if in[m.L4Off] != req {
		return 0
	}
	n := copy(out, m.Trimmed(in))
	copy(out[0:6], in[6:12])
	copy(out[6:12], in[0:6])
	src, dst := m.L3Off+addrOff, m.L3Off+addrOff+addrLen
	copy(out[src:src+addrLen], in[dst:dst+addrLen])
	copy(out[dst:dst+addrLen], in[src:src+addrLen])
	out[m.L4Off] = rep
	packet.SetL4Checksum(out[:n], &m) // swapping addresses keeps the IPv4 header sum
	return n
}

// roundTrip sends a frame from the VM to the switch over AF_XDP and one back.
func roundTrip(t *testing.T, l *testLab, q *Queue, size int) {
	t.Helper()
	vm := l.raw(t)
	marker := "to-switch-" + strconv.Itoa(size)
	sent := testFrame(swMAC, vmMAC, marker, size)
	if err := vm.Write(sent); err != nil {
		t.Fatal(err)
	}
	got := receiveMarker(t, q, marker, 3*time.Second)
	if !bytes.Equal(got, sent) {
		t.Fatalf("switch received %d bytes, want the %d sent", len(got), len(sent))
	}
	marker = "to-vm-" + strconv.Itoa(size)
	back := testFrame(vmMAC, swMAC, marker, size)
	transmit(t, q, back)
	if got := readMarker(t, vm, marker, 3*time.Second); !bytes.Equal(got, back) {
		t.Fatalf("vm received %d bytes, want the %d sent", len(got), len(back))
	}
}

func TestModesOnVeth(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ ask, want Mode }{
		{ModeNative, ModeNative}, {ModeGeneric, ModeGeneric}, {ModeAuto, ModeNative},
	} {
		t.Run(c.ask.String(), func(t *testing.T) {
			l := newLab(t, 1, 0)
			p := openPort(t, Config{Interface: l.sw, Mode: c.ask})
			if p.Mode() != c.want {
				t.Fatalf("mode %v, want %v (fallbacks %v)", p.Mode(), c.want, p.Fallbacks())
			}
			if c.ask == ModeAuto && (len(p.Fallbacks()) != 1 || !errors.Is(p.Fallbacks()[0], ErrZeroCopyUnsupported)) {
				t.Errorf("auto on veth: fallbacks %v, want zero-copy unsupported", p.Fallbacks())
			}
			x := xdpOn(t, l.sw)
			wantAttach := uint32(xdpAttachedDrv)
			if c.want == ModeGeneric {
				wantAttach = xdpAttachedSKB
			}
			if x == nil || x.ProgId != p.ProgramID() || x.AttachMode != wantAttach {
				t.Fatalf("program on %s: %+v, want id %d mode %d", l.sw, x, p.ProgramID(), wantAttach)
			}
			t.Logf("%s: driver %s, mode %v, frame size %d, program id %d", l.sw, p.Driver(), p.Mode(), p.FrameSize(), p.ProgramID())

			q := p.Queue(0)
			roundTrip(t, l, q, 60)
			roundTrip(t, l, q, 1514)

			// The VM's kernel pings "the switch"; the answers come from
			// AF_XDP, and the kernel checks their checksums.
			stop := echoResponder(t, q)
			for _, dst := range []string{"198.18.0.2", "2001:db8::2"} {
				for range 3 {
					rtt, err := l.Ping("vm", dst, 3*time.Second)
					if err != nil {
						t.Errorf("ping %s through AF_XDP: %v", dst, err)
						break
					}
					t.Logf("ping %s: %v", dst, rtt)
				}
			}
			answered := stop()
			st := q.Stats()
			t.Logf("answered %d echo requests; stats %+v", answered, st)
			if answered < 6 || st.RxPackets < 8 || st.TxPackets < 8 || st.Drops() != 0 || st.KernelErr != nil {
				t.Errorf("stats: answered %d, %+v", answered, st)
			}
			if st.TxKicks > st.TxPackets {
				t.Errorf("%d kicks for %d frames: more than one sendto per frame", st.TxKicks, st.TxPackets)
			}

			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if x := xdpOn(t, l.sw); x != nil {
				t.Errorf("program still attached after Close: %+v", x)
			}
			if _, err := q.Receive(make([]Desc, 1)); !errors.Is(err, ErrClosed) {
				t.Errorf("Receive after Close: %v", err)
			}
			// Without the program, frames from the VM reach the switch
			// side's kernel again.
			kernel, err := l.OpenRaw("", l.sw)
			if err != nil {
				t.Fatal(err)
			}
			defer kernel.Close()
			if err := l.raw(t).Write(testFrame(swMAC, vmMAC, "after-close", 0)); err != nil {
				t.Fatal(err)
			}
			readMarker(t, kernel, "after-close", 3*time.Second)
		})
	}
}

func TestReopenSameQueue(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)
	// asavie's Close leaves the rings mapped, which keeps the socket bound:
	// without unmapping them the second Open fails with EBUSY for good.
	for i := range 3 {
		p := openPort(t, Config{Interface: l.sw, Mode: ModeNative, RingSize: 64})
		roundTrip(t, l, p.Queue(0), 60)
		if err := p.Close(); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if leaked := xskMappings(); leaked != 0 {
		t.Errorf("%d AF_XDP ring mappings left after Close", leaked)
	}
}

// xskMappings counts AF_XDP ring mappings in this process.
func xskMappings() int {
	b, _ := os.ReadFile("/proc/self/maps")
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.HasPrefix(f[5], "socket:") && (f[2] == "100000000" || f[2] == "180000000") {
			n++
		}
	}
	return n
}

func TestTwoQueues(t *testing.T) {
	requireRoot(t)
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	// A raw socket's frame lands on peer queue (sending CPU % queues).
	cpuFor := [2]int{-1, -1}
	for c := range 1024 {
		if set.IsSet(c) && cpuFor[c%2] < 0 {
			cpuFor[c%2] = c
		}
	}
	if cpuFor[0] < 0 || cpuFor[1] < 0 {
		t.Fatalf("need an even and an odd CPU to steer frames to both veth queues; allowed CPUs: %d", set.Count())
	}

	l := newLab(t, 2, 0)
	p := openPort(t, Config{Interface: l.sw, Mode: ModeAuto, Queues: 2})
	if len(p.Queues()) != 2 {
		t.Fatalf("%d queues", len(p.Queues()))
	}
	vm := l.raw(t)
	for qid := range 2 {
		marker := "queue-" + strconv.Itoa(qid)
		if err := vm.WriteOnCPU(cpuFor[qid], testFrame(swMAC, vmMAC, marker, 0)); err != nil {
			t.Fatal(err)
		}
		receiveMarker(t, p.Queue(qid), marker, 3*time.Second)
	}
	for qid := range 2 {
		marker := "back-from-" + strconv.Itoa(qid)
		transmit(t, p.Queue(qid), testFrame(vmMAC, swMAC, marker, 0))
		readMarker(t, vm, marker, 3*time.Second)
	}
	for _, st := range p.Stats() {
		if st.RxPackets == 0 || st.TxPackets != 1 {
			t.Errorf("queue %d: %+v", st.Queue, st)
		}
	}
}

func TestLargeMTUFallsBackToGeneric(t *testing.T) {
	requireRoot(t)
	// Native XDP on veth limits the MTU (one page per frame, ~3506 bytes);
	// 3600 still fits a 4096-byte AF_XDP frame.
	l := newLab(t, 1, 3600)
	_, err := Open(context.Background(), Config{Interface: l.sw, Mode: ModeNative})
	if !errors.Is(err, ErrXDPUnsupported) || !strings.Contains(err.Error(), "MTU 3600 is too large for native (driver) XDP on driver veth") {
		t.Fatalf("native with MTU 3600: %v", err)
	}
	p := openPort(t, Config{Interface: l.sw, Mode: ModeAuto})
	if p.Mode() != ModeGeneric || p.FrameSize() != 4096 || len(p.Fallbacks()) != 2 {
		t.Fatalf("auto: mode %v frame %d fallbacks %v", p.Mode(), p.FrameSize(), p.Fallbacks())
	}
	t.Logf("fallbacks: %v", p.Fallbacks())
	roundTrip(t, l, p.Queue(0), 3614)
	if _, err := Open(context.Background(), Config{Interface: l.sw, FrameSize: 2048}); err == nil || !strings.Contains(err.Error(), "MTU 3600 too large for 2048-byte AF_XDP frames") {
		t.Errorf("2048-byte frames with MTU 3600: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)

	t.Run("no such interface", func(t *testing.T) {
		_, err := Open(context.Background(), Config{Interface: "ctnope0"})
		if !errors.Is(err, ErrNoInterface) || err.Error() != `open port "ctnope0": no such interface in this network namespace` {
			t.Errorf("got %v", err)
		}
	})
	t.Run("queue count", func(t *testing.T) {
		_, err := Open(context.Background(), Config{Interface: l.sw, Queues: 2})
		if !errors.Is(err, ErrQueueCount) || !strings.Contains(err.Error(), "2 queues requested, the interface has 1") {
			t.Errorf("got %v", err)
		}
		_, err = Open(context.Background(), Config{Interface: l.sw, Queues: 65})
		if !errors.Is(err, ErrQueueCount) || !strings.Contains(err.Error(), "queue count 65 out of range 1..64") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("zerocopy", func(t *testing.T) {
		_, err := Open(context.Background(), Config{Interface: l.sw, Mode: ModeZeroCopy})
		if !errors.Is(err, ErrZeroCopyUnsupported) || !strings.Contains(err.Error(), "zero-copy not supported by driver veth") {
			t.Errorf("got %v", err)
		}
		if x := xdpOn(t, l.sw); x != nil {
			t.Errorf("failed Open left a program: %+v", x)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		for cfg, want := range map[*Config]string{
			{Interface: l.sw, RingSize: 1000}:  "ring size 1000: want a power of two in 64..16384",
			{Interface: l.sw, FrameSize: 3000}: "frame size 3000: want 2048 or 4096",
			{Interface: l.sw, Mode: Mode(9)}:   "unknown mode 9",
			{Interface: "a-very-long-name0"}:   "invalid interface name",
		} {
			if _, err := Open(context.Background(), *cfg); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: %v, want %q", *cfg, err, want)
			}
		}
	})
	t.Run("foreign program", func(t *testing.T) {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "foreign_pass", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer prog.Close()
		ln, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: mustIndex(t, l.sw)})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		info, _ := prog.Info()
		id, _ := info.ID()
		_, err = Open(context.Background(), Config{Interface: l.sw})
		want := `another XDP program is attached: "foreign_pass" (id ` + strconv.Itoa(int(id)) + `, driver mode); ctswitch does not replace other programs`
		if !errors.Is(err, ErrForeignProgram) || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %q", err, want)
		}
		if x := xdpOn(t, l.sw); x == nil || x.ProgId != uint32(id) {
			t.Errorf("foreign program touched: %+v", x)
		}
	})
	t.Run("own program in use", func(t *testing.T) {
		p := openPort(t, Config{Interface: l.sw, RingSize: 64})
		_, err := Open(context.Background(), Config{Interface: l.sw})
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "attached through a live bpf_link") {
			t.Errorf("got %v", err)
		}
		// The first port still works.
		roundTrip(t, l, p.Queue(0), 60)
	})
	t.Run("XDP unsupported", func(t *testing.T) {
		// ifb has no native XDP. It is created in the lab's host
		// namespace, and Open runs there too.
		var native, auto error
		var mode Mode
		var fallbacks []error
		err := l.Run("vm", func() error {
			attrs := netlink.NewLinkAttrs()
			attrs.Name = "ifbtest"
			if err := netlink.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil {
				return err
			}
			ifb, err := netlink.LinkByName("ifbtest")
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(ifb); err != nil {
				return err
			}
			_, native = Open(context.Background(), Config{Interface: "ifbtest", Mode: ModeNative, RingSize: 64})
			p, err := Open(context.Background(), Config{Interface: "ifbtest", Mode: ModeAuto, RingSize: 64})
			auto = err
			if err == nil {
				mode, fallbacks = p.Mode(), p.Fallbacks()
				auto = p.Close()
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(native, ErrXDPUnsupported) || !strings.Contains(native.Error(), "driver ifb has no native (driver) XDP support") {
			t.Errorf("native on ifb: %v", native)
		}
		if auto != nil || mode != ModeGeneric || len(fallbacks) != 2 {
			t.Errorf("auto on ifb: %v, mode %v, fallbacks %v", auto, mode, fallbacks)
		}
	})
	t.Run("memlock", func(t *testing.T) {
		testMemlock(t, l.sw)
	})
}

func mustIndex(t *testing.T, ifname string) int {
	t.Helper()
	ln, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return ln.Attrs().Index
}

// testMemlock runs Open in a child process that drops CAP_IPC_LOCK and
// CAP_SYS_RESOURCE and lowers RLIMIT_MEMLOCK to 64 KiB: the child can't
// raise the limit again, so this process must not do it to itself.
func testMemlock(t *testing.T, ifname string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=memlock", helperEnv+"_IF="+ifname)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	want := "open port \"" + ifname + "\": not enough locked memory for the UMEM: the UMEM needs 4096 KiB of locked memory, RLIMIT_MEMLOCK is 64 KiB and cannot be raised, and the process lacks CAP_IPC_LOCK"
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "memlock: true") {
		t.Errorf("got %s\nwant %q", out, want)
	}
}

// helperMemlock is the child of testMemlock. The kernel checks the calling
// thread's capabilities, so dropping them on this locked thread suffices.
func helperMemlock(ifname string) int {
	runtime.LockOSThread()
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: 64 << 10, Max: 64 << 10}); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		fmt.Println("capget:", err)
		return 1
	}
	caps[0].Effective &^= 1<<unix.CAP_IPC_LOCK | 1<<unix.CAP_SYS_RESOURCE
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		fmt.Println("capset:", err)
		return 1
	}
	p, err := Open(context.Background(), Config{Interface: ifname, RingSize: 1024})
	if err == nil {
		p.Close()
		fmt.Println("Open succeeded")
		return 0
	}
	fmt.Println(err, "| memlock:", errors.Is(err, ErrMemlock))
	return 0
}

func TestMemlockErrorFromKernel(t *testing.T) {
	// What asavie/xdp reports when the kernel refuses to pin the UMEM.
	err := asavieError(errors.New("unix.SetsockoptUint64 XDP_UMEM_REG failed: no buffer space available"))
	if !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("errno lost: %v", err)
	}
	p := &Port{name: "x", driver: "veth"}
	e := p.bindError(0, attempt{mode: ModeNative, bindFlags: unix.XDP_COPY}, xdpSocketOptions(64, 2048), err)
	if !errors.Is(e, ErrMemlock) || !strings.Contains(e.Error(), "registering 256 KiB of UMEM failed") || !strings.Contains(e.Error(), "RLIMIT_MEMLOCK") {
		t.Errorf("got %v", e)
	}
}

func TestStaleProgramAfterKill(t *testing.T) {
	requireRoot(t)
	for _, how := range []string{"bpf_link", "legacy"} {
		t.Run(how, func(t *testing.T) {
			l := newLab(t, 1, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+how, helperEnv+"_IF="+l.sw)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			id, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "ready "))
			if err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("helper: %q", line)
			}
			if x := xdpOn(t, l.sw); x == nil || x.ProgId != uint32(id) {
				t.Fatalf("helper's program not attached: %+v", x)
			}
			_ = cmd.Process.Signal(syscall.SIGKILL) // no Close, no deferred cleanup
			_ = cmd.Wait()

			x := xdpOn(t, l.sw)
			switch how {
			case "bpf_link":
				// The kernel drops the link with the dead process's files.
				for deadline := time.Now().Add(2 * time.Second); x != nil && time.Now().Before(deadline); x = xdpOn(t, l.sw) {
					time.Sleep(10 * time.Millisecond)
				}
				if x != nil {
					t.Fatalf("bpf_link program survived SIGKILL: %+v", x)
				}
			case "legacy":
				if x == nil || x.ProgId != uint32(id) {
					t.Fatalf("legacy program not left behind: %+v", x)
				}
			}
			// Straight away: the dead process's socket may still hold the
			// queue for some ms, which Open waits out.
			p := openPort(t, Config{Interface: l.sw, Mode: ModeNative})
			if how == "legacy" && p.Replaced() != uint32(id) {
				t.Errorf("Replaced() = %d, want the stale program %d", p.Replaced(), id)
			}
			if x := xdpOn(t, l.sw); x == nil || x.ProgId != p.ProgramID() || p.ProgramID() == uint32(id) {
				t.Errorf("attached %+v, want the new program %d", x, p.ProgramID())
			}
			roundTrip(t, l, p.Queue(0), 60)
		})
	}
}

func TestTransmitLinkDown(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)
	p := openPort(t, Config{Interface: l.sw, RingSize: 64})
	q := p.Queue(0)
	sw, err := netlink.LinkByName(l.sw)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetDown(sw); err != nil {
		t.Fatal(err)
	}
	tx := make([]Desc, 1)
	if _, err := q.AllocTx(tx); err != nil {
		t.Fatal(err)
	}
	tx[0].Len = uint32(copy(q.FrameCap(tx[0]), testFrame(vmMAC, swMAC, "while-down", 0)))
	// asavie's Transmit panics on ENETDOWN; the port must return an error.
	if _, err := q.Transmit(tx); !errors.Is(err, unix.ENETDOWN) {
		t.Fatalf("transmit on a down link: %v", err)
	}
	if err := netlink.LinkSetUp(sw); err != nil {
		t.Fatal(err)
	}
	// The frame queued while down goes out with the next kick.
	vm := l.raw(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := q.Flush(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("flush after link up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	readMarker(t, vm, "while-down", 3*time.Second)
	roundTrip(t, l, q, 60)
	if st := q.Stats(); st.TxErrors == 0 {
		t.Errorf("tx error not counted: %+v", st)
	}
}

func TestQueueGuards(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)
	p := openPort(t, Config{Interface: l.sw, RingSize: 64})
	q := p.Queue(0)

	// A second goroutine on a busy queue is refused, not let loose on the rings.
	q.state.Store(qBusy)
	if _, err := q.Receive(make([]Desc, 1)); !errors.Is(err, ErrBusy) {
		t.Errorf("concurrent Receive: %v", err)
	}
	q.state.Store(qIdle)

	tx := make([]Desc, 2)
	if n, err := q.AllocTx(tx); n != 2 || err != nil {
		t.Fatalf("AllocTx: %d %v", n, err)
	}
	for _, bad := range []Desc{
		{Addr: 0, Len: 60},                             // an rx frame
		{Addr: tx[0].Addr + 1, Len: 60},                // unaligned
		{Addr: tx[0].Addr, Len: 0},                     // empty
		{Addr: tx[0].Addr, Len: 4097},                  // longer than a frame
		{Addr: 1 << 40, Len: 60},                       // outside the UMEM
		{Addr: uint64(2 * 64 * p.FrameSize()), Len: 1}, // just past the end
	} {
		if _, err := q.Transmit([]Desc{bad}); !errors.Is(err, ErrInvalidDesc) {
			t.Errorf("Transmit(%+v): %v", bad, err)
		}
	}
	end := uint64(2 * 64 * p.FrameSize())
	for _, bad := range []Desc{{Addr: 1 << 40, Len: 60}, {Addr: end, Len: 1}, {Addr: end - 10, Len: 11}, {Addr: 0, Len: uint32(p.FrameSize()) + 1}} {
		if f := q.Frame(bad); f != nil {
			t.Errorf("Frame(%+v) = %d bytes, want nil", bad, len(f))
		}
	}
	if f := q.Frame(Desc{Addr: end - 10, Len: 10}); len(f) != 10 {
		t.Errorf("Frame at the UMEM's end: %d bytes", len(f))
	}
	if st := q.Stats(); st.TxInvalidDesc != 6 || st.TxPackets != 0 {
		t.Errorf("stats %+v", st)
	}
	roundTrip(t, l, q, 60) // still healthy

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, call := range map[string]func() error{
		"Receive":  func() error { _, err := q.Receive(make([]Desc, 1)); return err },
		"Wait":     func() error { _, err := q.Wait(time.Millisecond); return err },
		"AllocTx":  func() error { _, err := q.AllocTx(make([]Desc, 1)); return err },
		"Transmit": func() error { _, err := q.Transmit(nil); return err },
		"Flush":    q.Flush,
	} {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if st := q.Stats(); !errors.Is(st.KernelErr, ErrClosed) {
		t.Errorf("Stats after Close: %+v", st)
	}
}

// arpFilter passes ARP (EtherType 0x0806) to the kernel: the shape of the
// underlay filter, which keeps the kernel's ARP/ND working.
var arpFilter = &Filter{Name: "pass-arp", Instructions: asm.Instructions{
	asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // ctx->data
	asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // ctx->data_end
	asm.Mov.Reg(asm.R4, asm.R2),
	asm.Add.Imm(asm.R4, 14),
	asm.JGT.Reg(asm.R4, asm.R3, FilterPass), // shorter than an Ethernet header
	asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
	asm.JEq.Imm(asm.R5, 0x0608, FilterPass), // 0x0806 in network order, loaded little-endian
}}

func TestFilterHook(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)
	vm := l.raw(t)
	arp := testFrame(swMAC, vmMAC, "arp-marker", 0)
	arp[12], arp[13] = 0x08, 0x06
	for _, filter := range []*Filter{nil, arpFilter} {
		p := openPort(t, Config{Interface: l.sw, Filter: filter, RingSize: 64})
		q := p.Queue(0)
		if err := vm.Write(arp); err != nil {
			t.Fatal(err)
		}
		if err := vm.Write(testFrame(swMAC, vmMAC, "after-arp", 0)); err != nil {
			t.Fatal(err)
		}
		// Frames of one queue arrive in order: when "after-arp" is in,
		// the ARP frame was redirected before it or never will be.
		sawARP := false
		_, err := waitFor(q, 3*time.Second, func(f []byte) bool {
			sawARP = sawARP || bytes.Contains(f, []byte("arp-marker"))
			return bytes.Contains(f, []byte("after-arp"))
		})
		if err != nil {
			t.Fatal(err)
		}
		if sawARP != (filter == nil) {
			t.Errorf("filter %v: ARP frame reached AF_XDP: %v", filter != nil, sawARP)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFastPathAllocs(t *testing.T) {
	requireRoot(t)
	l := newLab(t, 1, 0)
	p := openPort(t, Config{Interface: l.sw, RingSize: 64})
	q := p.Queue(0)
	rx := make([]Desc, 32)
	tx := make([]Desc, 32)
	frame := testFrame(vmMAC, swMAC, "alloc-test", 0)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := q.Receive(rx); err != nil {
			t.Fatal(err)
		}
		n, _ := q.AllocTx(tx)
		for i := range tx[:n] {
			tx[i].Len = uint32(copy(q.FrameCap(tx[i]), frame))
		}
		if _, err := q.Transmit(tx[:n]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Receive+AllocTx+Transmit batch, want 0", allocs)
	}
	// One sendto per batch: XDP_MAX_TX_SKB_BUDGET lets a single call
	// send all 32 (without it the kernel sends 32 per call anyway).
	st := q.Stats()
	if st.TxPackets < 200*32 || st.TxKicks > 201 || st.Drops() != 0 {
		t.Errorf("%d frames, %d kicks, %d drops: want >= %d frames, <= 201 kicks, 0 drops", st.TxPackets, st.TxKicks, st.Drops(), 200*32)
	}
	t.Logf("%+v", st)
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "native", "generic", "zerocopy"} {
		m, err := ParseMode(s)
		if err != nil || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	var m Mode
	if err := m.Set("skb"); err == nil || !strings.Contains(err.Error(), `unknown XDP mode "skb"`) {
		t.Errorf("Set(skb): %v", err)
	}
}
