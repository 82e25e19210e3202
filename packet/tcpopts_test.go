package packet

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestParseTCPOptions(t *testing.T) {
	mss := []byte{TCPOptMSS, 4, 0x05, 0xb4}
	ts := []byte{TCPOptTimestamps, 10, 0, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef}
	sack := func(blocks ...uint32) []byte {
		b := []byte{TCPOptSACK, uint8(2 + 4*len(blocks))}
		for _, v := range blocks {
			b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name string
		opts []byte
		want TCPOptions
		err  error
	}{
		{"empty", nil, TCPOptions{}, nil},
		{"mss", mss, TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"linux syn", cat(mss, []byte{TCPOptSACKPermitted, 2}, ts, []byte{TCPOptNOP, TCPOptWScale, 3, 7}),
			TCPOptions{MSS: 1460, HasMSS: true, SACKPermitted: true, HasTimestamps: true,
				TSVal: 0x1234, TSEcr: 0xdeadbeef, WScale: 7, HasWScale: true}, nil},
		{"wscale raw 15 not clamped", []byte{TCPOptWScale, 3, 15}, TCPOptions{WScale: 15, HasWScale: true}, nil},
		{"sack 1 block", cat([]byte{TCPOptNOP, TCPOptNOP}, sack(100, 200)),
			TCPOptions{NumSACK: 1, SACK: [4]SACKBlock{{100, 200}}}, nil},
		{"sack 3 blocks + ts", cat([]byte{TCPOptNOP, TCPOptNOP}, ts, []byte{TCPOptNOP, TCPOptNOP}, sack(1, 2, 3, 4, 5, 6)),
			TCPOptions{HasTimestamps: true, TSVal: 0x1234, TSEcr: 0xdeadbeef, NumSACK: 3,
				SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}, nil},
		{"sack 4 blocks", cat([]byte{TCPOptNOP, TCPOptNOP}, sack(1, 2, 3, 4, 5, 6, 7, 8)),
			TCPOptions{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}, nil},
		{"sack 5 blocks keeps 4", sack(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
			TCPOptions{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}}, nil},
		{"eol stops", cat([]byte{TCPOptEOL}, mss), TCPOptions{}, nil},
		{"eol after mss ignores garbage", cat(mss, []byte{TCPOptEOL, 0xff, 0x00}), TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"unknown skipped", cat([]byte{30, 4, 0xaa, 0xbb, 254, 2}, mss), TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"mss bad length ignored", cat([]byte{TCPOptMSS, 3, 5}, []byte{TCPOptWScale, 3, 2}),
			TCPOptions{WScale: 2, HasWScale: true}, nil},
		{"wscale bad length ignored", cat([]byte{TCPOptWScale, 4, 2, 0}, mss), TCPOptions{MSS: 1460, HasMSS: true}, nil},
		{"sackok bad length ignored", []byte{TCPOptSACKPermitted, 3, 0}, TCPOptions{}, nil},
		{"ts bad length ignored", []byte{TCPOptTimestamps, 8, 1, 2, 3, 4, 5, 6}, TCPOptions{}, nil},
		{"sack 2+7 ignored", []byte{TCPOptSACK, 9, 1, 2, 3, 4, 5, 6, 7}, TCPOptions{}, nil},
		{"sack empty ignored", []byte{TCPOptSACK, 2}, TCPOptions{}, nil},
		{"last mss wins", cat(mss, []byte{TCPOptMSS, 4, 0x02, 0x18}), TCPOptions{MSS: 536, HasMSS: true}, nil},
		{"length byte missing", cat(mss, []byte{TCPOptWScale}), TCPOptions{MSS: 1460, HasMSS: true}, ErrTCPOptTruncated},
		{"length 0", []byte{TCPOptMSS, 0, 1, 2}, TCPOptions{}, ErrTCPOptLength},
		{"length 1 unknown kind", []byte{99, 1}, TCPOptions{}, ErrTCPOptLength},
		{"past end", cat(mss, []byte{TCPOptTimestamps, 10, 1, 2, 3}), TCPOptions{MSS: 1460, HasMSS: true}, ErrTCPOptOverrun},
		{"unknown past end", []byte{TCPOptNOP, 77, 40, 0}, TCPOptions{}, ErrTCPOptOverrun},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Junk first: ParseTCPOptions must zero it.
			o := TCPOptions{MSS: 9, HasMSS: true, NumSACK: 2, SACK: [4]SACKBlock{{1, 1}}, HasTimestamps: true}
			err := ParseTCPOptions(c.opts, &o)
			if err != c.err {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if o != c.want {
				t.Fatalf("got  %+v\nwant %+v", o, c.want)
			}
		})
	}
}

// TestTCPOptionsFromGopacket serializes option lists with gopacket and
// parses them back out of the header.
func TestTCPOptionsFromGopacket(t *testing.T) {
	sackData := []byte{0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xff}
	lists := [][]layers.TCPOption{
		synOptions(),
		{
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionData: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindSACK, OptionData: sackData},
		},
		{
			{OptionType: layers.TCPOptionKindMSS, OptionData: []byte{0x23, 0x28}},
			{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{14}},
			{OptionType: layers.TCPOptionKind(34), OptionData: []byte{0xca, 0xfe}}, // TFO cookie: skipped
			{OptionType: layers.TCPOptionKindEndList},
		},
	}
	for i, opts := range lists {
		tcp := &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, Options: opts}
		frame := tcp4Frame(t, tcp, nil)
		var m Meta
		if err := Parse(frame, &m); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var o TCPOptions
		if err := ParseTCPOptions(TCP(m.L4(frame)).Options(), &o); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		dec := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default).
			Layer(layers.LayerTypeTCP).(*layers.TCP)
		compareTCPOptions(t, &o, dec.Options)
		if i == 1 {
			eq(t, "NumSACK", o.NumSACK, 2)
			eq(t, "SACK[1]", o.SACK[1], SACKBlock{0xfffffff0, 0xffffffff})
		}
		if i == 2 {
			eq(t, "MSS", o.MSS, uint16(9000))
			eq(t, "WScale", o.WScale, uint8(14))
		}
	}
}
