package ipfrag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ctswitch/ctswitch/packet"
	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
)

// checkFrags4 checks the IPv4 fragments of orig: sizes, 8-byte multiples,
// offsets contiguous from base, MF, header fields copied, checksums, and
// the L2 header.
func checkFrags4(t *testing.T, orig []byte, frags [][]byte, mtu int, base int, lastMF bool) {
	t.Helper()
	om := meta(t, orig)
	oip := packet.IPv4(orig[om.L3Off:om.End])
	payload := oip.Payload()
	off := 0
	for i, f := range frags {
		m := meta(t, f)
		if m.L3Off != om.L3Off || !bytes.Equal(f[:m.L3Off], orig[:om.L3Off]) {
			t.Fatalf("fragment %d: L2 header % x, want % x", i, f[:m.L3Off], orig[:om.L3Off])
		}
		ip := packet.IPv4(f[m.L3Off:])
		last := i == len(frags)-1
		data := ip.Payload()
		switch {
		case int(ip.TotalLength()) > mtu || len(f) != m.L3Off+int(ip.TotalLength()):
			t.Errorf("fragment %d: total length %d (frame %d), mtu %d", i, ip.TotalLength(), len(f), mtu)
		case !last && len(data)%8 != 0:
			t.Errorf("fragment %d: %d data bytes, not a multiple of 8", i, len(data))
		case !ip.ValidHeaderChecksum():
			t.Errorf("fragment %d: bad header checksum", i)
		case int(ip.FragmentOffset()) != base+off:
			t.Errorf("fragment %d: offset %d, want %d", i, ip.FragmentOffset(), base+off)
		case ip.MF() != (!last || lastMF):
			t.Errorf("fragment %d: MF %v", i, ip.MF())
		case ip.DF():
			t.Errorf("fragment %d: DF set", i)
		case ip.ID() != oip.ID() || ip.TTL() != oip.TTL() || ip.TOS() != oip.TOS() ||
			ip.Protocol() != oip.Protocol() || ip.Src() != oip.Src() || ip.Dst() != oip.Dst():
			t.Errorf("fragment %d: header fields differ from the original's", i)
		case !bytes.Equal(data, payload[off:off+len(data)]):
			t.Errorf("fragment %d: data differs from the original at %d", i, off)
		}
		if i == 0 && !bytes.Equal(ip.Options(), oip.Options()) {
			t.Errorf("first fragment options % x, want all of % x", ip.Options(), oip.Options())
		}
		// A fragment must not be split further at the same mtu: it is
		// as big as the mtu allows.
		if !last && int(ip.TotalLength())+8 <= mtu {
			t.Errorf("fragment %d: %d bytes, another 8 would fit in %d", i, ip.TotalLength(), mtu)
		}
		off += len(data)
	}
	if off != len(payload) {
		t.Fatalf("fragments carry %d bytes, original %d", off, len(payload))
	}
}

// defragGopacket reassembles with gopacket's ip4defrag and returns the
// result's payload (ip4defrag assumes 20-byte headers, so it is used on
// option-free packets only).
func defragGopacket(t *testing.T, frags [][]byte) *layers.IPv4 {
	t.Helper()
	d := ip4defrag.NewIPv4Defragmenter()
	for i, f := range frags {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatalf("fragment %d: gopacket finds no IPv4 layer", i)
		}
		out, err := d.DefragIPv4WithTimestamp(ip, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("ip4defrag, fragment %d: %v", i, err)
		}
		if out != nil {
			if i != len(frags)-1 {
				t.Fatalf("ip4defrag completed at fragment %d of %d", i, len(frags))
			}
			return out
		}
	}
	t.Fatal("ip4defrag did not complete")
	return nil
}

func TestFragmentIPv4(t *testing.T) {
	for _, vlans := range [][]uint16{nil, {100}, {10, 20}} {
		orig := udp4(t, vlans, ip4(), 1500)
		om := meta(t, orig)
		for _, mtu := range []int{1400, 1000, 576, 68} {
			t.Run(fmt.Sprintf("vlans%d_mtu%d", len(vlans), mtu), func(t *testing.T) {
				frags := frag4(t, orig, mtu)
				d := (mtu - 20) &^ 7 // data per fragment
				want := (1480 + d - 1) / d
				if len(frags) != want {
					t.Errorf("%d fragments, want %d", len(frags), want)
				}
				checkFrags4(t, orig, frags, mtu, 0, false)

				r := NewReassembler(ReassemblerConfig{})
				if got := reassemble(t, r, frags, 0); !bytes.Equal(got, orig) {
					t.Error("Reassembler: in order, not the original")
				}
				if got := addAll(t, r, shuffled(frags, uint64(mtu)), 0); !bytes.Equal(got, orig) {
					t.Error("Reassembler: shuffled, not the original")
				}

				g := defragGopacket(t, frags)
				oip := packet.IPv4(orig[om.L3Off:om.End])
				if !bytes.Equal(g.Payload, oip.Payload()) || g.Id != oip.ID() || g.Protocol != layers.IPProtocolUDP ||
					!g.SrcIP.Equal(ip4A) || !g.DstIP.Equal(ip4B) || g.TOS != oip.TOS() || g.TTL != oip.TTL() {
					t.Error("ip4defrag: not the original")
				}
				// gopacket decodes the reassembled payload as the original UDP.
				udp := gopacket.NewPacket(g.Payload, layers.LayerTypeUDP, gopacket.Default)
				if u, _ := udp.Layer(layers.LayerTypeUDP).(*layers.UDP); u == nil || u.Length != 1480 {
					t.Error("ip4defrag result is not the 1480-byte UDP datagram")
				}
			})
		}
	}
}

// addAll adds frames in the given order and returns the completed datagram.
func addAll(t *testing.T, r *Reassembler, frags [][]byte, now int64) []byte {
	t.Helper()
	var got []byte
	for i, f := range frags {
		out, res := r.Add(f, now)
		switch {
		case res.Status == Complete && got == nil && i == len(frags)-1:
			got = append([]byte(nil), out...)
		case res.Status != Held:
			t.Fatalf("fragment %d: %v/%v", i, res.Status, res.Reason)
		}
	}
	return got
}

func TestFragmentIPv4Padding(t *testing.T) {
	orig := udp4(t, nil, ip4(), 1500)
	padded := append(append([]byte(nil), orig...), 0xee, 0xee, 0xee, 0xee)
	frags := frag4(t, padded, 576)
	checkFrags4(t, orig, frags, 576, 0, false)
	// A packet that fits is emitted once, as it is but trimmed.
	small := udp4(t, nil, ip4(), 100)
	spad := append(append([]byte(nil), small...), make([]byte, 6)...)
	got := frag4(t, spad, 1500)
	if len(got) != 1 || !bytes.Equal(got[0], small) {
		t.Errorf("fitting packet: %d fragments, want itself trimmed", len(got))
	}
}

// TestFragmentIPv4Options: options with the copy flag go into every
// fragment, the others into the first only (RFC 791).
func TestFragmentIPv4Options(t *testing.T) {
	rr := layers.IPv4Option{OptionType: 7, OptionLength: 11, OptionData: []byte{8, 0, 0, 0, 0, 0, 0, 0, 0}} // record route: not copied
	ra := layers.IPv4Option{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}                    // router alert: copied
	sec := layers.IPv4Option{OptionType: 0x82, OptionLength: 3, OptionData: []byte{1}}                      // copied, odd length
	for _, tc := range []struct {
		name  string
		opts  []layers.IPv4Option
		later []byte
	}{
		{"rr_ra", []layers.IPv4Option{rr, {OptionType: 1}, ra}, []byte{0x94, 4, 0, 0}},
		{"ra_sec", []layers.IPv4Option{ra, sec}, []byte{0x94, 4, 0, 0, 0x82, 3, 1, 0}},
		{"rr_only", []layers.IPv4Option{rr}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := udp4(t, []uint16{7}, ip4(tc.opts...), 1500)
			frags := frag4(t, orig, 576)
			checkFrags4(t, orig, frags, 576, 0, false)
			for i, f := range frags[1:] {
				m := meta(t, f)
				if got := packet.IPv4(f[m.L3Off:]).Options(); !bytes.Equal(got, tc.later) {
					t.Errorf("fragment %d options % x, want % x", i+1, got, tc.later)
				}
			}
			r := NewReassembler(ReassemblerConfig{})
			if got := addAll(t, r, shuffled(frags, 3), 0); !bytes.Equal(got, orig) {
				t.Error("reassembled datagram is not the original (the first fragment's header)")
			}
		})
	}
}

// TestFragmentIPv4AlreadyFragmented splits fragments further: offsets are
// relative to the fragment's, MF is kept on the last piece of a middle
// fragment, and everything still reassembles.
func TestFragmentIPv4AlreadyFragmented(t *testing.T) {
	orig := udp4(t, nil, ip4(), 3000)
	first := frag4(t, orig, 1500) // 1480 + 1480 + 20
	if len(first) != 3 {
		t.Fatalf("%d fragments", len(first))
	}
	var all [][]byte
	for i, f := range first {
		m := meta(t, f)
		ip := packet.IPv4(f[m.L3Off:])
		sub := frag4(t, f, 576)
		if i < 2 {
			checkFrags4(t, f, sub, 576, int(ip.FragmentOffset()), true)
		}
		all = append(all, sub...)
	}
	last := all[len(all)-1]
	if m := meta(t, last); packet.IPv4(last[m.L3Off:]).MF() {
		t.Error("last piece of the last fragment has MF")
	}
	r := NewReassembler(ReassemblerConfig{})
	if got := addAll(t, r, shuffled(all, 9), 0); !bytes.Equal(got, orig) {
		t.Error("re-fragmented fragments do not reassemble to the original")
	}
	if got := defragGopacket(t, all); !bytes.Equal(got.Payload, packet.IPv4(orig[14:]).Payload()) {
		t.Error("ip4defrag: not the original")
	}
}

func TestFragmentIPv4Errors(t *testing.T) {
	ok := udp4(t, nil, ip4(), 1500)
	df := func() []byte {
		ip := ip4()
		ip.Flags = layers.IPv4DontFragment
		return udp4(t, nil, ip, 1500)
	}()
	badOpt := udp4(t, nil, ip4(layers.IPv4Option{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}), 1500)
	badOpt[14+20+1] = 9 // option length beyond the header
	badOpt2 := append([]byte(nil), badOpt...)
	badOpt2[14+20+1] = 1
	v6 := udp6(t, nil, 1500)
	hugeOff := append([]byte(nil), ok...)
	binary.BigEndian.PutUint16(hugeOff[14+6:], 0x1fff) // offset 65528 + 1480
	scratch := make([]byte, 2000)
	none := func([]byte) error { return nil }
	for _, tc := range []struct {
		name    string
		frame   []byte
		mtu     int
		scratch []byte
		want    error
	}{
		{"df", df, 1400, scratch, ErrDF},
		{"mtu_67", ok, 67, scratch, ErrMTU},
		{"scratch", ok, 1400, scratch[:1413], ErrScratch},
		{"scratch_exact", ok, 1400, scratch[:1414], nil},
		{"ipv6", v6, 1400, scratch, ErrNotIPv4},
		{"short_l2", ok[:12], 1400, scratch, ErrTruncated},
		{"short_ip", ok[:30], 1400, scratch, ErrTruncated},
		{"short_total", ok[:1000], 900, scratch, ErrTruncated},
		{"bad_option_len", badOpt, 1400, scratch, ErrOptions},
		{"option_len_1", badOpt2, 1400, scratch, ErrOptions},
		{"offset_overflow", hugeOff, 1400, scratch, ErrOffsetExceed},
		{"df_but_fits", df, 1500, scratch, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := FragmentIPv4(tc.frame, tc.mtu, tc.scratch, none); err != tc.want {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	// emit's error stops the split and is returned as it is.
	stop := errors.New("tx ring full")
	calls := 0
	err := FragmentIPv4(ok, 576, scratch, func([]byte) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("emit error: %v after %d calls", err, calls)
	}
	var e Error
	if !errors.As(error(ErrDF), &e) || e.Name() != "df_set" || ErrDF.Error() == "" {
		t.Error("Error type")
	}
}

// v6exts is a chain with unfragmentable (hop-by-hop, destination options
// before routing, routing) and fragmentable (destination options after
// routing) headers.
func v6exts() []ext6 { return []ext6{hbhExt(), dstExt(1), routingExt(), dstExt(2)} }

func checkFrags6(t *testing.T, orig []byte, frags [][]byte, mtu int, id uint32, unfrag int) {
	t.Helper()
	om := meta(t, orig)
	oip := orig[om.L3Off:om.End]
	data := oip[unfrag:]
	off := 0
	for i, f := range frags {
		l3 := om.L3Off
		if !bytes.Equal(f[:l3], orig[:l3]) {
			t.Fatalf("fragment %d: L2 header differs", i)
		}
		m := meta(t, f)
		ip := f[l3:]
		last := i == len(frags)-1
		if len(ip) > mtu || int(packet.IPv6(ip).PayloadLength()) != len(ip)-40 {
			t.Errorf("fragment %d: %d bytes, payload length %d, mtu %d", i, len(ip), packet.IPv6(ip).PayloadLength(), mtu)
		}
		if m.FragHdrOff != l3+unfrag {
			t.Fatalf("fragment %d: fragment header at %d, want after the unfragmentable part (%d)", i, m.FragHdrOff-l3, unfrag)
		}
		// The unfragmentable part is the original's but for the length and
		// the next header that now names the fragment header.
		fh := packet.IPv6Fragment(ip[unfrag:])
		fdata := ip[unfrag+8:]
		switch {
		case !last && len(fdata)%8 != 0:
			t.Errorf("fragment %d: %d data bytes", i, len(fdata))
		case int(fh.FragmentOffset()) != off || fh.More() == last || fh.ID() != id:
			t.Errorf("fragment %d: offset %d more %v id %#x", i, fh.FragmentOffset(), fh.More(), fh.ID())
		case !bytes.Equal(fdata, data[off:off+len(fdata)]):
			t.Errorf("fragment %d: data differs at %d", i, off)
		}
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		if gf, _ := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); gf == nil ||
			gf.Identification != id || int(gf.FragmentOffset)*8 != off || gf.MoreFragments == last {
			t.Errorf("fragment %d: gopacket fragment header %+v", i, gf)
		}
		off += len(fdata)
	}
	if off != len(data) {
		t.Fatalf("fragments carry %d bytes, want %d", off, len(data))
	}
}

func TestFragmentIPv6(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vlans  []uint16
		exts   []ext6
		unfrag int
	}{
		{"plain", nil, nil, 40},
		{"hbh", []uint16{5}, []ext6{hbhExt()}, 48},
		{"full_chain", []uint16{1, 2}, v6exts(), 80},
		{"dstopts_only", nil, []ext6{dstExt(3)}, 40}, // no routing header: fragmentable
	} {
		for _, mtu := range []int{1280, 1400, 1500} {
			t.Run(fmt.Sprintf("%s_mtu%d", tc.name, mtu), func(t *testing.T) {
				orig := udp6(t, tc.vlans, 4000, tc.exts...)
				frags := frag6(t, orig, mtu, 0xc0ffee)
				checkFrags6(t, orig, frags, mtu, 0xc0ffee, tc.unfrag)
				r := NewReassembler(ReassemblerConfig{})
				if got := reassemble(t, r, frags, 0); !bytes.Equal(got, orig) {
					t.Error("Reassembler: in order, not the original")
				}
				if got := addAll(t, r, shuffled(frags, uint64(mtu)), 0); !bytes.Equal(got, orig) {
					t.Error("Reassembler: shuffled, not the original")
				}
			})
		}
	}
}

func TestFragmentIPv6Errors(t *testing.T) {
	ok := udp6(t, nil, 3000)
	fits := udp6(t, []uint16{3}, 1280)
	already := udp6(t, nil, 3000, ext6{44, []byte{0, 0, 0, 1, 0, 0, 0, 1}})
	afterHBH := udp6(t, nil, 3000, hbhExt(), ext6{44, []byte{0, 0, 0, 1, 0, 0, 0, 1}})
	nine := make([]ext6, 9)
	for i := range nine {
		nine[i] = ext6{0, []byte{0, 0, 1, 4, 0, 0, 0, 0}}
	}
	cut := udp6(t, nil, 1500, ext6{43, make([]byte, 8)})
	cut[14+40+1] = 255 // routing header longer than the packet
	bigUnfrag := udp6(t, nil, 3000, ext6{0, make([]byte, 1256)})
	bigUnfrag[14+40+1] = 1256/8 - 1
	scratch := make([]byte, 2000)
	none := func([]byte) error { return nil }
	for _, tc := range []struct {
		name    string
		frame   []byte
		mtu     int
		scratch []byte
		want    error
	}{
		{"mtu_1279", ok, 1279, scratch, ErrMTU},
		{"ipv4", udp4(t, nil, ip4(), 3000), 1280, scratch, ErrNotIPv6},
		{"short", ok[:50], 1280, scratch, ErrTruncated},
		{"short_payload", ok[:2000], 1280, scratch, ErrTruncated},
		{"already_fragment", already, 1280, scratch, ErrExtHeaders},
		{"already_fragment_after_hbh", afterHBH, 1280, scratch, ErrExtHeaders},
		{"nine_hbh", udp6(t, nil, 3000, nine...), 1280, scratch, ErrExtHeaders},
		{"cut_routing", cut, 1280, scratch, ErrExtHeaders},
		{"unfragmentable_too_big", bigUnfrag, 1300, scratch, ErrMTU},
		{"scratch", ok, 1280, scratch[:1293], ErrScratch},
		{"fits", fits, 1280, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := FragmentIPv6(tc.frame, tc.mtu, 1, tc.scratch, none); err != tc.want {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	got := frag6(t, fits, 1280, 1)
	if len(got) != 1 || !bytes.Equal(got[0], fits) {
		t.Error("a fitting packet is not emitted as it is")
	}
}

func TestFragmentAllocs(t *testing.T) {
	f4 := udp4(t, []uint16{9}, ip4(), 1500)
	f6 := udp6(t, []uint16{9}, 3000, v6exts()...)
	scratch := make([]byte, 2000)
	n := 0
	emit := func(b []byte) error { n += len(b); return nil }
	if a := testing.AllocsPerRun(200, func() { _ = FragmentIPv4(f4, 576, scratch, emit) }); a != 0 {
		t.Errorf("FragmentIPv4: %v allocs", a)
	}
	if a := testing.AllocsPerRun(200, func() { _ = FragmentIPv6(f6, 1280, 7, scratch, emit) }); a != 0 {
		t.Errorf("FragmentIPv6: %v allocs", a)
	}
}
