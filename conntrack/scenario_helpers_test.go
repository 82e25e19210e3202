package conntrack_test

// Packet builder and step runner for the scenario tests (scenario_test.go).
//
// Frames are built with gopacket/layers with FixLengths and ComputeChecksums,
// so every L3/L4 checksum is correct unless a test corrupts it on purpose.
// Sequence and acknowledgement numbers are always absolute.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/ctswitch/ctswitch/conntrack"
)

// t0 is the time origin of every scenario (ns). Steps give offsets from it.
const t0 = int64(1_000_000_000_000)

// at converts an offset from t0 into the nanosecond clock Process takes.
func at(d time.Duration) int64 { return t0 + int64(d) }

// ms and sec are shorthands for step offsets.
func ms(n float64) time.Duration  { return time.Duration(n * float64(time.Millisecond)) }
func sec(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

var (
	macClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macServer = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// pkt is one frame plus what the runner needs to describe and judge it.
type pkt struct {
	frame []byte
	desc  string
	// reply: the packet travels in the reply direction of its connection
	// (relative to the flow's originator). Checked against Result.Reply for
	// verdicts that carry a direction.
	reply bool
}

// flow is a client/server pair. The client is the originator: c2s frames
// are the connection's original direction.
type flow struct {
	t        *testing.T
	proto    uint8 // 6 or 17
	cli, srv netip.AddrPort
	ipID     uint16
}

func newFlow(t *testing.T, proto uint8, cli, srv string) *flow {
	t.Helper()
	return &flow{t: t, proto: proto, cli: netip.MustParseAddrPort(cli), srv: netip.MustParseAddrPort(srv), ipID: 0x100}
}

func tcpFlow(t *testing.T, cli, srv string) *flow { return newFlow(t, 6, cli, srv) }
func udpFlow(t *testing.T, cli, srv string) *flow { return newFlow(t, 17, cli, srv) }

// key is the connection's original-direction key in zone.
func (f *flow) key(zone uint16) conntrack.Key {
	var k conntrack.Key
	k.SetAddrs(f.cli.Addr(), f.srv.Addr())
	k.SrcPort, k.DstPort, k.Zone, k.Proto = f.cli.Port(), f.srv.Port(), zone, f.proto
	return k
}

// reversed returns the same endpoints with the roles swapped (the server
// becomes the originator).
func (f *flow) reversed() *flow {
	return &flow{t: f.t, proto: f.proto, cli: f.srv, srv: f.cli, ipID: f.ipID + 0x1000}
}

// --- TCP options ---

func optNOP() layers.TCPOption { return layers.TCPOption{OptionType: layers.TCPOptionKindNop} }

func optMSS(v uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, v)}
}

func optSACKPerm() layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}
}

func optTS(val, ecr uint32) layers.TCPOption {
	d := binary.BigEndian.AppendUint32(nil, val)
	d = binary.BigEndian.AppendUint32(d, ecr)
	return layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: d}
}

func optWScale(s uint8) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{s}}
}

// optSACK takes left,right edge pairs.
func optSACK(edges ...uint32) layers.TCPOption {
	var d []byte
	for _, e := range edges {
		d = binary.BigEndian.AppendUint32(d, e)
	}
	return layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: d}
}

// pdSYNOpts is packetdrill's "<mss 1460,sackOK,TS val V ecr 0,nop,wscale S>".
func pdSYNOpts(tsval uint32, ws uint8) []layers.TCPOption {
	return []layers.TCPOption{optMSS(1460), optSACKPerm(), optTS(tsval, 0), optNOP(), optWScale(ws)}
}

// pdSYNACKOpts is "<mss M,nop,nop,TS val V ecr E,nop,wscale S>".
func pdSYNACKOpts(mss uint16, tsval, tsecr uint32, ws uint8) []layers.TCPOption {
	return []layers.TCPOption{optMSS(mss), optNOP(), optNOP(), optTS(tsval, tsecr), optNOP(), optWScale(ws)}
}

// pdTSOpts is "<nop,nop,TS val V ecr E>".
func pdTSOpts(val, ecr uint32) []layers.TCPOption {
	return []layers.TCPOption{optNOP(), optNOP(), optTS(val, ecr)}
}

// --- serialization ---

var serOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, serOpts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func payloadBytes(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// ipLayers returns Ethernet + IP layers for src -> dst carrying proto.
func ipLayers(src, dst netip.Addr, srcMAC, dstMAC net.HardwareAddr, proto layers.IPProtocol, id uint16) (*layers.Ethernet, gopacket.NetworkLayer, gopacket.SerializableLayer) {
	if src.Is4() {
		eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: id, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		return eth, ip, ip
	}
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return eth, ip, ip
}

type tcpFlags struct{ syn, ack, fin, rst, psh, urg, ece, cwr bool }

// parseFlags reads tcpdump/packetdrill notation: S F R P U E W and '.' = ACK.
func parseFlags(t *testing.T, s string) tcpFlags {
	var f tcpFlags
	for _, c := range s {
		switch c {
		case 'S':
			f.syn = true
		case 'F':
			f.fin = true
		case 'R':
			f.rst = true
		case 'P':
			f.psh = true
		case 'U':
			f.urg = true
		case 'E':
			f.ece = true
		case 'W':
			f.cwr = true
		case '.':
			f.ack = true
		case '0', '-':
		default:
			t.Fatalf("bad flag %q in %q", c, s)
		}
	}
	return f
}

func (f *flow) tcp(c2s bool, flags string, seq, ack uint32, win uint16, n int, opts ...layers.TCPOption) pkt {
	f.t.Helper()
	src, dst, smac, dmac := f.cli, f.srv, macClient, macServer
	dir := ">"
	if !c2s {
		src, dst, smac, dmac = f.srv, f.cli, macServer, macClient
		dir = "<"
	}
	fl := parseFlags(f.t, flags)
	f.ipID++
	eth, nl, ipl := ipLayers(src.Addr(), dst.Addr(), smac, dmac, layers.IPProtocolTCP, f.ipID)
	th := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, Window: win, Options: opts,
		SYN: fl.syn, ACK: fl.ack, FIN: fl.fin, RST: fl.rst, PSH: fl.psh, URG: fl.urg, ECE: fl.ece, CWR: fl.cwr}
	if err := th.SetNetworkLayerForChecksum(nl); err != nil {
		f.t.Fatal(err)
	}
	frame := serialize(f.t, eth, ipl, th, payloadBytes(n))
	desc := fmt.Sprintf("tcp %s %s %s %s %d:%d(%d) ack %d win %d", src, dir, dst, flags, seq, seq+uint32(n), n, ack, win)
	if len(opts) > 0 {
		desc += " " + optsString(opts)
	}
	return pkt{frame: frame, desc: desc, reply: !c2s}
}

func optsString(opts []layers.TCPOption) string {
	var parts []string
	for _, o := range opts {
		switch o.OptionType {
		case layers.TCPOptionKindNop:
			parts = append(parts, "nop")
		case layers.TCPOptionKindMSS:
			parts = append(parts, fmt.Sprintf("mss %d", binary.BigEndian.Uint16(o.OptionData)))
		case layers.TCPOptionKindSACKPermitted:
			parts = append(parts, "sackOK")
		case layers.TCPOptionKindTimestamps:
			parts = append(parts, fmt.Sprintf("TS val %d ecr %d", binary.BigEndian.Uint32(o.OptionData), binary.BigEndian.Uint32(o.OptionData[4:])))
		case layers.TCPOptionKindWindowScale:
			parts = append(parts, fmt.Sprintf("wscale %d", o.OptionData[0]))
		case layers.TCPOptionKindSACK:
			s := "sack"
			for i := 0; i+8 <= len(o.OptionData); i += 8 {
				s += fmt.Sprintf(" %d:%d", binary.BigEndian.Uint32(o.OptionData[i:]), binary.BigEndian.Uint32(o.OptionData[i+4:]))
			}
			parts = append(parts, s)
		default:
			parts = append(parts, fmt.Sprintf("opt%d", o.OptionType))
		}
	}
	return "<" + strings.Join(parts, ",") + ">"
}

// c2s builds a client -> server TCP segment (original direction).
func (f *flow) c2s(flags string, seq, ack uint32, win uint16, n int, opts ...layers.TCPOption) pkt {
	f.t.Helper()
	return f.tcp(true, flags, seq, ack, win, n, opts...)
}

// s2c builds a server -> client TCP segment (reply direction).
func (f *flow) s2c(flags string, seq, ack uint32, win uint16, n int, opts ...layers.TCPOption) pkt {
	f.t.Helper()
	return f.tcp(false, flags, seq, ack, win, n, opts...)
}

// udp builds a UDP datagram with n payload bytes.
func (f *flow) udp(c2s bool, n int) pkt {
	f.t.Helper()
	src, dst, smac, dmac := f.cli, f.srv, macClient, macServer
	dir := ">"
	if !c2s {
		src, dst, smac, dmac = f.srv, f.cli, macServer, macClient
		dir = "<"
	}
	f.ipID++
	eth, nl, ipl := ipLayers(src.Addr(), dst.Addr(), smac, dmac, layers.IPProtocolUDP, f.ipID)
	uh := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := uh.SetNetworkLayerForChecksum(nl); err != nil {
		f.t.Fatal(err)
	}
	frame := serialize(f.t, eth, ipl, uh, payloadBytes(n))
	return pkt{frame: frame, desc: fmt.Sprintf("udp %s %s %s len %d", src, dir, dst, n), reply: !c2s}
}

func (f *flow) udpC2S(n int) pkt { f.t.Helper(); return f.udp(true, n) }
func (f *flow) udpS2C(n int) pkt { f.t.Helper(); return f.udp(false, n) }

// ipPacket returns the IP packet inside an Ethernet frame, without L2
// padding (trimmed to the IPv4 total length / IPv6 payload length).
func ipPacket(frame []byte) []byte {
	ip := frame[14:]
	if ip[0]>>4 == 4 {
		return ip[:binary.BigEndian.Uint16(ip[2:])]
	}
	return ip[:40+int(binary.BigEndian.Uint16(ip[4:]))]
}

// --- ICMP ---

// icmpEcho builds an ICMPv4 echo request (reply=false) or echo reply.
func icmpEcho(t *testing.T, src, dst string, id, seq uint16, isReply bool) pkt {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	eth, _, ipl := ipLayers(s, d, macClient, macServer, layers.IPProtocolICMPv4, id)
	typ := uint8(layers.ICMPv4TypeEchoRequest)
	if isReply {
		typ = layers.ICMPv4TypeEchoReply
	}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}
	return pkt{frame: serialize(t, eth, ipl, ic, payloadBytes(56)), desc: fmt.Sprintf("icmp %s > %s echo(type %d) id %d seq %d", s, d, typ, id, seq), reply: isReply}
}

// icmpErr builds an ICMPv4 error src -> dst quoting the IP packet of
// quoted (the whole original IP packet, cut at 548 bytes so the error fits
// in 576). For type 3 code 4 (fragmentation needed) mtu is the next-hop MTU.
func icmpErr(t *testing.T, src, dst string, typ, code uint8, mtu uint16, quoted pkt) pkt {
	t.Helper()
	q := ipPacket(quoted.frame)
	if len(q) > 548 {
		q = q[:548]
	}
	return icmpErrQuote(t, src, dst, typ, code, mtu, q, quoted.desc)
}

// icmpErrQuote builds an ICMPv4 error quoting exactly the bytes q.
func icmpErrQuote(t *testing.T, src, dst string, typ, code uint8, mtu uint16, q []byte, qdesc string) pkt {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	eth, _, ipl := ipLayers(s, d, macServer, macClient, layers.IPProtocolICMPv4, 0x4242)
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Seq: mtu}
	return pkt{frame: serialize(t, eth, ipl, ic, gopacket.Payload(append([]byte(nil), q...))),
		desc: fmt.Sprintf("icmp %s > %s type %d code %d quoting [%s]", s, d, typ, code, qdesc)}
}

// icmp6Err builds an ICMPv6 error (e.g. type 2 packet too big with mtu)
// quoting as much of quoted's IP packet as fits in 1280 bytes.
func icmp6Err(t *testing.T, src, dst string, typ, code uint8, mtu uint32, quoted pkt) pkt {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	q := ipPacket(quoted.frame)
	if len(q) > 1280-48 {
		q = q[:1280-48]
	}
	body := binary.BigEndian.AppendUint32(nil, mtu)
	body = append(body, q...)
	eth, nl, ipl := ipLayers(s, d, macServer, macClient, layers.IPProtocolICMPv6, 0)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	if err := ic.SetNetworkLayerForChecksum(nl); err != nil {
		t.Fatal(err)
	}
	return pkt{frame: serialize(t, eth, ipl, ic, gopacket.Payload(body)),
		desc: fmt.Sprintf("icmpv6 %s > %s type %d code %d quoting [%s]", s, d, typ, code, quoted.desc)}
}

// icmp6Msg builds an ICMPv6 message with the given body (everything after
// the 4-byte type/code/checksum), hop limit and an optional hop-by-hop
// header with a Router Alert option (as MLD messages carry).
func icmp6Msg(t *testing.T, src, dst string, typ uint8, body []byte, hopLimit uint8, routerAlert bool, name string) pkt {
	t.Helper()
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	eth := &layers.Ethernet{SrcMAC: macClient, DstMAC: net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: hopLimit, NextHeader: layers.IPProtocolICMPv6, SrcIP: s.AsSlice(), DstIP: d.AsSlice()}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	if err := ic.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ls := []gopacket.SerializableLayer{eth, ip}
	if routerAlert {
		ip.NextHeader = layers.IPProtocolIPv6HopByHop
		// next header ICMPv6, length 0, Router Alert (type 5, len 2, MLD = 0), PadN(0).
		ls = append(ls, gopacket.Payload{58, 0, 5, 2, 0, 0, 1, 0})
	}
	ls = append(ls, ic, gopacket.Payload(body))
	return pkt{frame: serialize(t, ls...), desc: fmt.Sprintf("icmpv6 %s > %s %s (type %d)", s, d, name, typ)}
}

// --- IP fragments ---

// fragments splits the IP payload of p (an unfragmented IPv4 or IPv6
// datagram built by this file) into fragments at the given byte offsets
// (multiples of 8, first 0). Each element of cuts is [start, end).
func fragments(t *testing.T, p pkt, id uint32, cuts ...[2]int) []pkt {
	t.Helper()
	ip := ipPacket(p.frame)
	var out []pkt
	if ip[0]>>4 == 4 {
		hl := int(ip[0]&0xf) * 4
		payload := ip[hl:]
		for _, c := range cuts {
			if c[0]%8 != 0 {
				t.Fatalf("fragment offset %d not a multiple of 8", c[0])
			}
			more := c[1] < len(payload)
			eth := &layers.Ethernet{SrcMAC: macClient, DstMAC: macServer, EthernetType: layers.EthernetTypeIPv4}
			h := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(id), Protocol: layers.IPProtocol(ip[9]),
				SrcIP: net.IP(ip[12:16]), DstIP: net.IP(ip[16:20]), FragOffset: uint16(c[0] / 8)}
			if more {
				h.Flags = layers.IPv4MoreFragments
			}
			frame := serialize(t, eth, h, gopacket.Payload(append([]byte(nil), payload[c[0]:c[1]]...)))
			out = append(out, pkt{frame: frame, reply: p.reply,
				desc: fmt.Sprintf("ipv4 fragment id %d offset %d len %d MF=%v of [%s]", id, c[0], c[1]-c[0], more, p.desc)})
		}
		return out
	}
	next := ip[6]
	payload := ip[40:]
	for _, c := range cuts {
		if c[0]%8 != 0 {
			t.Fatalf("fragment offset %d not a multiple of 8", c[0])
		}
		more := c[1] < len(payload)
		eth := &layers.Ethernet{SrcMAC: macClient, DstMAC: macServer, EthernetType: layers.EthernetTypeIPv6}
		h := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment,
			SrcIP: net.IP(ip[8:24]), DstIP: net.IP(ip[24:40])}
		fh := make([]byte, 8)
		fh[0] = next
		off := uint16(c[0]/8) << 3
		if more {
			off |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], off)
		binary.BigEndian.PutUint32(fh[4:], id)
		body := append(fh, payload[c[0]:c[1]]...)
		frame := serialize(t, eth, h, gopacket.Payload(body))
		out = append(out, pkt{frame: frame, reply: p.reply,
			desc: fmt.Sprintf("ipv6 fragment id %d offset %d len %d M=%v of [%s]", id, c[0], c[1]-c[0], more, p.desc)})
	}
	return out
}

// --- frame surgery ---

// padded returns p's frame padded to at least 60 bytes with fill bytes
// after the IP packet (what a NIC hands up for a short frame; fill is
// non-zero to catch code that sums the padding).
func padded(p pkt, fill byte) pkt {
	ipLen := len(ipPacket(p.frame))
	frame := append([]byte(nil), p.frame[:14+ipLen]...)
	for len(frame) < 60 {
		frame = append(frame, fill)
	}
	p.frame = frame
	p.desc += fmt.Sprintf(" (padded %d->%d with 0x%02x)", 14+ipLen, len(frame), fill)
	return p
}

// badL4Checksum flips the TCP/UDP checksum of an IPv4 frame.
func badL4Checksum(p pkt) pkt {
	frame := append([]byte(nil), p.frame...)
	ip := frame[14:]
	hl := int(ip[0]&0xf) * 4
	off := 14 + hl + 16 // TCP checksum
	if ip[9] == 17 {
		off = 14 + hl + 6
	}
	frame[off] ^= 0x5a
	frame[off+1] ^= 0xa5
	p.frame = frame
	p.desc += " (corrupted L4 checksum)"
	return p
}

// --- runner ---

// stateAny: do not check Result.State for this step.
const stateAny = conntrack.State(0xff)

type step struct {
	at  time.Duration // offset from t0
	p   pkt
	v   conntrack.Verdict
	st  conntrack.State
	why conntrack.Reason // required for ignored/invalid; checked when set
	// reopen: the packet must take the tracker's reopen path (a SYN that
	// kills a closed entry and starts a fresh one, Linux -NF_REPEAT). The
	// Result of a reopening SYN is a plain "new"; the tracker counts the
	// event under the tcp_reopen reason, which is checked here.
	reopen bool
	// after, if set, runs after the step's assertions (Lookup checks...).
	after func(t *testing.T, res conntrack.Result)
}

// reasonCount reads a reason counter from the table's statistics.
func reasonCount(t *testing.T, tbl *conntrack.Table, r conntrack.Reason) uint64 {
	t.Helper()
	st, err := tbl.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st.Reasons[r.Name()]
}

func newTable(t *testing.T, mod func(*conntrack.Config)) *conntrack.Table {
	t.Helper()
	cfg := conntrack.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	tbl, err := conntrack.New(cfg)
	if err != nil {
		t.Fatalf("conntrack.New: %v", err)
	}
	return tbl
}

// run feeds the steps to tbl in zone and checks each result. It returns
// the results (index = step number - 1).
func run(t *testing.T, tbl *conntrack.Table, zone uint16, steps []step) []conntrack.Result {
	t.Helper()
	out := make([]conntrack.Result, 0, len(steps))
	for i, s := range steps {
		var reopens uint64
		if s.reopen {
			reopens = reasonCount(t, tbl, conntrack.ReasonTCPReopen)
		}
		res := tbl.Process(s.p.frame, zone, at(s.at))
		out = append(out, res)
		checkStep(t, i+1, s, res)
		if s.reopen {
			if n := reasonCount(t, tbl, conntrack.ReasonTCPReopen) - reopens; n != 1 {
				t.Errorf("step %d at +%v: %s: tcp_reopen counted %d times, want 1 (SYN must kill the closed entry and start a fresh one)", i+1, s.at, s.p.desc, n)
			}
		}
		if s.after != nil {
			s.after(t, res)
		}
	}
	return out
}

func checkStep(t *testing.T, n int, s step, res conntrack.Result) {
	t.Helper()
	var bad []string
	if res.Verdict != s.v {
		bad = append(bad, fmt.Sprintf("verdict %v, want %v", res.Verdict, s.v))
	}
	if s.st != stateAny && res.State != s.st {
		bad = append(bad, fmt.Sprintf("state %v, want %v", res.State, s.st))
	}
	if s.v == conntrack.VerdictIgnored || s.v == conntrack.VerdictInvalid {
		if s.why == conntrack.ReasonNone {
			t.Fatalf("step %d: test bug: an ignored/invalid expectation needs a reason", n)
		}
	}
	if s.why != conntrack.ReasonNone && res.Why.Reason != s.why {
		bad = append(bad, fmt.Sprintf("reason %v, want %v", res.Why.Reason, s.why))
	}
	switch s.v {
	case conntrack.VerdictNew, conntrack.VerdictEstablished, conntrack.VerdictRelated, conntrack.VerdictIgnored:
		if res.Verdict == s.v && res.Reply != s.p.reply {
			bad = append(bad, fmt.Sprintf("reply %v, want %v", res.Reply, s.p.reply))
		}
	}
	if len(bad) > 0 {
		t.Errorf("step %d at +%v: %s\n\tgot: verdict %v state %v reply %v why %q tuple %s\n\t%s",
			n, s.at, s.p.desc, res.Verdict, res.State, res.Reply, res.Why.String(), res.Tuple.String(), strings.Join(bad, "; "))
	}
}

// lookup fetches the entry of f in zone at offset d, failing if absent.
func lookup(t *testing.T, tbl *conntrack.Table, f *flow, zone uint16, d time.Duration) conntrack.Entry {
	t.Helper()
	e, ok := tbl.Lookup(f.key(zone), at(d))
	if !ok {
		t.Fatalf("Lookup(%s) at +%v: no entry", f.key(zone), d)
	}
	return e
}

// wantGone fails if f has an entry in zone at offset d.
func wantGone(t *testing.T, tbl *conntrack.Table, f *flow, zone uint16, d time.Duration) {
	t.Helper()
	if e, ok := tbl.Lookup(f.key(zone), at(d)); ok {
		t.Errorf("Lookup(%s) at +%v: entry present (state %v, timeout %v), want none", f.key(zone), d, e.State, e.Timeout)
	}
}

// timeoutSlack: the tracker keeps deadlines in ticks of 2^24 ns (16.8 ms),
// so a remaining timeout is exact to within a tick or two.
const timeoutSlack = 40 * time.Millisecond

// entryCheck returns an `after` hook asserting the flow's entry.
type entryWant struct {
	state     conntrack.State
	assured   *bool
	seenReply *bool
	timeout   time.Duration // 0 = don't check
	liberal   *bool
}

func bptr(b bool) *bool { return &b }

func expectEntry(tbl *conntrack.Table, f *flow, zone uint16, d time.Duration, w entryWant) func(*testing.T, conntrack.Result) {
	return func(t *testing.T, _ conntrack.Result) {
		t.Helper()
		e, ok := tbl.Lookup(f.key(zone), at(d))
		if !ok {
			t.Errorf("after step at +%v: Lookup(%s): no entry", d, f.key(zone))
			return
		}
		checkEntry(t, fmt.Sprintf("entry %s at +%v", f.key(zone), d), e, w)
	}
}

func checkEntry(t *testing.T, what string, e conntrack.Entry, w entryWant) {
	t.Helper()
	if w.state != stateAny && e.State != w.state {
		t.Errorf("%s: state %v, want %v", what, e.State, w.state)
	}
	if w.assured != nil && e.Assured != *w.assured {
		t.Errorf("%s: assured %v, want %v", what, e.Assured, *w.assured)
	}
	if w.seenReply != nil && e.SeenReply != *w.seenReply {
		t.Errorf("%s: seen_reply %v, want %v", what, e.SeenReply, *w.seenReply)
	}
	if w.timeout != 0 && (e.Timeout < w.timeout-timeoutSlack || e.Timeout > w.timeout+timeoutSlack) {
		t.Errorf("%s: timeout %v, want %v (±%v)", what, e.Timeout, w.timeout, timeoutSlack)
	}
	if w.liberal != nil && e.Liberal() != *w.liberal {
		t.Errorf("%s: liberal %v, want %v", what, e.Liberal(), *w.liberal)
	}
}

// countVerdicts counts results with verdict v among results whose packet
// had the given direction (packetdrill's INPUT/OUTPUT invalid counters).
func countVerdicts(steps []step, res []conntrack.Result, v conntrack.Verdict, reply bool) int {
	n := 0
	for i, r := range res {
		if r.Verdict == v && steps[i].p.reply == reply {
			n++
		}
	}
	return n
}

func itoa(n int) string { return fmt.Sprint(n) }

func netipMust(s string) [16]byte { return netip.MustParseAddr(s).As16() }
