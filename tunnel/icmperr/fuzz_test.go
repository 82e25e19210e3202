package icmperr

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func fuzzSrc(sel uint8) netip.Addr {
	switch sel % 4 {
	case 1:
		return netip.MustParseAddr("198.18.255.1")
	case 2:
		return netip.MustParseAddr("2001:db8:ff::1")
	case 3:
		return netip.MustParseAddr("ff02::1") // never usable
	}
	return netip.Addr{}
}

// checkBuilt checks an error frame of n bytes that a builder returned
// with reason why: it must parse (with this repo's parser and gopacket),
// carry the expected ICMP type and MTU with valid checksums, stay within
// the size limit, and be the same when built in place.
func checkBuilt(t *testing.T, out, orig []byte, n int, why Reason, v6 bool, mtu int,
	build func(dst, orig []byte) (int, Reason)) {
	if why == None && n == 0 || why != None && n != 0 || why >= numReasons {
		t.Fatalf("n %d with reason %v", n, why)
	}
	if why != None {
		return
	}
	frame := out[:n]
	limit := MaxFragNeededLen
	if v6 {
		limit = MaxPacketTooBigLen
	}
	var m packet.Meta
	if err := packet.Parse(frame, &m); err != nil {
		t.Fatalf("built frame does not parse: %v", err)
	}
	if m.End != n || m.Padding != 0 || n > limit || m.End-m.L3Off > limit-maxL2Len {
		t.Fatalf("built frame: %d bytes, IP end %d, limit %d", n, m.End, limit)
	}
	if !packet.VerifyL4Checksum(frame, &m) {
		t.Fatal("ICMP checksum does not verify")
	}
	l4 := m.L4(frame)
	if v6 {
		if m.IPVersion != 6 || m.L4Proto != packet.ProtoICMPv6 || packet.ICMPv6(l4).Type() != 2 ||
			packet.ICMPv6(l4).MTU() != uint32(mtu) {
			t.Fatalf("not a packet too big for mtu %d: % x", mtu, l4[:8])
		}
	} else {
		ip := packet.IPv4(frame[m.L3Off:])
		if m.IPVersion != 4 || !ip.ValidHeaderChecksum() || m.L4Proto != packet.ProtoICMP ||
			packet.ICMPv4(l4).Type() != 3 || packet.ICMPv4(l4).Code() != 4 ||
			packet.ICMPv4(l4).MTU() != uint16(mtu) || packet.ICMPv4(l4).ID() != 0 {
			t.Fatalf("not a fragmentation needed for mtu %d: % x", mtu, l4[:8])
		}
	}
	var om packet.Meta
	_ = packet.Parse(orig, &om) // partial Meta is enough for the offsets
	if !bytes.Equal(packet.ICMPv4(l4).Body(), orig[om.L3Off:om.L3Off+len(l4)-8]) {
		t.Fatal("quote is not the start of the original IP packet")
	}
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	// In place gives the same frame.
	buf := make([]byte, max(len(orig), limit))
	copy(buf, orig)
	n2, why2 := build(buf, buf[:len(orig)])
	if why2 != None || !bytes.Equal(buf[:n2], frame) {
		t.Fatalf("in place: %v, frame differs", why2)
	}
}

func FuzzFragNeeded(f *testing.F) {
	for _, s := range fragNeededSeeds(f) {
		f.Add(s.frame, s.mtu, s.src)
	}
	f.Fuzz(func(t *testing.T, orig []byte, mtu uint16, srcSel uint8) {
		src := fuzzSrc(srcSel)
		out := make([]byte, MaxFragNeededLen)
		n, why := FragNeeded(out, orig, int(mtu), src)
		checkBuilt(t, out, orig, n, why, false, int(mtu), func(dst, o []byte) (int, Reason) {
			return FragNeeded(dst, o, int(mtu), src)
		})
	})
}

func FuzzPacketTooBig(f *testing.F) {
	for _, s := range packetTooBigSeeds(f) {
		f.Add(s.frame, s.mtu, s.src)
	}
	f.Fuzz(func(t *testing.T, orig []byte, mtu uint16, srcSel uint8) {
		src := fuzzSrc(srcSel)
		var mac packet.MAC
		if srcSel&4 != 0 {
			mac = packet.MAC{0x02, 0, 0x5e, 0x10, 0, 0x99}
		}
		out := make([]byte, MaxPacketTooBigLen)
		n, why := PacketTooBigFrom(out, orig, int(mtu), src, mac)
		checkBuilt(t, out, orig, n, why, true, int(mtu), func(dst, o []byte) (int, Reason) {
			return PacketTooBigFrom(dst, o, int(mtu), src, mac)
		})
	})
}

type seed struct {
	name  string
	frame []byte
	mtu   uint16
	src   uint8
}

func fragNeededSeeds(tb testing.TB) []seed {
	ipOpt := ip4(0)
	ipOpt.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
	noDF := ip4(0)
	noDF.Flags = 0
	frag := ip4(0)
	frag.FragOffset = 100
	return []seed{
		{"udp1500", udp4Frame(tb, l2opt{}, ip4(0), 1500), 1400, 0},
		{"udp1500_vlan_src", udp4Frame(tb, l2opt{vlans: []uint16{100}}, ip4(0), 1500), 1450, 1},
		{"udp600_qinq", udp4Frame(tb, l2opt{vlans: []uint16{1, 2}}, ip4(0), 600), 576, 0},
		{"options", udp4Frame(tb, l2opt{}, ipOpt, 1000), 900, 0},
		{"echo", icmp4Frame(tb, l2opt{}, 8, 0, 1400), 1300, 0},
		{"icmp_error", icmp4Frame(tb, l2opt{}, 3, 1, 1400), 1300, 0},
		{"not_df", udp4Frame(tb, l2opt{}, noDF, 1500), 1400, 0},
		{"non_first", udp4Frame(tb, l2opt{}, frag, 1500), 1400, 0},
		{"padded", append(udp4Frame(tb, l2opt{}, ip4(0), 80), 0xee, 0xee, 0xee, 0xee), 68, 0},
	}
}

func packetTooBigSeeds(tb testing.TB) []seed {
	return []seed{
		{"udp1500", udp6Frame(tb, l2opt{}, 1500), 1280, 0},
		{"udp1500_vlan_src", udp6Frame(tb, l2opt{vlans: []uint16{100}}, 1500), 1430, 2},
		{"ext_first_frag", udp6Frame(tb, l2opt{vlans: []uint16{1, 2}}, 1500, hbh(), dstopts(), frag6(0, true)), 1400, 0},
		{"non_first", udp6Frame(tb, l2opt{}, 1500, frag6(1448, false)), 1280, 0},
		{"echo", raw6Frame(tb, l2opt{}, layers.IPProtocolICMPv6, icmp6Body(128, 1400)), 1280, 0},
		{"icmp_error", raw6Frame(tb, l2opt{}, layers.IPProtocolICMPv6, icmp6Body(1, 1400), hbh()), 1280, 0},
		{"multicast_mac", udp6Frame(tb, l2opt{dstMAC: []byte{0x33, 0x33, 0, 0, 0, 1}}, 1500), 1280, 6},
	}
}
