package dataplane

import (
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

const (
	verdictRedirect = 3 // what the test program returns where the filter falls through
	verdictPass     = xdpPass
)

// filterProgram wraps a filter in a program that returns verdictRedirect
// when the filter falls through and XDP_PASS when it passes the frame.
func filterProgram(t *testing.T, f *Filter) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	insns = append(insns, f.Instructions...)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, verdictRedirect), asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol(FilterPass), asm.Return(),
	)
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "Dual MIT/GPL", Instructions: insns})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

func ser(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	var nl gopacket.NetworkLayer
	for _, l := range ls {
		switch v := l.(type) {
		case *layers.IPv4:
			nl = v
		case *layers.IPv6:
			nl = v
		case *layers.TCP:
			_ = v.SetNetworkLayerForChecksum(nl)
		case *layers.UDP:
			_ = v.SetNetworkLayerForChecksum(nl)
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	if len(out) < 60 {
		out = append(out, make([]byte, 60-len(out))...)
	}
	return out
}

func TestUnderlayFilter(t *testing.T) {
	requireRoot(t)
	local4, local6 := "198.18.100.1", "2001:db8:100::1"
	f, err := UnderlayFilter([]netip.Addr{netip.MustParseAddr(local4), netip.MustParseAddr(local6)}, 6081)
	if err != nil {
		t.Fatal(err)
	}
	prog := filterProgram(t, f)
	mac1, _ := net.ParseMAC("02:00:00:00:00:01")
	mac2, _ := net.ParseMAC("02:00:00:00:00:02")
	eth4 := &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv6}
	ip4 := func(dst string, proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP("198.18.100.2"), DstIP: net.ParseIP(dst)}
	}
	ip6 := func(dst string, nh layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: net.ParseIP("2001:db8:100::2"), DstIP: net.ParseIP(dst)}
	}
	gre := &layers.GRE{Protocol: layers.EthernetTypeTransparentEthernetBridging}
	payload := gopacket.Payload(make([]byte, 32))
	udp := func(dport uint16) *layers.UDP { return &layers.UDP{SrcPort: 40000, DstPort: layers.UDPPort(dport)} }
	quote := func(proto layers.IPProtocol, l4 []byte) []byte {
		q := ser(t, ip4("198.18.100.2", proto), gopacket.Payload(l4))[:28]
		copy(q[12:16], net.ParseIP(local4).To4())
		return q
	}
	frag := ip4(local4, layers.IPProtocolGRE)
	frag.FragOffset = 185
	withOpts := ip4(local4, layers.IPProtocolGRE)
	withOpts.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	// An IPv6 fragment header (next header GRE, offset 100, id 7).
	frag6 := gopacket.Payload([]byte{47, 0, 0x03, 0x20, 0, 0, 0, 7})
	ptb := func(nh layers.IPProtocol, l4 []byte) []byte {
		q := ser(t, ip6("2001:db8:100::2", nh), gopacket.Payload(l4))[:44]
		return append([]byte{2, 0, 0, 0, 0, 0, 5, 0x78}, q...) // type 2, mtu 1400
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"gre to us", ser(t, eth4, ip4(local4, layers.IPProtocolGRE), gre, payload), verdictRedirect},
		{"gre to another host", ser(t, eth4, ip4("198.18.100.9", layers.IPProtocolGRE), gre, payload), verdictPass},
		{"geneve to us", ser(t, eth4, ip4(local4, layers.IPProtocolUDP), udp(6081), payload), verdictRedirect},
		{"other udp to us", ser(t, eth4, ip4(local4, layers.IPProtocolUDP), udp(53), payload), verdictPass},
		{"tcp to us", ser(t, eth4, ip4(local4, layers.IPProtocolTCP), &layers.TCP{SrcPort: 1, DstPort: 22}, payload), verdictPass},
		{"arp", ser(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeARP}, &layers.ARP{AddrType: 1, Protocol: 0x0800, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: mac1, SourceProtAddress: []byte{198, 18, 100, 2}, DstHwAddress: mac2, DstProtAddress: []byte{198, 18, 100, 1}}), verdictPass},
		{"gre fragment to us", ser(t, eth4, frag, payload), verdictRedirect},
		{"ipv4 options", ser(t, eth4, withOpts, gre, payload), verdictPass},
		{"frag needed quoting gre", ser(t, eth4, ip4(local4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, gopacket.Payload(quote(layers.IPProtocolGRE, make([]byte, 8)))), verdictRedirect},
		{"frag needed quoting geneve", ser(t, eth4, ip4(local4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, gopacket.Payload(quote(layers.IPProtocolUDP, []byte{0x9c, 0x40, 0x17, 0xc1, 0, 8, 0, 0}))), verdictRedirect},
		{"frag needed quoting tcp", ser(t, eth4, ip4(local4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, gopacket.Payload(quote(layers.IPProtocolTCP, make([]byte, 8)))), verdictPass},
		{"echo to us", ser(t, eth4, ip4(local4, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload), verdictPass},
		{"vlan tagged gre", ser(t, &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip4(local4, layers.IPProtocolGRE), gre, payload), verdictPass},
		{"ipv6 gre to us", ser(t, eth6, ip6(local6, layers.IPProtocolGRE), gre, payload), verdictRedirect},
		{"ipv6 gre to another host", ser(t, eth6, ip6("2001:db8:100::9", layers.IPProtocolGRE), gre, payload), verdictPass},
		{"ipv6 geneve to us", ser(t, eth6, ip6(local6, layers.IPProtocolUDP), udp(6081), payload), verdictRedirect},
		{"ipv6 other udp", ser(t, eth6, ip6(local6, layers.IPProtocolUDP), udp(53), payload), verdictPass},
		{"ipv6 gre fragment", ser(t, eth6, ip6(local6, layers.IPProtocolIPv6Fragment), frag6, payload), verdictRedirect},
		{"ipv6 ptb quoting gre", ser(t, eth6, ip6(local6, layers.IPProtocolICMPv6), gopacket.Payload(ptb(layers.IPProtocolGRE, make([]byte, 4)))), verdictRedirect},
		{"ipv6 ptb quoting tcp", ser(t, eth6, ip6(local6, layers.IPProtocolICMPv6), gopacket.Payload(ptb(layers.IPProtocolTCP, make([]byte, 4)))), verdictPass},
		{"ipv6 echo", ser(t, eth6, ip6(local6, layers.IPProtocolICMPv6), gopacket.Payload(append([]byte{128, 0, 0, 0}, make([]byte, 60)...))), verdictPass},
	} {
		got, _, err := prog.Test(tc.frame)
		if err != nil {
			t.Fatalf("%s: test run: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
	if _, err := UnderlayFilter(nil, 6081); err == nil {
		t.Error("no addresses accepted")
	}
	// One family only: the other's frames pass, and the program loads
	// (no unreachable code).
	for _, a := range []string{local4, local6} {
		f, err := UnderlayFilter([]netip.Addr{netip.MustParseAddr(a)}, 6081)
		if err != nil {
			t.Fatal(err)
		}
		prog := filterProgram(t, f)
		v4 := ser(t, eth4, ip4(local4, layers.IPProtocolGRE), gre, payload)
		v6 := ser(t, eth6, ip6(local6, layers.IPProtocolGRE), gre, payload)
		g4, _, _ := prog.Test(v4)
		g6, _, _ := prog.Test(v6)
		if a == local4 && (g4 != verdictRedirect || g6 != verdictPass) || a == local6 && (g4 != verdictPass || g6 != verdictRedirect) {
			t.Errorf("filter for %s only: v4 %d, v6 %d", a, g4, g6)
		}
	}
}
