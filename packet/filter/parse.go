package filter

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctswitch/ctswitch/packet"
)

// The syntax tree is a slice of nodes; children are indexes into it. It is
// kept for String; Match runs the program compiled from it (compile.go).

type nodeKind uint8

const (
	nAnd nodeKind = iota + 1
	nOr
	nNot
	nInner
	nPrim
)

type node struct {
	kind nodeKind
	l, r int32 // nAnd, nOr: both; nNot, nInner: l
	prim prim
}

type primKind uint8

const (
	pVLAN primKind = iota + 1
	pARP
	pIP
	pIP6
	pTCP
	pUDP
	pSCTP
	pICMP
	pICMP6
	pGRE
	pGeneve
	pProto
	pHost
	pNet
	pPort
	pPortRange
	pEther
	pTCPFlag
	pICMPType
	pLen
	pVNI
	pGREKey
)

type direction uint8

const (
	dirAny direction = iota
	dirSrc
	dirDst
)

type prim struct {
	kind   primKind
	dir    direction
	l4     uint8 // pPort, pPortRange: 0 or packet.ProtoTCP/UDP/SCTP
	cmp    cmpOp // pLen
	hasArg bool  // pVLAN: an ID was given
	lo, hi uint32
	pfx    netip.Prefix // pHost (full length), pNet
	mac    packet.MAC   // pEther
}

// Keywords that take no argument, and what they are.
var simplePrims = map[string]prim{
	"arp":    {kind: pARP},
	"ip":     {kind: pIP},
	"ip6":    {kind: pIP6},
	"icmp":   {kind: pICMP},
	"icmp6":  {kind: pICMP6},
	"gre":    {kind: pGRE},
	"geneve": {kind: pGeneve},

	"tcp-fin": {kind: pTCPFlag, lo: packet.TCPFlagFIN},
	"tcp-syn": {kind: pTCPFlag, lo: packet.TCPFlagSYN},
	"tcp-rst": {kind: pTCPFlag, lo: packet.TCPFlagRST},
	"tcp-psh": {kind: pTCPFlag, lo: packet.TCPFlagPSH},
	"tcp-ack": {kind: pTCPFlag, lo: packet.TCPFlagACK},
	"tcp-urg": {kind: pTCPFlag, lo: packet.TCPFlagURG},
}

var l4Prims = map[string]struct {
	kind  primKind
	proto uint8
}{
	"tcp":  {pTCP, packet.ProtoTCP},
	"udp":  {pUDP, packet.ProtoUDP},
	"sctp": {pSCTP, packet.ProtoSCTP},
}

type parser struct {
	toks  []token
	pos   int
	nodes []node
	depth int // enclosing "(", "not" and "inner"
	level int // enclosing "inner"
	prims int
}

func errAt(col int, format string, args ...any) error {
	return &Error{Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) tok() *token { return &p.toks[p.pos] }

func (p *parser) next() *token {
	t := &p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) add(n node) int32 {
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

// parse returns the root node, or -1 for an empty expression.
func (p *parser) parse() (int32, error) {
	if p.tok().kind == tEOF {
		return -1, nil
	}
	n, err := p.expr()
	if err != nil {
		return 0, err
	}
	switch t := p.tok(); t.kind {
	case tEOF:
		return n, nil
	case tRParen:
		return 0, errAt(t.col, `unexpected ")" with no "(" to close`)
	default:
		return 0, p.afterFactor(t, `"and" or "or"`)
	}
}

// afterFactor is the error for a token that cannot follow a complete
// factor; want lists what could.
func (p *parser) afterFactor(t *token, want string) error {
	switch t.kind {
	case tWord, tNot, tLParen:
		return errAt(t.col, "expected %s before %s (juxtaposition is not an implicit \"and\")", want, t.describe())
	}
	return errAt(t.col, "expected %s, got %s", want, t.describe())
}

// expr = term { ("or" | "||") term }
func (p *parser) expr() (int32, error) {
	l, err := p.term()
	if err != nil {
		return 0, err
	}
	for p.tok().kind == tOr {
		p.next()
		r, err := p.term()
		if err != nil {
			return 0, err
		}
		l = p.add(node{kind: nOr, l: l, r: r})
	}
	return l, nil
}

// term = factor { ("and" | "&&") factor }
func (p *parser) term() (int32, error) {
	l, err := p.factor()
	if err != nil {
		return 0, err
	}
	for p.tok().kind == tAnd {
		p.next()
		r, err := p.factor()
		if err != nil {
			return 0, err
		}
		l = p.add(node{kind: nAnd, l: l, r: r})
	}
	return l, nil
}

// factor = ("not" | "!") factor | "inner" factor | "(" expr ")" | primitive
func (p *parser) factor() (int32, error) {
	t := p.tok()
	nests := t.kind == tNot || t.kind == tLParen || t.kind == tWord && t.lower == "inner"
	if nests && p.depth == MaxDepth {
		return 0, errAt(t.col, "expression nested more than %d levels deep", MaxDepth)
	}
	switch t.kind {
	case tNot:
		p.next()
		p.depth++
		c, err := p.factor()
		p.depth--
		if err != nil {
			return 0, err
		}
		return p.add(node{kind: nNot, l: c}), nil
	case tLParen:
		p.next()
		p.depth++
		e, err := p.expr()
		p.depth--
		if err != nil {
			return 0, err
		}
		switch c := p.tok(); c.kind {
		case tRParen:
			p.next()
			return e, nil
		case tEOF:
			return 0, errAt(c.col, `missing ")" to close "(" at column %d`, t.col)
		default:
			return 0, p.afterFactor(c, `"and", "or" or ")"`)
		}
	case tWord:
		if t.lower == "inner" {
			if p.level == MaxInner {
				return 0, errAt(t.col, `"inner" nested more than %d levels deep`, MaxInner)
			}
			p.next()
			p.depth++
			p.level++
			c, err := p.factor()
			p.level--
			p.depth--
			if err != nil {
				return 0, err
			}
			return p.add(node{kind: nInner, l: c}), nil
		}
		pr, err := p.primitive()
		if err != nil {
			return 0, err
		}
		return p.add(node{kind: nPrim, prim: pr}), nil
	}
	return 0, errAt(t.col, "expected a primitive, got %s", t.describe())
}

func isWord(t *token, words ...string) bool {
	if t.kind != tWord {
		return false
	}
	for _, w := range words {
		if t.lower == w {
			return true
		}
	}
	return false
}

// primitive parses one primitive starting at the current (word) token.
func (p *parser) primitive() (prim, error) {
	t := p.next()
	if p.prims == MaxPrimitives {
		return prim{}, errAt(t.col, "more than %d primitives", MaxPrimitives)
	}
	p.prims++
	if pr, ok := simplePrims[t.lower]; ok {
		return pr, nil
	}
	if q, ok := l4Prims[t.lower]; ok {
		if isWord(p.tok(), "src", "dst", "sport", "dport", "port", "portrange") {
			return p.portPrim(q.proto, dirAny, t.lower)
		}
		return prim{kind: q.kind}, nil
	}
	switch t.lower {
	case "vlan":
		pr := prim{kind: pVLAN}
		if n := p.tok(); n.kind == tWord && n.text[0] >= '0' && n.text[0] <= '9' {
			v, err := p.number("a VLAN ID", "vlan", "VLAN ID", 4095)
			if err != nil {
				return prim{}, err
			}
			pr.hasArg, pr.lo = true, v
		}
		return pr, nil
	case "proto":
		v, err := p.number("a protocol number", "proto", "protocol", 255)
		return prim{kind: pProto, lo: v}, err
	case "icmp-type":
		v, err := p.number("an ICMP type", "icmp-type", "ICMP type", 255)
		return prim{kind: pICMPType, lo: v}, err
	case "vni":
		v, err := p.number("a VNI", "vni", "VNI", 1<<24-1)
		return prim{kind: pVNI, lo: v}, err
	case "gre-key":
		v, err := p.number("a GRE key", "gre-key", "GRE key", 1<<32-1)
		return prim{kind: pGREKey, lo: v}, err
	case "len":
		c := p.tok()
		if c.kind != tCmp {
			return prim{}, errAt(c.col, `expected a comparison (<, <=, ==, !=, >=, >) after "len", got %s`, c.describe())
		}
		p.next()
		v, err := p.number("a length", c.text, "length", 1<<32-1)
		return prim{kind: pLen, cmp: c.cmp, lo: v}, err
	case "src", "dst":
		dir := dirSrc
		if t.lower == "dst" {
			dir = dirDst
		}
		n := p.tok()
		switch {
		case isWord(n, "host", "net"):
			p.next()
			return p.addrPrim(n, dir)
		case isWord(n, "port", "portrange"):
			return p.portPrim(0, dir, t.lower)
		}
		return prim{}, errAt(n.col, `expected "host", "net", "port" or "portrange" after %q, got %s`, t.lower, n.describe())
	case "host", "net":
		return p.addrPrim(t, dirAny)
	case "port", "portrange", "sport", "dport":
		p.pos-- // portPrim reads the keyword itself
		return p.portPrim(0, dirAny, "")
	case "ether":
		return p.etherPrim()
	}
	if _, err := netip.ParseAddr(t.text); err == nil {
		return prim{}, errAt(t.col, `expected a primitive, got %s (did you mean "host %s"?)`, t.describe(), t.text)
	}
	if _, err := netip.ParsePrefix(t.text); err == nil {
		return prim{}, errAt(t.col, `expected a primitive, got %s (did you mean "net %s"?)`, t.describe(), t.text)
	}
	return prim{}, errAt(t.col, "unknown primitive %s", t.describe())
}

// portPrim parses [src|dst] port N, [src|dst] portrange LO-HI, sport N or
// dport N; proto is the protocol qualifier (0 for none) and dir a direction
// already read. after names the previous keyword for error messages.
func (p *parser) portPrim(proto uint8, dir direction, after string) (prim, error) {
	pr := prim{l4: proto, dir: dir}
	t := p.tok()
	if dir == dirAny && isWord(t, "src", "dst") {
		pr.dir = dirSrc
		if t.lower == "dst" {
			pr.dir = dirDst
		}
		after = t.lower
		p.next()
		t = p.tok()
	}
	switch {
	case isWord(t, "port"):
	case isWord(t, "portrange"):
	case pr.dir == dirAny && isWord(t, "sport", "dport"):
		pr.dir = dirSrc
		if t.lower == "dport" {
			pr.dir = dirDst
		}
	default:
		want := `"port" or "portrange"`
		if pr.dir == dirAny {
			want = `"port", "portrange", "sport" or "dport"`
		}
		return prim{}, errAt(t.col, "expected %s after %q, got %s", want, after, t.describe())
	}
	p.next()
	if t.lower == "portrange" {
		pr.kind = pPortRange
		n := p.tok()
		lo, hi, ok := strings.Cut(n.text, "-")
		var a, b uint64
		var ea, eb error
		if n.kind == tWord && ok {
			a, ea = parseNum(lo)
			b, eb = parseNum(hi)
		}
		if n.kind != tWord || !ok || ea != nil || eb != nil {
			return prim{}, errAt(n.col, `expected a port range LO-HI after "portrange", got %s`, n.describe())
		}
		if a > 65535 || b > 65535 {
			return prim{}, errAt(n.col, "port range %s out of range (0-65535)", n.text)
		}
		if a > b {
			return prim{}, errAt(n.col, "port range %s is empty (LO > HI)", n.text)
		}
		p.next()
		pr.lo, pr.hi = uint32(a), uint32(b)
		return pr, nil
	}
	pr.kind = pPort
	v, err := p.number("a port number", t.lower, "port", 65535)
	pr.lo, pr.hi = v, v
	return pr, err
}

// addrPrim parses the argument of host or net (t is that keyword).
func (p *parser) addrPrim(t *token, dir direction) (prim, error) {
	n := p.tok()
	if t.lower == "host" {
		a, err := netip.ParseAddr(n.text)
		if n.kind != tWord || err != nil {
			hint := ""
			if n.kind == tWord && strings.Contains(n.text, "/") {
				hint = ` (use "net" for a prefix)`
			} else if n.kind == tWord && n.text[0] > '9' && !strings.Contains(n.text, ":") {
				hint = " (host names are not resolved)"
			}
			return prim{}, errAt(n.col, `expected an IPv4 or IPv6 address after "host", got %s%s`, n.describe(), hint)
		}
		p.next()
		return prim{kind: pHost, dir: dir, pfx: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	pf, err := netip.ParsePrefix(n.text)
	if n.kind != tWord || err != nil {
		return prim{}, errAt(n.col, `expected a prefix ADDR/BITS after "net", got %s`, n.describe())
	}
	if m := pf.Masked(); m != pf {
		return prim{}, errAt(n.col, "prefix %s has bits set past /%d (did you mean %s?)", n.text, pf.Bits(), m)
	}
	p.next()
	return prim{kind: pNet, dir: dir, pfx: pf}, nil
}

// etherPrim parses what follows "ether": [src|dst|host] MAC, or src/dst
// followed by host MAC.
func (p *parser) etherPrim() (prim, error) {
	pr := prim{kind: pEther}
	after := "ether"
	t := p.tok()
	if isWord(t, "src", "dst") {
		pr.dir = dirSrc
		if t.lower == "dst" {
			pr.dir = dirDst
		}
		after = t.lower
		p.next()
		t = p.tok()
	}
	if isWord(t, "host") {
		after = "host"
		p.next()
		t = p.tok()
	}
	mac, ok := parseMAC(t.text)
	if t.kind != tWord || !ok {
		return prim{}, errAt(t.col, "expected a MAC address after %q, got %s", after, t.describe())
	}
	p.next()
	pr.mac = mac
	return pr, nil
}

// number reads an unsigned number token: what describes the expected
// argument, after the keyword before it, name the field for a range error.
func (p *parser) number(what, after, name string, max uint64) (uint32, error) {
	t := p.tok()
	if t.kind != tWord {
		return 0, errAt(t.col, "expected %s after %q, got %s", what, after, t.describe())
	}
	v, err := parseNum(t.text)
	if errors.Is(err, strconv.ErrRange) || err == nil && v > max {
		return 0, errAt(t.col, "%s %s out of range (0-%d)", name, t.text, max)
	}
	if err != nil {
		return 0, errAt(t.col, "expected %s after %q, got %s", what, after, t.describe())
	}
	p.next()
	return uint32(v), nil
}

// parseNum parses a decimal number or a 0x-prefixed hexadecimal one.
func parseNum(s string) (uint64, error) {
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s, base = s[2:], 16
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || base == 16 && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')) {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseUint(s, base, 64)
}

// parseMAC parses six hex octets separated by ':' or '-' (one separator
// throughout), each one or two digits.
func parseMAC(s string) (m packet.MAC, ok bool) {
	if len(s) < 11 {
		return m, false
	}
	sep := s[1]
	if s[2] == ':' || s[2] == '-' {
		sep = s[2]
	}
	if sep != ':' && sep != '-' {
		return m, false
	}
	parts := strings.Split(s, string(sep))
	if len(parts) != 6 {
		return m, false
	}
	for i, part := range parts {
		if len(part) < 1 || len(part) > 2 {
			return m, false
		}
		v, err := strconv.ParseUint(part, 16, 8)
		if err != nil {
			return m, false
		}
		m[i] = byte(v)
	}
	return m, true
}
