package replay

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// File magic numbers, as the first four bytes read in file order.
var (
	magicPcapUsLE = []byte{0xd4, 0xc3, 0xb2, 0xa1}
	magicPcapUsBE = []byte{0xa1, 0xb2, 0xc3, 0xd4}
	magicPcapNsLE = []byte{0x4d, 0x3c, 0xb2, 0xa1}
	magicPcapNsBE = []byte{0xa1, 0xb2, 0x3c, 0x4d}
	magicPcapng   = []byte{0x0a, 0x0d, 0x0d, 0x0a} // section header block type
)

// maxFrame bounds one captured frame. Real frames are at most ~64 KiB (GRO
// can make captured ones up to 256 KiB); the bound keeps a corrupt length
// field from allocating gigabytes.
const maxFrame = 256 << 10

// captureInfo is what the replay needs of a record's header.
type captureInfo struct {
	ts     time.Time
	length int // original length on the wire
}

// capture is a pcap or pcapng reader behind one interface.
type capture struct {
	next func() ([]byte, captureInfo, error)
}

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// openCapture detects the format by its magic number and reads the file
// header. Reader panics on corrupt input (gopacket's pcapng reader has a
// few) are turned into errors.
func openCapture(src io.Reader) (c *capture, err error) {
	br := bufio.NewReaderSize(src, 64<<10)
	magic, err := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, zerr := gzip.NewReader(br)
		if zerr != nil {
			return nil, fmt.Errorf("gzip: %w", zerr)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
		if magic, err = br.Peek(4); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(magic) == 0 {
				return nil, fmt.Errorf("%w: the file is empty", ErrNotCapture)
			}
			return nil, fmt.Errorf("%w: only %d bytes", ErrNotCapture, len(magic))
		}
		return nil, err
	}
	defer recoverReader(&err)
	switch {
	case bytesEq(magic, magicPcapUsLE), bytesEq(magic, magicPcapUsBE),
		bytesEq(magic, magicPcapNsLE), bytesEq(magic, magicPcapNsBE):
		return openPcap(br)
	case bytesEq(magic, magicPcapng):
		return openPcapng(br)
	}
	return nil, fmt.Errorf("%w (magic number %02x%02x%02x%02x)", ErrNotCapture, magic[0], magic[1], magic[2], magic[3])
}

func bytesEq(a, b []byte) bool { return string(a) == string(b) }

func recoverReader(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("corrupt capture file (reader failed: %v)", v)
	}
}

// eofAsTruncated reports a capture that ends inside a record.
func eofAsTruncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("capture file is truncated: it ends inside a packet record")
	}
	return err
}

func openPcap(br *bufio.Reader) (*capture, error) {
	// gopacket's LinkType is 8 bits wide: read the real 16-bit value.
	hdr, err := br.Peek(24)
	if err != nil {
		return nil, errors.New("capture file is truncated: it ends inside the pcap file header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if hdr[0] == 0xa1 {
		bo = binary.BigEndian
	}
	if lt := bo.Uint32(hdr[20:24]) & 0xFFFF; lt != linkTypeEthernet {
		return nil, linkTypeError(lt)
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("pcap header: %w", eofAsTruncated(err))
	}
	// The reader rejects records longer than the snap length. Like tcpdump
	// and Wireshark, ignore the header's value (some writers do not honour
	// it) and use a bound of our own, so a corrupt record length cannot
	// allocate gigabytes either.
	pr.SetSnaplen(maxFrame)
	return &capture{next: func() (data []byte, ci captureInfo, err error) {
		defer recoverReader(&err)
		data, gci, err := pr.ReadPacketData()
		if errors.Is(err, io.EOF) && gci.CaptureLength > 0 {
			err = io.ErrUnexpectedEOF // a record header without its data
		}
		if err != nil {
			return nil, ci, eofAsTruncated(err)
		}
		return data, captureInfo{ts: gci.Timestamp, length: gci.Length}, nil
	}}, nil
}

func openPcapng(r io.Reader) (*capture, error) {
	opts := pcapgo.DefaultNgReaderOptions
	// Deliver every packet: the validator rejects those of non-Ethernet
	// interfaces with a clear error (gopacket would skip them silently).
	opts.WantMixedLinkType = true
	nr, err := pcapgo.NewNgReader(&ngValidator{r: r}, opts)
	if err != nil {
		return nil, fmt.Errorf("pcapng header: %w", eofAsTruncated(err))
	}
	return &capture{next: func() (data []byte, ci captureInfo, err error) {
		defer recoverReader(&err)
		data, gci, err := nr.ReadPacketData()
		if err != nil {
			return nil, ci, eofAsTruncated(err)
		}
		return data, captureInfo{ts: gci.Timestamp, length: gci.Length}, nil
	}}, nil
}

const linkTypeEthernet = 1

// linkTypeNames are the pcap LINKTYPE_ names of link types often met.
var linkTypeNames = map[uint32]string{
	0: "NULL", 1: "ETHERNET", 9: "PPP", 12: "RAW", 14: "RAW", 101: "RAW",
	105: "IEEE802_11", 108: "LOOP", 113: "LINUX_SLL", 127: "IEEE802_11_RADIOTAP",
	192: "PPI", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2",
}

// LinkTypeError is returned for captures whose frames are not Ethernet.
type LinkTypeError struct{ LinkType uint32 }

func (e *LinkTypeError) Error() string {
	name := linkTypeNames[e.LinkType]
	if name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("link type %s (%d) is not supported: ct replay needs Ethernet (LINKTYPE_ETHERNET, 1) captures", name, e.LinkType)
}

func linkTypeError(lt uint32) error { return &LinkTypeError{LinkType: lt} }

// ngValidator passes a pcapng stream through one whole block at a time,
// checking each block's length fields before releasing it: gopacket's
// pcapng reader trusts them and would allocate whatever a corrupt one says.
type ngValidator struct {
	r       io.Reader
	pending []byte // a validated block not yet handed out
	block   []byte
	big     bool     // byte order of the current section
	ifaces  []uint32 // link types of the current section's interfaces
	err     error
}

const (
	ngSHB = 0x0A0D0D0A
	ngEPB = 6
	ngSPB = 3
	ngOPB = 2 // obsolete packet block
	ngIDB = 1
	// maxBlock bounds a block: a frame plus generous room for options.
	maxBlock = maxFrame + 64<<10
)

func (v *ngValidator) Read(p []byte) (int, error) {
	if len(v.pending) == 0 {
		if v.err != nil {
			return 0, v.err
		}
		if v.err = v.nextBlock(); v.err != nil {
			return 0, v.err
		}
	}
	n := copy(p, v.pending)
	v.pending = v.pending[n:]
	return n, nil
}

// nextBlock reads and checks one block into pending.
func (v *ngValidator) nextBlock() error {
	var h [12]byte
	if _, err := io.ReadFull(v.r, h[:8]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return errors.New("capture file is truncated: it ends inside a pcapng block header")
	}
	typ := binary.LittleEndian.Uint32(h[0:4]) // the SHB type reads the same both ways
	if typ == ngSHB {
		if _, err := io.ReadFull(v.r, h[8:12]); err != nil {
			return errors.New("capture file is truncated: it ends inside a pcapng section header")
		}
		switch binary.LittleEndian.Uint32(h[8:12]) {
		case 0x1A2B3C4D:
			v.big = false
		case 0x4D3C2B1A:
			v.big = true
		default:
			return errors.New("corrupt pcapng file: bad byte-order magic in a section header")
		}
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if v.big {
		bo = binary.BigEndian
	}
	typ = bo.Uint32(h[0:4])
	blen := bo.Uint32(h[4:8])
	if blen < 12 || blen%4 != 0 || blen > maxBlock {
		return fmt.Errorf("corrupt pcapng file: block of type %#x has length %d", typ, blen)
	}
	if cap(v.block) < int(blen) {
		v.block = make([]byte, blen)
	}
	b := v.block[:blen]
	hl := 8
	if typ == ngSHB {
		hl = 12
	}
	copy(b, h[:hl])
	if _, err := io.ReadFull(v.r, b[hl:]); err != nil {
		return errors.New("capture file is truncated: it ends inside a pcapng block")
	}
	if bo.Uint32(b[blen-4:]) != blen {
		return fmt.Errorf("corrupt pcapng file: block of type %#x: trailing length %d != %d", typ, bo.Uint32(b[blen-4:]), blen)
	}
	switch typ {
	case ngSHB:
		v.ifaces = v.ifaces[:0]
	case ngIDB:
		if blen < 20 {
			return fmt.Errorf("corrupt pcapng file: %d-byte interface block", blen)
		}
		v.ifaces = append(v.ifaces, uint32(bo.Uint16(b[8:10])))
	case ngEPB, ngOPB:
		if blen < 32 {
			return fmt.Errorf("corrupt pcapng file: %d-byte packet block", blen)
		}
		if caplen := bo.Uint32(b[20:24]); caplen > blen-32 {
			return fmt.Errorf("corrupt pcapng file: packet of %d captured bytes in a %d-byte block", caplen, blen)
		}
		iface := bo.Uint32(b[8:12])
		if typ == ngOPB {
			iface = uint32(bo.Uint16(b[8:10]))
		}
		if err := v.checkIface(iface); err != nil {
			return err
		}
	case ngSPB:
		if blen < 16 {
			return fmt.Errorf("corrupt pcapng file: %d-byte simple packet block", blen)
		}
		if origlen := bo.Uint32(b[8:12]); origlen > maxFrame {
			return fmt.Errorf("corrupt pcapng file: simple packet block claims %d bytes", origlen)
		}
		if err := v.checkIface(0); err != nil {
			return err
		}
	}
	v.pending = b
	return nil
}

// checkIface accepts packets of Ethernet interfaces only.
func (v *ngValidator) checkIface(i uint32) error {
	if int64(i) >= int64(len(v.ifaces)) {
		return fmt.Errorf("corrupt pcapng file: packet of interface %d, but the section describes %d", i, len(v.ifaces))
	}
	if lt := v.ifaces[i]; lt != linkTypeEthernet {
		return fmt.Errorf("interface %d: %w", i, linkTypeError(lt))
	}
	return nil
}

// ReadFrames returns every frame of a pcap or pcapng file (gzip allowed),
// copied, in file order. Limited to 100000 frames: it is for short
// synthetic inputs (ctswitch trace --pcap).
func ReadFrames(path string) (frames [][]byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := openCapture(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer recoverReader(&err)
	for {
		data, _, err := c.next()
		if errors.Is(err, io.EOF) {
			return frames, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %w", path, len(frames)+1, err)
		}
		if len(frames) == 100000 {
			return nil, fmt.Errorf("%s: more than 100000 frames", path)
		}
		frames = append(frames, append([]byte(nil), data...))
	}
}
