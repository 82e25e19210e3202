package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/ctswitch/ctswitch/conntrack"
)

// Config is a network's policy as written.
type Config struct {
	Rules   []Rule
	Default Action // for new connections no rule matches; the zero value allows
	Invalid InvalidMode
}

// Ports resolves port names to the indexes Check receives, at compile time,
// so the per-packet path compares integers.
type Ports interface {
	PortIndex(name string) (int, bool)
}

// PortMap is a Ports backed by a map (tests, tools, small setups).
type PortMap map[string]int

// PortIndex implements Ports.
func (m PortMap) PortIndex(name string) (int, bool) {
	i, ok := m[name]
	return i, ok
}

// Decision.Rule values besides a rule's index.
const (
	RuleDefault      = -1 // no rule matched: the default action decided
	RuleNotEvaluated = -2 // not a new connection: the rules were not consulted
)

// MaxRules bounds a Config so that a rule index fits Decision.Rule.
const MaxRules = math.MaxInt16

// DropReason names why the policy dropped a packet, for drop counters.
type DropReason uint8

const (
	None            DropReason = iota // not dropped
	DeniedByRule                      // a deny rule matched the new connection
	DeniedByDefault                   // no rule matched and the default denies
	Invalid                           // conntrack found the packet invalid

	numDropReasons
)

// NumDropReasons is the number of drop reasons, None included (for counter arrays).
const NumDropReasons = int(numDropReasons)

var dropReasonNames = [numDropReasons]string{
	None:            "none",
	DeniedByRule:    "policy_deny_rule",
	DeniedByDefault: "policy_deny_default",
	Invalid:         "ct_invalid",
}

// Name is the reason's stable counter name.
func (r DropReason) Name() string {
	if r < numDropReasons {
		return dropReasonNames[r]
	}
	return "drop_reason_" + strconv.Itoa(int(r))
}

func (r DropReason) String() string { return r.Name() }

// Decision is the policy's answer for one packet: a plain value, so the
// per-packet path never allocates.
type Decision struct {
	Allow  bool
	Rule   int16 // index of the matching rule, RuleDefault or RuleNotEvaluated
	Reason DropReason
}

// RuleCount is one counter of Policy.Counters.
type RuleCount struct {
	Rule int16  // the rule's index, RuleDefault, or RuleNotEvaluated for invalid_monitored
	Name string // the rule's name, "default" or "invalid_monitored"
	Hits uint64
}

// counter sits alone on its cache line: workers on different cores hitting
// neighbouring rules must not bounce one line between them.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// span locates a rule's prefixes or port ranges in the policy's shared
// arrays: rules stay small and contiguous, which keeps the scan in cache.
type span struct{ off, n uint32 }

// prefix is a netip.Prefix as two masked big-endian words, compared with
// the key's address bytes directly. IPv4 uses the top 32 bits of hi, where
// the key keeps its four bytes.
type prefix struct{ hi, lo, mhi, mlo uint64 }

// crule is a compiled rule. Unset constraints are encoded so the check
// is a cheap comparison that always passes (in/out -1, empty spans unused).
type crule struct {
	fam      uint8 // famV4|famV6|famOther: families the rule can match
	proto    uint8 // 0 = any
	allow    bool
	hasSrc   bool
	hasDst   bool
	hasType  bool
	icmpType uint16
	in, out  int32   // -1 = any
	src      [2]span // by family: [0] IPv4, [1] IPv6
	dst      [2]span
	sport    span
	dport    span
}

// Policy is a compiled Config. It is immutable: a reload compiles a new one
// and swaps a pointer. The only mutable state, the hit counters, is atomic.
type Policy struct {
	rules    []crule
	pfx      []prefix
	ranges   []PortRange
	defAllow bool
	monitor  bool
	cfg      Config   // normalized: rules named, ICMPType -1 when unset
	names    []string // rule names by index
	// hits: one per rule, then the default, then monitored invalid packets.
	hits []counter
}

// Compile checks cfg and resolves its port names. Errors name the rule by
// position and name.
func Compile(cfg Config, ports Ports) (*Policy, error) {
	if cfg.Default > Deny {
		return nil, fmt.Errorf("policy: invalid default action %d", uint8(cfg.Default))
	}
	if cfg.Invalid > InvalidMonitor {
		return nil, fmt.Errorf("policy: invalid invalid-packet mode %d", uint8(cfg.Invalid))
	}
	if len(cfg.Rules) > MaxRules {
		return nil, fmt.Errorf("policy: %d rules, at most %d", len(cfg.Rules), MaxRules)
	}
	p := &Policy{
		rules:    make([]crule, len(cfg.Rules)),
		names:    make([]string, len(cfg.Rules)),
		defAllow: cfg.Default == Allow,
		monitor:  cfg.Invalid == InvalidMonitor,
		hits:     make([]counter, len(cfg.Rules)+2),
		cfg:      Config{Default: cfg.Default, Invalid: cfg.Invalid, Rules: make([]Rule, len(cfg.Rules))},
	}
	byName := make(map[string]int, len(cfg.Rules))
	for i, r := range cfg.Rules {
		r = cloneRule(r)
		if r.Name == "" {
			r.Name = "rule-" + strconv.Itoa(i+1)
		}
		if !r.icmpTypeSet() {
			r.ICMPType = AnyICMPType
		}
		fail := func(err error) (*Policy, error) {
			return nil, &RuleError{Pos: i + 1, Name: r.Name, Err: err}
		}
		if err := r.validate(); err != nil {
			return fail(err)
		}
		// Names key the counters, so two rules may not share one, whether
		// given or defaulted.
		if j, dup := byName[r.Name]; dup {
			return fail(fmt.Errorf("name %q already used by rule %d", r.Name, j+1))
		}
		byName[r.Name] = i
		c, err := p.compileRule(&r, ports)
		if err != nil {
			return fail(err)
		}
		p.rules[i] = c
		p.names[i] = r.Name
		p.cfg.Rules[i] = r
	}
	return p, nil
}

func (p *Policy) compileRule(r *Rule, ports Ports) (crule, error) {
	c := crule{
		fam:     r.famOf(),
		proto:   r.Proto,
		allow:   r.Action == Allow,
		hasSrc:  len(r.Src) > 0,
		hasDst:  len(r.Dst) > 0,
		hasType: r.icmpTypeSet(),
		in:      -1,
		out:     -1,
	}
	if c.fam == 0 { // validate rules out every known way here; keep the guard
		return c, errors.New("the rule matches no address family")
	}
	if c.hasType {
		c.icmpType = uint16(r.ICMPType)
	}
	var err error
	if c.in, err = resolve(ports, "in", r.InPort); err != nil {
		return c, err
	}
	if c.out, err = resolve(ports, "out", r.OutPort); err != nil {
		return c, err
	}
	c.src = p.addPrefixes(r.Src)
	c.dst = p.addPrefixes(r.Dst)
	c.sport = p.addRanges(r.SrcPorts)
	c.dport = p.addRanges(r.DstPorts)
	return c, nil
}

func resolve(ports Ports, what, name string) (int32, error) {
	if name == "" {
		return -1, nil
	}
	if ports == nil {
		return 0, fmt.Errorf("unknown %s port %q (no ports configured)", what, name)
	}
	i, ok := ports.PortIndex(name)
	if !ok {
		return 0, fmt.Errorf("unknown %s port %q", what, name)
	}
	if i < 0 || i > math.MaxInt32 {
		return 0, fmt.Errorf("%s port %q has index %d, want 0-%d", what, name, i, math.MaxInt32)
	}
	return int32(i), nil
}

func (p *Policy) addPrefixes(ps []netip.Prefix) [2]span {
	var s [2]span
	for fi, want := range [2]uint8{famV4, famV6} {
		s[fi].off = uint32(len(p.pfx))
		for _, pf := range ps {
			if prefixFam(pf) != want {
				continue
			}
			p.pfx = append(p.pfx, compilePrefix(pf))
			s[fi].n++
		}
	}
	return s
}

func compilePrefix(pf netip.Prefix) prefix {
	var b [16]byte
	if pf.Addr().Is4() {
		a := pf.Addr().As4()
		copy(b[:], a[:])
	} else {
		b = pf.Addr().As16()
	}
	mhi, mlo := maskWords(pf.Bits())
	return prefix{
		hi:  binary.BigEndian.Uint64(b[:8]) & mhi,
		lo:  binary.BigEndian.Uint64(b[8:]) & mlo,
		mhi: mhi,
		mlo: mlo,
	}
}

// maskWords is the mask of a prefix length as two big-endian words (for
// IPv4 the length counts from the top of hi, as the address does).
func maskWords(bits int) (hi, lo uint64) {
	switch {
	case bits <= 0:
		return 0, 0
	case bits < 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 64:
		return ^uint64(0), 0
	case bits < 128:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
	return ^uint64(0), ^uint64(0)
}

func (p *Policy) addRanges(rs []PortRange) span {
	s := span{off: uint32(len(p.ranges)), n: uint32(len(rs))}
	p.ranges = append(p.ranges, rs...)
	return s
}

func cloneRule(r Rule) Rule {
	r.Src = slices.Clone(r.Src)
	r.Dst = slices.Clone(r.Dst)
	r.SrcPorts = slices.Clone(r.SrcPorts)
	r.DstPorts = slices.Clone(r.DstPorts)
	return r
}

// Check decides one packet, given conntrack's verdict on it, whether it
// travels in the connection's reply direction, its tuple as the tracker
// reports it (for a new connection: the original direction), the port it
// entered on and the port the MAC lookup chose (negative: flooded or
// unknown). Safe for concurrent use; it does not allocate.
//
// A nil Policy allows every new connection and drops invalid packets.
func (p *Policy) Check(v conntrack.Verdict, reply bool, k *conntrack.Key, inPort, outPort int) Decision {
	switch v {
	case conntrack.VerdictNew:
		if p == nil {
			return Decision{Allow: true, Rule: RuleDefault}
		}
		if k == nil { // no tuple: no rule can match
			return p.byDefault()
		}
		if reply {
			// The tracker reports NEW only in the original direction. Were
			// that ever not so, judge the connection as its initiator
			// opened it rather than with source and destination swapped.
			rk := k.Reverse()
			return p.evaluate(&rk, outPort, inPort)
		}
		return p.evaluate(k, inPort, outPort)
	case conntrack.VerdictEstablished, conntrack.VerdictRelated, conntrack.VerdictIgnored,
		conntrack.VerdictUntracked, conntrack.VerdictPending:
		// Pending fragments are released with their datagram's verdict,
		// which is checked then.
		return Decision{Allow: true, Rule: RuleNotEvaluated}
	case conntrack.VerdictInvalid:
		if p != nil && p.monitor {
			p.hits[len(p.rules)+1].n.Add(1)
			return Decision{Allow: true, Rule: RuleNotEvaluated}
		}
	}
	// Invalid, or a verdict this package does not know (a zero Result):
	// fail closed. Monitor mode covers only what the tracker called invalid.
	return Decision{Rule: RuleNotEvaluated, Reason: Invalid}
}

func (p *Policy) byDefault() Decision {
	p.hits[len(p.rules)].n.Add(1)
	if p.defAllow {
		return Decision{Allow: true, Rule: RuleDefault}
	}
	return Decision{Rule: RuleDefault, Reason: DeniedByDefault}
}

// evaluate scans the rules in order. The key's addresses are loaded as
// words once; each rule then costs a few compares, family first.
func (p *Policy) evaluate(k *conntrack.Key, inPort, outPort int) Decision {
	fb := famBit(k.Family)
	fi := 0
	if fb == famV6 {
		fi = 1
	}
	sHi, sLo := binary.BigEndian.Uint64(k.Src[:8]), binary.BigEndian.Uint64(k.Src[8:])
	dHi, dLo := binary.BigEndian.Uint64(k.Dst[:8]), binary.BigEndian.Uint64(k.Dst[8:])
	for i := range p.rules {
		r := &p.rules[i]
		if r.fam&fb == 0 ||
			(r.proto != 0 && r.proto != k.Proto) ||
			(r.in >= 0 && int(r.in) != inPort) ||
			(r.out >= 0 && int(r.out) != outPort) || // flooded (negative) never equals a port
			(r.hasType && r.icmpType != k.DstPort) ||
			(r.hasSrc && !p.inPrefixes(r.src[fi], sHi, sLo)) ||
			(r.hasDst && !p.inPrefixes(r.dst[fi], dHi, dLo)) ||
			(r.sport.n > 0 && !p.inRanges(r.sport, k.SrcPort)) ||
			(r.dport.n > 0 && !p.inRanges(r.dport, k.DstPort)) {
			continue
		}
		p.hits[i].n.Add(1)
		if r.allow {
			return Decision{Allow: true, Rule: int16(i)}
		}
		return Decision{Rule: int16(i), Reason: DeniedByRule}
	}
	return p.byDefault()
}

func (p *Policy) inPrefixes(s span, hi, lo uint64) bool {
	for _, x := range p.pfx[s.off : s.off+s.n] {
		if hi&x.mhi == x.hi && lo&x.mlo == x.lo {
			return true
		}
	}
	return false
}

func (p *Policy) inRanges(s span, port uint16) bool {
	for _, r := range p.ranges[s.off : s.off+s.n] {
		if port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

// Rules returns a copy of the compiled rules, named and normalized
// (ICMPType is AnyICMPType unless set).
func (p *Policy) Rules() []Rule {
	if p == nil {
		return nil
	}
	out := make([]Rule, len(p.cfg.Rules))
	for i, r := range p.cfg.Rules {
		out[i] = cloneRule(r)
	}
	return out
}

// Config returns a copy of the normalized configuration the policy was
// compiled from: compiling it again gives an equivalent policy.
func (p *Policy) Config() Config {
	if p == nil {
		return Config{}
	}
	return Config{Rules: p.Rules(), Default: p.cfg.Default, Invalid: p.cfg.Invalid}
}

// RuleName names Decision.Rule: the rule's name, "default" for
// RuleDefault, "" for RuleNotEvaluated or an index out of range.
func (p *Policy) RuleName(i int) string {
	switch {
	case i == RuleDefault:
		return "default"
	case p == nil || i < 0 || i >= len(p.names):
		return ""
	}
	return p.names[i]
}

// Counters returns the hits of every rule in order, then of the default,
// then the invalid packets passed in monitor mode ("invalid_monitored").
// Each value is read atomically; the set is not one snapshot.
func (p *Policy) Counters() []RuleCount {
	if p == nil {
		return nil
	}
	n := len(p.rules)
	out := make([]RuleCount, 0, n+2)
	for i := range n {
		out = append(out, RuleCount{Rule: int16(i), Name: p.names[i], Hits: p.hits[i].n.Load()})
	}
	out = append(out,
		RuleCount{Rule: RuleDefault, Name: "default", Hits: p.hits[n].n.Load()},
		RuleCount{Rule: RuleNotEvaluated, Name: "invalid_monitored", Hits: p.hits[n+1].n.Load()})
	return out
}

// InvalidMonitored is the number of invalid packets passed in monitor mode.
func (p *Policy) InvalidMonitored() uint64 {
	if p == nil {
		return 0
	}
	return p.hits[len(p.rules)+1].n.Load()
}
