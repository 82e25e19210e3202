package filter

import (
	"encoding/binary"

	"github.com/ctswitch/ctswitch/packet"
)

// The program Match runs is a flat slice of tests in the style of classic
// BPF: each instruction tests one thing about one header layer and names
// the instruction to go to when the test is true (jt) and when it is false
// (jf). Jumps only go forward, so a run takes at most len(prog) steps, and
// "and", "or", "not" and "inner" cost nothing of their own: they are only
// the wiring of the jumps. A negative target ends the run.

const (
	targetAccept int32 = -1
	targetReject int32 = -2
)

type opcode uint8

const (
	opInner     opcode = iota + 1 // the layer exists (an encapsulated packet was found)
	opVLAN                        // a VLAN tag; with arg 1, one whose ID is lo
	opEtherType                   // EtherType after the VLAN tags is lo
	opIPVersion                   // IP version is lo
	opProto                       // IP protocol lo; with arg 4 or 6, of that IP version only
	opAddr4                       // IPv4 (or ARP) address & m[0] == a[0], by dir
	opAddr6                       // IPv6 address & m == a, by dir
	opPort                        // port in [lo, hi], by dir; arg: protocol (0: TCP, UDP or SCTP)
	opTCPFlag                     // TCP flag bits lo are set
	opICMPType                    // ICMP (ICMPv6 in IPv6) type is lo
	opLen                         // layer length compared (arg: cmpOp) with lo
	opVNI                         // Geneve VNI is lo
	opGREKey                      // GRE key present and lo
	opEther                       // Ethernet address == a[0], by dir
)

type insn struct {
	op     opcode
	level  uint8 // 0: outer headers, 1..MaxInner: encapsulated packets
	dir    direction
	arg    uint8
	jt, jf int32
	lo, hi uint32
	a, m   [2]uint64
}

// compileProg turns the tree into the program. The generator emits
// instructions in reverse order of execution (an instruction's targets must
// exist before it), so the result is reversed at the end.
func compileProg(nodes []node, root int32) []insn {
	if root < 0 {
		return nil
	}
	c := progBuilder{nodes: nodes}
	c.gen(root, 0, targetAccept, targetReject)
	n := int32(len(c.prog))
	out := make([]insn, n)
	for i, in := range c.prog {
		if in.jt >= 0 {
			in.jt = n - 1 - in.jt
		}
		if in.jf >= 0 {
			in.jf = n - 1 - in.jf
		}
		out[n-1-int32(i)] = in
	}
	return out
}

type progBuilder struct {
	nodes []node
	prog  []insn
}

func (c *progBuilder) emit(in insn) int32 {
	c.prog = append(c.prog, in)
	return int32(len(c.prog) - 1)
}

// gen emits the code of node n evaluated on header layer level, going to t
// when it holds and to f when not, and returns its entry point.
func (c *progBuilder) gen(n int32, level uint8, t, f int32) int32 {
	nd := &c.nodes[n]
	switch nd.kind {
	case nAnd:
		r := c.gen(nd.r, level, t, f)
		return c.gen(nd.l, level, r, f)
	case nOr:
		r := c.gen(nd.r, level, t, f)
		return c.gen(nd.l, level, t, r)
	case nNot:
		return c.gen(nd.l, level, f, t)
	case nInner:
		body := c.gen(nd.l, level+1, t, f)
		return c.emit(insn{op: opInner, level: level + 1, jt: body, jf: f})
	}
	in := primInsn(&nd.prim)
	in.level, in.jt, in.jf = level, t, f
	return c.emit(in)
}

func primInsn(p *prim) insn {
	in := insn{dir: p.dir, lo: p.lo, hi: p.hi}
	switch p.kind {
	case pVLAN:
		in.op = opVLAN
		if p.hasArg {
			in.arg = 1
		}
	case pARP:
		in.op, in.lo = opEtherType, packet.EtherTypeARP
	case pIP:
		in.op, in.lo = opIPVersion, 4
	case pIP6:
		in.op, in.lo = opIPVersion, 6
	case pTCP:
		in.op, in.lo = opProto, packet.ProtoTCP
	case pUDP:
		in.op, in.lo = opProto, packet.ProtoUDP
	case pSCTP:
		in.op, in.lo = opProto, packet.ProtoSCTP
	case pGRE:
		in.op, in.lo = opProto, packet.ProtoGRE
	case pICMP:
		in.op, in.lo, in.arg = opProto, packet.ProtoICMP, 4
	case pICMP6:
		in.op, in.lo, in.arg = opProto, packet.ProtoICMPv6, 6
	case pProto:
		in.op = opProto
	case pGeneve:
		in.op, in.arg, in.dir, in.lo, in.hi = opPort, packet.ProtoUDP, dirDst, genevePort, genevePort
	case pPort, pPortRange:
		in.op, in.arg = opPort, p.l4
	case pTCPFlag:
		in.op = opTCPFlag
	case pICMPType:
		in.op = opICMPType
	case pLen:
		in.op, in.arg = opLen, uint8(p.cmp)
	case pVNI:
		in.op = opVNI
	case pGREKey:
		in.op = opGREKey
	case pEther:
		in.op = opEther
		var b [8]byte
		copy(b[2:], p.mac[:])
		in.a[0] = binary.BigEndian.Uint64(b[:])
	case pHost, pNet:
		a := p.pfx.Addr()
		bits := p.pfx.Bits()
		if a.Is4() {
			in.op = opAddr4
			b := a.As4()
			in.m[0] = uint64(^uint32(0) << (32 - bits)) // a shift by 32 (bits 0) gives 0
			in.a[0] = uint64(binary.BigEndian.Uint32(b[:])) & in.m[0]
		} else {
			in.op = opAddr6
			b := a.As16()
			in.m = mask128(bits)
			in.a[0] = binary.BigEndian.Uint64(b[0:8]) & in.m[0]
			in.a[1] = binary.BigEndian.Uint64(b[8:16]) & in.m[1]
		}
	}
	return in
}

// mask128 returns the first bits bits set, as two big-endian halves.
func mask128(bits int) (m [2]uint64) {
	for i := range m {
		switch n := bits - 64*i; {
		case n >= 64:
			m[i] = ^uint64(0)
		case n > 0:
			m[i] = ^uint64(0) << (64 - n)
		}
	}
	return m
}
