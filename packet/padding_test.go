package packet

import (
	"testing"

	"github.com/google/gopacket/layers"
)

// naiveVerify is the incident-2 bug: it checksums from the L4 offset to the
// end of the frame, so L2 padding is summed and counted in the pseudo
// header length.
func naiveVerify(frame []byte) bool {
	ip := IPv4(frame[EthernetHeaderLen:])
	l4 := frame[EthernetHeaderLen+ip.HeaderLen():]
	return Fold(Sum(l4, PseudoHeaderSum4(ip.Src(), ip.Dst(), ip.Protocol(), len(l4)))) == 0xffff
}

// TestPaddingIncident2: a 54-byte TCP FIN/ACK arrives padded to the
// 60-byte Ethernet minimum. The checksum must be verified over the IP
// payload only.
func TestPaddingIncident2(t *testing.T) {
	finack := &layers.TCP{SrcPort: 443, DstPort: 51515, Seq: 0x10203040, Ack: 0x50607080,
		FIN: true, ACK: true, Window: 501}
	bare := unpadded(t, tcp4Frame(t, finack, nil))
	if len(bare) != 54 {
		t.Fatalf("unpadded FIN/ACK is %d bytes, want 54", len(bare))
	}
	for _, pad := range [][]byte{
		{0, 0, 0, 0, 0, 0},
		{0xde, 0xad, 0xbe, 0xef, 0x55, 0xaa},
	} {
		frame := append(append([]byte(nil), bare...), pad...)
		var m Meta
		if err := Parse(frame, &m); err != nil {
			t.Fatal(err)
		}
		eq(t, "End", m.End, 54)
		eq(t, "Padding", m.Padding, 6)
		eq(t, "len(Trimmed)", len(m.Trimmed(frame)), 54)
		eq(t, "L4 len", len(m.L4(frame)), 20)
		eq(t, "flags", TCP(m.L4(frame)).Flags(), uint8(TCPFlagFIN|TCPFlagACK))
		eq(t, "VerifyL4Checksum", VerifyL4Checksum(frame, &m), true)
		// Checksumming to the end of the frame gets it wrong, with zero
		// padding too (the pseudo header length is off by 6).
		eq(t, "naive verify over padded frame", naiveVerify(frame), false)
		eq(t, "naive verify over trimmed frame", naiveVerify(m.Trimmed(frame)), true)

		// SetL4Checksum must not fold the padding in either.
		want := TCP(m.L4(frame)).Checksum()
		TCP(m.L4(frame)).SetChecksum(0)
		SetL4Checksum(frame, &m)
		eq(t, "SetL4Checksum on padded frame", TCP(m.L4(frame)).Checksum(), want)
	}

	// UDP: the length check compares with the IP payload, not the frame.
	u := unpadded(t, udp4Frame(t, 68, 67, []byte{1}))
	frame := append(u, make([]byte, 60-len(u))...)
	var m Meta
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "udp Padding", m.Padding, 60-len(u))
	eq(t, "udp verify", VerifyL4Checksum(frame, &m), true)
	eqBytes(t, "udp payload", UDP(m.L4(frame)).Payload(), []byte{1})

	// IPv6 frames get padded too when small (e.g. behind a VLAN strip).
	v6 := unpadded(t, udp6Frame(t, 1, 2, nil))
	frame = append(append([]byte(nil), v6...), 0xff, 0xff, 0xff, 0xff)
	if err := Parse(frame, &m); err != nil {
		t.Fatal(err)
	}
	eq(t, "v6 Padding", m.Padding, 4)
	eq(t, "v6 verify", VerifyL4Checksum(frame, &m), true)
}
