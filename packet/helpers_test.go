package packet

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	testMACSrc = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	testMACDst = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	testIP4Src = net.IP{10, 0, 0, 1}
	testIP4Dst = net.IP{192, 168, 1, 2}
	testIP6Src = net.ParseIP("2001:db8::1")
	testIP6Dst = net.ParseIP("2001:db8:ffff::2")
	testIP6Fin = net.ParseIP("2001:db8:eeee::9") // final destination behind a routing header
)

var serOpts = gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}

// serialize builds a packet with gopacket, fixing lengths and checksums.
func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func ethL(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: testMACSrc, DstMAC: testMACDst, EthernetType: et}
}

func ip4L(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TOS: 0x28, Id: 0x1234, Flags: layers.IPv4DontFragment,
		TTL: 64, Protocol: proto, SrcIP: testIP4Src, DstIP: testIP4Dst}
}

func ip6L(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: nh,
		HopLimit: 64, SrcIP: testIP6Src, DstIP: testIP6Dst}
}

// synOptions are the options of a typical Linux SYN.
func synOptions() []layers.TCPOption {
	return []layers.TCPOption{
		{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x05, 0xb4}},
		{OptionType: layers.TCPOptionKindSACKPermitted},
		{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{0, 0, 0x12, 0x34, 0, 0, 0, 0}},
		{OptionType: layers.TCPOptionKindNop},
		{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{7}},
	}
}

func tcpSYN() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 0x01020304, SYN: true,
		Window: 64240, Options: synOptions()}
}

func tcpData() *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 443, Seq: 1000, Ack: 2000, ACK: true, PSH: true,
		Window: 502, Urgent: 0}
}

func tcp4Frame(tb testing.TB, tcp *layers.TCP, payload []byte) []byte {
	ip := ip4L(layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, tcp, gopacket.Payload(payload))
}

func tcp6Frame(tb testing.TB, tcp *layers.TCP, payload []byte) []byte {
	ip := ip6L(layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv6), ip, tcp, gopacket.Payload(payload))
}

func udp4Frame(tb testing.TB, sport, dport layers.UDPPort, payload []byte) []byte {
	ip := ip4L(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(payload))
}

func udp6Frame(tb testing.TB, sport, dport layers.UDPPort, payload []byte) []byte {
	ip := ip6L(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: sport, DstPort: dport}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv6), ip, udp, gopacket.Payload(payload))
}

func icmp4Frame(tb testing.TB, typ, code uint8, id, seq uint16, body []byte) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq},
		gopacket.Payload(body))
}

func icmp6EchoFrame(tb testing.TB, id, seq uint16, body []byte) []byte {
	ip := ip6L(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(ICMPv6EchoRequest, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv6), ip, ic,
		&layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, gopacket.Payload(body))
}

// icmp6ErrFrame builds an ICMPv6 error whose 4-byte rest-of-header is rest.
func icmp6ErrFrame(tb testing.TB, typ, code uint8, rest uint32, quoted []byte) []byte {
	ip := ip6L(layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	ic.SetNetworkLayerForChecksum(ip)
	var r [4]byte
	binary.BigEndian.PutUint32(r[:], rest)
	return serialize(tb, ethL(layers.EthernetTypeIPv6), ip, ic, gopacket.Payload(append(r[:], quoted...)))
}

// vlanFrame inserts 802.1Q/802.1ad tags (outermost first) into an untagged
// frame, as tpid/tci pairs.
func vlanFrame(untagged []byte, tags ...[2]uint16) []byte {
	out := append([]byte(nil), untagged[:12]...)
	for _, t := range tags {
		out = binary.BigEndian.AppendUint16(out, t[0])
		out = binary.BigEndian.AppendUint16(out, t[1])
	}
	return append(out, untagged[12:]...)
}

// ipOf strips the Ethernet header.
func ipOf(frame []byte) []byte { return frame[EthernetHeaderLen:] }

// ext headers as raw bytes, so the test controls every field.
func hbhHeader(nh uint8) []byte {
	// Router alert (type 5, len 2) + PadN(2) fills 8 bytes.
	return []byte{nh, 0, 5, 2, 0, 0, 1, 0}
}

func routingHeader(nh, typ, segLeft uint8, addrs ...net.IP) []byte {
	h := []byte{nh, uint8(2 * len(addrs)), typ, segLeft, 0, 0, 0, 0}
	for _, a := range addrs {
		h = append(h, a.To16()...)
	}
	return h
}

func fragHeader(nh uint8, offset uint16, more bool, id uint32) []byte {
	h := make([]byte, 8)
	h[0] = nh
	v := offset &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	binary.BigEndian.PutUint32(h[4:], id)
	return h
}

func dstOptsHeader(nh uint8) []byte {
	// PadN(4) + Pad1 + Pad1 fills 8 bytes.
	return []byte{nh, 0, 1, 2, 0, 0, 0, 0}
}

// ip6ExtFrame builds Ethernet+IPv6+raw extension headers+l4 (raw bytes),
// fixing the payload length. The L4 checksum is computed by the caller.
func ip6ExtFrame(tb testing.TB, firstNH uint8, ext [][]byte, l4 []byte) []byte {
	ip := ip6L(layers.IPProtocol(firstNH))
	ls := []gopacket.SerializableLayer{ethL(layers.EthernetTypeIPv6), ip}
	for _, e := range ext {
		ls = append(ls, gopacket.Payload(e))
	}
	ls = append(ls, gopacket.Payload(l4))
	return serialize(tb, ls...)
}

// rawTCP returns a TCP header (no options) plus payload with checksum 0.
func rawTCP(sport, dport uint16, flags uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	t := TCP(b)
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(7)
	t.SetAck(9)
	t.SetDataOffset(20)
	t.SetFlags(flags)
	t.SetWindow(1000)
	return append(b, payload...)
}

// geneveBytes builds a Geneve header with the given options (class, type,
// data) and payload.
type genOpt struct {
	class uint16
	typ   uint8
	data  []byte
}

func geneveBytes(oam, crit bool, proto uint16, vni uint32, opts []genOpt, payload []byte) []byte {
	var ob []byte
	for _, o := range opts {
		h := make([]byte, 4)
		GeneveOption(h).SetClass(o.class)
		GeneveOption(h).SetType(o.typ)
		GeneveOption(h).SetDataLen(len(o.data))
		ob = append(append(ob, h...), o.data...)
	}
	g := make([]byte, 8)
	Geneve(g).SetVersionOptionsLen(len(ob))
	Geneve(g).SetOAM(oam)
	Geneve(g).SetCritical(crit)
	Geneve(g).SetProtocol(proto)
	Geneve(g).SetVNI(vni)
	return append(append(g, ob...), payload...)
}

func geneveFrame(tb testing.TB, g []byte) []byte {
	ip := ip4L(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 51000, DstPort: 6081}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(g))
}

func greFrame(tb testing.TB, g *layers.GRE, inner []byte) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip4L(layers.IPProtocolGRE), g, gopacket.Payload(inner))
}

func ip4Bytes(ip net.IP) [4]byte  { return [4]byte(ip.To4()) }
func ip6Bytes(ip net.IP) [16]byte { return [16]byte(ip.To16()) }

// namedPacket is a valid frame used across tests, fuzz seeds and benchmarks.
type namedPacket struct {
	name  string
	frame []byte
}

// innerTCP4 is a small IPv4/TCP packet used as tunnel payload and as the
// quoted packet of ICMP errors.
func innerTCP4(tb testing.TB) []byte {
	return ipOf(tcp4Frame(tb, tcpData(), []byte("hello, world")))
}

func innerUDP6(tb testing.TB) []byte {
	return ipOf(udp6Frame(tb, 5353, 53, bytes.Repeat([]byte{0xab}, 40)))
}

// validPackets returns one frame of each shape Parse must accept.
func validPackets(tb testing.TB) []namedPacket {
	tb.Helper()
	// gopacket pads Ethernet frames to the 60-byte minimum, as a NIC does.
	finPadded := tcp4Frame(tb, &layers.TCP{SrcPort: 1, DstPort: 2, FIN: true, ACK: true, Seq: 5, Ack: 6, Window: 9}, nil)

	frag1 := ip4FragFrame(tb, 0, true)
	frag2 := ip4FragFrame(tb, 24, false)

	v6tcp := rawTCP(40000, 80, TCPFlagSYN, nil)
	v6chain := ip6ExtFrame(tb, ProtoHopByHop, [][]byte{
		hbhHeader(ProtoRouting),
		routingHeader(ProtoIPv6Frag, 0, 0, testIP6Fin),
		fragHeader(ProtoDstOpts, 0, true, 0xdeadbeef),
		dstOptsHeader(ProtoTCP),
	}, v6tcp)
	v6frag2 := ip6ExtFrame(tb, ProtoIPv6Frag, [][]byte{fragHeader(ProtoTCP, 1232, true, 0xdeadbeef)},
		bytes.Repeat([]byte{0x55}, 24))

	quotedV4 := innerTCP4(tb)
	quotedV6 := innerUDP6(tb)

	return []namedPacket{
		{"ipv4_tcp_syn_opts", tcp4Frame(tb, tcpSYN(), nil)},
		{"ipv4_tcp_data", tcp4Frame(tb, tcpData(), []byte("GET / HTTP/1.1\r\n\r\n"))},
		{"ipv4_tcp_finack_padded", finPadded},
		{"ipv6_tcp_syn_opts", tcp6Frame(tb, tcpSYN(), nil)},
		{"ipv4_udp", udp4Frame(tb, 53000, 53, []byte("\x12\x34\x01\x00\x00\x01"))},
		{"ipv6_udp", udp6Frame(tb, 546, 547, []byte("dhcpv6"))},
		{"ipv4_icmp_echo", icmp4Frame(tb, ICMPv4EchoRequest, 0, 0x4242, 7, []byte("ping-payload"))},
		{"ipv6_icmp_echo", icmp6EchoFrame(tb, 0x4243, 8, []byte("ping6"))},
		{"ipv4_icmp_fragneeded", icmp4Frame(tb, ICMPv4DstUnreach, ICMPv4CodeFragNeeded, 0, 1400, quotedV4[:28])},
		{"ipv6_icmp_toobig", icmp6ErrFrame(tb, ICMPv6PacketTooBig, 0, 1280, quotedV6[:48])},
		{"vlan_ipv4_udp", vlanFrame(udp4Frame(tb, 1000, 2000, []byte("vlan")), [2]uint16{EtherTypeVLAN, 0x2064})},
		{"qinq_ipv6_tcp", vlanFrame(tcp6Frame(tb, tcpData(), []byte("qinq")),
			[2]uint16{EtherTypeQinQ, 0x00c8}, [2]uint16{EtherTypeVLAN, 0xa00a})},
		{"ipv4_frag_first", frag1},
		{"ipv4_frag_second", frag2},
		{"ipv4_options_udp", ip4OptionsFrame(tb)},
		{"ipv6_ext_chain_frag", v6chain},
		{"ipv6_frag_second", v6frag2},
		{"ipv4_gre_cks", greFrame(tb, &layers.GRE{ChecksumPresent: true, KeyPresent: true, SeqPresent: true,
			Protocol: layers.EthernetTypeIPv4, Key: 0xaabbccdd, Seq: 42}, innerTCP4(tb))},
		{"ipv4_geneve_opts", geneveFrame(tb, geneveBytes(false, true, EtherTypeTEB, 0x123456, []genOpt{
			{0x0102, 0x80, []byte{1, 2, 3, 4}},
			{0xffff, 0x01, nil},
			{0x0103, 0x7f, []byte{5, 6, 7, 8, 9, 10, 11, 12}},
		}, tcp4Frame(tb, tcpData(), nil)))},
		{"arp", serialize(tb, ethL(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
			Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
			SourceHwAddress: testMACSrc, SourceProtAddress: testIP4Src.To4(),
			DstHwAddress: make([]byte, 6), DstProtAddress: testIP4Dst.To4()})},
	}
}

// ip4FragFrame returns one of two fragments of a 40-byte UDP datagram
// (8-byte header + 32 bytes): offset 0 carries 24 bytes, offset 24 the rest.
func ip4FragFrame(tb testing.TB, offset uint16, more bool) []byte {
	udp := make([]byte, 40)
	UDP(udp).SetSrcPort(7000)
	UDP(udp).SetDstPort(7001)
	UDP(udp).SetLength(40)
	for i := 8; i < 40; i++ {
		udp[i] = byte(i)
	}
	ip := ip4L(layers.IPProtocolUDP)
	ip.Flags = 0
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	ip.FragOffset = offset / 8
	ip.Id = 0xbeef
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, gopacket.Payload(udp[offset:min(int(offset)+24, 40)]))
}

// ip4OptionsFrame carries a record-route option (IHL 8).
func ip4OptionsFrame(tb testing.TB) []byte {
	ip := ip4L(layers.IPProtocolUDP)
	ip.Options = []layers.IPv4Option{
		{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	udp := &layers.UDP{SrcPort: 9, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("opts"))
}

// gopacketPayloadT lets raw bytes sit between gopacket layers.
type gopacketPayloadT = gopacket.Payload

// unpadded returns frame cut at the end of its IP packet (gopacket pads
// Ethernet frames to 60 bytes).
func unpadded(tb testing.TB, frame []byte) []byte {
	tb.Helper()
	var m Meta
	if err := Parse(frame, &m); err != nil {
		tb.Fatalf("unpadded: %v", err)
	}
	return m.Trimmed(frame)
}
