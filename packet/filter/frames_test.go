package filter

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test frames, built with gopacket. Addresses: the outer (underlay) hosts
// are 192.0.2.x / 2001:db8:ffff::x, the plain and inner (overlay) hosts
// 10.0.0.1 -> 192.168.1.2, 198.18.1.1 -> 198.18.1.2, 2001:db8::1 -> 2001:db8::2.

var (
	macA     = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	macB     = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	macInA   = net.HardwareAddr{0x02, 0xc7, 0x00, 0x00, 0x00, 0x01}
	macInB   = net.HardwareAddr{0x02, 0xc7, 0x00, 0x00, 0x00, 0x02}
	ip4A     = net.IP{10, 0, 0, 1}
	ip4B     = net.IP{192, 168, 1, 2}
	ip4UnA   = net.IP{192, 0, 2, 1}
	ip4UnB   = net.IP{192, 0, 2, 2}
	ip4InA   = net.IP{198, 18, 1, 1}
	ip4InB   = net.IP{198, 18, 1, 2}
	ip6A     = net.ParseIP("2001:db8::1")
	ip6B     = net.ParseIP("2001:db8::2")
	ip6UnA   = net.ParseIP("2001:db8:ffff::1")
	ip6UnB   = net.ParseIP("2001:db8:ffff::2")
	serOpts  = gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	teb      = layers.EthernetTypeTransparentEthernetBridging
	protoGRE = layers.IPProtocolGRE
)

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst net.HardwareAddr, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
}

func ip4(src, dst net.IP, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Id: 0x1234, Flags: layers.IPv4DontFragment,
		Protocol: proto, SrcIP: src, DstIP: dst}
}

func ip6(src, dst net.IP, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: src, DstIP: dst}
}

func tcp(sport, dport layers.TCPPort, net gopacket.NetworkLayer, flags string) *layers.TCP {
	t := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 1000, Window: 64240}
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK, t.Ack = true, 77
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'U':
			t.URG = true
		}
	}
	_ = t.SetNetworkLayerForChecksum(net)
	return t
}

func udp(sport, dport layers.UDPPort, net gopacket.NetworkLayer) *layers.UDP {
	u := &layers.UDP{SrcPort: sport, DstPort: dport}
	_ = u.SetNetworkLayerForChecksum(net)
	return u
}

// frameTCP4: 10.0.0.1:40000 -> 192.168.1.2:dport with the given flags.
func frameTCP4(tb testing.TB, dport layers.TCPPort, flags string) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolTCP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip, tcp(40000, dport, ip, flags))
}

// frameVLANTCP4: a C-tag (VLAN 100, priority 5) in front of an IPv4 TCP ACK+PSH.
func frameVLANTCP4(tb testing.TB) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolTCP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeDot1Q),
		&layers.Dot1Q{Priority: 5, VLANIdentifier: 100, Type: layers.EthernetTypeIPv4},
		ip, tcp(40000, 8080, ip, "AP"), gopacket.Payload("hello"))
}

// frameQinQUDP4: S-tag 200, C-tag 300, IPv4 UDP 1234 -> 53.
func frameQinQUDP4(tb testing.TB) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 300, Type: layers.EthernetTypeIPv4},
		ip, udp(1234, 53, ip), gopacket.Payload(dnsHeader))
}

func frameUDP4(tb testing.TB) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip, udp(1234, 53, ip), gopacket.Payload(dnsHeader))
}

// frameIP6HBH: IPv6 with a hop-by-hop header, then TCP SYN 40000 -> 22.
func frameIP6HBH(tb testing.TB) []byte {
	ip := ip6(ip6A, ip6B, layers.IPProtocolIPv6HopByHop)
	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolTCP
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 0x1e, OptionData: []byte{1, 2, 3, 4}}}
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ip, hbh, tcp(40000, 22, ip, "S"))
}

func frameICMP4Echo(tb testing.TB) []byte {
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip4(ip4A, ip4B, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1},
		gopacket.Payload("ping"))
}

func frameICMP6Echo(tb testing.TB) []byte {
	ip := ip6(ip6A, ip6B, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ip, ic,
		&layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, gopacket.Payload("ping"))
}

func frameARP(tb testing.TB) []byte {
	return serialize(tb, eth(macA, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, layers.EthernetTypeARP),
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
			SourceHwAddress: macA, SourceProtAddress: ip4A,
			DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: ip4B})
}

// innerSSHSYN is the overlay packet of the tunnel frames: Ethernet
// 02:c7::01 -> 02:c7::02, 198.18.1.1:50000 -> 198.18.1.2:22, SYN.
func innerSSHSYN(tb testing.TB) []gopacket.SerializableLayer {
	ip := ip4(ip4InA, ip4InB, layers.IPProtocolTCP)
	return []gopacket.SerializableLayer{eth(macInA, macInB, layers.EthernetTypeIPv4), ip, tcp(50000, 22, ip, "S")}
}

// frameGREKeyEth: IPv4 192.0.2.1 -> 192.0.2.2, GRE key 42 (gretap) carrying innerSSHSYN.
func frameGREKeyEth(tb testing.TB) []byte {
	ls := []gopacket.SerializableLayer{eth(macA, macB, layers.EthernetTypeIPv4), ip4(ip4UnA, ip4UnB, protoGRE),
		&layers.GRE{KeyPresent: true, Key: 42, Protocol: teb}}
	return serialize(tb, append(ls, innerSSHSYN(tb)...)...)
}

// frameGREIP6: IPv6 underlay, GRE (checksum, no key) carrying a bare IPv6
// UDP packet 2001:db8::1:5000 -> 2001:db8::2:443.
func frameGREIP6(tb testing.TB) []byte {
	in := ip6(ip6A, ip6B, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ip6(ip6UnA, ip6UnB, protoGRE),
		&layers.GRE{ChecksumPresent: true, Protocol: layers.EthernetTypeIPv6},
		in, udp(5000, 443, in), gopacket.Payload("quic"))
}

// geneveHeader returns a Geneve header with one 8-byte option.
func geneveHeader(proto uint16, vni uint32) []byte {
	h := []byte{0x02, 0x00, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef}
	binary.BigEndian.PutUint16(h[2:], proto)
	binary.BigEndian.PutUint32(h[4:], vni<<8)
	return h
}

// frameGeneve: IPv4 underlay, UDP 33333 -> 6081, Geneve VNI 5001 carrying
// Ethernet + IPv4 198.18.1.1:5000 -> 198.18.1.2:53 UDP.
func frameGeneve(tb testing.TB) []byte {
	out := ip4(ip4UnA, ip4UnB, layers.IPProtocolUDP)
	in := ip4(ip4InA, ip4InB, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), out, udp(33333, 6081, out),
		gopacket.Payload(geneveHeader(0x6558, 5001)),
		eth(macInA, macInB, layers.EthernetTypeIPv4), in, udp(5000, 53, in), gopacket.Payload(dnsHeader))
}

// frameGeneveGRE: Geneve VNI 7 carrying Ethernet + IPv4 + GRE (key 9,
// bare IPv4) carrying ICMP echo 10.0.0.1 -> 192.168.1.2: two tunnels deep.
func frameGeneveGRE(tb testing.TB) []byte {
	out := ip4(ip4UnA, ip4UnB, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), out, udp(33333, 6081, out),
		gopacket.Payload(geneveHeader(0x6558, 7)),
		eth(macInA, macInB, layers.EthernetTypeIPv4), ip4(ip4InA, ip4InB, protoGRE),
		&layers.GRE{KeyPresent: true, Key: 9, Protocol: layers.EthernetTypeIPv4},
		ip4(ip4A, ip4B, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
}

// framePadded: a 42-byte UDP 1234 -> 53 frame with no payload, padded to 60
// bytes with a pattern that would read as ports 0xaaaa if taken for data.
func framePadded(tb testing.TB) []byte {
	f := frameUDP4NoPayload(tb) // gopacket pads it to 60 bytes with zeros
	f = f[:42]
	for len(f) < 60 {
		f = append(f, 0xaa)
	}
	return f
}

func frameUDP4NoPayload(tb testing.TB) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolUDP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip, udp(1234, 53, ip))
}

// frameGREInPadding: an IPv4 header saying GRE with no payload (total length
// 20), then padding that holds a GRE header with key 42 and an inner packet.
// Nothing after the IP length is a header.
func frameGREInPadding(tb testing.TB) []byte {
	f := frameGREKeyEth(tb)
	binary.BigEndian.PutUint16(f[14+2:], 20)
	f[14+10], f[14+11] = 0, 0
	return f
}

// fragment frames: IPv4 UDP 1234 -> 53 split at offset 16 (first: MF, offset
// 0, carrying the UDP header; second: offset 16).
func frameIP4Frag(tb testing.TB, first bool) []byte {
	ip := ip4(ip4A, ip4B, layers.IPProtocolUDP)
	ip.Flags = layers.IPv4MoreFragments
	var payload []byte
	if first {
		u := make([]byte, 16)
		binary.BigEndian.PutUint16(u[0:], 1234)
		binary.BigEndian.PutUint16(u[2:], 53)
		binary.BigEndian.PutUint16(u[4:], 40)
		payload = u
	} else {
		ip.Flags = 0
		ip.FragOffset = 2 // 16 bytes
		// Fragment data that would read as ports 53 -> 53 if taken for a header.
		payload = []byte{0, 53, 0, 53, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	}
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip, gopacket.Payload(payload))
}

// frameIP6Frag: IPv6 fragment header then TCP (first) or TCP-looking data.
func frameIP6Frag(tb testing.TB, first bool) []byte {
	ip := ip6(ip6A, ip6B, layers.IPProtocolIPv6Fragment)
	fh := []byte{uint8(layers.IPProtocolTCP), 0, 0, 1, 0, 0, 0, 9} // offset 0, M
	body := make([]byte, 24)
	binary.BigEndian.PutUint16(body[0:], 40000)
	binary.BigEndian.PutUint16(body[2:], 22)
	body[12] = 5 << 4
	body[13] = 0x02 // SYN
	if !first {
		binary.BigEndian.PutUint16(fh[2:], 24) // offset 24, last
	}
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), ip, gopacket.Payload(fh), gopacket.Payload(body))
}

// dnsHeader is an empty DNS message, so that gopacket decodes port 53.
var dnsHeader = make([]byte, 12)

// frameGeneveIP6: IPv6 underlay, Geneve VNI 77 carrying a bare IPv6 TCP SYN
// 2001:db8::1:40000 -> 2001:db8::2:22.
func frameGeneveIP6(tb testing.TB) []byte {
	out := ip6(ip6UnA, ip6UnB, layers.IPProtocolUDP)
	in := ip6(ip6A, ip6B, layers.IPProtocolTCP)
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv6), out, udp(33333, 6081, out),
		gopacket.Payload(geneveHeader(0x86dd, 77)), in, tcp(40000, 22, in, "S"))
}

// frameGREPPP: GRE key 5 with protocol 0x880b (PPP, as PPTP uses), which
// this package does not look into.
func frameGREPPP(tb testing.TB) []byte {
	return serialize(tb, eth(macA, macB, layers.EthernetTypeIPv4), ip4(ip4UnA, ip4UnB, protoGRE),
		&layers.GRE{KeyPresent: true, Key: 5, Protocol: layers.EthernetTypePPP},
		gopacket.Payload([]byte{0xff, 0x03, 0x00, 0x21, 0x45, 0, 0, 20}))
}
