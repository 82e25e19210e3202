package conntrack

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Export format, version 1 (documented in EXPORT.md). Big-endian:
//
//	header: magic "CTSWCT\x00\x01" (8 bytes: 6 magic, uint16 version)
//	record: uint16 length L (0 ends the stream), then L bytes:
//	        the v1 body below; a reader skips bytes past the fields it
//	        knows, so later versions can append fields.
//
// v1 body (recordV1Len bytes):
//
//	family u8, proto u8, zone u16, src [16], dst [16], sport u16, dport u16   original direction
//	state u8, flags u8 (bit0 seen_reply, bit1 assured)
//	mark u32, labels [16] (high word first)
//	timeout_ms u64 (remaining), age_ms u64
//	2 x window {end, max_end, max_win, max_ack u32, scale u8, flags u8}       original, reply
//	last {index u8, dir u8, seq u32, ack u32, end u32, win u16, scale u8, flags u8, retrans u8}
const (
	exportMagic   = "CTSWCT"
	exportVersion = 1
	recordV1Len   = 4 + 32 + 4 + 2 + 4 + 16 + 16 + 2*18 + 20
)

// Window flag bits in the export format.
const (
	xWScale = 1 << iota
	xSackPerm
	xLiberal
	xCloseInit
	xUnacked
	xMaxAckSet
)

func putWindow(b []byte, w *TCPWindow) {
	binary.BigEndian.PutUint32(b[0:], w.End)
	binary.BigEndian.PutUint32(b[4:], w.MaxEnd)
	binary.BigEndian.PutUint32(b[8:], w.MaxWin)
	binary.BigEndian.PutUint32(b[12:], w.MaxAck)
	b[16] = w.Scale
	var f uint8
	for i, on := range []bool{w.WScale, w.SackPerm, w.Liberal, w.CloseIn, w.Unacked, w.MaxAckOK} {
		if on {
			f |= 1 << i
		}
	}
	b[17] = f
}

func getWindow(b []byte) TCPWindow {
	f := b[17]
	return TCPWindow{
		End: binary.BigEndian.Uint32(b[0:]), MaxEnd: binary.BigEndian.Uint32(b[4:]),
		MaxWin: binary.BigEndian.Uint32(b[8:]), MaxAck: binary.BigEndian.Uint32(b[12:]), Scale: b[16],
		WScale: f&xWScale != 0, SackPerm: f&xSackPerm != 0, Liberal: f&xLiberal != 0,
		CloseIn: f&xCloseInit != 0, Unacked: f&xUnacked != 0, MaxAckOK: f&xMaxAckSet != 0,
	}
}

// MarshalEntry appends e's v1 record (without the length prefix) to b.
func MarshalEntry(b []byte, e *Entry) []byte {
	n := len(b)
	b = append(b, make([]byte, recordV1Len)...)
	r := b[n:]
	k := &e.Orig
	r[0], r[1] = k.Family, k.Proto
	binary.BigEndian.PutUint16(r[2:], k.Zone)
	copy(r[4:], k.Src[:])
	copy(r[20:], k.Dst[:])
	binary.BigEndian.PutUint16(r[36:], k.SrcPort)
	binary.BigEndian.PutUint16(r[38:], k.DstPort)
	r[40] = uint8(e.State)
	if e.SeenReply {
		r[41] |= 1
	}
	if e.Assured {
		r[41] |= 2
	}
	binary.BigEndian.PutUint32(r[42:], e.Mark)
	binary.BigEndian.PutUint64(r[46:], e.Labels[0])
	binary.BigEndian.PutUint64(r[54:], e.Labels[1])
	binary.BigEndian.PutUint64(r[62:], uint64(e.Timeout/time.Millisecond))
	binary.BigEndian.PutUint64(r[70:], uint64(e.Age/time.Millisecond))
	putWindow(r[78:], &e.TCP[0])
	putWindow(r[96:], &e.TCP[1])
	l := r[114:]
	l[0], l[1] = e.Last.Index, e.Last.Dir
	binary.BigEndian.PutUint32(l[2:], e.Last.Seq)
	binary.BigEndian.PutUint32(l[6:], e.Last.Ack)
	binary.BigEndian.PutUint32(l[10:], e.Last.End)
	binary.BigEndian.PutUint16(l[14:], e.Last.Win)
	l[16], l[17], l[18] = e.Last.Scale, e.Last.Flags, e.Last.Retrans
	return b
}

// ErrBadRecord reports an export record that cannot be imported.
var ErrBadRecord = errors.New("bad conntrack record")

// UnmarshalEntry decodes a v1 (or later) record body.
func UnmarshalEntry(r []byte, e *Entry) error {
	if len(r) < recordV1Len {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrBadRecord, len(r), recordV1Len)
	}
	*e = Entry{}
	k := &e.Orig
	k.Family, k.Proto = r[0], r[1]
	if k.Family != 4 && k.Family != 6 {
		return fmt.Errorf("%w: family %d", ErrBadRecord, k.Family)
	}
	k.Zone = binary.BigEndian.Uint16(r[2:])
	copy(k.Src[:], r[4:20])
	copy(k.Dst[:], r[20:36])
	if k.Family == 4 && (!zeroTail(&k.Src) || !zeroTail(&k.Dst)) {
		return fmt.Errorf("%w: IPv4 address with non-zero padding", ErrBadRecord)
	}
	k.SrcPort = binary.BigEndian.Uint16(r[36:])
	k.DstPort = binary.BigEndian.Uint16(r[38:])
	e.State = State(r[40])
	if k.Proto == protoTCP && e.State >= numTCPStates {
		return fmt.Errorf("%w: TCP state %d", ErrBadRecord, r[40])
	}
	e.SeenReply = r[41]&1 != 0
	e.Assured = r[41]&2 != 0
	e.Mark = binary.BigEndian.Uint32(r[42:])
	e.Labels[0] = binary.BigEndian.Uint64(r[46:])
	e.Labels[1] = binary.BigEndian.Uint64(r[54:])
	to := binary.BigEndian.Uint64(r[62:])
	age := binary.BigEndian.Uint64(r[70:])
	if to > uint64(366*24*time.Hour/time.Millisecond) || age > 1<<40 {
		return fmt.Errorf("%w: timeout %d ms / age %d ms out of range", ErrBadRecord, to, age)
	}
	e.Timeout = time.Duration(to) * time.Millisecond
	e.Age = time.Duration(age) * time.Millisecond
	e.TCP[0] = getWindow(r[78:])
	e.TCP[1] = getWindow(r[96:])
	l := r[114:]
	e.Last = TCPLast{Index: l[0], Dir: l[1], Seq: binary.BigEndian.Uint32(l[2:]), Ack: binary.BigEndian.Uint32(l[6:]),
		End: binary.BigEndian.Uint32(l[10:]), Win: binary.BigEndian.Uint16(l[14:]), Scale: l[16], Flags: l[17], Retrans: l[18]}
	if e.Last.Index > idxNone || e.Last.Dir > 1 {
		return fmt.Errorf("%w: last packet index %d dir %d", ErrBadRecord, e.Last.Index, e.Last.Dir)
	}
	return nil
}

// Export writes the connections matching f in the v1 format and returns
// how many it wrote. Owners only copy entries out; encoding happens here.
func (t *Table) Export(ctx context.Context, w io.Writer, f Filter, now int64) (int, error) {
	entries, err := t.List(ctx, f, now)
	if err != nil {
		return 0, err
	}
	return WriteEntries(w, entries)
}

// WriteEntries writes entries in the export format.
func WriteEntries(w io.Writer, entries []Entry) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := []byte(exportMagic + "\x00\x00")
	binary.BigEndian.PutUint16(hdr[6:], exportVersion)
	if _, err := bw.Write(hdr); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	buf := make([]byte, 0, 2+recordV1Len)
	for i := range entries {
		buf = append(buf[:0], 0, recordV1Len)
		buf = MarshalEntry(buf, &entries[i])
		if _, err := bw.Write(buf); err != nil {
			return i, fmt.Errorf("export: %w", err)
		}
	}
	if _, err := bw.Write([]byte{0, 0}); err != nil {
		return len(entries), fmt.Errorf("export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return len(entries), fmt.Errorf("export: %w", err)
	}
	return len(entries), nil
}

// ReadEntries reads an export stream.
func ReadEntries(r io.Reader) ([]Entry, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("import: header: %w", err)
	}
	if string(hdr[:6]) != exportMagic {
		return nil, fmt.Errorf("import: not a ctswitch conntrack export (magic %q)", hdr[:6])
	}
	if v := binary.BigEndian.Uint16(hdr[6:]); v < 1 || v > exportVersion {
		return nil, fmt.Errorf("import: unsupported format version %d (this build reads 1..%d)", v, exportVersion)
	}
	var out []Entry
	rec := make([]byte, 0, 1024)
	for n := 0; ; n++ {
		var lb [2]byte
		if _, err := io.ReadFull(br, lb[:]); err != nil {
			return out, fmt.Errorf("import: record %d: %w (stream truncated: no end marker)", n, err)
		}
		l := int(binary.BigEndian.Uint16(lb[:]))
		if l == 0 {
			return out, nil
		}
		rec = rec[:l]
		if _, err := io.ReadFull(br, rec); err != nil {
			return out, fmt.Errorf("import: record %d: %w", n, err)
		}
		var e Entry
		if err := UnmarshalEntry(rec, &e); err != nil {
			return out, fmt.Errorf("import: record %d: %w", n, err)
		}
		out = append(out, e)
	}
}

// Import restores entries (replacing existing ones with the same tuple) and
// returns how many it restored. Entries that do not fit (table full, zone
// limit) are skipped and reported in the error.
func (t *Table) Import(ctx context.Context, entries []Entry, now int64) (int, error) {
	byShard := make([][]*Entry, len(t.shards))
	for i := range entries {
		e := &entries[i]
		o := e.Orig.Owner(len(t.shards))
		byShard[o] = append(byShard[o], e)
	}
	restored, skipped := 0, 0
	var first Why
	for si, s := range t.shards {
		if len(byShard[si]) == 0 {
			continue
		}
		err := s.exec(ctx, func(s *Shard) {
			s.clock(now)
			for _, e := range byShard[si] {
				if _, why := s.restore(e); !why.IsZero() {
					if skipped == 0 {
						first = why
					}
					skipped++
					continue
				}
				restored++
			}
		})
		if err != nil {
			return restored, err
		}
	}
	if skipped > 0 {
		return restored, fmt.Errorf("import: %d of %d entries not restored: %s", skipped, len(entries), first)
	}
	return restored, nil
}

// zeroTail reports whether an IPv4 address slot has its unused 12 bytes zero
// (the key compares all 16).
func zeroTail(a *[16]byte) bool { return [12]byte(a[4:]) == [12]byte{} }
