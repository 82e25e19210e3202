// Package replay runs the frames of a capture file through a fresh
// connection tracker and reports, packet by packet, what the tracker
// concluded: the verdict, the connection state after the packet and, for
// anything it did not simply accept, the check behind it.
//
// It is the logic behind `ctswitch ct replay`: a diagnosis tool for
// questions like "why did conntrack drop this flow?" that needs nothing but
// a pcap taken anywhere on the path.
package replay

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/packet"
)

// Options select the tracker's knobs for the replay. They apply to the
// default zone configuration, so they are in force whatever Zone is.
type Options struct {
	Zone             uint16 // conntrack zone every packet is tracked in
	Loose            bool   // pick up TCP connections mid-stream
	BeLiberal        bool   // accept out-of-window TCP packets (not RSTs)
	IgnoreInvalidRST bool   // let RSTs below the peer's highest ACK through
	MaxRetrans       int    // retransmissions before the tcp_retrans timeout
	Checksum         bool   // verify L4 checksums before tracking
	MaxConns         int    // table capacity; 0 = conntrack.DefaultMaxConns
}

// DefaultOptions are Linux's defaults, as `ct replay` uses them.
func DefaultOptions() Options {
	return Options{Loose: true, MaxRetrans: 3, Checksum: true}
}

// Config is the conntrack configuration the options stand for.
func (o Options) Config() conntrack.Config {
	cfg := conntrack.DefaultConfig()
	cfg.Default.Loose = o.Loose
	cfg.Default.BeLiberal = o.BeLiberal
	cfg.Default.IgnoreInvalidRST = o.IgnoreInvalidRST
	cfg.Default.MaxRetrans = o.MaxRetrans
	cfg.Default.Checksum = o.Checksum
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	return cfg
}

// Record is the outcome of one packet of the capture.
type Record struct {
	N       int       // 1-based position in the capture
	Time    time.Time // capture timestamp
	CapLen  int       // bytes captured (what the tracker saw)
	Len     int       // bytes on the wire; > CapLen for a truncated capture
	Tuple   string    // the packet's tuple, or a description of a non-IP frame
	Reply   bool      // the packet travels in its connection's reply direction
	Verdict conntrack.Verdict
	State   conntrack.State
	Why     conntrack.Why
	Zone    uint16
	// Related is, for an ICMP error about a tracked connection, that
	// connection's tuple in its original direction.
	Related string
}

// Truncated reports whether the capture holds less than the whole frame.
func (r *Record) Truncated() bool { return r.CapLen < r.Len }

// Dir is "reply" or "orig".
func (r *Record) Dir() string {
	if r.Reply {
		return "reply"
	}
	return "orig"
}

// Replay reads a pcap or pcapng capture (optionally gzip-compressed) from
// src, tracks every frame with a fresh table configured by opts, and calls
// fn with each packet's outcome in capture order. It stops at the first
// error of fn or of the capture: a capture that cannot be read to its end
// is an error, while packets the tracker rejects are not.
func Replay(src io.Reader, opts Options, fn func(*Record) error) error {
	cr, err := openCapture(src)
	if err != nil {
		return err
	}
	tbl, err := conntrack.New(opts.Config())
	if err != nil {
		return err
	}
	defer tbl.Close()
	for n := 1; ; n++ {
		data, ci, err := cr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("packet %d: %w", n, err)
		}
		rec := Record{
			N:      n,
			Time:   ci.ts,
			CapLen: len(data),
			Len:    max(ci.length, len(data)),
			Zone:   opts.Zone,
		}
		res, err := process(tbl, data, opts.Zone, ci.ts.UnixNano())
		if err != nil {
			return fmt.Errorf("packet %d: %w", n, err)
		}
		rec.Verdict, rec.State, rec.Why, rec.Reply = res.Verdict, res.State, res.Why, res.Reply
		rec.Tuple, rec.Related = describe(data, &res)
		if err := fn(&rec); err != nil {
			return err
		}
	}
}

// process runs one frame through the tracker. The tracker must not panic
// on any input; if it does anyway, the replay reports the packet instead of
// crashing, so the capture can be attached to a bug report.
func process(tbl *conntrack.Table, frame []byte, zone uint16, now int64) (res conntrack.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("conntrack panicked (a bug, please report it with this capture): %v", v)
		}
	}()
	return tbl.Process(frame, zone, now), nil
}

// describe returns the tuple to show for a packet and, for an ICMP error,
// the tuple of the connection it is related to.
//
// The tracker's key serves most packets as it is. ICMP is shown from the
// packet's own header instead: the key of an ICMP error is the related
// connection's, and the key of a query names its class (an echo reply's
// key says type 8), while a reader wants to see what the packet is.
func describe(frame []byte, res *conntrack.Result) (tuple, related string) {
	if res.Tuple.Family == 0 {
		return describeFrame(frame), ""
	}
	tuple = res.Tuple.String()
	var m packet.Meta
	if packet.Parse(frame, &m) != nil || m.Fragment || !m.L4Complete ||
		(m.L4Proto != protoICMP && m.L4Proto != protoICMPv6) || m.L4Off+2 > len(frame) {
		return tuple, ""
	}
	var src, dst netip.Addr
	l3 := frame[m.L3Off:]
	if m.IPVersion == 4 && len(l3) >= 20 {
		src, dst = netip.AddrFrom4([4]byte(l3[12:16])), netip.AddrFrom4([4]byte(l3[16:20]))
	} else if m.IPVersion == 6 && len(l3) >= 40 {
		src, dst = netip.AddrFrom16([16]byte(l3[8:24])), netip.AddrFrom16([16]byte(l3[24:40]))
	} else {
		return tuple, ""
	}
	typ, code := frame[m.L4Off], frame[m.L4Off+1]
	name, isErr, isEcho := icmpName(m.L4Proto == protoICMPv6, typ, code)
	tuple = fmt.Sprintf("%s %s > %s %s", conntrack.ProtoName(m.L4Proto), src, dst, name)
	if isEcho && m.L4Off+6 <= len(frame) {
		tuple += fmt.Sprintf(" id %d", uint16(frame[m.L4Off+4])<<8|uint16(frame[m.L4Off+5]))
	}
	if res.Tuple.Zone != 0 {
		tuple += fmt.Sprintf(" zone %d", res.Tuple.Zone)
	}
	if isErr && res.Verdict == conntrack.VerdictRelated {
		// The key is the connection's, seen in the error's direction.
		k := res.Tuple
		if res.Reply {
			k = k.Reverse()
		}
		related = k.String()
	}
	return tuple, related
}

const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// icmpName names an ICMP or ICMPv6 type (and, for unreachables, code).
func icmpName(v6 bool, typ, code uint8) (name string, isErr, isEcho bool) {
	if !v6 {
		switch typ {
		case 0:
			return "echo-reply", false, true
		case 8:
			return "echo-request", false, true
		case 3:
			switch code {
			case 0:
				return "net-unreachable", true, false
			case 1:
				return "host-unreachable", true, false
			case 2:
				return "protocol-unreachable", true, false
			case 3:
				return "port-unreachable", true, false
			case 4:
				return "frag-needed", true, false
			case 13:
				return "admin-prohibited", true, false
			}
			return fmt.Sprintf("unreachable code %d", code), true, false
		case 4:
			return "source-quench", true, false
		case 5:
			return fmt.Sprintf("redirect code %d", code), true, false
		case 11:
			return fmt.Sprintf("time-exceeded code %d", code), true, false
		case 12:
			return fmt.Sprintf("parameter-problem code %d", code), true, false
		case 13:
			return "timestamp-request", false, false
		case 14:
			return "timestamp-reply", false, false
		}
		return fmt.Sprintf("type %d code %d", typ, code), false, false
	}
	switch typ {
	case 1:
		switch code {
		case 0:
			return "no-route", true, false
		case 1:
			return "admin-prohibited", true, false
		case 3:
			return "addr-unreachable", true, false
		case 4:
			return "port-unreachable", true, false
		}
		return fmt.Sprintf("unreachable code %d", code), true, false
	case 2:
		return "packet-too-big", true, false
	case 3:
		return fmt.Sprintf("time-exceeded code %d", code), true, false
	case 4:
		return fmt.Sprintf("parameter-problem code %d", code), true, false
	case 128:
		return "echo-request", false, true
	case 129:
		return "echo-reply", false, true
	case 133:
		return "router-sol", false, false
	case 134:
		return "router-adv", false, false
	case 135:
		return "neighbor-sol", false, false
	case 136:
		return "neighbor-adv", false, false
	case 137:
		return "redirect", false, false
	}
	return fmt.Sprintf("type %d code %d", typ, code), false, false
}

// describeFrame names a frame that has no IP tuple: a non-IP EtherType,
// or an IP packet too broken to yield one.
func describeFrame(b []byte) string {
	if len(b) < 14 {
		return fmt.Sprintf("short frame (%d bytes)", len(b))
	}
	et := uint16(b[12])<<8 | uint16(b[13])
	for off := 14; (et == 0x8100 || et == 0x88a8) && off+4 <= len(b); off += 4 {
		et = uint16(b[off+2])<<8 | uint16(b[off+3])
	}
	switch et {
	case 0x0800:
		return "ipv4 (no tuple)"
	case 0x86dd:
		return "ipv6 (no tuple)"
	case 0x0806:
		return "arp"
	case 0x8035:
		return "rarp"
	case 0x88cc:
		return "lldp"
	}
	if et < 0x0600 {
		return "llc" // an 802.3 length field, not an EtherType
	}
	return fmt.Sprintf("ethertype 0x%04x", et)
}
