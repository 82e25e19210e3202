package main

import (
	"bytes"
	"net"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

const ms = time.Millisecond

// start is the timestamp of every capture's first packet.
var start = time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)

// Hosts of the examples.
var (
	h1  = host("02:00:00:00:00:01", "198.18.0.1")
	h2  = host("02:00:00:00:00:02", "198.18.0.2")
	h3  = host("02:00:00:00:00:03", "198.18.0.3")
	h61 = host("02:00:00:00:00:01", "2001:db8::1")
	h62 = host("02:00:00:00:00:02", "2001:db8::2")
)

var (
	httpRequest = []byte("GET / HTTP/1.1\r\nHost: 198.18.0.2\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
	httpReply   = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n" +
		"Connection: close\r\n\r\nhello, world\n")
)

// session is a short, mixed capture of everyday traffic. The comments give
// the verdict Linux nf_conntrack would reach; the replay tests hold
// ctswitch to the same list.
func session() *capture {
	c := newCapture(start)
	cli, srv := h1.at(40000), h2.at(80)

	// (g) ARP: not IP, untracked.
	c.add(0, arpRequest(h1, h2.ip))

	// (a) An HTTP exchange over IPv4 with Linux's SYN options
	// (MSS, SACK permitted, timestamps, window scale 7 both ways).
	const ciss, siss = 3301042520, 1429876310
	const cts, sts = 2000000, 9000000 // TSval clocks, 1 tick per ms
	rq, rp := uint32(len(httpRequest)), uint32(len(httpReply))
	c.add(2*ms, c.tcp(cli, srv, ciss, 0, "S", 64240, synOpts(cts, 0, 7), nil))               // new SYN_SENT
	c.add(1*ms, c.tcp(srv, cli, siss, ciss+1, "SA", 65160, synOpts(sts, cts, 7), nil))       // established SYN_RECV
	c.add(1*ms, c.tcp(cli, srv, ciss+1, siss+1, "A", 502, tsOpts(cts+2, sts), nil))          // established ESTABLISHED
	c.add(1*ms, c.tcp(cli, srv, ciss+1, siss+1, "PA", 502, tsOpts(cts+3, sts), httpRequest)) // established
	response := c.tcp(srv, cli, siss+1, ciss+1+rq, "PA", 509, tsOpts(sts+3, cts+3), httpReply)
	c.add(3*ms, response)                                                                   // established
	c.add(1*ms, c.tcp(cli, srv, ciss+1+rq, siss+1+rp, "A", 501, tsOpts(cts+7, sts+3), nil)) // established
	// (h) The response again, one bit flipped on the way: invalid, bad_checksum.
	c.add(4*ms, corrupt(response))

	// (c) DNS over UDP, then a datagram to a closed port and the ICMP
	// port unreachable quoting it.
	query, answer := dnsExchange(0x5c1d, "lab.example.", net.ParseIP("198.18.0.2"))
	c.add(2*ms, c.udp(h1.at(5353), h3.at(53), query))  // new UNREPLIED
	c.add(1*ms, c.udp(h3.at(53), h1.at(5353), answer)) // established REPLIED
	probe := c.udp(h1.at(41000), h3.at(7777), []byte("anyone there?\n"))
	c.add(3*ms, probe)                                     // new UNREPLIED
	c.add(1*ms, c.icmp4(h3, h1, 3, 3, 0, 0, quote(probe))) // related

	// (d) ping.
	echo := pingPayload()
	c.add(2*ms, c.icmp4(h1, h2, 8, 0, 0x1c2d, 1, echo)) // new
	c.add(1*ms, c.icmp4(h2, h1, 0, 0, 0x1c2d, 1, echo)) // established

	// (b) A segment injected into the HTTP flow with a sequence number a
	// million bytes beyond what the server's window allows: invalid,
	// tcp_seq_over_upper_bound. It must not disturb the flow's state.
	c.add(2*ms, c.tcp(cli, srv, ciss+1+rq+1_000_000, siss+1+rp, "PA", 502, nil, bytes.Repeat([]byte("X"), 100)))

	// (a, end) The server closes. Its FIN/ACK and last ACK carry no
	// options: 54-byte frames, padded to 60 with non-zero bytes (incident
	// 2). Trimmed to the IP length they verify: established.
	c.add(3*ms, padNonZero(c.tcp(srv, cli, siss+1+rp, ciss+1+rq, "FA", 509, nil, nil)))       // FIN_WAIT
	c.add(1*ms, c.tcp(cli, srv, ciss+1+rq, siss+2+rp, "FA", 501, tsOpts(cts+17, sts+3), nil)) // LAST_ACK
	c.add(1*ms, padNonZero(c.tcp(srv, cli, siss+2+rp, ciss+2+rq, "A", 509, nil, nil)))        // TIME_WAIT

	// (f) Neighbour unreachability detection before talking IPv6: a
	// unicast NS. Neighbour discovery is untracked.
	c.add(2*ms, c.neighborSolicitation(h61, h62, h62.ip))

	// (e) A short exchange over IPv6, closed by the client.
	cli6, srv6 := h61.at(40001), h62.at(8080)
	const c6, s6 = 811231410, 2977001150
	const cts6, sts6 = 2000030, 9000031
	hi, ho := []byte("hello from 2001:db8::1\n"), []byte("hello from 2001:db8::2\n")
	n1, n2 := uint32(len(hi)), uint32(len(ho))
	c.add(2*ms, c.tcp(cli6, srv6, c6, 0, "S", 64800, synOpts(cts6, 0, 7), nil))              // new SYN_SENT
	c.add(1*ms, c.tcp(srv6, cli6, s6, c6+1, "SA", 64260, synOpts(sts6, cts6, 7), nil))       // established SYN_RECV
	c.add(1*ms, c.tcp(cli6, srv6, c6+1, s6+1, "A", 507, tsOpts(cts6+2, sts6), nil))          // ESTABLISHED
	c.add(1*ms, c.tcp(cli6, srv6, c6+1, s6+1, "PA", 507, tsOpts(cts6+3, sts6), hi))          // ESTABLISHED
	c.add(1*ms, c.tcp(srv6, cli6, s6+1, c6+1+n1, "PA", 502, tsOpts(sts6+2, cts6+3), ho))     // ESTABLISHED
	c.add(2*ms, c.tcp(cli6, srv6, c6+1+n1, s6+1+n2, "FA", 507, tsOpts(cts6+6, sts6+2), nil)) // FIN_WAIT
	c.add(1*ms, c.tcp(srv6, cli6, s6+1+n2, c6+2+n1, "FA", 502, tsOpts(sts6+4, cts6+6), nil)) // LAST_ACK
	c.add(1*ms, c.tcp(cli6, srv6, c6+2+n1, s6+2+n2, "A", 507, tsOpts(cts6+8, sts6+4), nil))  // TIME_WAIT
	return c
}

// migration is incident 1: an iperf3 stream picked up mid-stream on the
// host a VM was just live-migrated to. No SYN is in the capture; window
// scale 7 was negotiated before it started, so a raw window of 502 means
// 502<<7 bytes. The client, whose ACKs were lost in the move, retransmits
// from its snd_una, while the server has received 72400 bytes beyond it
// and acknowledges them all (more than any 64 KiB window allows). Then the
// stream goes on. Linux with nf_conntrack_tcp_loose=1 (the default) picks
// the flow up and tracks it liberally: new, then established, never
// invalid.
func migration() *capture {
	c := newCapture(start)
	cli := host("02:00:00:00:00:0a", "198.18.0.10").at(50000)
	srv := host("02:00:00:00:00:14", "198.18.0.20").at(5201)
	const mssData = 1448              // MSS 1460 less 12 bytes of timestamps
	const una = 557324635             // the client's snd_una (from the incident report)
	const ahead = 50 * mssData        // what the server got beyond it: 72400 bytes
	const sseq = 1829473625           // the server sends no data: its seq stays put
	const cts, sts = 81234567, 404303 // TSval clocks
	const cwin, swin = 502, 3068      // raw windows, scale 7 both ways

	c.add(0, c.tcp(cli, srv, una, sseq, "PA", cwin, tsOpts(cts, sts), segment(una)))  // retransmission: new ESTABLISHED
	c.add(1*ms, c.tcp(srv, cli, sseq, una+ahead, "A", swin, tsOpts(sts+1, cts), nil)) // acks 72400 bytes more: established
	seq := uint32(una + ahead)
	for i := uint32(0); i < 30; i++ {
		flags := "A"
		if i%8 == 7 {
			flags = "PA" // iperf3 writes 128 KiB at a time
		}
		c.add(200*time.Microsecond, c.tcp(cli, srv, seq, sseq, flags, cwin, tsOpts(cts+1+i, sts+1), segment(seq)))
		seq += mssData
		c.add(100*time.Microsecond, c.tcp(srv, cli, sseq, seq, "A", swin, tsOpts(sts+2+i, cts+1+i), nil))
	}
	return c
}

// segment is a full-sized iperf3 payload; its bytes depend on the
// sequence number, so a retransmission repeats the original.
func segment(seq uint32) []byte {
	b := make([]byte, 1448)
	x := seq
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// pingPayload is what Linux ping sends: 8 bytes of timestamp, then 0x10,
// 0x11, ... up to 56 bytes.
func pingPayload() []byte {
	b := make([]byte, 56)
	copy(b, []byte{0x2d, 0xf7, 0xd3, 0x67, 0, 0, 0, 0, 0x3a, 0x5b, 0x0c, 0, 0, 0, 0, 0})
	for i := 16; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// dnsExchange returns a recursive A query for name and its answer.
func dnsExchange(id uint16, name string, addr net.IP) (query, answer []byte) {
	q := layers.DNSQuestion{Name: []byte(name[:len(name)-1]), Type: layers.DNSTypeA, Class: layers.DNSClassIN}
	query = serializeDNS(&layers.DNS{ID: id, RD: true, Questions: []layers.DNSQuestion{q}})
	answer = serializeDNS(&layers.DNS{ID: id, QR: true, RD: true, RA: true, Questions: []layers.DNSQuestion{q},
		Answers: []layers.DNSResourceRecord{{Name: q.Name, Type: layers.DNSTypeA, Class: layers.DNSClassIN,
			TTL: 300, IP: addr.To4()}}})
	return query, answer
}

func serializeDNS(d *layers.DNS) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}
