package icmperr

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"regexp"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// origIP returns the IP packet of a test frame, trimmed to its IP length.
func origIP(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	var m packet.Meta
	if err := packet.Parse(frame, &m); err != nil {
		tb.Fatalf("test frame does not parse: %v", err)
	}
	return m.L3(frame)
}

// checkFragNeeded decodes out with gopacket and checks every field of the
// fragmentation-needed error FragNeeded built about orig.
func checkFragNeeded(t *testing.T, out, orig []byte, o l2opt, mtu int, wantSrc net.IP) {
	t.Helper()
	l3 := l3Off(o)
	oip := origIP(t, orig)
	q := min(len(oip), 548)
	if len(out) != l3+28+q {
		t.Fatalf("frame length %d, want %d (L2 %d + 28 + quote %d)", len(out), l3+28+q, l3, q)
	}
	p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	oeth := packet.Ethernet(orig)
	if oDst, oSrc := oeth.Dst(), oeth.Src(); !bytes.Equal(eth.SrcMAC, oDst[:]) || !bytes.Equal(eth.DstMAC, oSrc[:]) {
		t.Errorf("MACs %v -> %v, want swapped %v -> %v", eth.SrcMAC, eth.DstMAC, oDst, oSrc)
	}
	var vids []uint16
	for _, l := range p.Layers() {
		if d, ok := l.(*layers.Dot1Q); ok {
			vids = append(vids, d.VLANIdentifier)
		}
	}
	if len(vids) != len(o.vlans) || !bytes.Equal(out[12:l3], orig[12:l3]) {
		t.Errorf("VLAN tags %v (% x), want %v (% x)", vids, out[12:l3], o.vlans, orig[12:l3])
	}
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip == nil {
		t.Fatal("no IPv4 layer")
	}
	if ip.IHL != 5 || ip.TOS != 0 || ip.Id != 0 || ip.Flags != layers.IPv4DontFragment ||
		ip.FragOffset != 0 || ip.TTL != 64 || ip.Protocol != layers.IPProtocolICMPv4 {
		t.Errorf("IPv4 header ihl %d tos %#x id %d flags %v off %d ttl %d proto %v",
			ip.IHL, ip.TOS, ip.Id, ip.Flags, ip.FragOffset, ip.TTL, ip.Protocol)
	}
	if int(ip.Length) != 28+q || ip.Length > 576 {
		t.Errorf("IP length %d, want %d (<= 576)", ip.Length, 28+q)
	}
	if !ip.SrcIP.Equal(wantSrc) || !ip.DstIP.Equal(net.IP(oip[12:16])) {
		t.Errorf("IP %v -> %v, want %v -> %v", ip.SrcIP, ip.DstIP, wantSrc, net.IP(oip[12:16]))
	}
	if c := csum(out[l3:l3+20], 0); c != 0xffff {
		t.Errorf("IPv4 header checksum does not verify (%#x)", c)
	}
	ic, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic == nil {
		t.Fatal("no ICMPv4 layer")
	}
	if ic.TypeCode.Type() != 3 || ic.TypeCode.Code() != 4 {
		t.Errorf("ICMP %v, want type 3 code 4", ic.TypeCode)
	}
	if ic.Id != 0 || int(ic.Seq) != mtu {
		t.Errorf("ICMP rest of header %#04x %d, want 0 and next-hop MTU %d", ic.Id, ic.Seq, mtu)
	}
	if c := csum(out[l3+20:], 0); c != 0xffff {
		t.Errorf("ICMP checksum does not verify (%#x)", c)
	}
	if !bytes.Equal(ic.Payload, oip[:q]) {
		t.Errorf("quote (%d bytes) is not the original's first %d bytes", len(ic.Payload), q)
	}
}

func fragNeeded(t *testing.T, orig []byte, mtu int, src netip.Addr) []byte {
	t.Helper()
	dst := make([]byte, MaxFragNeededLen)
	n, why := FragNeeded(dst, orig, mtu, src)
	if why != None {
		t.Fatalf("FragNeeded: %v (%s)", why, why.Help())
	}
	return dst[:n]
}

func TestFragNeeded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     l2opt
		ipLen int
		mtu   int
	}{
		{"udp1500_mtu1400", l2opt{}, 1500, 1400},
		{"udp1500_mtu1450_vlan", l2opt{vlans: []uint16{100}}, 1500, 1450},
		{"udp1500_mtu1442_qinq", l2opt{vlans: []uint16{10, 20}}, 1500, 1442},
		{"udp577_mtu576", l2opt{}, 577, 576},
		{"udp548_mtu68", l2opt{}, 548, 68},   // exactly a full quote
		{"udp549_mtu100", l2opt{}, 549, 100}, // one byte cut
		{"udp100_mtu68", l2opt{}, 100, 68},
		{"udp9000_mtu1500", l2opt{vlans: []uint16{7}}, 9000, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := udp4Frame(t, tc.o, ip4(0), tc.ipLen)
			out := fragNeeded(t, orig, tc.mtu, netip.Addr{})
			checkFragNeeded(t, out, orig, tc.o, tc.mtu, ip4Peer)
			if tc.ipLen >= 548 && len(out)-l3Off(tc.o) != 576 {
				t.Errorf("IP packet %d bytes, want the full 576", len(out)-l3Off(tc.o))
			}
		})
	}
}

func TestFragNeededPaddingNotQuoted(t *testing.T) {
	orig := udp4Frame(t, l2opt{vlans: []uint16{5}}, ip4(0), 80)
	padded := append(append([]byte(nil), orig...), bytes.Repeat([]byte{0xee}, 40)...)
	out := fragNeeded(t, padded, 68, netip.Addr{})
	checkFragNeeded(t, out, orig, l2opt{vlans: []uint16{5}}, 68, ip4Peer)
	if bytes.Contains(out, []byte{0xee, 0xee, 0xee, 0xee}) {
		t.Error("L2 padding was quoted")
	}
}

func TestFragNeededOptionsQuoted(t *testing.T) {
	ip := ip4(0)
	ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}} // router alert
	orig := udp4Frame(t, l2opt{}, ip, 1000)
	if packet.IPv4(orig[14:]).HeaderLen() != 24 {
		t.Fatal("test packet has no options")
	}
	out := fragNeeded(t, orig, 900, netip.Addr{})
	checkFragNeeded(t, out, orig, l2opt{}, 900, ip4Peer)
}

func TestFragNeededSource(t *testing.T) {
	orig := udp4Frame(t, l2opt{}, ip4(0), 1500)
	for _, tc := range []struct {
		src  netip.Addr
		want net.IP
	}{
		{netip.Addr{}, ip4Peer},                                // none: the original's destination
		{addr("198.18.255.1"), net.IP{198, 18, 255, 1}},        // the caller's
		{addr("::ffff:198.18.255.2"), net.IP{198, 18, 255, 2}}, // IPv4-mapped counts
		{addr("2001:db8::9"), ip4Peer},                         // wrong family: ignored
		{addr("224.0.0.1"), ip4Peer},                           // not unicast: ignored
		{addr("0.0.0.0"), ip4Peer},
	} {
		out := fragNeeded(t, orig, 1400, tc.src)
		checkFragNeeded(t, out, orig, l2opt{}, 1400, tc.want)
	}
	// The original's destination is not unicast and no src: nothing to send from.
	ip := ip4(0)
	ip.DstIP = net.IP{240, 0, 0, 1}
	class := udp4Frame(t, l2opt{}, ip, 1500)
	if _, why := FragNeeded(make([]byte, 600), class, 1400, netip.Addr{}); why != NoSource {
		t.Errorf("class E destination, no src: %v, want no_source", why)
	}
	out := fragNeeded(t, class, 1400, addr("198.18.255.1"))
	checkFragNeeded(t, out, class, l2opt{}, 1400, net.IP{198, 18, 255, 1})
}

func TestFragNeededICMPEchoAnswered(t *testing.T) {
	for _, typ := range []uint8{layers.ICMPv4TypeEchoRequest, layers.ICMPv4TypeEchoReply, layers.ICMPv4TypeTimestampRequest} {
		orig := icmp4Frame(t, l2opt{}, typ, 0, 1400)
		out := fragNeeded(t, orig, 1300, netip.Addr{})
		checkFragNeeded(t, out, orig, l2opt{}, 1300, ip4Peer)
	}
}

func TestFragNeededFirstFragmentAnswered(t *testing.T) {
	ip := ip4(0)
	ip.Flags = layers.IPv4DontFragment | layers.IPv4MoreFragments
	orig := udp4Frame(t, l2opt{}, ip, 1480)
	out := fragNeeded(t, orig, 1400, netip.Addr{})
	checkFragNeeded(t, out, orig, l2opt{}, 1400, ip4Peer)
}

// TestFragNeededInPlace rewrites the received frame into the error.
func TestFragNeededInPlace(t *testing.T) {
	o := l2opt{vlans: []uint16{10, 20}}
	orig := udp4Frame(t, o, ip4(0), 1500)
	want := fragNeeded(t, orig, 1400, netip.Addr{})
	buf := append([]byte(nil), orig...)
	n, why := FragNeeded(buf, buf, 1400, netip.Addr{})
	if why != None || !bytes.Equal(buf[:n], want) {
		t.Fatalf("in place: %v, frame differs from the copy's", why)
	}
	// A short frame grows in place into its buffer's capacity.
	small := udp4Frame(t, o, ip4(0), 100)
	want = fragNeeded(t, small, 68, netip.Addr{})
	buf = make([]byte, len(small), 1024)
	copy(buf, small)
	n, why = FragNeeded(buf[:cap(buf)], buf, 68, netip.Addr{})
	if why != None || !bytes.Equal(buf[:n], want) {
		t.Fatalf("in place, growing: %v, frame differs from the copy's", why)
	}
	orig6 := udp6Frame(t, o, 1500)
	want6 := packetTooBig(t, orig6, 1280, netip.Addr{})
	buf = append([]byte(nil), orig6...)
	n, why = PacketTooBig(buf, buf, 1280, netip.Addr{})
	if why != None || !bytes.Equal(buf[:n], want6) {
		t.Fatalf("PTB in place: %v, frame differs from the copy's", why)
	}
}

func TestFragNeededReasons(t *testing.T) {
	base := func(mod func(*layers.IPv4)) []byte {
		ip := ip4(0)
		if mod != nil {
			mod(ip)
		}
		return udp4Frame(t, l2opt{}, ip, 1500)
	}
	ok := base(nil)
	trunc := append([]byte(nil), ok[:1000]...)
	badIHL := append([]byte(nil), ok...)
	badIHL[14] = 0x44
	v6 := udp6Frame(t, l2opt{}, 1500)
	v6in4 := append([]byte(nil), ok...)
	v6in4[14] = 0x65
	withSrcMAC := func(m net.HardwareAddr) []byte {
		return udp4Frame(t, l2opt{srcMAC: m}, ip4(0), 1500)
	}
	withDstMAC := func(m net.HardwareAddr) []byte {
		return udp4Frame(t, l2opt{dstMAC: m}, ip4(0), 1500)
	}
	three := serialize(t, &layers.Ethernet{SrcMAC: macVM, DstMAC: macPeer, EthernetType: layers.EthernetTypeQinQ},
		&layers.Dot1Q{VLANIdentifier: 1, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 2, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 3, Type: layers.EthernetTypeIPv4}, ip4(layers.IPProtocolUDP), payloadOf(1480))

	cases := []struct {
		name string
		orig []byte
		mtu  int
		dst  int
		want Reason
	}{
		{"ok", ok, 1400, 600, None},
		{"short_l2", ok[:13], 1400, 600, Truncated},
		{"short_vlan", udp4Frame(t, l2opt{vlans: []uint16{1}}, ip4(0), 100)[:16], 1400, 600, Truncated},
		{"short_ip_header", ok[:30], 1400, 600, Truncated},
		{"short_total_length", trunc, 900, 600, Truncated},
		{"bad_ihl", badIHL, 1400, 600, Truncated},
		{"arp", serialize(t, &layers.Ethernet{SrcMAC: macVM, DstMAC: macPeer, EthernetType: layers.EthernetTypeARP}, payloadOf(28)), 1400, 600, NotIP},
		{"ipv6_frame", v6, 1400, 600, NotIP},
		{"version_6_in_ipv4", v6in4, 1400, 600, NotIP},
		{"three_vlans", three, 1400, 600, NotIP},
		{"mtu_67", ok, 67, 600, MTUTooSmall},
		{"mtu_0", ok, 0, 600, MTUTooSmall},
		{"fits", ok, 1500, 600, PacketFits},
		{"fits_jumbo", ok, 9000, 600, PacketFits},
		{"no_df", base(func(ip *layers.IPv4) { ip.Flags = 0 }), 1400, 600, NotDF},
		{"no_df_fragment", base(func(ip *layers.IPv4) { ip.Flags = layers.IPv4MoreFragments }), 1400, 600, NotDF},
		{"non_first_fragment", base(func(ip *layers.IPv4) { ip.FragOffset = 185 }), 1400, 600, NonFirstFragment},
		{"icmp_dst_unreach", icmp4Frame(t, l2opt{}, 3, 1, 1400), 1300, 600, AboutICMPError},
		{"icmp_time_exceeded", icmp4Frame(t, l2opt{}, 11, 0, 1400), 1300, 600, AboutICMPError},
		{"icmp_redirect", icmp4Frame(t, l2opt{}, 5, 0, 1400), 1300, 600, AboutICMPError},
		{"icmp_param_problem", icmp4Frame(t, l2opt{}, 12, 0, 1400), 1300, 600, AboutICMPError},
		{"icmp_source_quench", icmp4Frame(t, l2opt{}, 4, 0, 1400), 1300, 600, AboutICMPError},
		{"icmp_unknown_type", icmp4Frame(t, l2opt{}, 200, 0, 1400), 1300, 600, AboutICMPError},
		{"dst_multicast", base(func(ip *layers.IPv4) { ip.DstIP = net.IP{239, 1, 2, 3} }), 1400, 600, DstMulticast},
		{"dst_broadcast", base(func(ip *layers.IPv4) { ip.DstIP = net.IP{255, 255, 255, 255} }), 1400, 600, DstMulticast},
		{"dst_mac_broadcast", withDstMAC(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), 1400, 600, DstMulticast},
		{"dst_mac_multicast", withDstMAC(net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 1}), 1400, 600, DstMulticast},
		{"src_zero", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{0, 0, 0, 0} }), 1400, 600, BogusSource},
		{"src_this_net", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{0, 1, 2, 3} }), 1400, 600, BogusSource},
		{"src_loopback", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{127, 0, 0, 1} }), 1400, 600, BogusSource},
		{"src_multicast", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{224, 0, 0, 5} }), 1400, 600, BogusSource},
		{"src_class_e", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{240, 0, 0, 1} }), 1400, 600, BogusSource},
		{"src_broadcast", base(func(ip *layers.IPv4) { ip.SrcIP = net.IP{255, 255, 255, 255} }), 1400, 600, BogusSource},
		{"src_mac_multicast", withSrcMAC(net.HardwareAddr{0x03, 0, 0, 0, 0, 1}), 1400, 600, BogusSource},
		{"dst_loopback_no_src", base(func(ip *layers.IPv4) { ip.DstIP = net.IP{127, 0, 0, 1} }), 1400, 600, NoSource},
		{"dst_too_small", ok, 1400, 14 + 576 - 1, DstTooSmall},
		{"dst_exact", ok, 1400, 14 + 576, None},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, why := FragNeeded(make([]byte, tc.dst), tc.orig, tc.mtu, netip.Addr{})
			if why != tc.want {
				t.Fatalf("reason %v, want %v", why, tc.want)
			}
			if (why == None) != (n > 0) {
				t.Fatalf("length %d with reason %v", n, why)
			}
		})
	}
}

// checkPacketTooBig decodes out with gopacket and checks the PTB built
// about orig.
func checkPacketTooBig(t *testing.T, out, orig []byte, o l2opt, mtu int, wantSrc net.IP, wantSrcMAC net.HardwareAddr) {
	t.Helper()
	l3 := l3Off(o)
	oip := origIP(t, orig)
	q := min(len(oip), 1232)
	if len(out) != l3+48+q {
		t.Fatalf("frame length %d, want %d", len(out), l3+48+q)
	}
	p := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	oSrc := packet.Ethernet(orig).Src()
	if wantSrcMAC == nil {
		d := packet.Ethernet(orig).Dst()
		wantSrcMAC = d[:]
	}
	if !bytes.Equal(eth.SrcMAC, wantSrcMAC) || !bytes.Equal(eth.DstMAC, oSrc[:]) {
		t.Errorf("MACs %v -> %v, want %v -> %v", eth.SrcMAC, eth.DstMAC, wantSrcMAC, oSrc)
	}
	if !bytes.Equal(out[12:l3], orig[12:l3]) {
		t.Errorf("VLAN tags % x, want % x", out[12:l3], orig[12:l3])
	}
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip == nil {
		t.Fatal("no IPv6 layer")
	}
	if ip.TrafficClass != 0 || ip.FlowLabel != 0 || ip.HopLimit != 64 || ip.NextHeader != layers.IPProtocolICMPv6 {
		t.Errorf("IPv6 header tc %#x flow %#x hop %d nh %v", ip.TrafficClass, ip.FlowLabel, ip.HopLimit, ip.NextHeader)
	}
	if int(ip.Length) != 8+q || 40+int(ip.Length) > 1280 {
		t.Errorf("payload length %d, want %d (packet <= 1280)", ip.Length, 8+q)
	}
	if !ip.SrcIP.Equal(wantSrc) || !ip.DstIP.Equal(net.IP(oip[8:24])) {
		t.Errorf("IP %v -> %v, want %v -> %v", ip.SrcIP, ip.DstIP, wantSrc, net.IP(oip[8:24]))
	}
	ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if ic == nil {
		t.Fatal("no ICMPv6 layer")
	}
	if ic.TypeCode.Type() != 2 || ic.TypeCode.Code() != 0 {
		t.Errorf("ICMPv6 %v, want type 2 code 0", ic.TypeCode)
	}
	body := out[l3+40:]
	if c := csum(body, pseudo6(ip.SrcIP, ip.DstIP, 58, len(body))); c != 0xffff {
		t.Errorf("ICMPv6 checksum over the pseudo header does not verify (%#x)", c)
	}
	if got := binary.BigEndian.Uint32(ic.Payload[0:4]); int(got) != mtu {
		t.Errorf("MTU %d, want %d", got, mtu)
	}
	if !bytes.Equal(ic.Payload[4:], oip[:q]) {
		t.Errorf("quote (%d bytes) is not the original's first %d bytes", len(ic.Payload)-4, q)
	}
}

func packetTooBig(t *testing.T, orig []byte, mtu int, src netip.Addr) []byte {
	t.Helper()
	dst := make([]byte, MaxPacketTooBigLen)
	n, why := PacketTooBig(dst, orig, mtu, src)
	if why != None {
		t.Fatalf("PacketTooBig: %v (%s)", why, why.Help())
	}
	return dst[:n]
}

func TestPacketTooBig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     l2opt
		ipLen int
		mtu   int
		exts  []ext6
	}{
		{"udp1500_mtu1280", l2opt{}, 1500, 1280, nil},
		{"udp1500_mtu1430_vlan", l2opt{vlans: []uint16{100}}, 1500, 1430, nil},
		{"udp1500_mtu1422_qinq", l2opt{vlans: []uint16{10, 20}}, 1500, 1422, nil},
		{"udp1281_mtu1280", l2opt{}, 1281, 1280, nil},
		{"udp9000_mtu8999", l2opt{}, 9000, 8999, nil},
		{"hbh_dstopts", l2opt{}, 1500, 1400, []ext6{hbh(), dstopts()}},
		{"first_fragment", l2opt{}, 1500, 1400, []ext6{hbh(), frag6(0, true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := udp6Frame(t, tc.o, tc.ipLen, tc.exts...)
			out := packetTooBig(t, orig, tc.mtu, netip.Addr{})
			checkPacketTooBig(t, out, orig, tc.o, tc.mtu, ip6Peer, nil)
			if tc.ipLen >= 1280 && len(out)-l3Off(tc.o) != 1280 {
				t.Errorf("IPv6 packet %d bytes, want the full 1280", len(out)-l3Off(tc.o))
			}
		})
	}
}

func TestPacketTooBigPaddingNotQuoted(t *testing.T) {
	// An IPv6 packet larger than 1280 cannot be padded by Ethernet, but
	// trailing bytes after the payload length are still not quoted.
	orig := udp6Frame(t, l2opt{}, 1300)
	padded := append(append([]byte(nil), orig...), bytes.Repeat([]byte{0xee}, 40)...)
	out := packetTooBig(t, padded, 1290, netip.Addr{})
	checkPacketTooBig(t, out, orig, l2opt{}, 1290, ip6Peer, nil)
}

func TestPacketTooBigMulticast(t *testing.T) {
	// RFC 4443 2.4(e): packet too big is sent about multicast too, from a
	// unicast address and MAC the caller supplies.
	mcast := func(o l2opt) []byte {
		f := udp6Frame(t, o, 1500)
		copy(f[l3Off(o)+24:], net.ParseIP("ff0e::1:3"))
		return f
	}
	mmac := net.HardwareAddr{0x33, 0x33, 0, 1, 0, 3}
	orig := mcast(l2opt{dstMAC: mmac})
	buf := make([]byte, MaxPacketTooBigLen)
	if _, why := PacketTooBig(buf, orig, 1280, netip.Addr{}); why != NoSource {
		t.Errorf("multicast without src: %v, want no_source", why)
	}
	if _, why := PacketTooBig(buf, orig, 1280, addr("2001:db8:ff::1")); why != NoSource {
		t.Errorf("multicast MAC without srcMAC: %v, want no_source", why)
	}
	myMAC := packet.MAC{0x02, 0, 0x5e, 0x10, 0, 0x99}
	n, why := PacketTooBigFrom(buf, orig, 1280, addr("2001:db8:ff::1"), myMAC)
	if why != None {
		t.Fatalf("multicast with src and MAC: %v", why)
	}
	checkPacketTooBig(t, buf[:n], orig, l2opt{}, 1280, net.ParseIP("2001:db8:ff::1"), myMAC[:])

	// A multicast packet a bridge delivered to a unicast MAC needs only src.
	uni := mcast(l2opt{})
	n, why = PacketTooBig(buf, uni, 1280, addr("2001:db8:ff::1"))
	if why != None {
		t.Fatalf("multicast to unicast MAC with src: %v", why)
	}
	checkPacketTooBig(t, buf[:n], uni, l2opt{}, 1280, net.ParseIP("2001:db8:ff::1"), nil)

	// Link-layer broadcast of a unicast IPv6 packet, with srcMAC.
	bc := udp6Frame(t, l2opt{dstMAC: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, 1500)
	n, why = PacketTooBigFrom(buf, bc, 1280, netip.Addr{}, myMAC)
	if why != None {
		t.Fatalf("broadcast MAC with srcMAC: %v", why)
	}
	checkPacketTooBig(t, buf[:n], bc, l2opt{}, 1280, ip6Peer, myMAC[:])
	// A multicast srcMAC is ignored.
	if _, why := PacketTooBigFrom(buf, bc, 1280, netip.Addr{}, packet.MAC{1, 0, 0, 0, 0, 1}); why != NoSource {
		t.Errorf("multicast srcMAC: %v, want no_source", why)
	}
}

func TestPacketTooBigSource(t *testing.T) {
	orig := udp6Frame(t, l2opt{}, 1500)
	for _, tc := range []struct {
		src  netip.Addr
		want net.IP
	}{
		{netip.Addr{}, ip6Peer},
		{addr("2001:db8:ff::7"), net.ParseIP("2001:db8:ff::7")},
		{addr("198.18.0.9"), ip6Peer},        // wrong family
		{addr("::ffff:198.18.0.9"), ip6Peer}, // IPv4-mapped: not an IPv6 source
		{addr("ff02::1"), ip6Peer},
		{addr("::"), ip6Peer},
		{addr("::1"), ip6Peer},
	} {
		out := packetTooBig(t, orig, 1280, tc.src)
		checkPacketTooBig(t, out, orig, l2opt{}, 1280, tc.want, nil)
	}
}

func TestPacketTooBigEchoAnswered(t *testing.T) {
	for _, typ := range []uint8{128, 129} {
		orig := raw6Frame(t, l2opt{}, layers.IPProtocolICMPv6, icmp6Body(typ, 1400))
		out := packetTooBig(t, orig, 1280, netip.Addr{})
		checkPacketTooBig(t, out, orig, l2opt{}, 1280, ip6Peer, nil)
	}
	// Behind extension headers too.
	orig := raw6Frame(t, l2opt{}, layers.IPProtocolICMPv6, icmp6Body(128, 1400), hbh(), frag6(0, true))
	out := packetTooBig(t, orig, 1280, netip.Addr{})
	checkPacketTooBig(t, out, orig, l2opt{}, 1280, ip6Peer, nil)
}

func TestPacketTooBigReasons(t *testing.T) {
	ok := udp6Frame(t, l2opt{}, 1500)
	withSrc := func(s string) []byte {
		f := udp6Frame(t, l2opt{}, 1500)
		copy(f[14+8:], net.ParseIP(s))
		return f
	}
	icmp := func(typ uint8, exts ...ext6) []byte {
		return raw6Frame(t, l2opt{}, layers.IPProtocolICMPv6, icmp6Body(typ, 1400), exts...)
	}
	badVersion := append([]byte(nil), ok...)
	badVersion[14] = 0x45
	nine := make([]ext6, 9)
	for i := range nine {
		nine[i] = dstopts()
	}
	longHBH := ext6{0, make([]byte, 8*256)} // hdr ext len 255: 2048 bytes, longer than the packet
	longHBH.b[1] = 255
	pad := ext6{0, make([]byte, 1400)}
	pad.b[1] = 1400/8 - 1
	cutHBH := raw6Frame(t, l2opt{}, layers.IPProtocolUDP, make([]byte, 1500), longHBH)
	binary.BigEndian.PutUint16(cutHBH[18:20], 1500)
	cutHBH = cutHBH[:14+40+1500]
	cases := []struct {
		name string
		orig []byte
		mtu  int
		dst  int
		want Reason
	}{
		{"ok", ok, 1280, 1300, None},
		{"short_l2", ok[:10], 1280, 1300, Truncated},
		{"short_header", ok[:50], 1280, 1300, Truncated},
		{"short_payload_length", ok[:1400], 1280, 1300, Truncated},
		{"ext_chain_cut", cutHBH, 1280, 1300, Truncated},
		{"too_many_ext", udp6Frame(t, l2opt{}, 1500, nine...), 1280, 1300, Truncated},
		{"icmp_no_type", raw6Frame(t, l2opt{}, layers.IPProtocolICMPv6, nil, pad), 1280, 1300, Truncated},
		{"ipv4_frame", udp4Frame(t, l2opt{}, ip4(0), 1500), 1280, 1300, NotIP},
		{"version_4_in_ipv6", badVersion, 1280, 1300, NotIP},
		{"mtu_1279", ok, 1279, 1300, MTUTooSmall},
		{"mtu_68", ok, 68, 1300, MTUTooSmall},
		{"fits", ok, 1500, 1300, PacketFits},
		{"non_first_fragment", udp6Frame(t, l2opt{}, 1500, frag6(1448, true)), 1280, 1300, NonFirstFragment},
		{"non_first_fragment_last", udp6Frame(t, l2opt{}, 1500, hbh(), frag6(2896, false)), 1280, 1300, NonFirstFragment},
		{"icmp_dst_unreach", icmp(1), 1280, 1300, AboutICMPError},
		{"icmp_ptb", icmp(2), 1280, 1300, AboutICMPError},
		{"icmp_time_exceeded", icmp(3), 1280, 1300, AboutICMPError},
		{"icmp_param_problem", icmp(4), 1280, 1300, AboutICMPError},
		{"icmp_error_127", icmp(127), 1280, 1300, AboutICMPError},
		{"icmp_redirect", icmp(137), 1280, 1300, AboutICMPError},
		{"icmp_error_behind_ext", icmp(1, hbh(), dstopts()), 1280, 1300, AboutICMPError},
		{"src_unspecified", withSrc("::"), 1280, 1300, BogusSource},
		{"src_loopback", withSrc("::1"), 1280, 1300, BogusSource},
		{"src_multicast", withSrc("ff02::1"), 1280, 1300, BogusSource},
		{"src_mac_multicast", udp6Frame(t, l2opt{srcMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}}, 1500), 1280, 1300, BogusSource},
		{"dst_mac_multicast_no_srcmac", udp6Frame(t, l2opt{dstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}}, 1500), 1280, 1300, NoSource},
		{"dst_too_small", ok, 1280, 14 + 1280 - 1, DstTooSmall},
		{"dst_exact", ok, 1280, 14 + 1280, None},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, why := PacketTooBig(make([]byte, tc.dst), tc.orig, tc.mtu, netip.Addr{})
			if why != tc.want {
				t.Fatalf("reason %v, want %v", why, tc.want)
			}
			if (why == None) != (n > 0) {
				t.Fatalf("length %d with reason %v", n, why)
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for r := Reason(0); int(r) < NumReasons; r++ {
		n := r.Name()
		if !snake.MatchString(n) || seen[n] {
			t.Errorf("reason %d: name %q not snake_case or not unique", r, n)
		}
		seen[n] = true
		if r.Help() == "" || r.String() != n {
			t.Errorf("reason %v: no help or String differs", r)
		}
	}
	if Reason(200).Name() != "reason_200" || Reason(200).Help() != "" {
		t.Error("out-of-range reason")
	}
	for _, want := range []string{"about_icmp_error", "non_first_fragment", "dst_multicast", "bogus_source",
		"not_df", "mtu_too_small", "truncated", "not_ip", "dst_too_small", "rate_limited"} {
		if !seen[want] {
			t.Errorf("no reason named %q", want)
		}
	}
}

func TestBuildAllocs(t *testing.T) {
	orig4 := udp4Frame(t, l2opt{vlans: []uint16{3}}, ip4(0), 1500)
	orig6 := udp6Frame(t, l2opt{vlans: []uint16{3}}, 1500, hbh())
	dst := make([]byte, MaxPacketTooBigLen)
	src := addr("2001:db8:ff::1")
	if a := testing.AllocsPerRun(200, func() { FragNeeded(dst, orig4, 1400, netip.Addr{}) }); a != 0 {
		t.Errorf("FragNeeded: %v allocs", a)
	}
	if a := testing.AllocsPerRun(200, func() { PacketTooBig(dst, orig6, 1280, src) }); a != 0 {
		t.Errorf("PacketTooBig: %v allocs", a)
	}
}
