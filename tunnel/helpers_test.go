package tunnel

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Underlay and overlay addresses come from the benchmarking ranges
// (design.md: 198.18.0.0/15 and 2001:db8::/32).
var (
	local4  = netip.MustParseAddr("198.18.0.1")
	remote4 = netip.MustParseAddr("198.18.0.2")
	other4  = netip.MustParseAddr("198.18.0.3")
	router4 = netip.MustParseAddr("198.18.0.254")
	local6  = netip.MustParseAddr("2001:db8::1")
	remote6 = netip.MustParseAddr("2001:db8::2")
	other6  = netip.MustParseAddr("2001:db8::3")
	router6 = netip.MustParseAddr("2001:db8::fe")

	innerSrc4 = net.IP{198, 19, 1, 1}
	innerDst4 = net.IP{198, 19, 1, 2}
	innerSrc6 = net.ParseIP("2001:db8:1::1")
	innerDst6 = net.ParseIP("2001:db8:1::2")

	underSrcMAC = packet.MAC{0x02, 0xaa, 0, 0, 0, 1}
	underDstMAC = packet.MAC{0x02, 0xaa, 0, 0, 0, 2}
	vmMAC1      = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 1}
	vmMAC2      = net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 2}
)

func u32(v uint32) *uint32 { return &v }

var serOpts = gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		tb.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// innerSpec describes an inner Ethernet frame to build.
type innerSpec struct {
	v6     bool
	udp    bool // UDP instead of TCP
	df     bool // IPv4 DF
	ipLen  int  // IP total length (0: 20+20+16 or so)
	tags   int  // 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q)
	ecn    uint8
	padTo  int // pad the frame with zeros to this length (Ethernet minimum 60)
	fragMF bool
}

// buildInner builds the inner frame with gopacket.
func buildInner(tb testing.TB, s innerSpec) []byte {
	tb.Helper()
	var ls []gopacket.SerializableLayer
	ipType := layers.EthernetTypeIPv4
	if s.v6 {
		ipType = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: vmMAC1, DstMAC: vmMAC2, EthernetType: ipType}
	ls = append(ls, eth)
	switch s.tags {
	case 1:
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 100, Type: ipType})
	case 2:
		eth.EthernetType = layers.EthernetTypeQinQ
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 100, Type: ipType})
	}
	l4Len := 20
	proto := layers.IPProtocolTCP
	if s.udp {
		l4Len, proto = 8, layers.IPProtocolUDP
	}
	var nl gopacket.NetworkLayer
	ipHdr := 20
	if s.v6 {
		ip := &layers.IPv6{Version: 6, TrafficClass: s.ecn, FlowLabel: 7, NextHeader: proto, HopLimit: 64,
			SrcIP: innerSrc6, DstIP: innerDst6}
		nl, ipHdr = ip, 40
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TOS: s.ecn, Id: 0x4242, TTL: 64, Protocol: proto, SrcIP: innerSrc4, DstIP: innerDst4}
		if s.df {
			ip.Flags = layers.IPv4DontFragment
		}
		if s.fragMF {
			ip.Flags |= layers.IPv4MoreFragments
		}
		nl = ip
		ls = append(ls, ip)
	}
	ipLen := s.ipLen
	if ipLen == 0 {
		ipLen = ipHdr + l4Len + 16
	}
	data := make([]byte, ipLen-ipHdr-l4Len)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	if s.udp {
		u := &layers.UDP{SrcPort: 5000, DstPort: 5001}
		_ = u.SetNetworkLayerForChecksum(nl)
		ls = append(ls, u)
	} else {
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 2, ACK: true, PSH: true, Window: 512}
		_ = tcp.SetNetworkLayerForChecksum(nl)
		ls = append(ls, tcp)
	}
	ls = append(ls, gopacket.Payload(data))
	f := serialize(tb, ls...)
	for len(f) < s.padTo {
		f = append(f, 0)
	}
	return f
}

// arpFrame is a non-IP inner frame (42 bytes, padded to 60).
func arpFrame(tb testing.TB) []byte {
	f := serialize(tb, &layers.Ethernet{SrcMAC: vmMAC1, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: vmMAC1, SourceProtAddress: innerSrc4,
			DstHwAddress: make([]byte, 6), DstProtAddress: innerDst4})
	return append(f, make([]byte, 60-len(f))...)
}

// trimmedLen is the length an IP inner frame has without padding.
func trimmedLen(f []byte) int {
	off := 14
	et := binary.BigEndian.Uint16(f[12:])
	for et == 0x8100 || et == 0x88a8 {
		et = binary.BigEndian.Uint16(f[off+2:])
		off += 4
	}
	switch et {
	case 0x0800:
		return off + int(binary.BigEndian.Uint16(f[off+2:]))
	case 0x86dd:
		return off + 40 + int(binary.BigEndian.Uint16(f[off+4:]))
	}
	return len(f)
}

func l2Len(f []byte) int {
	off := 14
	et := binary.BigEndian.Uint16(f[12:])
	for et == 0x8100 || et == 0x88a8 {
		et = binary.BigEndian.Uint16(f[off+2:])
		off += 4
	}
	return off
}

// naiveSum is a reference RFC 1071 checksum, written independently of
// packet.Sum: 16-bit words, carries folded at the end.
func naiveSum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func naiveFold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// checksumOK reports whether b (with its checksum field in place) sums to
// 0xffff, starting from the pseudo-header sum s.
func checksumOK(b []byte, s uint32) bool { return naiveFold(naiveSum(b, s)) == 0xffff }

func pseudo(src, dst netip.Addr, proto uint8, n int) uint32 {
	var s uint32
	s = naiveSum(src.AsSlice(), s)
	s = naiveSum(dst.AsSlice(), s)
	return s + uint32(proto) + uint32(n>>16) + uint32(n&0xffff)
}

// wrapIP builds an outer Ethernet+IP packet around raw L4 bytes with
// gopacket (valid lengths and IPv4 checksum), for crafting packets Encap
// would never send.
func wrapIP(tb testing.TB, src, dst netip.Addr, proto layers.IPProtocol, l4 []byte) []byte {
	tb.Helper()
	if src.Is4() {
		return serialize(tb, &layers.Ethernet{SrcMAC: net.HardwareAddr(underDstMAC[:]), DstMAC: net.HardwareAddr(underSrcMAC[:]), EthernetType: layers.EthernetTypeIPv4},
			&layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()},
			gopacket.Payload(l4))
	}
	return serialize(tb, &layers.Ethernet{SrcMAC: net.HardwareAddr(underDstMAC[:]), DstMAC: net.HardwareAddr(underSrcMAC[:]), EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()},
		gopacket.Payload(l4))
}

// wrapUDP builds an outer UDP packet (checksum computed unless zeroCsum).
func wrapUDP(tb testing.TB, src, dst netip.Addr, dport uint16, payload []byte, zeroCsum bool) []byte {
	tb.Helper()
	u := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], payload)
	if !zeroCsum {
		c := ^naiveFold(naiveSum(u, pseudo(src, dst, 17, len(u))))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(u[6:], c)
	}
	return wrapIP(tb, src, dst, layers.IPProtocolUDP, u)
}

// geneveHdr builds raw Geneve bytes.
type genOpt struct {
	class       uint16
	typ         uint8
	data        []byte
	lenOverride int // if > 0, the length field in 4-byte units regardless of data
}

func geneveHdr(ver uint8, oam, crit bool, proto uint16, vni uint32, opts []genOpt, optLenOverride int) []byte {
	var ob []byte
	for _, o := range opts {
		l := len(o.data) / 4
		if o.lenOverride > 0 {
			l = o.lenOverride
		}
		ob = binary.BigEndian.AppendUint16(ob, o.class)
		ob = append(ob, o.typ, uint8(l)&0x1f)
		ob = append(ob, o.data...)
	}
	ol := len(ob) / 4
	if optLenOverride > 0 {
		ol = optLenOverride
	}
	h := []byte{ver<<6 | uint8(ol)&0x3f, 0, 0, 0, 0, 0, 0, 0}
	if oam {
		h[1] |= 0x80
	}
	if crit {
		h[1] |= 0x40
	}
	binary.BigEndian.PutUint16(h[2:], proto)
	binary.BigEndian.PutUint32(h[4:], vni<<8)
	return append(h, ob...)
}

// greHdr builds raw GRE bytes with the given flags word; csum/key/seq
// fields are appended per the C/K/S bits, and the checksum computed over
// header+payload when C is set.
func greHdr(flags, proto uint16, key, seq uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, flags)
	b = binary.BigEndian.AppendUint16(b, proto)
	if flags&0x8000 != 0 {
		b = append(b, 0, 0, 0, 0)
	}
	if flags&0x2000 != 0 {
		b = binary.BigEndian.AppendUint32(b, key)
	}
	if flags&0x1000 != 0 {
		b = binary.BigEndian.AppendUint32(b, seq)
	}
	b = append(b, payload...)
	if flags&0x8000 != 0 {
		binary.BigEndian.PutUint16(b[4:], ^naiveFold(naiveSum(b, 0)))
	}
	return b
}

// fixIPv4 recomputes the outer IPv4 header checksum of an Ethernet frame
// after a test edited the header.
func fixIPv4(f []byte) {
	ip := f[14:34]
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^naiveFold(naiveSum(ip, 0)))
}

func mustEncap(tb testing.TB, e *Endpoint, inner []byte, hash uint64) []byte {
	tb.Helper()
	buf := make([]byte, 14+e.HeaderLen()+len(inner))
	n, err := e.Encap(buf, underSrcMAC, underDstMAC, inner, hash)
	if err != nil {
		tb.Fatalf("Encap: %v", err)
	}
	return buf[:n]
}

func mustTable(tb testing.TB, eps ...*Endpoint) *Table {
	tb.Helper()
	t, err := NewTable(eps, TableConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// peer returns the configuration the remote side would have: addresses
// swapped, so that our Encap output is what it receives (and vice versa).
func peer(c Config) Config {
	c.Local, c.Remote = c.Remote, c.Local
	c.Name += "-peer"
	return c
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %x\nwant %x", what, got, want)
	}
}
