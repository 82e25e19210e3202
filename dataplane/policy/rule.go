package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Action is what a rule (or the default) does with a new connection.
type Action uint8

const (
	Allow Action = iota // the zero value: an empty Config allows everything
	Deny
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// ParseAction reads "allow" or "deny" (case-insensitive).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(s) {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	}
	return 0, fmt.Errorf("unknown action %q (want allow or deny)", s)
}

// MarshalText lets config files hold actions as words.
func (a Action) MarshalText() ([]byte, error) {
	if a > Deny {
		return nil, fmt.Errorf("policy: invalid action %d", uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	*a = v
	return nil
}

// InvalidMode says what happens to packets conntrack found invalid.
type InvalidMode uint8

const (
	InvalidDrop    InvalidMode = iota // drop them (the default)
	InvalidMonitor                    // pass them, counted: for bringing up a network whose traffic the tracker may misjudge
)

func (m InvalidMode) String() string {
	switch m {
	case InvalidDrop:
		return "drop"
	case InvalidMonitor:
		return "monitor"
	}
	return "invalid-mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseInvalidMode reads "drop" or "monitor" (case-insensitive).
func ParseInvalidMode(s string) (InvalidMode, error) {
	switch strings.ToLower(s) {
	case "drop":
		return InvalidDrop, nil
	case "monitor":
		return InvalidMonitor, nil
	}
	return 0, fmt.Errorf("unknown invalid mode %q (want drop or monitor)", s)
}

// MarshalText lets config files hold the mode as a word.
func (m InvalidMode) MarshalText() ([]byte, error) {
	if m > InvalidMonitor {
		return nil, fmt.Errorf("policy: invalid mode %d", uint8(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText is the inverse of MarshalText.
func (m *InvalidMode) UnmarshalText(b []byte) error {
	v, err := ParseInvalidMode(string(b))
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	*m = v
	return nil
}

// PortRange is an inclusive range of L4 ports; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

// AnyICMPType is Rule.ICMPType's "any".
const AnyICMPType = -1

// Rule is one constraint set on new connections. Zero-valued fields match
// anything, so a Rule literal only names what it restricts.
type Rule struct {
	Name    string // optional; Compile names unnamed rules "rule-N" (1-based position)
	Action  Action
	InPort  string // "" = any: the port the connection's first packet entered on
	OutPort string // "" = any: the port the MAC lookup chose; a flooded packet never matches a rule with OutPort set
	Proto   uint8  // 0 = any
	Family  uint8  // 0 = any, 4 or 6; also implied per address by Src and Dst
	// Src and Dst are the original direction's addresses: Src is the
	// connection's initiator. Empty = any; v4 and v6 prefixes may mix.
	Src, Dst []netip.Prefix
	// SrcPorts and DstPorts: empty = any; only with proto tcp, udp or sctp.
	SrcPorts, DstPorts []PortRange
	// ICMPType matches an ICMP query's type (Key.DstPort) with proto icmp or
	// icmpv6; AnyICMPType (-1) = any. For other protocols 0 also means any,
	// so that Rule literals need not set it; for ICMP, 0 is an error (echo
	// reply never opens a connection) rather than a silent "any".
	ICMPType int
}

// IP protocol numbers the rules name.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoGRE    = 47
	protoICMPv6 = 58
	protoSCTP   = 132
)

var protoNames = []struct {
	name  string
	proto uint8
}{
	{"tcp", protoTCP}, {"udp", protoUDP}, {"icmp", protoICMP}, {"icmpv6", protoICMPv6},
	{"icmp6", protoICMPv6}, {"sctp", protoSCTP}, {"gre", protoGRE},
}

func protoString(p uint8) string {
	for _, n := range protoNames {
		if n.proto == p {
			return n.name // the first name is the canonical one
		}
	}
	return strconv.Itoa(int(p))
}

func hasPorts(p uint8) bool { return p == protoTCP || p == protoUDP || p == protoSCTP }
func isICMP(p uint8) bool   { return p == protoICMP || p == protoICMPv6 }

// icmpTypeSet reports whether the rule constrains the ICMP type; see the
// ICMPType field for why 0 counts only on ICMP rules.
func (r *Rule) icmpTypeSet() bool {
	return r.ICMPType > 0 || r.ICMPType < AnyICMPType || (r.ICMPType == 0 && isICMP(r.Proto))
}

// String renders the rule in the canonical form ParseRule reads back: the
// action, then the keys in a fixed order, each only when set.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Action.String())
	kv := func(k, v string) {
		b.WriteByte(' ')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	if r.Name != "" {
		kv("name", r.Name)
	}
	if r.InPort != "" {
		kv("in", r.InPort)
	}
	if r.OutPort != "" {
		kv("out", r.OutPort)
	}
	if r.Proto != 0 {
		kv("proto", protoString(r.Proto))
	}
	if r.Family != 0 {
		kv("family", strconv.Itoa(int(r.Family)))
	}
	prefixes := func(k string, ps []netip.Prefix) {
		if len(ps) == 0 {
			return
		}
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		kv(k, strings.Join(s, ","))
	}
	prefixes("src", r.Src)
	prefixes("dst", r.Dst)
	ports := func(k string, rs []PortRange) {
		if len(rs) == 0 {
			return
		}
		s := make([]string, len(rs))
		for i, pr := range rs {
			s[i] = strconv.Itoa(int(pr.Lo))
			if pr.Hi != pr.Lo {
				s[i] += "-" + strconv.Itoa(int(pr.Hi))
			}
		}
		kv(k, strings.Join(s, ","))
	}
	ports("sport", r.SrcPorts)
	ports("dport", r.DstPorts)
	if r.icmpTypeSet() {
		kv("type", strconv.Itoa(r.ICMPType))
	}
	return b.String()
}

// MarshalText is String, so config files can hold rules as text.
func (r Rule) MarshalText() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, &RuleError{Text: r.String(), Err: err}
	}
	return []byte(r.String()), nil
}

// UnmarshalText is ParseRule.
func (r *Rule) UnmarshalText(b []byte) error {
	v, err := ParseRule(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// RuleError is a rule that did not parse or compile. Pos is the rule's
// 1-based position in a Config (0 from ParseRule, which names the text).
type RuleError struct {
	Pos  int
	Name string // the rule's name, given or default (Compile)
	Text string // the rule's text (ParseRule)
	Err  error
}

func (e *RuleError) Error() string {
	if e.Pos > 0 {
		return fmt.Sprintf("policy: rule %d %q: %v", e.Pos, e.Name, e.Err)
	}
	return fmt.Sprintf("policy: rule %q: %v", e.Text, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

const knownKeys = "name, in, out, proto, family, src, dst, sport, dport, type"

// ParseRule reads one rule: ACTION [key=value ...]; see the package doc.
func ParseRule(s string) (Rule, error) {
	r, err := parseRule(s)
	if err != nil {
		return Rule{}, &RuleError{Text: s, Err: err}
	}
	return r, nil
}

func parseRule(s string) (Rule, error) {
	r := Rule{ICMPType: AnyICMPType}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return r, errors.New("missing action (want allow or deny)")
	}
	if strings.Contains(fields[0], "=") {
		return r, fmt.Errorf("missing action before %q (want allow or deny)", fields[0])
	}
	a, err := ParseAction(fields[0])
	if err != nil {
		return r, err
	}
	r.Action = a
	seen := map[string]string{} // canonical key -> the spelling first used
	typeGiven := false
	for _, tok := range fields[1:] {
		k, v, ok := strings.Cut(tok, "=")
		switch {
		case !ok:
			return r, fmt.Errorf("token %q is not key=value", tok)
		case k == "":
			return r, fmt.Errorf("token %q has no key", tok)
		}
		key := strings.ToLower(k)
		if key == "icmp-type" {
			key = "type"
		}
		switch key {
		case "name", "in", "out", "proto", "family", "src", "dst", "sport", "dport", "type":
		default:
			return r, fmt.Errorf("unknown key %q (known: %s)", k, knownKeys)
		}
		if first, dup := seen[key]; dup {
			if first != k {
				return r, fmt.Errorf("duplicate key %q (%q already given)", k, first)
			}
			return r, fmt.Errorf("duplicate key %q", k)
		}
		seen[key] = k
		if v == "" {
			return r, fmt.Errorf("key %q has an empty value", k)
		}
		switch key {
		case "name":
			err = checkName("name", v)
			r.Name = v
		case "in":
			err = checkName("in", v)
			r.InPort = v
		case "out":
			err = checkName("out", v)
			r.OutPort = v
		case "proto":
			r.Proto, err = parseProto(v)
		case "family":
			r.Family, err = parseFamily(v)
		case "src":
			r.Src, err = parsePrefixes(k, v)
		case "dst":
			r.Dst, err = parsePrefixes(k, v)
		case "sport":
			r.SrcPorts, err = parsePorts(k, v)
		case "dport":
			r.DstPorts, err = parsePorts(k, v)
		case "type":
			typeGiven = true
			n, perr := strconv.ParseUint(v, 10, 8)
			if perr != nil {
				err = fmt.Errorf("%s %q: want a number 0-255", k, v)
			}
			r.ICMPType = int(n)
		}
		if err != nil {
			return r, err
		}
	}
	// validate reads ICMPType 0 on a non-ICMP rule as "unset"; text that
	// says type= explicitly must still name an ICMP protocol.
	if typeGiven && !isICMP(r.Proto) {
		return r, fmt.Errorf("type=%d needs proto icmp or icmpv6", r.ICMPType)
	}
	return r, r.validate()
}

// checkName keeps names and port names to printable ASCII without the
// characters the rule syntax uses (or may use for lists), so every valid
// rule prints and reparses unchanged.
func checkName(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, c := range v { // invalid UTF-8 reads as U+FFFD, refused too
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("=,\"'`#\\", c) {
			return fmt.Errorf("%s %q: character %q not allowed (printable ASCII without spaces, quotes, '=', ',', '#', '\\')", what, v, c)
		}
	}
	return nil
}

func parseProto(v string) (uint8, error) {
	lv := strings.ToLower(v)
	for _, n := range protoNames {
		if n.name == lv {
			return n.proto, nil
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		if isDigits(v) {
			return 0, fmt.Errorf("proto %q: number outside 0-255", v)
		}
		return 0, fmt.Errorf("proto %q: unknown protocol (want tcp, udp, icmp, icmpv6, sctp, gre or a number 0-255)", v)
	}
	if n > 255 {
		return 0, fmt.Errorf("proto %q: number outside 0-255", v)
	}
	return uint8(n), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func parseFamily(v string) (uint8, error) {
	switch strings.ToLower(v) {
	case "4", "ipv4":
		return 4, nil
	case "6", "ipv6":
		return 6, nil
	}
	return 0, fmt.Errorf("family %q: want 4, 6, ipv4 or ipv6", v)
}

func parsePrefixes(k, v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range strings.Split(v, ",") {
		if e == "" {
			return nil, fmt.Errorf("%s %q: empty list element", k, v)
		}
		p, err := parsePrefix(e)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", k, e, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix reads ADDR/LEN or a bare ADDR (a host prefix). It parses the
// length itself for a clearer message than netip's; validate checks the
// rest (host bits, mapped addresses).
func parsePrefix(e string) (netip.Prefix, error) {
	as, ls, hasLen := strings.Cut(e, "/")
	a, err := netip.ParseAddr(as)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address: %w", err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zoned address not allowed")
	}
	bits := a.BitLen()
	if hasLen {
		n, err := strconv.ParseUint(ls, 10, 8)
		if !isDigits(ls) || err != nil || int(n) > a.BitLen() {
			return netip.Prefix{}, fmt.Errorf("bad prefix length %q (want 0-%d)", ls, a.BitLen())
		}
		bits = int(n)
	}
	return netip.PrefixFrom(a, bits), nil
}

func parsePorts(k, v string) ([]PortRange, error) {
	var out []PortRange
	for _, e := range strings.Split(v, ",") {
		if e == "" {
			return nil, fmt.Errorf("%s %q: empty list element", k, v)
		}
		los, his, isRange := strings.Cut(e, "-")
		lo, err := parsePort(los)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", k, e, err)
		}
		hi := lo
		if isRange {
			if hi, err = parsePort(his); err != nil {
				return nil, fmt.Errorf("%s %q: %w", k, e, err)
			}
			if lo > hi {
				return nil, fmt.Errorf("%s %q: range %d-%d has lo > hi", k, e, lo, hi)
			}
		}
		out = append(out, PortRange{lo, hi})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	if !isDigits(s) {
		return 0, fmt.Errorf("bad port %q (want a number 0-65535)", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s outside 0-65535", s)
	}
	return uint16(n), nil
}

// Family bits: a rule keeps the set of address families it can match, so
// Check rejects most rules with one AND before looking at anything else.
const (
	famV4    uint8 = 1
	famV6    uint8 = 2
	famOther uint8 = 4 // a key with neither family: only address-free rules match it
	famAll         = famV4 | famV6 | famOther
)

func famBit(f uint8) uint8 {
	switch f {
	case 4:
		return famV4
	case 6:
		return famV6
	}
	return famOther
}

func famName(b uint8) string {
	if b == famV4 {
		return "IPv4"
	}
	return "IPv6"
}

func prefixFam(p netip.Prefix) uint8 {
	if p.Addr().Is4() {
		return famV4
	}
	return famV6
}

func prefixesFam(ps []netip.Prefix) uint8 {
	var f uint8
	for _, p := range ps {
		f |= prefixFam(p)
	}
	return f
}

// icmpQueries are the types that open an ICMP connection (conntrack's query
// classes); a NEW ICMP key always carries one of them in DstPort.
var icmpQueries = map[uint8]struct {
	types []int
	text  string
}{
	protoICMP:   {[]int{8, 13, 15, 17}, "8 echo, 13 timestamp, 15 information, 17 address mask"},
	protoICMPv6: {[]int{128, 139}, "128 echo, 139 node information"},
}

// famOf is the set of families the rule can match.
func (r *Rule) famOf() uint8 {
	f := famAll
	switch r.Family {
	case 4:
		f = famV4
	case 6:
		f = famV6
	}
	switch r.Proto {
	case protoICMP:
		f &= famV4
	case protoICMPv6:
		f &= famV6
	}
	if len(r.Src) > 0 {
		f &= prefixesFam(r.Src)
	}
	if len(r.Dst) > 0 {
		f &= prefixesFam(r.Dst)
	}
	return f
}

// validate checks what both ParseRule and Compile require: values in range
// and no combination that can never match.
func (r *Rule) validate() error {
	if r.Action > Deny {
		return fmt.Errorf("invalid action %d", uint8(r.Action))
	}
	if r.Name != "" {
		if err := checkName("name", r.Name); err != nil {
			return err
		}
		if r.Name == "default" {
			return errors.New(`name "default" is reserved for the default action`)
		}
	}
	if r.InPort != "" {
		if err := checkName("in", r.InPort); err != nil {
			return err
		}
	}
	if r.OutPort != "" {
		if err := checkName("out", r.OutPort); err != nil {
			return err
		}
	}
	if r.Family != 0 && r.Family != 4 && r.Family != 6 {
		return fmt.Errorf("family %d: want 0 (any), 4 or 6", r.Family)
	}
	// The protocol's own family: icmp is IPv4's, icmpv6 IPv6's.
	var protoFam uint8
	switch r.Proto {
	case protoICMP:
		protoFam = famV4
	case protoICMPv6:
		protoFam = famV6
	}
	if protoFam != 0 && r.Family != 0 && famBit(r.Family) != protoFam {
		return fmt.Errorf("family %d conflicts with proto %s (%s only)", r.Family, protoString(r.Proto), famName(protoFam))
	}
	for _, f := range []struct {
		key string
		ps  []netip.Prefix
	}{{"src", r.Src}, {"dst", r.Dst}} {
		for _, p := range f.ps {
			if err := checkPrefix(p); err != nil {
				return fmt.Errorf("%s %q: %w", f.key, p.String(), err)
			}
			if r.Family != 0 && prefixFam(p) != famBit(r.Family) {
				return fmt.Errorf("family %d conflicts with %s %s", r.Family, f.key, p)
			}
			if protoFam != 0 && prefixFam(p) != protoFam {
				return fmt.Errorf("proto %s is %s only but %s has %s", protoString(r.Proto), famName(protoFam), f.key, p)
			}
		}
	}
	if len(r.Src) > 0 && len(r.Dst) > 0 && prefixesFam(r.Src)&prefixesFam(r.Dst) == 0 {
		return fmt.Errorf("src is %s only and dst %s only: the rule never matches",
			famName(prefixesFam(r.Src)), famName(prefixesFam(r.Dst)))
	}
	for _, f := range []struct {
		key string
		rs  []PortRange
	}{{"sport", r.SrcPorts}, {"dport", r.DstPorts}} {
		if len(f.rs) == 0 {
			continue
		}
		if !hasPorts(r.Proto) {
			proto := "any"
			if r.Proto != 0 {
				proto = protoString(r.Proto)
			}
			return fmt.Errorf("%s needs proto tcp, udp or sctp (proto is %s)", f.key, proto)
		}
		for _, pr := range f.rs {
			if pr.Lo > pr.Hi {
				return fmt.Errorf("%s range %d-%d has lo > hi", f.key, pr.Lo, pr.Hi)
			}
		}
	}
	if r.icmpTypeSet() {
		if !isICMP(r.Proto) {
			return fmt.Errorf("type=%d needs proto icmp or icmpv6", r.ICMPType)
		}
		if r.ICMPType < 0 || r.ICMPType > 255 {
			return fmt.Errorf("type %d outside 0-255 (%d = any)", r.ICMPType, AnyICMPType)
		}
		q := icmpQueries[r.Proto]
		ok := false
		for _, t := range q.types {
			ok = ok || t == r.ICMPType
		}
		if !ok {
			return fmt.Errorf("type %d never opens an %s connection (query types: %s; replies and errors follow their connection)",
				r.ICMPType, protoString(r.Proto), q.text)
		}
	}
	return nil
}

// checkPrefix refuses prefixes that would not mean what they say.
func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("invalid prefix")
	case p.Addr().Zone() != "":
		return errors.New("zoned address not allowed")
	case p.Addr().Is4In6():
		// A v4 packet's key has family 4, so a mapped prefix never matches it.
		hint := "an IPv4 prefix"
		if p.Bits() >= 96 {
			hint = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked().String()
		}
		return fmt.Errorf("IPv4-mapped prefix never matches IPv4 packets (write %s)", hint)
	case p.Masked() != p:
		return fmt.Errorf("host bits set (the network is %s)", p.Masked())
	}
	return nil
}
