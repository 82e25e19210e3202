package icmperr

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test traffic uses the benchmarking range and the documentation prefix.
var (
	macVM   = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01} // the inner sender
	macPeer = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02} // its destination
	ip4VM   = net.IP{198, 18, 0, 1}
	ip4Peer = net.IP{198, 19, 0, 2}
	ip6VM   = net.ParseIP("2001:db8:1::1")
	ip6Peer = net.ParseIP("2001:db8:2::2")
)

var serOpts = gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// l2 options of a test frame.
type l2opt struct {
	vlans  []uint16 // VLAN IDs, outermost first; two tags make the outer an 802.1ad S-tag
	dstMAC net.HardwareAddr
	srcMAC net.HardwareAddr
}

func l2Layers(o l2opt, et layers.EthernetType) []gopacket.SerializableLayer {
	dst, src := o.dstMAC, o.srcMAC
	if dst == nil {
		dst = macPeer
	}
	if src == nil {
		src = macVM
	}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if len(o.vlans) == 0 {
		return ls
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	if len(o.vlans) == 2 {
		eth.EthernetType = layers.EthernetTypeQinQ
	}
	for i, vid := range o.vlans {
		next := et
		if i < len(o.vlans)-1 {
			next = layers.EthernetTypeDot1Q
		}
		ls = append(ls, &layers.Dot1Q{Priority: uint8(i + 1), VLANIdentifier: vid, Type: next})
	}
	return ls
}

func payloadOf(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

// ip4 is the IPv4 layer of test packets: DF set, a nonzero TOS and ID.
func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TOS: 0x28, Id: 0x1234, Flags: layers.IPv4DontFragment,
		TTL: 61, Protocol: proto, SrcIP: ip4VM, DstIP: ip4Peer}
}

func ip6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: nh,
		HopLimit: 61, SrcIP: ip6VM, DstIP: ip6Peer}
}

// udp4Frame is an Ethernet frame with an IPv4 UDP packet of ipLen bytes.
func udp4Frame(tb testing.TB, o l2opt, ip *layers.IPv4, ipLen int) []byte {
	tb.Helper()
	ip.Protocol = layers.IPProtocolUDP
	udp := &layers.UDP{SrcPort: 40000, DstPort: 5201}
	udp.SetNetworkLayerForChecksum(ip)
	hl := 20 + len(ipOptionsBytes(ip))
	ls := append(l2Layers(o, layers.EthernetTypeIPv4), ip, udp, payloadOf(ipLen-hl-8))
	return serialize(tb, ls...)
}

func ipOptionsBytes(ip *layers.IPv4) []byte {
	var b []byte
	for _, o := range ip.Options {
		b = append(b, byte(o.OptionType))
		if o.OptionType > 1 {
			b = append(b, o.OptionLength)
			b = append(b, o.OptionData...)
		}
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// icmp4Frame is an IPv4 ICMP message of type t with n bytes of body.
func icmp4Frame(tb testing.TB, o l2opt, t, code uint8, n int) []byte {
	tb.Helper()
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(t, code), Id: 7, Seq: 9}
	ls := append(l2Layers(o, layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), ic, payloadOf(n))
	return serialize(tb, ls...)
}

// udp6Frame is an IPv6 UDP packet with the given extension headers
// (serialised raw: each ext is a complete header whose first byte is
// rewritten to chain correctly) and ipLen bytes in all.
func udp6Frame(tb testing.TB, o l2opt, ipLen int, exts ...ext6) []byte {
	tb.Helper()
	return raw6Frame(tb, o, layers.IPProtocolUDP, udpPayload6(ipLen, exts), exts...)
}

func udpPayload6(ipLen int, exts []ext6) []byte {
	n := ipLen - 40
	for _, e := range exts {
		n -= len(e.b)
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:2], 40000)
	binary.BigEndian.PutUint16(b[2:4], 5201)
	binary.BigEndian.PutUint16(b[4:6], uint16(n))
	copy(b[8:], payloadOf(n-8))
	return b
}

type ext6 struct {
	proto uint8 // this header's type
	b     []byte
}

func hbh() ext6     { return ext6{0, []byte{0, 0, 1, 4, 0, 0, 0, 0}} }
func dstopts() ext6 { return ext6{60, []byte{0, 0, 1, 4, 0, 0, 0, 0}} }
func frag6(offset uint16, more bool) ext6 {
	b := []byte{0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef}
	v := offset &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], v)
	return ext6{44, b}
}

// raw6Frame builds L2 + IPv6 + exts + upper (raw bytes of protocol last),
// fixing the chain and lengths; L4 checksums are left as they are.
func raw6Frame(tb testing.TB, o l2opt, last layers.IPProtocol, upper []byte, exts ...ext6) []byte {
	tb.Helper()
	var body []byte
	for i, e := range exts {
		b := append([]byte(nil), e.b...)
		if i+1 < len(exts) {
			b[0] = exts[i+1].proto
		} else {
			b[0] = uint8(last)
		}
		body = append(body, b...)
	}
	body = append(body, upper...)
	first := last
	if len(exts) > 0 {
		first = layers.IPProtocol(exts[0].proto)
	}
	ls := append(l2Layers(o, layers.EthernetTypeIPv6), ip6(first), gopacket.Payload(body))
	return serialize(tb, ls...)
}

// icmp6Body is an ICMPv6 message of type t (checksum not set).
func icmp6Body(t uint8, n int) []byte {
	b := make([]byte, 8+n)
	b[0] = t
	copy(b[8:], payloadOf(n))
	return b
}

// csum is an independent RFC 1071 checksum: the folded one's complement sum.
func csum(b []byte, s uint32) uint16 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func pseudo6(src, dst net.IP, proto uint8, n int) uint32 {
	var s uint32
	for i := 0; i < 16; i += 2 {
		s += uint32(src[i])<<8 | uint32(src[i+1])
		s += uint32(dst[i])<<8 | uint32(dst[i+1])
	}
	return s + uint32(n>>16) + uint32(n&0xffff) + uint32(proto)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// l3Off is the L2 length of a frame built by l2Layers.
func l3Off(o l2opt) int { return 14 + 4*len(o.vlans) }
