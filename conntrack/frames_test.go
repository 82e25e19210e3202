package conntrack

import (
	"encoding/binary"
	"testing"

	"github.com/ctswitch/ctswitch/packet"
)

// frameTCP4 builds an Ethernet/IPv4/TCP frame with correct checksums using
// the packet package's setters (fast enough to make millions of frames).
func frameTCP4(src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags uint8, win uint16, opts []byte, payload int) []byte {
	optLen := (len(opts) + 3) &^ 3
	f := frameIPv4(packet.ProtoTCP, src, dst, 20+optLen+payload)
	tcp := f[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = uint8((20+optLen)/4) << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], win)
	copy(tcp[20:], opts)
	for i := 20 + len(opts); i < 20+optLen; i++ {
		tcp[i] = 1 // NOP padding
	}
	fixChecksums(f)
	return f
}

// frameIPv4 returns an Ethernet/IPv4 frame (20-byte header, checksum set)
// with l4len zero bytes of payload for the caller to fill.
func frameIPv4(proto uint8, src, dst [4]byte, l4len int) []byte {
	n := 14 + 20 + l4len
	f := make([]byte, n)
	eth := packet.Ethernet(f)
	eth.SetDst(packet.MAC{2, 0, 0, 0, 0, 2})
	eth.SetSrc(packet.MAC{2, 0, 0, 0, 0, 1})
	eth.SetEtherType(packet.EtherTypeIPv4)
	ip := packet.IPv4(f[14:])
	ip[0] = 0x45
	ip.SetTotalLength(uint16(n - 14))
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc(src)
	ip.SetDst(dst)
	ip.SetChecksum()
	return f
}

func fixChecksums(f []byte) {
	var m packet.Meta
	if err := packet.Parse(f, &m); err != nil {
		panic(err)
	}
	packet.SetL4Checksum(f, &m)
}

func frameUDP4(src, dst [4]byte, sport, dport uint16, payload int) []byte {
	f := frameIPv4(packet.ProtoUDP, src, dst, 8+payload)
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+payload))
	fixChecksums(f)
	return f
}

// addr4 returns 198.18.x.y for i (the benchmarking range).
func addr4(i int) [4]byte { return [4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)} }

const (
	fS  = packet.TCPFlagSYN
	fA  = packet.TCPFlagACK
	fSA = packet.TCPFlagSYN | packet.TCPFlagACK
	fF  = packet.TCPFlagFIN
	fR  = packet.TCPFlagRST
	fP  = packet.TCPFlagPSH
)

// wscaleOpts: MSS 1460, SACK permitted, window scale ws.
func wscaleOpts(ws uint8) []byte { return []byte{2, 4, 0x05, 0xb4, 4, 2, 3, 3, ws} }

// handshake opens flow i (client port 10000+i%50000 on address i) on tbl
// and returns the client's and server's next sequence numbers.
func handshake(t testing.TB, tbl *Table, zone uint16, c, s [4]byte, cp, sp uint16, now int64) (cseq, sseq uint32) {
	cseq, sseq = 1000, 500000
	for i, f := range [][]byte{
		frameTCP4(c, s, cp, sp, cseq, 0, fS, 64240, wscaleOpts(7), 0),
		frameTCP4(s, c, sp, cp, sseq, cseq+1, fSA, 65160, wscaleOpts(7), 0),
		frameTCP4(c, s, cp, sp, cseq+1, sseq+1, fA, 502, nil, 0),
	} {
		r := tbl.Process(f, zone, now)
		if !r.Verdict.Passes() || r.Verdict == VerdictIgnored {
			t.Fatalf("handshake packet %d: %s %s", i, r.Verdict, r.Why)
		}
	}
	return cseq + 1, sseq + 1
}
