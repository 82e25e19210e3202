package dataplane_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/lab"
)

// A VM in a network namespace sends a frame to the switch side of its veth;
// the switch receives it over AF_XDP and sends an answer back. Needs root.
func Example() {
	ctx := context.Background()
	l, err := lab.Up(ctx, lab.Topology{
		Hosts: []lab.Host{{Name: "vm"}},
		Links: []lab.Link{{Name: "p0", DisableIPv6: true, // no IPv6 chatter on the link
			A: lab.Endpoint{Host: "vm", MAC: "02:00:00:00:00:01"},
			B: lab.Endpoint{MAC: "02:00:00:00:00:02"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Down()

	port, err := dataplane.Open(ctx, dataplane.Config{Interface: l.SwitchIf("p0"), Mode: dataplane.ModeAuto})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer port.Close()
	q := port.Queue(0) // owned by this goroutine from now on

	vm, err := l.OpenRaw("vm", "p0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer vm.Close()
	hello := make([]byte, 60)
	copy(hello, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5hello")
	if err := vm.Write(hello); err != nil {
		fmt.Println(err)
		return
	}

	// RX: wait, then take a batch of descriptors.
	rx := make([]dataplane.Desc, 64)
	if _, err := q.Wait(time.Second); err != nil {
		fmt.Println(err)
		return
	}
	n, err := q.Receive(rx)
	if err != nil || n == 0 {
		fmt.Println("nothing received", err)
		return
	}
	in := q.Frame(rx[0]) // valid until the next Receive or Wait
	fmt.Printf("switch got %q\n", in[14:19])

	// TX: borrow a frame, write into it, set its length, transmit.
	tx := make([]dataplane.Desc, 1)
	if n, err := q.AllocTx(tx); err != nil || n != 1 {
		fmt.Println("no tx frame", err)
		return
	}
	out := q.FrameCap(tx[0])
	copy(out, in[6:12])    // to the VM
	copy(out[6:], in[0:6]) // from the switch side
	copy(out[12:], "\x88\xb5world")
	tx[0].Len = 60
	if _, err := q.Transmit(tx); err != nil {
		fmt.Println(err)
		return
	}

	buf := make([]byte, 2048)
	if _, err := vm.Read(buf, time.Second); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("vm got %q\n", buf[14:19])
	// Output:
	// switch got "hello"
	// vm got "world"
}
