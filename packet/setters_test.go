package packet

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestBuildWithSetters builds a VLAN-less IPv4/TCP frame and an IPv6/UDP
// frame purely with the setters and has gopacket decode them.
func TestBuildWithSetters(t *testing.T) {
	payload := []byte("built by hand")
	frame := make([]byte, EthernetHeaderLen+24+20+len(payload))
	eth := Ethernet(frame)
	eth.SetDst(MAC(testMACDst))
	eth.SetSrc(MAC(testMACSrc))
	eth.SetEtherType(EtherTypeIPv4)
	ip := IPv4(frame[14:])
	ip.SetHeaderLen(24)
	copy(ip.Options(), []byte{1, 1, 1, 0}) // NOP NOP NOP EOL
	ip.SetTOS(0xb8)
	ip.SetTotalLength(uint16(len(frame) - 14))
	ip.SetID(0x4321)
	ip.SetFlagsFragment(true, false, 0)
	ip.SetTTL(17)
	ip.SetProtocol(ProtoTCP)
	ip.SetSrc(ip4Bytes(testIP4Src))
	ip.SetDst(ip4Bytes(testIP4Dst))
	ip.SetChecksum()
	tcp := TCP(frame[38:])
	tcp.SetSrcPort(1111)
	tcp.SetDstPort(2222)
	tcp.SetSeq(0xfffffffe)
	tcp.SetAck(3)
	tcp.SetDataOffset(20)
	tcp.SetFlags(TCPFlagPSH | TCPFlagACK | TCPFlagURG)
	tcp.SetWindow(65535)
	tcp.SetUrgent(4)
	copy(tcp.Payload(), payload)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	SetL4Checksum(frame, &m)

	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatal(el.Error())
	}
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	eq(t, "eth dst", e.DstMAC.String(), testMACDst.String())
	eq(t, "eth src", e.SrcMAC.String(), testMACSrc.String())
	g4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	eq(t, "IHL", g4.IHL, uint8(6))
	eq(t, "TOS", g4.TOS, uint8(0xb8))
	eq(t, "Id", g4.Id, uint16(0x4321))
	eq(t, "Flags", g4.Flags, layers.IPv4DontFragment)
	eq(t, "TTL", g4.TTL, uint8(17))
	eq(t, "Src", g4.SrcIP.String(), testIP4Src.String())
	eq(t, "Dst", g4.DstIP.String(), testIP4Dst.String())
	eq(t, "valid hdr csum", ip.ValidHeaderChecksum(), true)
	gt := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	eq(t, "ports", [2]layers.TCPPort{gt.SrcPort, gt.DstPort}, [2]layers.TCPPort{1111, 2222})
	eq(t, "seq/ack", [2]uint32{gt.Seq, gt.Ack}, [2]uint32{0xfffffffe, 3})
	eq(t, "flags", [4]bool{gt.PSH, gt.ACK, gt.URG, gt.SYN}, [4]bool{true, true, true, false})
	eq(t, "window", gt.Window, uint16(65535))
	eq(t, "urgent", gt.Urgent, uint16(4))
	eqBytes(t, "payload", gt.Payload, payload)
	// gopacket computes the same checksum (it wants the field zeroed; its
	// Contents is its own copy of the frame).
	gt.SetNetworkLayerForChecksum(g4)
	gt.Contents[16], gt.Contents[17] = 0, 0
	want, err := gt.ComputeChecksum()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "tcp checksum", tcp.Checksum(), want)

	// Fragment flags and offset.
	ip.SetFlagsFragment(false, true, 1480)
	eq(t, "MF", ip.MF(), true)
	eq(t, "DF", ip.DF(), false)
	eq(t, "FragmentOffset", ip.FragmentOffset(), uint16(1480))
	ip.SetFlagsFragment(true, true, 65535) // low bits dropped
	eq(t, "FragmentOffset max", ip.FragmentOffset(), uint16(65528))

	// IPv6 + UDP.
	f6 := make([]byte, 14+40+8+3)
	Ethernet(f6).SetEtherType(EtherTypeIPv6)
	ip6 := IPv6(f6[14:])
	ip6.SetVersionClassFlow(0xff, 0xfffff)
	ip6.SetTrafficClass(0x21)
	ip6.SetFlowLabel(0xabcde)
	ip6.SetPayloadLength(11)
	ip6.SetNextHeader(ProtoUDP)
	ip6.SetHopLimit(3)
	ip6.SetSrc(ip6Bytes(testIP6Src))
	ip6.SetDst(ip6Bytes(testIP6Dst))
	udp := UDP(f6[54:])
	udp.SetSrcPort(53)
	udp.SetDstPort(5353)
	udp.SetLength(11)
	copy(udp.Payload(), "abc")
	if err := Parse(f6, &m); err != nil {
		t.Fatal(err)
	}
	SetL4Checksum(f6, &m)
	p = gopacket.NewPacket(f6, layers.LayerTypeEthernet, gopacket.Default)
	g6 := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	eq(t, "v6 version", g6.Version, uint8(6))
	eq(t, "v6 tc", g6.TrafficClass, uint8(0x21))
	eq(t, "v6 flow", g6.FlowLabel, uint32(0xabcde))
	eq(t, "v6 hop limit", g6.HopLimit, uint8(3))
	eq(t, "v6 dst", g6.DstIP.String(), testIP6Dst.String())
	gu := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	gu.SetNetworkLayerForChecksum(g6)
	eq(t, "udp ports", [2]layers.UDPPort{gu.SrcPort, gu.DstPort}, [2]layers.UDPPort{53, 5353})
	eq(t, "v6 verify", VerifyL4Checksum(f6, &m), true)

	// ICMP setters.
	ic := ICMPv4(make([]byte, 8))
	ic.SetType(ICMPv4DstUnreach)
	ic.SetCode(ICMPv4CodeFragNeeded)
	ic.SetID(0)
	ic.SetMTU(1400)
	ic.SetChecksum(^Fold(Sum(ic, 0)))
	var gi layers.ICMPv4
	if err := gi.DecodeFromBytes(ic, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	eq(t, "icmp type/code", gi.TypeCode, layers.CreateICMPv4TypeCode(3, 4))
	eq(t, "icmp mtu as seq", gi.Seq, uint16(1400))
	eq(t, "icmp checksum verifies", Fold(Sum(ic, 0)), uint16(0xffff))
	ic.SetType(ICMPv4EchoReply)
	ic.SetSeq(9)
	ic.SetID(10)
	eq(t, "echo id/seq", [2]uint16{ic.ID(), ic.Seq()}, [2]uint16{10, 9})

	i6 := ICMPv6(make([]byte, 8))
	i6.SetType(ICMPv6PacketTooBig)
	i6.SetCode(0)
	i6.SetMTU(9000)
	i6.SetChecksum(0xbeef)
	eq(t, "icmp6 MTU", i6.MTU(), uint32(9000))
	eq(t, "icmp6 checksum", i6.Checksum(), uint16(0xbeef))
	i6.SetID(1)
	i6.SetSeq(2)
	eq(t, "icmp6 id/seq", [2]uint16{i6.ID(), i6.Seq()}, [2]uint16{1, 2})

	fh := IPv6Fragment(make([]byte, 8))
	fh.SetNextHeader(ProtoTCP)
	fh.SetFragment(1232, true)
	fh.SetID(0x01020304)
	eqBytes(t, "frag header", fh, []byte{ProtoTCP, 0, 0x04, 0xd1, 1, 2, 3, 4})
	eq(t, "frag offset", fh.FragmentOffset(), uint16(1232))
	eq(t, "frag more", fh.More(), true)

	eq(t, "broadcast", MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}.IsBroadcast(), true)
	eq(t, "multicast", MAC(net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 1}).IsMulticast(), true)
	eq(t, "unicast", MAC(testMACSrc).IsMulticast(), false)
}

// exerciseViews calls every accessor and setter of every view on b. It is
// shared with the fuzz targets: none of it may panic on any input.
func exerciseViews(b []byte, write bool) {
	e := Ethernet(b)
	_, _, _ = e.Dst(), e.Src(), e.EtherType()
	v4 := IPv4(b)
	_, _, _, _, _, _, _, _ = v4.Version(), v4.HeaderLen(), v4.TOS(), v4.TotalLength(), v4.ID(), v4.DF(), v4.MF(), v4.FragmentOffset()
	_, _, _, _, _, _, _ = v4.TTL(), v4.Protocol(), v4.Checksum(), v4.Src(), v4.Dst(), v4.Options(), v4.Payload()
	_, _ = v4.ValidHeaderChecksum(), v4.ComputeChecksum()
	v6 := IPv6(b)
	_, _, _, _, _, _, _, _, _ = v6.Version(), v6.TrafficClass(), v6.FlowLabel(), v6.PayloadLength(), v6.NextHeader(), v6.HopLimit(), v6.Src(), v6.Dst(), v6.Payload()
	fh := IPv6Fragment(b)
	_, _, _, _ = fh.NextHeader(), fh.FragmentOffset(), fh.More(), fh.ID()
	tc := TCP(b)
	_, _, _, _, _, _, _, _, _, _, _ = tc.SrcPort(), tc.DstPort(), tc.Seq(), tc.Ack(), tc.DataOffset(), tc.Flags(), tc.Window(), tc.Checksum(), tc.Urgent(), tc.Options(), tc.Payload()
	var o TCPOptions
	_ = ParseTCPOptions(tc.Options(), &o)
	u := UDP(b)
	_, _, _, _, _ = u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), u.Payload()
	i4 := ICMPv4(b)
	_, _, _, _, _, _, _ = i4.Type(), i4.Code(), i4.Checksum(), i4.ID(), i4.Seq(), i4.MTU(), i4.Body()
	i6 := ICMPv6(b)
	_, _, _, _, _, _, _ = i6.Type(), i6.Code(), i6.Checksum(), i6.ID(), i6.Seq(), i6.MTU(), i6.Body()
	g := GRE(b)
	_, _, _, _, _, _ = g.ChecksumPresent(), g.KeyPresent(), g.SeqPresent(), g.Version(), g.Protocol(), g.HeaderLen()
	_, _, _, _, _ = g.Checksum(), g.Key(), g.Seq(), g.Payload(), g.ValidChecksum()
	_ = ValidateGRE(b)
	gn := Geneve(b)
	_, _, _, _, _, _, _, _, _ = gn.Version(), gn.OptionsLen(), gn.OAM(), gn.Critical(), gn.Protocol(), gn.VNI(), gn.HeaderLen(), gn.Options(), gn.Payload()
	_ = ValidateGeneve(b)
	for off, n := 0, 0; n < 64; n++ {
		opt, next, err := gn.NextOption(off)
		if opt == nil || err != nil {
			break
		}
		_, _, _, _, _, _ = opt.Class(), opt.Type(), opt.Critical(), opt.DataLen(), opt.Len(), opt.Data()
		off = next
	}
	if !write {
		return
	}
	e.SetDst(MAC{1})
	e.SetSrc(MAC{2})
	e.SetEtherType(3)
	v4.SetHeaderLen(20)
	v4.SetTOS(1)
	v4.SetTotalLength(2)
	v4.SetID(3)
	v4.SetFlagsFragment(true, true, 8)
	v4.SetTTL(4)
	v4.SetProtocol(5)
	v4.SetSrc([4]byte{6})
	v4.SetDst([4]byte{7})
	v4.SetChecksum()
	v4.SetRawChecksum(8)
	v6.SetVersionClassFlow(1, 2)
	v6.SetTrafficClass(3)
	v6.SetFlowLabel(4)
	v6.SetPayloadLength(5)
	v6.SetNextHeader(6)
	v6.SetHopLimit(7)
	v6.SetSrc([16]byte{8})
	v6.SetDst([16]byte{9})
	fh.SetNextHeader(1)
	fh.SetFragment(8, true)
	fh.SetID(2)
	tc.SetSrcPort(1)
	tc.SetDstPort(2)
	tc.SetSeq(3)
	tc.SetAck(4)
	tc.SetDataOffset(20)
	tc.SetFlags(5)
	tc.SetWindow(6)
	tc.SetChecksum(7)
	tc.SetUrgent(8)
	u.SetSrcPort(1)
	u.SetDstPort(2)
	u.SetLength(3)
	u.SetChecksum(4)
	i4.SetType(1)
	i4.SetCode(2)
	i4.SetChecksum(3)
	i4.SetID(4)
	i4.SetSeq(5)
	i4.SetMTU(6)
	i6.SetType(1)
	i6.SetCode(2)
	i6.SetChecksum(3)
	i6.SetID(4)
	i6.SetSeq(5)
	i6.SetMTU(6)
	g.SetFlags(true, true, true)
	g.SetProtocol(1)
	g.SetChecksum(2)
	g.SetKey(3)
	g.SetSeq(4)
	gn.SetVersionOptionsLen(4)
	gn.SetOAM(true)
	gn.SetCritical(true)
	gn.SetProtocol(1)
	gn.SetVNI(2)
	go0 := GeneveOption(b)
	go0.SetClass(1)
	go0.SetType(2)
	go0.SetDataLen(4)
}

// TestShortSlices: every accessor on every prefix of a real packet reads
// zero for fields that do not fit, and nothing panics.
func TestShortSlices(t *testing.T) {
	for _, tp := range validPackets(t) {
		for n := 0; n <= len(tp.frame); n++ {
			b := append([]byte(nil), tp.frame[:n]...)
			exerciseViews(b, false)
			exerciseViews(b, true)
		}
	}
	eq(t, "short TCP Seq", TCP(make([]byte, 7)).Seq(), uint32(0))
	eq(t, "short IPv4 Dst", IPv4(make([]byte, 19)).Dst(), [4]byte{})
	eq(t, "short IPv6 Dst", IPv6(make([]byte, 39)).Dst(), [16]byte{})
	eq(t, "short ICMPv6 MTU", ICMPv6(make([]byte, 7)).MTU(), uint32(0))
	eq(t, "short Ethernet Src", Ethernet(make([]byte, 11)).Src(), MAC{})
	eq(t, "nil payload", len(IPv4(nil).Payload()), 0)
	b := make([]byte, 3)
	UDP(b).SetLength(9) // does not fit: no-op
	eqBytes(t, "no-op setter", b, []byte{0, 0, 0})
}
