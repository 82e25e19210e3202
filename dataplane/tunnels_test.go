package dataplane

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/packet"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/ipfrag"
)

// A switch without I/O with VM port p0, an underlay "up" and a gretap
// endpoint "hostb" (key 42) in the same network: the sink sees what
// would be sent on each port.
func newTunnelSwitch(t *testing.T, kind tunnel.Kind) (*Switch, *worker, *[]sent) {
	t.Helper()
	key := uint32(42)
	c := tunnel.Config{Name: "hostb", Kind: kind, Local: netip.MustParseAddr("198.18.100.1"), Remote: netip.MustParseAddr("198.18.100.2")}
	if kind == tunnel.Geneve {
		c.VNI = 4242
	} else {
		c.Key = &key
	}
	sw := newIOLessSwitch(t, 1, 1, func(cfg *SwitchConfig) {
		cfg.Underlays = []UnderlaySpec{{Name: "up", Interface: "ul0"}}
		cfg.Tunnels = []TunnelSpec{{Endpoint: c}}
	})
	sw.tuns[0].nh.Store(&NextHop{Interface: "ul0", SrcMAC: [6]byte{2, 0, 0, 0, 1, 0xa}, DstMAC: [6]byte{2, 0, 0, 0, 1, 0xb},
		Via: netip.MustParseAddr("198.18.100.2"), LinkMTU: 1500})
	w := sw.workers[0]
	var out []sent
	w.sink = func(port int, frame []byte) { out = append(out, sent{port, append([]byte(nil), frame...)}) }
	return sw, w, &out
}

type sent struct {
	port  int
	frame []byte
}

var (
	macVM  = net.HardwareAddr{2, 0xc7, 0, 0, 0xa, 1}
	macRem = net.HardwareAddr{2, 0xc7, 0, 0, 0xb, 1}
)

func innerUDP(t *testing.T, src, dst net.HardwareAddr, payload int, df bool) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 1, 1}, DstIP: net.IP{198, 18, 1, 101}}
	if src[4] == 0xb {
		ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
	}
	if df {
		ip.Flags = layers.IPv4DontFragment
	}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 5001}
	_ = udp.SetNetworkLayerForChecksum(ip)
	return ser(t, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(make([]byte, payload)))
}

func TestTunnelEncapDecapIOLess(t *testing.T) {
	for _, kind := range []tunnel.Kind{tunnel.GRETap, tunnel.Geneve} {
		t.Run(kind.String(), func(t *testing.T) {
			sw, w, out := newTunnelSwitch(t, kind)
			up, hostb := sw.portIdx["up"], sw.portIdx["hostb"]
			now := Now()
			// VM -> unknown MAC: flooded to the tunnel, encapsulated on up.
			w.feed([][]byte{innerUDP(t, macVM, macRem, 100, true)}, 0, now)
			if len(*out) != 1 || (*out)[0].port != up {
				t.Fatalf("sent %v, want one frame on the underlay", *out)
			}
			outer := (*out)[0].frame
			var d tunnel.Decapsulated
			if why := tunnel.Decap(outer, tunnel.DefaultGenevePort, &d); why != tunnel.ReasonNone {
				t.Fatalf("decap of what was sent: %s", why.Name())
			}
			if d.Outer.Src.String() != "198.18.100.1" || d.Outer.Dst.String() != "198.18.100.2" {
				t.Errorf("outer %v", d.Outer)
			}
			// The reply, as the remote host would send it: from up into p0.
			*out = nil
			reply := innerUDP(t, macRem, macVM, 100, true)
			remote := swapEndpoint(t, sw, kind)
			enc := make([]byte, 2048)
			n, err := remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), reply, 1)
			if err != nil {
				t.Fatal(err)
			}
			w.feed([][]byte{enc[:n]}, up, now)
			if len(*out) != 1 || (*out)[0].port != 0 || len((*out)[0].frame) != len(reply)-0 {
				t.Fatalf("after decap: sent %v", *out)
			}
			// The VM's MAC is learned on p0, the remote's on hostb.
			if p, ok := sw.macs.Lookup(1, packetMAC(macRem...), now); !ok || int(p) != hostb {
				t.Errorf("remote MAC on port %d %v, want hostb (%d)", p, ok, hostb)
			}
			st := sw.Stats()
			if st.Tunnels[0].TxPackets != 1 || st.Tunnels[0].RxPackets != 1 {
				t.Errorf("tunnel stats %+v", st.Tunnels[0])
			}
			// A frame on the underlay that is no tunnel packet of ours.
			*out = nil
			w.feed([][]byte{innerUDP(t, macRem, macVM, 10, false)}, up, now)
			if len(*out) != 0 || w.ctr.drops[DropTunnelDecap].load() != 1 {
				t.Errorf("junk on the underlay: sent %v, decap drops %d", *out, w.ctr.drops[DropTunnelDecap].load())
			}
		})
	}
}

func TestTunnelTooBigIOLess(t *testing.T) {
	sw, w, out := newTunnelSwitch(t, tunnel.GRETap)
	up := sw.portIdx["up"]
	now := Now()
	// Learn both MACs so frames go to the tunnel, not flooded.
	w.feed([][]byte{innerUDP(t, macVM, macRem, 10, true)}, 0, now)
	sw.macs.Learn(1, packetMAC(macRem...), uint16(sw.portIdx["hostb"]), now)
	*out = nil
	// DF set, 1500 bytes: too big for gretap+key (1458): ICMP back to p0.
	w.feed([][]byte{innerUDP(t, macVM, macRem, 1500-28, true)}, 0, now)
	if len(*out) != 1 || (*out)[0].port != 0 {
		t.Fatalf("DF too big: sent %v", *out)
	}
	p := gopacket.NewPacket((*out)[0].frame, layers.LayerTypeEthernet, gopacket.Default)
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil || ic.TypeCode != layers.CreateICMPv4TypeCode(3, 4) || ic.Seq != 1458 {
		t.Fatalf("ICMP %v", p)
	}
	if ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip.SrcIP.String() != "198.18.1.101" || ip.DstIP.String() != "198.18.1.1" {
		t.Errorf("ICMP from %v to %v", ip.SrcIP, ip.DstIP)
	}
	if w.ctr.drops[DropTunnelFragNeeded].load() != 1 {
		t.Errorf("frag-needed drops %d", w.ctr.drops[DropTunnelFragNeeded].load())
	}
	// The same packet traced: the tunnel step shows the decision.
	r, err := sw.TraceFrame(t.Context(), "p0", innerUDP(t, macVM, macRem, 1500-28, true))
	if err != nil || r.Dropped != "tunnel_frag_needed" || !strings.Contains(r.Steps[len(r.Steps)-2].Detail, "gretap to 198.18.100.2 via 198.18.100.2 (02:00:00:00:01:0b): path MTU 1500, send_frag_needed 1458") {
		t.Errorf("trace: %+v %v", r, err)
	}
	// DF clear: the inner packet is fragmented, each fragment encapsulated.
	*out = nil
	w.feed([][]byte{innerUDP(t, macVM, macRem, 1500-28, false)}, 0, now)
	if len(*out) != 2 || (*out)[0].port != up || (*out)[1].port != up {
		t.Fatalf("non-DF too big: sent %v", len(*out))
	}
	for _, s := range *out {
		if len(s.frame) > 1500+14 {
			t.Errorf("encapsulated fragment of %d bytes exceeds the underlay", len(s.frame))
		}
	}
}

// swapEndpoint is the remote side's view of the switch's endpoint.
func swapEndpoint(t *testing.T, sw *Switch, kind tunnel.Kind) *tunnel.Endpoint {
	t.Helper()
	c := sw.tuns[0].ep.Config()
	c.Local, c.Remote = c.Remote, c.Local
	ep, err := tunnel.NewEndpoint(c)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func packetMAC(b ...byte) [6]byte { return [6]byte(b) }

// Fragments through the switch: reassembled, tracked by their 5-tuple,
// and sent on fragmented again when the datagram exceeds the output MTU.
func TestFragmentsForwardedIOLess(t *testing.T) {
	sw := newIOLessSwitch(t, 2, 1, nil)
	w := sw.workers[0]
	var out [][]byte
	w.sink = func(port int, frame []byte) {
		if port == 1 {
			out = append(out, append([]byte(nil), frame...))
		}
	}
	big := innerUDP(t, macVM, macRem, 3000, false)
	var frags [][]byte
	scratch := make([]byte, 4096)
	if err := ipfrag.FragmentIPv4(big, 1500, scratch, func(f []byte) error {
		frags = append(frags, append([]byte(nil), f...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(frags) != 3 {
		t.Fatalf("%d fragments", len(frags))
	}
	now := Now()
	w.feed(frags[:1], 0, now)
	w.feed(frags[1:], 0, now)
	if w.ctr.fragHeld.load() != 2 || w.ctr.reassembled.load() != 1 || w.ctr.refragmented.load() != 1 {
		t.Errorf("held %d reassembled %d refragmented %d", w.ctr.fragHeld.load(), w.ctr.reassembled.load(), w.ctr.refragmented.load())
	}
	// What left on p1 reassembles to the original datagram.
	r := ipfrag.NewReassembler(ipfrag.ReassemblerConfig{})
	var whole []byte
	for _, f := range out {
		if len(f) > 1518 {
			t.Errorf("sent a frame of %d bytes on a 1500-byte port", len(f))
		}
		if c, res := r.Add(f, now); res.Status == ipfrag.Complete {
			whole = append([]byte(nil), c...)
		}
	}
	if !bytes.Equal(whole, big) {
		t.Errorf("reassembled output differs from the original (%d vs %d bytes, %d frames)", len(whole), len(big), len(out))
	}
	es, _ := sw.ct.List(t.Context(), conntrack.Filter{}, now)
	if len(es) != 1 || es[0].Orig.SrcPort != 5000 || es[0].Orig.DstPort != 5001 {
		t.Errorf("conntrack: %v", es)
	}
}

// BenchmarkPipelineTunnel is the per-packet path through a tunnel without
// I/O: a VM's 64-byte UDP frames of an established flow encapsulated
// towards the endpoint (encap), and the encapsulated replies from the
// underlay decapsulated and switched to the VM (decap).
func BenchmarkPipelineTunnel(b *testing.B) {
	for _, kind := range []tunnel.Kind{tunnel.GRETap, tunnel.Geneve} {
		t := &testing.T{}
		sw, w, out := newTunnelSwitch(t, kind)
		w.sink = func(int, []byte) {}
		_ = out
		up := sw.portIdx["up"]
		now := Now()
		req := innerUDP(t, macVM, macRem, 18, false)
		rep := innerUDP(t, macRem, macVM, 18, false)
		remote := swapEndpoint(t, sw, kind)
		enc := make([]byte, 256)
		n, _ := remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), rep, 1)
		w.feed([][]byte{req}, 0, now)
		w.feed([][]byte{enc[:n]}, up, now)
		reqs, reps := make([][]byte, 64), make([][]byte, 64)
		for i := range reqs {
			reqs[i], reps[i] = req, enc[:n]
		}
		for _, dir := range []struct {
			name   string
			frames [][]byte
			port   int
		}{{"encap", reqs, 0}, {"decap", reps, up}} {
			b.Run(kind.String()+"/"+dir.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i += 64 {
					w.feed(dir.frames, dir.port, now)
				}
			})
		}
	}
}

// FuzzPipelineUnderlay feeds arbitrary frames to the underlay port of a
// switch with a gretap endpoint: never a panic, and every frame is
// accounted for: sent (once: the network's only other port is p0),
// dropped, held as an (outer or inner) fragment, or a path MTU report.
// Seeds: valid encapsulated frames, fragments of one, an ICMP report.
func FuzzPipelineUnderlay(f *testing.F) {
	t := &testing.T{}
	sw, _, _ := newTunnelSwitch(t, tunnel.GRETap)
	remote := swapEndpoint(t, sw, tunnel.GRETap)
	enc := make([]byte, 4096)
	for _, size := range []int{10, 1400} {
		n, _ := remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), innerUDP(t, macRem, macVM, size, false), 1)
		f.Add(append([]byte(nil), enc[:n]...))
		_ = ipfrag.FragmentIPv4(enc[:n], 800, make([]byte, 4096), func(fr []byte) error {
			f.Add(append([]byte(nil), fr...))
			return nil
		})
	}
	// One switch for all inputs (building one per input is most of the
	// cost); counters are compared before and after each input.
	fsw, w, _ := newTunnelSwitch(t, tunnel.GRETap)
	up := fsw.portIdx["up"]
	var nsent uint64
	w.sink = func(int, []byte) { nsent++ }
	tally := func() (sent, dropped, held uint64) {
		for d := range w.ctr.drops {
			dropped += w.ctr.drops[d].load()
		}
		tw := w.tun
		sent = nsent - w.ctr.refragments.load() + w.ctr.refragmented.load()
		held = w.ctr.fragHeld.load() + tw.ctr[tcOuterFragHeld].load() + tw.ctr[tcPMTULearned].load()
		return
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		s0, d0, h0 := tally()
		now := Now()
		w.feed([][]byte{frame}, up, now)
		w.feed([][]byte{frame}, up, now) // twice: a fragment meets itself, a seq is repeated
		s1, d1, h1 := tally()
		if got := (s1 - s0) + (d1 - d0) + (h1 - h0); got != 2 {
			t.Fatalf("2 frames: %d sent, %d dropped, %d held as fragments or PMTU reports", s1-s0, d1-d0, h1-h0)
		}
	})
}

// A capture on a tunnel's port sees the inner frames, both ways; one on
// the underlay sees the encapsulated ones.
func TestTunnelPortTapIOLess(t *testing.T) {
	sw, w, _ := newTunnelSwitch(t, tunnel.Geneve)
	up := sw.portIdx["up"]
	inner, err := sw.AddTap(TapConfig{Port: "hostb"})
	if err != nil {
		t.Fatal(err)
	}
	outer, _ := sw.AddTap(TapConfig{Port: "up"})
	now := Now()
	req := innerUDP(t, macVM, macRem, 100, false)
	w.feed([][]byte{req}, 0, now)
	remote := swapEndpoint(t, sw, tunnel.Geneve)
	enc := make([]byte, 2048)
	n, _ := remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), innerUDP(t, macRem, macVM, 100, false), 1)
	w.feed([][]byte{enc[:n]}, up, now)
	inner.Close()
	outer.Close()
	var got []string
	read := func(tp *Tap) {
		_ = tp.Read(t.Context(), func(cf *CapturedFrame) error {
			got = append(got, fmt.Sprintf("%s/%s/%d", cf.Port, cf.Point, cf.Len))
			return nil
		})
	}
	read(inner)
	read(outer)
	want := fmt.Sprintf("hostb/tx/%d hostb/rx/%d up/tx/%d up/rx/%d", len(req), len(req), len(req)+50, n)
	if strings.Join(got, " ") != want {
		t.Errorf("captured %v, want %s", got, want)
	}
}

func TestGREIPGatewayIOLess(t *testing.T) {
	c := tunnel.Config{Name: "rtr", Kind: tunnel.GREIP, Local: netip.MustParseAddr("198.18.100.1"), Remote: netip.MustParseAddr("198.18.100.2")}
	sw := newIOLessSwitch(t, 1, 1, func(cfg *SwitchConfig) {
		cfg.Underlays = []UnderlaySpec{{Name: "up", Interface: "ul0"}}
		cfg.Tunnels = []TunnelSpec{{Endpoint: c, Gateway: []netip.Addr{netip.MustParseAddr("198.18.1.254"), netip.MustParseAddr("2001:db8:1::fe")}}}
	})
	sw.tuns[0].nh.Store(&NextHop{SrcMAC: [6]byte{2, 0, 0, 0, 1, 0xa}, DstMAC: [6]byte{2, 0, 0, 0, 1, 0xb}, Via: c.Remote, LinkMTU: 1500})
	w := sw.workers[0]
	var out []sent
	w.sink = func(port int, frame []byte) { out = append(out, sent{port, append([]byte(nil), frame...)}) }
	up := sw.portIdx["up"]
	gwMAC := sw.tuns[0].greip.mac
	now := Now()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// ARP for the gateway: answered on p0.
	arp := ser(t, &layers.Ethernet{SrcMAC: macVM, DstMAC: bcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: macVM, SourceProtAddress: []byte{198, 18, 1, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 1, 254}})
	w.feed([][]byte{arp}, 0, now)
	if len(out) != 1 || out[0].port != 0 {
		t.Fatalf("ARP: sent %v", out)
	}
	p := gopacket.NewPacket(out[0].frame, layers.LayerTypeEthernet, gopacket.Default)
	if a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP); a == nil || a.Operation != 2 || !bytes.Equal(a.SourceHwAddress, gwMAC[:]) ||
		!bytes.Equal(a.SourceProtAddress, []byte{198, 18, 1, 254}) || !bytes.Equal(a.DstHwAddress, macVM) {
		t.Fatalf("ARP reply %v", p)
	}
	// A frame flooded to the endpoint (unknown unicast, not for the
	// gateway) stays out of the tunnel.
	out = nil
	w.feed([][]byte{innerUDP(t, macVM, net.HardwareAddr{2, 0xc7, 0, 0, 0xa, 9}, 50, false)}, 0, now)
	for _, o := range out {
		if o.port == up {
			t.Fatalf("a flood entered the IP-GRE tunnel")
		}
	}
	// A packet routed through the gateway: encapsulated as IP in GRE.
	out = nil
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 1, 1}, DstIP: net.IP{198, 18, 2, 1}}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 5001}
	_ = udp.SetNetworkLayerForChecksum(ip)
	toGW := ser(t, &layers.Ethernet{SrcMAC: macVM, DstMAC: net.HardwareAddr(gwMAC[:]), EthernetType: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(make([]byte, 100)))
	w.feed([][]byte{toGW}, 0, now)
	if len(out) != 1 || out[0].port != up {
		t.Fatalf("to the gateway: sent %v", out)
	}
	var d tunnel.Decapsulated
	if why := tunnel.Decap(out[0].frame, 0, &d); why != tunnel.ReasonNone || d.Kind != tunnel.GREIP || !bytes.Equal(d.Payload, toGW[14:]) {
		t.Fatalf("encapsulated: %s %+v", why.Name(), d)
	}
	// The reply from the remote: delivered to the VM from the gateway's MAC.
	out = nil
	remote := swapEndpoint(t, sw, tunnel.GREIP)
	rip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 18, 2, 1}, DstIP: net.IP{198, 18, 1, 1}}
	rudp := &layers.UDP{SrcPort: 5001, DstPort: 5000}
	_ = rudp.SetNetworkLayerForChecksum(rip)
	reply := ser(t, &layers.Ethernet{SrcMAC: macRem, DstMAC: macVM, EthernetType: layers.EthernetTypeIPv4}, rip, rudp, gopacket.Payload(make([]byte, 100)))
	enc := make([]byte, 2048)
	n, err := remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), reply, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.feed([][]byte{enc[:n]}, up, now)
	if len(out) != 1 || out[0].port != 0 || !bytes.Equal(out[0].frame[0:6], macVM) || !bytes.Equal(out[0].frame[6:12], gwMAC[:]) || !bytes.Equal(out[0].frame[14:], reply[14:]) {
		t.Fatalf("from the tunnel: sent %v", out)
	}
	// A full batch out of the tunnel: every packet delivered (the
	// Ethernet header is written in place, no buffer per packet).
	out = nil
	batch := make([][]byte, 64)
	for i := range batch {
		// Decapsulation rewrites the frame, as it may a UMEM frame.
		n, _ = remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), reply, 1)
		batch[i] = append([]byte(nil), enc[:n]...)
	}
	w.feed(batch, up, now)
	if len(out) != 64 {
		t.Fatalf("a batch of 64 from the tunnel: %d delivered", len(out))
	}
	// To an address nobody claimed: dropped, and the gateway asks.
	out = nil
	copy(reply[30:34], []byte{198, 18, 1, 77})
	n, _ = remote.Encap(enc, packetMAC(2, 0, 0, 0, 1, 0xb), packetMAC(2, 0, 0, 0, 1, 0xa), reply, 1)
	w.feed([][]byte{enc[:n]}, up, now)
	if w.ctr.drops[DropTunnelNoInnerNeighbor].load() != 1 || len(out) != 1 {
		t.Fatalf("unknown destination: %d drops, sent %v", w.ctr.drops[DropTunnelNoInnerNeighbor].load(), out)
	}
	if a, _ := gopacket.NewPacket(out[0].frame, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeARP).(*layers.ARP); a == nil || a.Operation != 1 || !bytes.Equal(a.DstProtAddress, []byte{198, 18, 1, 77}) {
		t.Fatalf("no ARP request from the gateway: %v", out)
	}
	// IPv6: a neighbour solicitation for the gateway gets an advertisement.
	out = nil
	ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("2001:db8:1::1"), DstIP: net.ParseIP("ff02::1:ff00:fe")}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip6)
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: net.ParseIP("2001:db8:1::fe"),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macVM}}}
	nsf := ser(t, &layers.Ethernet{SrcMAC: macVM, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0xfe}, EthernetType: layers.EthernetTypeIPv6}, ip6, ic, ns)
	w.feed([][]byte{nsf}, 0, now)
	if len(out) != 1 || out[0].port != 0 {
		t.Fatalf("NS: sent %v", out)
	}
	np := gopacket.NewPacket(out[0].frame, layers.LayerTypeEthernet, gopacket.Default)
	na, _ := np.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	icmp, _ := np.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if na == nil || !na.TargetAddress.Equal(net.ParseIP("2001:db8:1::fe")) || !na.Solicited() || !na.Router() || icmp == nil {
		t.Fatalf("NA %v", np)
	}
	// Its checksum verifies.
	chk := append([]byte(nil), out[0].frame...)
	var m packet.Meta
	if err := packet.Parse(chk, &m); err != nil || !packet.VerifyL4Checksum(chk, &m) {
		t.Errorf("NA checksum: %v", err)
	}
}
