package tunnel_test

import (
	"fmt"
	"net/netip"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
)

// The overlay MTU each encapsulation leaves on a 1500-byte underlay, for
// an untagged inner Ethernet frame (incident 5: gretap is not IP-GRE).
func ExampleEndpoint_InnerMTU() {
	local, remote := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	key := uint32(7)
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x00 // untagged IPv4 (the header itself is not needed)
	for _, c := range []tunnel.Config{
		{Name: "gretap", Kind: tunnel.GRETap, Local: local, Remote: remote},
		{Name: "gretap+key", Kind: tunnel.GRETap, Local: local, Remote: remote, Key: &key},
		{Name: "ip-gre", Kind: tunnel.GREIP, Local: local, Remote: remote},
		{Name: "geneve", Kind: tunnel.Geneve, Local: local, Remote: remote, VNI: 1},
	} {
		e, err := tunnel.NewEndpoint(c)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-11s header %2d, inner MTU %d\n", c.Name, e.HeaderLen(), e.InnerMTU(frame, 1500))
	}
	// Output:
	// gretap      header 24, inner MTU 1462
	// gretap+key  header 28, inner MTU 1458
	// ip-gre      header 24, inner MTU 1476
	// geneve      header 36, inner MTU 1450
}

// One side encapsulates, the other's table decapsulates and finds the
// endpoint.
func ExampleTable_Receive() {
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	tx, _ := tunnel.NewEndpoint(tunnel.Config{Name: "to-b", Kind: tunnel.Geneve, Local: a, Remote: b, VNI: 42})
	rx, _ := tunnel.NewEndpoint(tunnel.Config{Name: "from-a", Kind: tunnel.Geneve, Local: b, Remote: a, VNI: 42})
	tbl, _ := tunnel.NewTable([]*tunnel.Endpoint{rx}, tunnel.TableConfig{})

	inner := make([]byte, 60) // an ARP-sized frame
	inner[12], inner[13] = 0x08, 0x06
	buf := make([]byte, 2048)
	n, _ := tx.Encap(buf, packet.MAC{2, 0, 0, 0, 0, 1}, packet.MAC{2, 0, 0, 0, 0, 2}, inner, 0x1234)

	var d tunnel.Decapsulated
	ep, reason := tbl.Receive(buf[:n], &d)
	fmt.Println(ep.Name(), reason, d.VNI, len(d.Payload))
	// Output: from-a none 42 60
}
