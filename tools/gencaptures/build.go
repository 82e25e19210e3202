package main

import (
	"bytes"
	"fmt"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// endpoint is one end of a flow: a host's MAC and IP address, and a port
// (ignored where the protocol has none).
type endpoint struct {
	mac  net.HardwareAddr
	ip   net.IP
	port uint16
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func host(mac, ip string) endpoint { return endpoint{mac: mustMAC(mac), ip: net.ParseIP(ip)} }

// at returns the endpoint with another port.
func (e endpoint) at(port uint16) endpoint { e.port = port; return e }

func (e endpoint) is4() bool { return e.ip.To4() != nil }

// capture accumulates frames with their timestamps and writes them as a
// classic pcap (microsecond timestamps, Ethernet).
type capture struct {
	now    time.Time
	ipID   uint16
	frames [][]byte
	times  []time.Time
}

func newCapture(start time.Time) *capture { return &capture{now: start, ipID: 0x4a00} }

// add appends a frame captured gap after the previous one.
func (c *capture) add(gap time.Duration, frame []byte) {
	c.now = c.now.Add(gap)
	c.frames = append(c.frames, frame)
	c.times = append(c.times, c.now)
}

// pcap returns the capture file's bytes.
func (c *capture) pcap() ([]byte, error) {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	for i, f := range c.frames {
		ci := gopacket.CaptureInfo{Timestamp: c.times[i], CaptureLength: len(f), Length: len(f)}
		if err := w.WritePacket(ci, f); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i+1, err)
		}
	}
	return buf.Bytes(), nil
}

// serialize builds a frame from layers, computing lengths and checksums.
// Frames under 60 bytes are zero-padded to the Ethernet minimum.
func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err) // the scenarios are fixed: an error is a bug here
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(src, dst endpoint, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src.mac, DstMAC: dst.mac, EthernetType: et}
}

// ip returns the Ethernet and IP layers from src to dst carrying proto.
// IPv4 packets get DF and consecutive IDs, as Linux sends them.
func (c *capture) ip(src, dst endpoint, proto layers.IPProtocol) (*layers.Ethernet, gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.is4() {
		c.ipID++
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: c.ipID, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: src.ip.To4(), DstIP: dst.ip.To4()}
		return eth(src, dst, layers.EthernetTypeIPv4), ip, ip
	}
	hl := uint8(64)
	if proto == layers.IPProtocolICMPv6 {
		hl = 255 // neighbour discovery requires it
	}
	ip := &layers.IPv6{Version: 6, HopLimit: hl, NextHeader: proto, SrcIP: src.ip, DstIP: dst.ip}
	return eth(src, dst, layers.EthernetTypeIPv6), ip, ip
}

// TCP options, in the order Linux puts them in a SYN.
func mss(v uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{byte(v >> 8), byte(v)}}
}
func sackOK() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}
}
func nop() layers.TCPOption { return layers.TCPOption{OptionType: layers.TCPOptionKindNop} }
func wscale(s uint8) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{s}}
}
func tsopt(val, ecr uint32) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{
		byte(val >> 24), byte(val >> 16), byte(val >> 8), byte(val),
		byte(ecr >> 24), byte(ecr >> 16), byte(ecr >> 8), byte(ecr)}}
}

// synOpts are the options of a Linux SYN or SYN/ACK: MSS, SACK permitted,
// timestamps, window scale.
func synOpts(tsval, tsecr uint32, scale uint8) []layers.TCPOption {
	return []layers.TCPOption{mss(1460), sackOK(), tsopt(tsval, tsecr), nop(), wscale(scale)}
}

// tsOpts are the options of an established segment: NOP, NOP, timestamps.
func tsOpts(tsval, tsecr uint32) []layers.TCPOption {
	return []layers.TCPOption{nop(), nop(), tsopt(tsval, tsecr)}
}

// tcp builds a TCP segment. flags uses tcpdump's letters: S, F, R, P, A
// (e.g. "SA" for SYN/ACK, "PA" for a push with ACK).
func (c *capture) tcp(src, dst endpoint, seq, ack uint32, flags string, win uint16, opts []layers.TCPOption, payload []byte) []byte {
	e, ip, nl := c.ip(src, dst, layers.IPProtocolTCP)
	t := &layers.TCP{SrcPort: layers.TCPPort(src.port), DstPort: layers.TCPPort(dst.port),
		Seq: seq, Ack: ack, Window: win, Options: opts}
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		case 'P':
			t.PSH = true
		case 'A':
			t.ACK = true
		default:
			panic("tcp flag " + string(f))
		}
	}
	if err := t.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return serialize(e, ip, t, gopacket.Payload(payload))
}

// udp builds a UDP datagram.
func (c *capture) udp(src, dst endpoint, payload []byte) []byte {
	e, ip, nl := c.ip(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(src.port), DstPort: layers.UDPPort(dst.port)}
	if err := u.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	return serialize(e, ip, u, gopacket.Payload(payload))
}

// icmp4 builds an ICMPv4 message; id and seq fill the second header word
// (zero for errors, whose payload is the quoted packet).
func (c *capture) icmp4(src, dst endpoint, typ, code uint8, id, seq uint16, payload []byte) []byte {
	e, ip, _ := c.ip(src, dst, layers.IPProtocolICMPv4)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: id, Seq: seq}
	return serialize(e, ip, ic, gopacket.Payload(payload))
}

// neighborSolicitation builds an ICMPv6 NS for target carrying the
// sender's link-layer address.
func (c *capture) neighborSolicitation(src, dst endpoint, target net.IP) []byte {
	e, ip, nl := c.ip(src, dst, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := ic.SetNetworkLayerForChecksum(nl); err != nil {
		panic(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target, Options: layers.ICMPv6Options{
		{Type: layers.ICMPv6OptSourceAddress, Data: src.mac}}}
	return serialize(e, ip, ic, ns)
}

// arpRequest builds a broadcast "who-has target tell src".
func arpRequest(src endpoint, target net.IP) []byte {
	bcast := endpoint{mac: mustMAC("ff:ff:ff:ff:ff:ff")}
	a := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: src.mac, SourceProtAddress: src.ip.To4(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.To4()}
	return serialize(eth(src, bcast, layers.EthernetTypeARP), a)
}

// padNonZero overwrites the Ethernet padding after the IPv4 packet with
// non-zero bytes, as some NICs and hypervisors send it (incident 2). The
// IP total length still says where the packet ends.
func padNonZero(frame []byte) []byte {
	end := 14 + (int(frame[16])<<8 | int(frame[17]))
	for i := end; i < len(frame); i++ {
		frame[i] = 0xa5 ^ byte(i)
	}
	return frame
}

// quote returns the IPv4 packet inside a frame, without the frame's
// padding, for an ICMP error to quote.
func quote(frame []byte) []byte {
	end := 14 + (int(frame[16])<<8 | int(frame[17]))
	return append([]byte(nil), frame[14:end]...)
}

// corrupt flips one bit of the last byte of a frame without fixing the
// checksum: what a bad cable or a buggy offload does.
func corrupt(frame []byte) []byte {
	f := append([]byte(nil), frame...)
	f[len(f)-1] ^= 0x04
	return f
}
