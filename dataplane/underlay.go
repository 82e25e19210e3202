package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// The underlay filter: on an underlay port the kernel keeps everything
// (its addresses, ARP and ND, routing, management traffic) except what a
// local tunnel endpoint must see, which goes to the switch:
//
//   - IPv4/IPv6 to a local endpoint address carrying GRE (47), or UDP to
//     the Geneve port;
//   - fragments to a local address of GRE or UDP (the switch reassembles
//     outer fragments; a kernel UDP fragment to the same address is taken
//     too, a documented cost);
//   - ICMP "fragmentation needed" and ICMPv6 "packet too big" to a local
//     address that quote a GRE packet or a UDP packet to the Geneve port:
//     the switch learns the path MTU from them (the kernel never sent
//     those packets, so it has no use for the errors).
//
// The filter reads fixed offsets: frames with a VLAN tag or IPv4 options
// (outer, or in the quoted header of an ICMP error) go to the kernel.

const underlayRedirect = "ul_redirect"

// UnderlayFilter builds the filter for local endpoint addresses (at most 8
// of each family) and the Geneve UDP port.
func UnderlayFilter(local []netip.Addr, genevePort uint16) (*Filter, error) {
	var v4, v6 []netip.Addr
	for _, a := range local {
		a = a.Unmap()
		switch {
		case a.Is4():
			v4 = append(v4, a)
		case a.Is6():
			v6 = append(v6, a)
		default:
			return nil, fmt.Errorf("underlay filter: invalid local address %v", a)
		}
	}
	if len(v4)+len(v6) == 0 {
		return nil, errors.New("underlay filter: no local endpoint address")
	}
	if len(v4) > 8 || len(v6) > 8 {
		return nil, errors.New("underlay filter: at most 8 local addresses per family")
	}
	port := int32(htons(genevePort))
	var in asm.Instructions
	add := func(i ...asm.Instruction) { in = append(in, i...) }
	// need makes sure n bytes of the frame are there (R2 data, R3 end).
	need := func(n int32) {
		add(asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, n), asm.JGT.Reg(asm.R4, asm.R3, FilterPass))
	}
	add(
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // xdp_md.data_end
	)
	need(14)
	add(asm.LoadMem(asm.R5, asm.R2, 12, asm.Half))
	// Only the families with local addresses get code: the verifier
	// refuses unreachable instructions.
	if len(v4) > 0 {
		add(asm.JEq.Imm(asm.R5, int32(htons(0x0800)), "ul_ipv4"))
	}
	if len(v6) > 0 {
		add(asm.JEq.Imm(asm.R5, int32(htons(0x86dd)), "ul_ipv6"))
	}
	add(asm.Ja.Label(FilterPass))
	if len(v4) > 0 {
		in = append(in, ipv4Section(v4, port)...)
	}
	if len(v6) > 0 {
		in = append(in, ipv6Section(v6, port)...)
	}
	// Falling off the end of a filter redirects to the switch.
	in = append(in, asm.Mov.Imm(asm.R0, 0).WithSymbol(underlayRedirect))
	return &Filter{Name: "underlay", Instructions: in}, nil
}

func ipv4Section(v4 []netip.Addr, port int32) asm.Instructions {
	var in asm.Instructions
	add := func(i ...asm.Instruction) { in = append(in, i...) }

	// IPv4: 14 Ethernet + 20 IP, no options.
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_ipv4"))
	add(asm.Add.Imm(asm.R4, 34), asm.JGT.Reg(asm.R4, asm.R3, FilterPass))
	add(
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 30, asm.Word), // destination address
	)
	for _, a := range v4 {
		b := a.As4()
		add(asm.JEq.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(b[:])), "ul_v4_local"))
	}
	add(asm.Ja.Label(FilterPass))
	in = append(in, asm.LoadMem(asm.R5, asm.R2, 23, asm.Byte).WithSymbol("ul_v4_local")) // protocol
	add(
		asm.LoadMem(asm.R0, asm.R2, 20, asm.Half), // flags and fragment offset
		asm.And.Imm(asm.R0, int32(htons(0x3fff))), // MF or an offset: a fragment
		asm.JEq.Imm(asm.R0, 0, "ul_v4_whole"),
		asm.JEq.Imm(asm.R5, 47, underlayRedirect),
		asm.JEq.Imm(asm.R5, 17, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	in = append(in, asm.JEq.Imm(asm.R5, 47, underlayRedirect).WithSymbol("ul_v4_whole"))
	add(
		asm.JEq.Imm(asm.R5, 17, "ul_v4_udp"),
		asm.JEq.Imm(asm.R5, 1, "ul_v4_icmp"),
		asm.Ja.Label(FilterPass),
	)
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_v4_udp"))
	add(
		asm.Add.Imm(asm.R4, 42), asm.JGT.Reg(asm.R4, asm.R3, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 36, asm.Half),
		asm.JEq.Imm(asm.R5, port, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	// ICMP: 8-byte header, the quoted IPv4 header (no options) and the
	// first 8 bytes of its payload.
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_v4_icmp"))
	add(
		asm.Add.Imm(asm.R4, 70), asm.JGT.Reg(asm.R4, asm.R3, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 34, asm.Half), // type, code
		asm.JNE.Imm(asm.R5, int32(htons(0x0304)), FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 42, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 51, asm.Byte),
		asm.JEq.Imm(asm.R5, 47, underlayRedirect),
		asm.JNE.Imm(asm.R5, 17, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 64, asm.Half),
		asm.JEq.Imm(asm.R5, port, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	return in
}

func ipv6Section(v6 []netip.Addr, port int32) asm.Instructions {
	var in asm.Instructions
	add := func(i ...asm.Instruction) { in = append(in, i...) }
	// IPv6: 14 Ethernet + 40 IP.
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_ipv6"))
	add(asm.Add.Imm(asm.R4, 54), asm.JGT.Reg(asm.R4, asm.R3, FilterPass))
	for i, a := range v6 {
		b := a.As16()
		next := fmt.Sprintf("ul_v6_not%d", i)
		for w := 0; w < 4; w++ {
			add(asm.LoadMem(asm.R5, asm.R2, int16(38+4*w), asm.Word))
			add(asm.JNE.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(b[4*w:])), next))
		}
		add(asm.Ja.Label("ul_v6_local"))
		in = append(in, asm.Mov.Imm(asm.R5, 0).WithSymbol(next))
	}
	add(asm.Ja.Label(FilterPass))
	in = append(in, asm.LoadMem(asm.R5, asm.R2, 20, asm.Byte).WithSymbol("ul_v6_local")) // next header
	add(
		asm.JEq.Imm(asm.R5, 47, underlayRedirect),
		asm.JEq.Imm(asm.R5, 17, "ul_v6_udp"),
		asm.JEq.Imm(asm.R5, 44, "ul_v6_frag"),
		asm.JEq.Imm(asm.R5, 58, "ul_v6_icmp"),
		asm.Ja.Label(FilterPass),
	)
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_v6_udp"))
	add(
		asm.Add.Imm(asm.R4, 62), asm.JGT.Reg(asm.R4, asm.R3, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 56, asm.Half),
		asm.JEq.Imm(asm.R5, port, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_v6_frag"))
	add(
		asm.Add.Imm(asm.R4, 62), asm.JGT.Reg(asm.R4, asm.R3, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 54, asm.Byte), // the fragment header's next header
		asm.JEq.Imm(asm.R5, 47, underlayRedirect),
		asm.JEq.Imm(asm.R5, 17, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	// ICMPv6 Packet Too Big: 8-byte header, then the quoted IPv6 header
	// and the first 4 bytes of its payload.
	in = append(in, asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("ul_v6_icmp"))
	add(
		asm.Add.Imm(asm.R4, 106), asm.JGT.Reg(asm.R4, asm.R3, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 54, asm.Byte),
		asm.JNE.Imm(asm.R5, 2, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 68, asm.Byte), // quoted next header
		asm.JEq.Imm(asm.R5, 47, underlayRedirect),
		asm.JNE.Imm(asm.R5, 17, FilterPass),
		asm.LoadMem(asm.R5, asm.R2, 104, asm.Half),
		asm.JEq.Imm(asm.R5, port, underlayRedirect),
		asm.Ja.Label(FilterPass),
	)
	return in
}

// htons is the value a 16-bit load of a big-endian field yields on this
// (little-endian) host.
func htons(v uint16) uint16 { return v<<8 | v>>8 }
