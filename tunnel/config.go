package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ctswitch/ctswitch/packet"
)

// Kind is the encapsulation an endpoint speaks.
type Kind uint8

const (
	// GRETap is GRE carrying Ethernet frames (protocol 0x6558, Linux
	// "gretap"): the inner L2 header is payload and counts as overhead.
	GRETap Kind = iota + 1
	// GREIP is GRE carrying the inner IP packet with its EtherType as the
	// GRE protocol (Linux "gre"): the inner L2 header is stripped.
	GREIP
	// Geneve is RFC 8926 over UDP carrying Ethernet frames.
	Geneve

	numKinds
)

var kindNames = [numKinds]string{GRETap: "gretap", GREIP: "gre", Geneve: "geneve"}

func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// IsGRE reports whether k is one of the GRE kinds.
func (k Kind) IsGRE() bool { return k == GRETap || k == GREIP }

// ParseKind is the inverse of Kind.String ("gretap", "gre", "geneve").
func ParseKind(s string) (Kind, error) {
	for k := GRETap; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown tunnel kind %q (want gretap, gre or geneve)", s)
}

// DFPolicy says how the outer IPv4 DF bit is set. It has no effect on an
// IPv6 underlay, which has no DF bit (IPv6 routers never fragment).
type DFPolicy uint8

const (
	// DFSet: outer DF=1 always, so the path MTU can be discovered
	// (Linux pmtudisc, OVS df_default=true, RFC 8926 4.1.1).
	DFSet DFPolicy = iota
	// DFInherit: outer DF = inner IPv4 DF; 1 for inner IPv6 (which may
	// never be fragmented in transit either); 0 for non-IP inner frames.
	DFInherit
	// DFUnset: outer DF=0: routers may fragment the outer packet and the
	// peer must reassemble it (Linux nopmtudisc ignore-df).
	DFUnset

	numDFPolicies
)

var dfNames = [numDFPolicies]string{DFSet: "set", DFInherit: "inherit", DFUnset: "unset"}

func (p DFPolicy) String() string {
	if p < numDFPolicies {
		return dfNames[p]
	}
	return fmt.Sprintf("df(%d)", uint8(p))
}

// ParseDFPolicy is the inverse of DFPolicy.String ("set", "inherit", "unset").
func ParseDFPolicy(s string) (DFPolicy, error) {
	for p := DFSet; p < numDFPolicies; p++ {
		if dfNames[p] == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown df policy %q (want set, inherit or unset)", s)
}

// ChecksumMode is a tri-state so that the zero value can mean "the
// protocol's usual default" rather than "off".
type ChecksumMode uint8

const (
	// ChecksumDefault: GRE without checksum; Geneve with a UDP checksum over
	// an IPv6 underlay and without one over IPv4 (what OVS and Linux do:
	// IPv6 makes the UDP checksum mandatory except for tunnels, RFC 6935).
	ChecksumDefault ChecksumMode = iota
	ChecksumOn
	ChecksumOff

	numChecksumModes
)

var csumNames = [numChecksumModes]string{ChecksumDefault: "default", ChecksumOn: "on", ChecksumOff: "off"}

func (m ChecksumMode) String() string {
	if m < numChecksumModes {
		return csumNames[m]
	}
	return fmt.Sprintf("checksum(%d)", uint8(m))
}

// GeneveOption is one option TLV an endpoint sends. Its (Class, Type) is
// also an option the endpoint understands on receive, which matters for
// critical options (Type&0x80): a received critical option that no
// configured option matches makes the packet be dropped (RFC 8926 3.5).
type GeneveOption struct {
	Class uint16
	Type  uint8
	Data  []byte // a multiple of 4 bytes, at most 124
}

// Critical reports the critical bit of the option type.
func (o GeneveOption) Critical() bool { return o.Type&0x80 != 0 }

// Defaults applied by NewEndpoint to zero fields.
const (
	DefaultGenevePort = 6081
	DefaultSrcPortMin = 32768 // the OVS egress port range
	DefaultSrcPortMax = 61000
	DefaultTTL        = 64

	// MaxGeneveOptionData is the largest option data (5-bit length in
	// 4-byte units).
	MaxGeneveOptionData = 124
)

// Config describes one remote endpoint of a virtual network.
type Config struct {
	Name          string
	Kind          Kind
	Local, Remote netip.Addr // the underlay addresses: both IPv4 or both IPv6

	// GRE only.
	Key *uint32 // RFC 2890 key; nil: no key
	Seq bool    // send sequence numbers (from 0) and require them in order on receive

	// Checksum: GRE checksum (RFC 2784) or Geneve UDP checksum; see
	// ChecksumDefault. A received checksum is always verified, whatever the
	// mode: the mode only says what we send.
	Checksum ChecksumMode

	// Geneve only.
	VNI                    uint32         // 24 bits
	Options                []GeneveOption // sent on every packet; also the options understood on receive
	DstPort                uint16         // default 6081
	SrcPortMin, SrcPortMax uint16         // outer UDP source port range (default 32768..61000)

	TTL uint8 // outer TTL / hop limit, default 64
	DF  DFPolicy
}

// Validate reports the first problem with c, naming the endpoint.
// Zero fields that have defaults are fine.
func (c *Config) Validate() error {
	name := c.Name
	if name == "" {
		return errors.New("endpoint: name is empty")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("endpoint %s: %s", name, fmt.Sprintf(format, a...))
	}
	if c.Kind == 0 || c.Kind >= numKinds {
		return fail("kind %d: want gretap, gre or geneve", c.Kind)
	}
	for _, a := range []struct {
		what string
		ip   netip.Addr
	}{{"local", c.Local}, {"remote", c.Remote}} {
		switch {
		case !a.ip.IsValid():
			return fail("%s address is not set", a.what)
		case a.ip.Is4In6():
			return fail("%s address %s is IPv4-mapped: write it as IPv4", a.what, a.ip)
		case a.ip.Zone() != "":
			return fail("%s address %s has a zone: underlay addresses must be global", a.what, a.ip)
		case a.ip.IsUnspecified(), a.ip.IsMulticast(), a.ip.IsLoopback():
			return fail("%s address %s is not a unicast host address", a.what, a.ip)
		case a.ip.Is4() && a.ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return fail("%s address %s is not a unicast host address", a.what, a.ip)
		}
	}
	if c.Local.Is4() != c.Remote.Is4() {
		return fail("local %s and remote %s are of different IP families", c.Local, c.Remote)
	}
	if c.Local == c.Remote {
		return fail("local and remote are the same address %s", c.Local)
	}
	if c.Checksum >= numChecksumModes {
		return fail("checksum mode %d: want default, on or off", c.Checksum)
	}
	if c.DF >= numDFPolicies {
		return fail("df policy %d: want set, inherit or unset", c.DF)
	}
	if c.DF != DFSet && c.Local.Is6() {
		return fail("df %s applies to an IPv4 underlay; %s is IPv6 (which has no DF bit)", c.DF, c.Local)
	}
	if c.Kind.IsGRE() {
		switch {
		case c.VNI != 0:
			return fail("vni is a geneve setting; %s uses key", c.Kind)
		case len(c.Options) != 0:
			return fail("geneve options set on a %s endpoint", c.Kind)
		case c.DstPort != 0 || c.SrcPortMin != 0 || c.SrcPortMax != 0:
			return fail("udp ports set on a %s endpoint (GRE has no ports)", c.Kind)
		}
		return nil
	}
	// Geneve.
	if c.Key != nil {
		return fail("key is a GRE setting; geneve uses vni")
	}
	if c.Seq {
		return fail("sequence numbers are a GRE feature")
	}
	if c.VNI >= 1<<24 {
		return fail("vni %d does not fit in 24 bits (max %d)", c.VNI, 1<<24-1)
	}
	total := 0
	for i, o := range c.Options {
		if n := len(o.Data); n%4 != 0 || n > MaxGeneveOptionData {
			return fail("geneve option %d (class 0x%04x type 0x%02x): data of %d bytes: must be a multiple of 4, at most %d",
				i, o.Class, o.Type, n, MaxGeneveOptionData)
		}
		total += packet.GeneveOptionHeaderLen + len(o.Data)
	}
	if total > packet.GeneveMaxOptionsLen {
		return fail("geneve options take %d bytes: at most %d fit the 6-bit length", total, packet.GeneveMaxOptionsLen)
	}
	if c.SrcPortMin == 0 && c.SrcPortMax != 0 && c.SrcPortMax < DefaultSrcPortMin {
		return fail("source port max %d is below the default min %d: set the min too", c.SrcPortMax, DefaultSrcPortMin)
	}
	if lo, hi := c.srcPorts(); lo > hi {
		return fail("source port range %d..%d is empty", lo, hi)
	}
	return nil
}

func (c *Config) srcPorts() (lo, hi uint16) {
	lo, hi = c.SrcPortMin, c.SrcPortMax
	if lo == 0 && hi == 0 {
		return DefaultSrcPortMin, DefaultSrcPortMax
	}
	if lo == 0 && hi >= DefaultSrcPortMin {
		lo = DefaultSrcPortMin
	}
	if hi == 0 {
		hi = max(lo, DefaultSrcPortMax)
	}
	return lo, hi
}

// normalized returns a copy of a valid c with defaults filled in and the
// Checksum mode resolved to on or off, owning its slices.
func (c *Config) normalized() Config {
	n := *c
	if c.Key != nil {
		k := *c.Key
		n.Key = &k
	}
	if n.TTL == 0 {
		n.TTL = DefaultTTL
	}
	on := c.Checksum == ChecksumOn
	if c.Checksum == ChecksumDefault {
		on = c.Kind == Geneve && c.Local.Is6()
	}
	n.Checksum = ChecksumOff
	if on {
		n.Checksum = ChecksumOn
	}
	if c.Kind == Geneve {
		if n.DstPort == 0 {
			n.DstPort = DefaultGenevePort
		}
		n.SrcPortMin, n.SrcPortMax = c.srcPorts()
		n.Options = cloneOptions(c.Options)
	}
	return n
}

func cloneOptions(opts []GeneveOption) []GeneveOption {
	if opts == nil {
		return nil
	}
	out := make([]GeneveOption, len(opts))
	for i, o := range opts {
		out[i] = GeneveOption{Class: o.Class, Type: o.Type, Data: append([]byte(nil), o.Data...)}
	}
	return out
}

// String is a one-line summary, e.g. "b1 gretap 198.18.0.1->198.18.0.2 key=7 seq".
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s->%s", c.Name, c.Kind, c.Local, c.Remote)
	if c.Key != nil {
		fmt.Fprintf(&b, " key=%d", *c.Key)
	}
	if c.Seq {
		b.WriteString(" seq")
	}
	if c.Kind == Geneve {
		fmt.Fprintf(&b, " vni=%d port=%d", c.VNI, c.DstPort)
		if len(c.Options) > 0 {
			fmt.Fprintf(&b, " options=%d", len(c.Options))
		}
	}
	if c.Checksum != ChecksumDefault {
		fmt.Fprintf(&b, " csum=%s", c.Checksum)
	}
	if c.Local.Is4() {
		fmt.Fprintf(&b, " df=%s", c.DF)
	}
	return b.String()
}
