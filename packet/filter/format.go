package filter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ctswitch/ctswitch/packet"
)

// format returns the canonical text of the tree. Parentheses appear only
// where the tree's grouping differs from what precedence and left
// associativity give, so the text parses back to the same tree.
func (f *Filter) format() string {
	if f.root < 0 {
		return ""
	}
	var b strings.Builder
	f.write(&b, f.root)
	return b.String()
}

func (f *Filter) write(b *strings.Builder, n int32) {
	nd := &f.nodes[n]
	switch nd.kind {
	case nOr:
		f.write(b, nd.l) // or is the loosest operator: no parentheses on the left
		b.WriteString(" or ")
		f.writeParen(b, nd.r, f.nodes[nd.r].kind == nOr)
	case nAnd:
		f.writeParen(b, nd.l, f.nodes[nd.l].kind == nOr)
		b.WriteString(" and ")
		k := f.nodes[nd.r].kind
		f.writeParen(b, nd.r, k == nOr || k == nAnd)
	case nNot, nInner:
		if nd.kind == nNot {
			b.WriteString("not ")
		} else {
			b.WriteString("inner ")
		}
		k := f.nodes[nd.l].kind
		f.writeParen(b, nd.l, k == nOr || k == nAnd)
	case nPrim:
		writePrim(b, &nd.prim)
	}
}

func (f *Filter) writeParen(b *strings.Builder, n int32, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	f.write(b, n)
	if paren {
		b.WriteByte(')')
	}
}

var primNames = map[primKind]string{
	pARP: "arp", pIP: "ip", pIP6: "ip6", pTCP: "tcp", pUDP: "udp", pSCTP: "sctp",
	pICMP: "icmp", pICMP6: "icmp6", pGRE: "gre", pGeneve: "geneve",
}

var flagNames = map[uint32]string{
	packet.TCPFlagFIN: "tcp-fin", packet.TCPFlagSYN: "tcp-syn", packet.TCPFlagRST: "tcp-rst",
	packet.TCPFlagPSH: "tcp-psh", packet.TCPFlagACK: "tcp-ack", packet.TCPFlagURG: "tcp-urg",
}

func writeDir(b *strings.Builder, d direction) {
	switch d {
	case dirSrc:
		b.WriteString("src ")
	case dirDst:
		b.WriteString("dst ")
	}
}

func writePrim(b *strings.Builder, p *prim) {
	if s, ok := primNames[p.kind]; ok {
		b.WriteString(s)
		return
	}
	num := func(kw string, v uint32) {
		b.WriteString(kw)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	switch p.kind {
	case pVLAN:
		if p.hasArg {
			num("vlan", p.lo)
		} else {
			b.WriteString("vlan")
		}
	case pProto:
		num("proto", p.lo)
	case pTCPFlag:
		b.WriteString(flagNames[p.lo])
	case pICMPType:
		num("icmp-type", p.lo)
	case pVNI:
		num("vni", p.lo)
	case pGREKey:
		num("gre-key", p.lo)
	case pLen:
		num("len "+cmpText[p.cmp], p.lo)
	case pHost:
		writeDir(b, p.dir)
		b.WriteString("host ")
		b.WriteString(p.pfx.Addr().String())
	case pNet:
		writeDir(b, p.dir)
		b.WriteString("net ")
		b.WriteString(p.pfx.String())
	case pPort, pPortRange:
		switch p.l4 {
		case packet.ProtoTCP:
			b.WriteString("tcp ")
		case packet.ProtoUDP:
			b.WriteString("udp ")
		case packet.ProtoSCTP:
			b.WriteString("sctp ")
		}
		writeDir(b, p.dir)
		if p.kind == pPort {
			num("port", p.lo)
		} else {
			fmt.Fprintf(b, "portrange %d-%d", p.lo, p.hi)
		}
	case pEther:
		b.WriteString("ether ")
		if p.dir == dirAny {
			b.WriteString("host ")
		} else {
			writeDir(b, p.dir)
		}
		m := p.mac
		fmt.Fprintf(b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
	}
}
