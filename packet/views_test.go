package packet

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func eqBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", what, got, want)
	}
}

// TestViewsMatchGopacket parses every valid test frame and checks each
// accessor of each view against gopacket's decoding of the same bytes.
func TestViewsMatchGopacket(t *testing.T) {
	for _, tp := range validPackets(t) {
		t.Run(tp.name, func(t *testing.T) {
			frame := tp.frame
			var m Meta
			if err := Parse(frame, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			checked := 0

			e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ev := Ethernet(frame)
			eq(t, "eth.Dst", ev.Dst(), MAC(e.DstMAC))
			eq(t, "eth.Src", ev.Src(), MAC(e.SrcMAC))
			eq(t, "eth.EtherType", ev.EtherType(), uint16(e.EthernetType))

			var tags []*layers.Dot1Q
			for _, l := range p.Layers() {
				if d, ok := l.(*layers.Dot1Q); ok {
					tags = append(tags, d)
				}
			}
			eq(t, "VLANCount", m.VLANCount, len(tags))
			for i, d := range tags {
				tci := uint16(d.Priority)<<13 | uint16(d.VLANIdentifier)
				if d.DropEligible {
					tci |= 1 << 12
				}
				eq(t, "VLAN TCI", m.VLANs[i], tci)
				eq(t, "VLANID", VLANID(m.VLANs[i]), d.VLANIdentifier)
				eq(t, "VLANPriority", VLANPriority(m.VLANs[i]), d.Priority)
				eq(t, "inner EtherType", m.EtherType, uint16(tags[len(tags)-1].Type))
			}

			if l, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				checked++
				v := IPv4(frame[m.L3Off:])
				eq(t, "ipv4.Version", v.Version(), l.Version)
				eq(t, "ipv4.HeaderLen", v.HeaderLen(), int(l.IHL)*4)
				eq(t, "ipv4.TOS", v.TOS(), l.TOS)
				eq(t, "ipv4.TotalLength", v.TotalLength(), l.Length)
				eq(t, "ipv4.ID", v.ID(), l.Id)
				eq(t, "ipv4.DF", v.DF(), l.Flags&layers.IPv4DontFragment != 0)
				eq(t, "ipv4.MF", v.MF(), l.Flags&layers.IPv4MoreFragments != 0)
				eq(t, "ipv4.FragmentOffset", v.FragmentOffset(), l.FragOffset*8)
				eq(t, "ipv4.TTL", v.TTL(), l.TTL)
				eq(t, "ipv4.Protocol", v.Protocol(), uint8(l.Protocol))
				eq(t, "ipv4.Checksum", v.Checksum(), l.Checksum)
				eq(t, "ipv4.Src", v.Src(), [4]byte(l.SrcIP.To4()))
				eq(t, "ipv4.Dst", v.Dst(), [4]byte(l.DstIP.To4()))
				eqBytes(t, "ipv4.Options", v.Options(), l.Contents[IPv4MinHeaderLen:])
				eqBytes(t, "ipv4.Payload", v.Payload(), l.Payload)
				eq(t, "ipv4.ValidHeaderChecksum", v.ValidHeaderChecksum(), true)
				eq(t, "ipv4.ComputeChecksum", v.ComputeChecksum(), l.Checksum)
				eq(t, "IPVersion", m.IPVersion, uint8(4))
				eq(t, "End", m.End, m.L3Off+int(l.Length))
			}

			if l, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
				checked++
				v := IPv6(frame[m.L3Off:])
				eq(t, "ipv6.Version", v.Version(), l.Version)
				eq(t, "ipv6.TrafficClass", v.TrafficClass(), l.TrafficClass)
				eq(t, "ipv6.FlowLabel", v.FlowLabel(), l.FlowLabel)
				eq(t, "ipv6.PayloadLength", v.PayloadLength(), l.Length)
				eq(t, "ipv6.NextHeader", v.NextHeader(), uint8(l.NextHeader))
				eq(t, "ipv6.HopLimit", v.HopLimit(), l.HopLimit)
				eq(t, "ipv6.Src", v.Src(), [16]byte(l.SrcIP))
				eq(t, "ipv6.Dst", v.Dst(), [16]byte(l.DstIP))
				eq(t, "IPVersion", m.IPVersion, uint8(6))
				eq(t, "End", m.End, m.L3Off+IPv6HeaderLen+int(l.Length))
				if l.HopByHop == nil {
					eqBytes(t, "ipv6.Payload", v.Payload(), l.Payload)
				}
			}

			if l, ok := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
				checked++
				v := IPv6Fragment(frame[m.FragHdrOff:])
				eq(t, "frag.NextHeader", v.NextHeader(), uint8(l.NextHeader))
				eq(t, "frag.FragmentOffset", v.FragmentOffset(), l.FragmentOffset*8)
				eq(t, "frag.More", v.More(), l.MoreFragments)
				eq(t, "frag.ID", v.ID(), l.Identification)
				eq(t, "Meta.FragOffset", m.FragOffset, l.FragmentOffset*8)
				eq(t, "Meta.MoreFragments", m.MoreFragments, l.MoreFragments)
				eq(t, "Meta.FragID", m.FragID, l.Identification)
			}

			// The first TCP/UDP/ICMP layer gopacket finds belongs to the
			// outer packet only when Meta agrees on the protocol.
			if l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && m.L4Proto == ProtoTCP {
				checked++
				v := TCP(frame[m.L4Off:m.End])
				eq(t, "tcp.SrcPort", v.SrcPort(), uint16(l.SrcPort))
				eq(t, "tcp.DstPort", v.DstPort(), uint16(l.DstPort))
				eq(t, "tcp.Seq", v.Seq(), l.Seq)
				eq(t, "tcp.Ack", v.Ack(), l.Ack)
				eq(t, "tcp.DataOffset", v.DataOffset(), int(l.DataOffset)*4)
				eq(t, "tcp.Flags", v.Flags(), gopacketTCPFlags(l))
				eq(t, "tcp.Window", v.Window(), l.Window)
				eq(t, "tcp.Checksum", v.Checksum(), l.Checksum)
				eq(t, "tcp.Urgent", v.Urgent(), l.Urgent)
				eqBytes(t, "tcp.Options", v.Options(), l.Contents[TCPMinHeaderLen:])
				eqBytes(t, "tcp.Payload", v.Payload(), l.Payload)
				var o TCPOptions
				if err := ParseTCPOptions(v.Options(), &o); err != nil {
					t.Fatalf("ParseTCPOptions: %v", err)
				}
				compareTCPOptions(t, &o, l.Options)
			}

			if l, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && m.L4Proto == ProtoUDP && !m.Fragment {
				checked++
				v := UDP(frame[m.L4Off:m.End])
				eq(t, "udp.SrcPort", v.SrcPort(), uint16(l.SrcPort))
				eq(t, "udp.DstPort", v.DstPort(), uint16(l.DstPort))
				eq(t, "udp.Length", v.Length(), l.Length)
				eq(t, "udp.Checksum", v.Checksum(), l.Checksum)
				eqBytes(t, "udp.Payload", v.Payload(), l.Payload)
			}

			if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
				checked++
				v := ICMPv4(frame[m.L4Off:m.End])
				eq(t, "icmp4.Type", v.Type(), l.TypeCode.Type())
				eq(t, "icmp4.Code", v.Code(), l.TypeCode.Code())
				eq(t, "icmp4.Checksum", v.Checksum(), l.Checksum)
				eq(t, "icmp4.ID", v.ID(), l.Id)
				eq(t, "icmp4.Seq", v.Seq(), l.Seq)
				eq(t, "icmp4.MTU", v.MTU(), l.Seq) // same bytes 6..8
				eqBytes(t, "icmp4.Body", v.Body(), l.Payload)
			}

			if l, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
				checked++
				v := ICMPv6(frame[m.L4Off:m.End])
				eq(t, "icmp6.Type", v.Type(), l.TypeCode.Type())
				eq(t, "icmp6.Code", v.Code(), l.TypeCode.Code())
				eq(t, "icmp6.Checksum", v.Checksum(), l.Checksum)
				// gopacket's ICMPv6 payload starts at the rest-of-header word.
				eqBytes(t, "icmp6.Body", v.Body(), l.Payload[4:])
				if echo, ok := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
					eq(t, "icmp6.ID", v.ID(), echo.Identifier)
					eq(t, "icmp6.Seq", v.Seq(), echo.SeqNumber)
				} else {
					eq(t, "icmp6.MTU", v.MTU(), uint32(l.Payload[0])<<24|uint32(l.Payload[1])<<16|
						uint32(l.Payload[2])<<8|uint32(l.Payload[3]))
				}
			}

			if l, ok := p.Layer(layers.LayerTypeGRE).(*layers.GRE); ok {
				checked++
				v := GRE(frame[m.L4Off:m.End])
				if err := ValidateGRE(v); err != nil {
					t.Fatalf("ValidateGRE: %v", err)
				}
				compareGRE(t, v, l)
			}

			if l, ok := p.Layer(layers.LayerTypeGeneve).(*layers.Geneve); ok {
				checked++
				u := UDP(frame[m.L4Off:m.End])
				v := Geneve(u.Payload())
				if err := ValidateGeneve(v); err != nil {
					t.Fatalf("ValidateGeneve: %v", err)
				}
				compareGeneve(t, v, l)
			}

			if m.IPVersion != 0 && checked == 0 {
				t.Fatal("no layer compared")
			}
			if m.IPVersion != 0 && !VerifyL4Checksum(frame, &m) {
				t.Error("VerifyL4Checksum = false on a gopacket-built frame")
			}
		})
	}
}

func gopacketTCPFlags(l *layers.TCP) uint8 {
	var f uint8
	for _, x := range []struct {
		set bool
		bit uint8
	}{{l.FIN, TCPFlagFIN}, {l.SYN, TCPFlagSYN}, {l.RST, TCPFlagRST}, {l.PSH, TCPFlagPSH},
		{l.ACK, TCPFlagACK}, {l.URG, TCPFlagURG}, {l.ECE, TCPFlagECE}, {l.CWR, TCPFlagCWR}} {
		if x.set {
			f |= x.bit
		}
	}
	return f
}

// compareTCPOptions checks o against gopacket's option list.
func compareTCPOptions(t *testing.T, o *TCPOptions, opts []layers.TCPOption) {
	t.Helper()
	var want TCPOptions
	for _, op := range opts {
		d := op.OptionData
		switch op.OptionType {
		case layers.TCPOptionKindMSS:
			want.MSS, want.HasMSS = uint16(d[0])<<8|uint16(d[1]), true
		case layers.TCPOptionKindWindowScale:
			want.WScale, want.HasWScale = d[0], true
		case layers.TCPOptionKindSACKPermitted:
			want.SACKPermitted = true
		case layers.TCPOptionKindTimestamps:
			want.HasTimestamps = true
			want.TSVal = uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3])
			want.TSEcr = uint32(d[4])<<24 | uint32(d[5])<<16 | uint32(d[6])<<8 | uint32(d[7])
		case layers.TCPOptionKindSACK:
			want.NumSACK = len(d) / 8
			for i := 0; i < want.NumSACK; i++ {
				want.SACK[i] = SACKBlock{get32(d, 8*i), get32(d, 8*i+4)}
			}
		}
	}
	eq(t, "TCPOptions", *o, want)
}

func compareGRE(t *testing.T, v GRE, l *layers.GRE) {
	t.Helper()
	eq(t, "gre.ChecksumPresent", v.ChecksumPresent(), l.ChecksumPresent)
	eq(t, "gre.KeyPresent", v.KeyPresent(), l.KeyPresent)
	eq(t, "gre.SeqPresent", v.SeqPresent(), l.SeqPresent)
	eq(t, "gre.Version", v.Version(), l.Version)
	eq(t, "gre.Protocol", v.Protocol(), uint16(l.Protocol))
	eq(t, "gre.HeaderLen", v.HeaderLen(), len(l.Contents))
	eq(t, "gre.Checksum", v.Checksum(), l.Checksum)
	eq(t, "gre.Key", v.Key(), l.Key)
	eq(t, "gre.Seq", v.Seq(), l.Seq)
	eqBytes(t, "gre.Payload", v.Payload(), l.Payload)
	eq(t, "gre.ValidChecksum", v.ValidChecksum(), true)
}

func compareGeneve(t *testing.T, v Geneve, l *layers.Geneve) {
	t.Helper()
	eq(t, "geneve.Version", v.Version(), l.Version)
	eq(t, "geneve.OptionsLen", v.OptionsLen(), int(l.OptionsLength))
	eq(t, "geneve.OAM", v.OAM(), l.OAMPacket)
	eq(t, "geneve.Critical", v.Critical(), l.CriticalOption)
	eq(t, "geneve.Protocol", v.Protocol(), uint16(l.Protocol))
	eq(t, "geneve.VNI", v.VNI(), l.VNI)
	eq(t, "geneve.HeaderLen", v.HeaderLen(), len(l.Contents))
	eqBytes(t, "geneve.Payload", v.Payload(), l.Payload)
	i := 0
	for off := 0; ; i++ {
		opt, next, err := v.NextOption(off)
		if err != nil {
			t.Fatalf("NextOption(%d): %v", off, err)
		}
		if opt == nil {
			break
		}
		if i >= len(l.Options) {
			t.Fatalf("more options than gopacket (%d)", len(l.Options))
		}
		g := l.Options[i]
		eq(t, "opt.Class", opt.Class(), g.Class)
		eq(t, "opt.Type", opt.Type(), g.Type)
		eq(t, "opt.Critical", opt.Critical(), g.Type&0x80 != 0)
		eq(t, "opt.Len", opt.Len(), int(g.Length))
		eq(t, "opt.DataLen", opt.DataLen(), len(g.Data))
		eqBytes(t, "opt.Data", opt.Data(), g.Data)
		off = next
	}
	eq(t, "option count", i, len(l.Options))
}
