package ipfrag

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Test traffic uses the benchmarking range and the documentation prefix.
var (
	macA = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	macB = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
	ip4A = net.IP{198, 18, 0, 1}
	ip4B = net.IP{198, 19, 0, 2}
	ip6A = net.ParseIP("2001:db8:1::1")
	ip6B = net.ParseIP("2001:db8:2::2")
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

// l2Layers is an Ethernet header with the given VLAN IDs (two: 802.1ad
// outer tag).
func l2Layers(vlans []uint16, et layers.EthernetType) []gopacket.SerializableLayer {
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	ls := []gopacket.SerializableLayer{eth}
	if len(vlans) == 0 {
		return ls
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	if len(vlans) == 2 {
		eth.EthernetType = layers.EthernetTypeQinQ
	}
	for i, vid := range vlans {
		next := et
		if i < len(vlans)-1 {
			next = layers.EthernetTypeDot1Q
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: vid, Type: next})
	}
	return ls
}

func pattern(n int, salt byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i>>8) ^ salt
	}
	return p
}

func ip4(opts ...layers.IPv4Option) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TOS: 0x28, Id: 0x4242, TTL: 61, Protocol: layers.IPProtocolUDP,
		SrcIP: ip4A, DstIP: ip4B, Options: opts}
}

// udp4 is an Ethernet frame with a DF-clear IPv4 UDP packet of ipLen bytes.
func udp4(tb testing.TB, vlans []uint16, ip *layers.IPv4, ipLen int) []byte {
	tb.Helper()
	hl := 20
	for _, o := range ip.Options {
		if o.OptionType <= 1 {
			hl++
		} else {
			hl += int(o.OptionLength)
		}
	}
	hl = (hl + 3) &^ 3
	udp := &layers.UDP{SrcPort: 40000, DstPort: 4789}
	udp.SetNetworkLayerForChecksum(ip)
	ls := append(l2Layers(vlans, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload(pattern(ipLen-hl-8, 0)))
	f := serialize(tb, ls...)
	if got := len(f) - 14 - 4*len(vlans); got != ipLen {
		tb.Fatalf("built %d-byte IP packet, want %d", got, ipLen)
	}
	return f
}

type ext6 struct {
	proto uint8
	b     []byte
}

func hbhExt() ext6 { return ext6{0, []byte{0, 0, 5, 2, 0, 0, 1, 0}} } // router alert + PadN
func dstExt(n int) ext6 {
	b := make([]byte, 8*n)
	b[1] = byte(n - 1)
	b[2], b[3] = 1, byte(len(b)-4) // one PadN
	return ext6{60, b}
}
func routingExt() ext6 {
	// Type 0 (the one gopacket decodes) with one address, segments left 0.
	b := make([]byte, 24)
	b[1], b[2], b[3] = 2, 0, 0
	copy(b[8:], ip6B)
	return ext6{43, b}
}

// udp6 is an IPv6 packet of ipLen bytes: the extension headers, then UDP.
func udp6(tb testing.TB, vlans []uint16, ipLen int, exts ...ext6) []byte {
	tb.Helper()
	var body []byte
	for i, e := range exts {
		b := append([]byte(nil), e.b...)
		b[0] = 17
		if i+1 < len(exts) {
			b[0] = exts[i+1].proto
		}
		body = append(body, b...)
	}
	n := ipLen - 40 - len(body)
	u := pattern(n, 0x5a)
	binary.BigEndian.PutUint16(u[0:2], 40000)
	binary.BigEndian.PutUint16(u[2:4], 6081)
	binary.BigEndian.PutUint16(u[4:6], uint16(n))
	body = append(body, u...)
	first := layers.IPProtocolUDP
	if len(exts) > 0 {
		first = layers.IPProtocol(exts[0].proto)
	}
	ip := &layers.IPv6{Version: 6, TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: first,
		HopLimit: 61, SrcIP: ip6A, DstIP: ip6B}
	ls := append(l2Layers(vlans, layers.EthernetTypeIPv6), ip, gopacket.Payload(body))
	return serialize(tb, ls...)
}

// fragments runs a fragmenter and returns copies of the fragments.
func collect(tb testing.TB, run func(emit func([]byte) error) error) [][]byte {
	tb.Helper()
	var out [][]byte
	if err := run(func(f []byte) error {
		out = append(out, append([]byte(nil), f...))
		return nil
	}); err != nil {
		tb.Fatalf("fragment: %v", err)
	}
	return out
}

func frag4(tb testing.TB, frame []byte, mtu int) [][]byte {
	scratch := make([]byte, 22+mtu)
	return collect(tb, func(emit func([]byte) error) error { return FragmentIPv4(frame, mtu, scratch, emit) })
}

func frag6(tb testing.TB, frame []byte, mtu int, id uint32) [][]byte {
	scratch := make([]byte, 22+mtu)
	return collect(tb, func(emit func([]byte) error) error { return FragmentIPv6(frame, mtu, id, scratch, emit) })
}

// reassemble adds frags in order and expects the last to complete.
func reassemble(tb testing.TB, r *Reassembler, frags [][]byte, now int64) []byte {
	tb.Helper()
	for i, f := range frags {
		out, res := r.Add(f, now)
		if i < len(frags)-1 {
			if res.Status != Held || out != nil {
				tb.Fatalf("fragment %d of %d: %v/%v", i, len(frags), res.Status, res.Reason)
			}
			continue
		}
		if res.Status != Complete {
			tb.Fatalf("last fragment: %v/%v", res.Status, res.Reason)
		}
		return append([]byte(nil), out...)
	}
	return nil
}

func shuffled(frags [][]byte, seed uint64) [][]byte {
	out := append([][]byte(nil), frags...)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e37))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func meta(tb testing.TB, frame []byte) packet.Meta {
	tb.Helper()
	var m packet.Meta
	if err := packet.Parse(frame, &m); err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return m
}
