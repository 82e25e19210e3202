package replay

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/ctswitch/ctswitch/conntrack"
)

const (
	sessionPcap   = "../../examples/session.pcap"
	migrationPcap = "../../examples/migration.pcap"
)

// want is the expected outcome of one packet. Dir is checked only for
// packets that belong to a connection (new, established, related).
type want struct {
	verdict string
	state   string
	dir     string
	reason  string // Why.Reason.Name(), "" for none
}

// sessionWant is examples/session.pcap as Linux nf_conntrack (default
// sysctls: loose=1, be_liberal=0, checksum=1) sees it; see
// tools/gencaptures/scenarios.go for how each packet is made.
var sessionWant = []want{
	{"untracked", "NONE", "", ""},                              // 1 ARP: not IP
	{"new", "SYN_SENT", "orig", ""},                            // 2 SYN
	{"established", "SYN_RECV", "reply", ""},                   // 3 SYN/ACK
	{"established", "ESTABLISHED", "orig", ""},                 // 4 ACK: handshake done
	{"established", "ESTABLISHED", "orig", ""},                 // 5 request
	{"established", "ESTABLISHED", "reply", ""},                // 6 response
	{"established", "ESTABLISHED", "orig", ""},                 // 7 ACK
	{"invalid", "NONE", "", "bad_checksum"},                    // 8 corrupted copy of 6
	{"new", "UNREPLIED", "orig", ""},                           // 9 DNS query
	{"established", "REPLIED", "reply", ""},                    // 10 DNS answer
	{"new", "UNREPLIED", "orig", ""},                           // 11 UDP to a closed port
	{"related", "UNREPLIED", "reply", ""},                      // 12 ICMP port unreachable about 11
	{"new", "UNREPLIED", "orig", ""},                           // 13 echo request
	{"established", "REPLIED", "reply", ""},                    // 14 echo reply
	{"invalid", "ESTABLISHED", "", "tcp_seq_over_upper_bound"}, // 15 injected, 1 MB beyond the window
	{"established", "FIN_WAIT", "reply", ""},                   // 16 server FIN/ACK, 54 bytes + non-zero padding
	{"established", "LAST_ACK", "orig", ""},                    // 17 client FIN/ACK
	{"established", "TIME_WAIT", "reply", ""},                  // 18 last ACK, 54 bytes + non-zero padding
	{"untracked", "NONE", "", ""},                              // 19 ICMPv6 neighbour solicitation
	{"new", "SYN_SENT", "orig", ""},                            // 20 IPv6 SYN
	{"established", "SYN_RECV", "reply", ""},                   // 21 SYN/ACK
	{"established", "ESTABLISHED", "orig", ""},                 // 22 ACK
	{"established", "ESTABLISHED", "orig", ""},                 // 23 data
	{"established", "ESTABLISHED", "reply", ""},                // 24 data
	{"established", "FIN_WAIT", "orig", ""},                    // 25 client FIN/ACK
	{"established", "LAST_ACK", "reply", ""},                   // 26 server FIN/ACK
	{"established", "TIME_WAIT", "orig", ""},                   // 27 last ACK
}

// migrationWant: mid-stream pickup (loose=1) makes the first packet new
// and ESTABLISHED; the picked-up flow is tracked liberally, so the server's
// ACK of 72400 bytes the tracker never saw is fine, and so is the rest.
func migrationWant() []want {
	w := []want{{"new", "ESTABLISHED", "orig", ""}}
	for i := 0; i < 61; i++ {
		dir := "reply"
		if i%2 == 1 {
			dir = "orig"
		}
		w = append(w, want{"established", "ESTABLISHED", dir, ""})
	}
	return w
}

func replayFile(t *testing.T, path string, opts Options) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return replayReader(t, f, opts)
}

func replayReader(t *testing.T, r io.Reader, opts Options) []Record {
	t.Helper()
	var recs []Record
	if err := Replay(r, opts, func(r *Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return recs
}

func checkWant(t *testing.T, recs []Record, ws []want) {
	t.Helper()
	if len(recs) != len(ws) {
		t.Fatalf("%d packets, want %d", len(recs), len(ws))
	}
	for i, w := range ws {
		r := &recs[i]
		got := want{r.Verdict.String(), r.State.String(), r.Dir(), ""}
		if !r.Why.IsZero() {
			got.reason = r.Why.Reason.Name()
		}
		if w.dir == "" {
			got.dir = ""
		}
		if got != w {
			t.Errorf("packet %d (%s): got %s %s %s %q (%s), want %s %s %s %q",
				r.N, r.Tuple, got.verdict, got.state, got.dir, got.reason, r.Why, w.verdict, w.state, w.dir, w.reason)
		}
	}
}

func TestSessionGolden(t *testing.T) {
	checkWant(t, replayFile(t, sessionPcap, DefaultOptions()), sessionWant)
}

func TestMigrationGolden(t *testing.T) {
	recs := replayFile(t, migrationPcap, DefaultOptions())
	checkWant(t, recs, migrationWant())
}

// Without loose pickup a flow whose SYN was not seen cannot be tracked:
// Linux (nf_conntrack_tcp_loose=0) marks every packet invalid.
func TestMigrationNoLoose(t *testing.T) {
	opts := DefaultOptions()
	opts.Loose = false
	recs := replayFile(t, migrationPcap, opts)
	for _, r := range recs {
		if r.Verdict != conntrack.VerdictInvalid || r.Why.Reason.Name() != "tcp_no_pickup" {
			t.Errorf("packet %d: %s %s, want invalid tcp_no_pickup", r.N, r.Verdict, r.Why)
		}
	}
}

// The knobs reach the tracker: be_liberal accepts the out-of-window
// segment, checksum=false lets the corrupted retransmission through.
func TestSessionKnobs(t *testing.T) {
	opts := DefaultOptions()
	opts.BeLiberal = true
	recs := replayFile(t, sessionPcap, opts)
	if r := recs[14]; r.Verdict != conntrack.VerdictEstablished {
		t.Errorf("be-liberal: packet 15: %s %s, want established", r.Verdict, r.Why)
	}
	opts = DefaultOptions()
	opts.Checksum = false
	recs = replayFile(t, sessionPcap, opts)
	if r := recs[7]; r.Verdict != conntrack.VerdictEstablished {
		t.Errorf("checksum off: packet 8: %s %s, want established", r.Verdict, r.Why)
	}
	opts = DefaultOptions()
	opts.Zone = 7
	recs = replayFile(t, sessionPcap, opts)
	if r := recs[1]; r.Zone != 7 || !strings.HasSuffix(r.Tuple, " zone 7") {
		t.Errorf("zone 7: packet 2: zone %d tuple %q", r.Zone, r.Tuple)
	}
}

func TestSessionTuples(t *testing.T) {
	recs := replayFile(t, sessionPcap, DefaultOptions())
	for n, tuple := range map[int]string{
		1:  "arp",
		2:  "tcp 198.18.0.1:40000 > 198.18.0.2:80",
		12: "icmp 198.18.0.3 > 198.18.0.1 port-unreachable",
		13: "icmp 198.18.0.1 > 198.18.0.2 echo-request id 7213",
		14: "icmp 198.18.0.2 > 198.18.0.1 echo-reply id 7213",
		19: "icmpv6 2001:db8::1 > 2001:db8::2 neighbor-sol",
		20: "tcp [2001:db8::1]:40001 > [2001:db8::2]:8080",
	} {
		if got := recs[n-1].Tuple; got != tuple {
			t.Errorf("packet %d: tuple %q, want %q", n, got, tuple)
		}
	}
	if got, w := recs[11].Related, "udp 198.18.0.1:41000 > 198.18.0.3:7777"; got != w {
		t.Errorf("packet 12: related %q, want %q", got, w)
	}
	if !recs[0].Time.Equal(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)) {
		t.Errorf("packet 1: time %s", recs[0].Time)
	}
}

func runOut(t *testing.T, path, format string, opts Options) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Run(path, opts, format, &o, &e)
	return o.String(), e.String(), err
}

func TestTextOutput(t *testing.T) {
	out, errOut, err := runOut(t, sessionPcap, FormatText, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+len(sessionWant) {
		t.Fatalf("%d lines, want %d", len(lines), 1+len(sessionWant))
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "N TUPLE DIR VERDICT STATE REASON" {
		t.Errorf("header %q", lines[0])
	}
	// Columns line up: DIR starts at the same offset on every line whose
	// tuple fits its column.
	col := strings.Index(lines[0], "DIR")
	for i, l := range lines[1:] {
		d := strings.Index(l, "  orig ")
		if d < 0 {
			d = strings.Index(l, "  reply ")
		}
		if d+2 != col {
			t.Errorf("line %d: DIR at %d, want %d: %q", i+1, d+2, col, l)
		}
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d has trailing spaces", i+1)
		}
	}
	if !strings.Contains(lines[15], "invalid      ESTABLISHED  tcp_seq_over_upper_bound: seq ") {
		t.Errorf("line 15: %q", lines[15])
	}
	for _, s := range []string{
		"summary: 27 packets\n",
		"verdicts: new 5, established 17, related 1, invalid 2, untracked 2\n",
		"reasons:  bad_checksum 1, tcp_seq_over_upper_bound 1\n",
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
}

func TestJSONOutput(t *testing.T) {
	out, _, err := runOut(t, sessionPcap, FormatJSON, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(sessionWant) {
		t.Fatalf("%d lines, want %d", len(lines), len(sessionWant))
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, l)
		}
		for _, k := range []string{"n", "time", "tuple", "dir", "verdict", "state", "zone"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i+1, k, l)
			}
		}
		if m["n"] != float64(i+1) || m["verdict"] != sessionWant[i].verdict || m["state"] != sessionWant[i].state {
			t.Errorf("line %d: %s", i+1, l)
		}
		if d := m["dir"]; d != "orig" && d != "reply" {
			t.Errorf("line %d: dir %v", i+1, d)
		}
		if m["zone"] != float64(0) {
			t.Errorf("line %d: zone %v", i+1, m["zone"])
		}
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["time"]))
		if err != nil || ts.Before(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)) {
			t.Errorf("line %d: time %v (%v)", i+1, m["time"], err)
		}
		reason, has := m["reason"]
		if wr := sessionWant[i].reason; wr != "" {
			if !has || !strings.HasPrefix(fmt.Sprint(reason), wr+": ") {
				t.Errorf("line %d: reason %v, want %s: ...", i+1, reason, wr)
			}
		} else if has {
			t.Errorf("line %d: unexpected reason %v", i+1, reason)
		}
	}
	if !strings.Contains(lines[0], `"time":"2025-03-14T09:26:53Z"`) {
		t.Errorf("first line: %s", lines[0])
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, _, err := runOut(t, sessionPcap, "yaml", DefaultOptions()); err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("err = %v", err)
	}
}

// readFrames returns the frames and capture infos of a pcap.
func readFrames(t *testing.T, path string) ([][]byte, []gopacket.CaptureInfo) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	var cis []gopacket.CaptureInfo
	for {
		d, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, cis
		}
		if err != nil {
			t.Fatal(err)
		}
		frames, cis = append(frames, d), append(cis, ci)
	}
}

func toPcapng(t *testing.T, frames [][]byte, cis []gopacket.CaptureInfo, lt layers.LinkType) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, lt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := w.WritePacket(cis[i], frames[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPcapng(t *testing.T) {
	frames, cis := readFrames(t, sessionPcap)
	ng := toPcapng(t, frames, cis, layers.LinkTypeEthernet)
	got := replayReader(t, bytes.NewReader(ng), DefaultOptions())
	checkWant(t, got, sessionWant)
	want := replayFile(t, sessionPcap, DefaultOptions())
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d: pcapng %+v, pcap %+v", i+1, got[i], want[i])
		}
	}
}

// pcapHeader is a classic pcap file header (little endian, microseconds).
func pcapHeader(snaplen, linkType uint32) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snaplen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	return h
}

func pcapRecord(ts time.Time, caplen, length uint32, data []byte) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], caplen)
	binary.LittleEndian.PutUint32(h[12:], length)
	return append(h, data...)
}

// replayErr replays into a small table: the many replays of the
// corruption tests need no room for a million connections.
func replayErr(r io.Reader) error {
	opts := DefaultOptions()
	opts.MaxConns = 1024
	return Replay(r, opts, func(*Record) error { return nil })
}

func TestLinkTypeNotEthernet(t *testing.T) {
	ip := bytes.Repeat([]byte{0x45}, 40)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"pcap raw", append(pcapHeader(65535, 101), pcapRecord(time.Unix(0, 0), 40, 40, ip)...), "link type RAW (101)"},
		// 276 does not fit gopacket's 8-bit LinkType (276 & 0xff = 20).
		{"pcap sll2", pcapHeader(65535, 276), "link type LINUX_SLL2 (276)"},
		{"pcap 257", pcapHeader(65535, 257), "link type unknown (257)"},
		{"pcapng raw", toPcapng(t, [][]byte{ip}, []gopacket.CaptureInfo{{Timestamp: time.Unix(1, 0), CaptureLength: 40, Length: 40}}, layers.LinkTypeRaw),
			"interface 0: link type RAW (101)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := replayErr(bytes.NewReader(tc.file))
			var lte *LinkTypeError
			if !errors.As(err, &lte) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a LinkTypeError with %q", err, tc.want)
			}
		})
	}
	// Through Run, the message names the file.
	dir := t.TempDir()
	p := filepath.Join(dir, "raw.pcap")
	if err := os.WriteFile(p, pcapHeader(65535, 101), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runOut(t, p, FormatText, DefaultOptions())
	if err == nil || !strings.Contains(err.Error(), "raw.pcap: link type RAW (101) is not supported") {
		t.Errorf("err = %v", err)
	}
	if errOut != "" {
		t.Errorf("stderr %q for an unreadable file", errOut)
	}
}

func TestGarbage(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	noise := make([]byte, 4096)
	rnd.Read(noise)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not a pcap or pcapng file: the file is empty"},
		{"short", []byte("hi"), "not a pcap or pcapng file"},
		{"text", []byte("hello, world\n"), "not a pcap or pcapng file (magic number 68656c6c)"},
		{"noise", noise, "not a pcap or pcapng file"},
		{"pcap header cut", pcapHeader(65535, 1)[:10], "truncated"},
		{"pcapng header cut", []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0}, "truncated"},
		{"gzip garbage", []byte{0x1f, 0x8b, 1, 2, 3}, "gzip"},
		{"huge caplen", append(pcapHeader(0xffffffff, 1), pcapRecord(time.Unix(0, 0), 0x7fffffff, 0x7fffffff, nil)...), "exceeds snap length: 2147483647 > 262144"},
		{"caplen > len", append(pcapHeader(65535, 1), pcapRecord(time.Unix(0, 0), 100, 60, make([]byte, 100))...), "exceeds original packet length"},
		{"record header without data", append(pcapHeader(65535, 1), pcapRecord(time.Unix(0, 0), 60, 60, nil)...), "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := replayErr(bytes.NewReader(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Cutting a capture anywhere is an error, except at a record boundary.
func TestTruncatedFile(t *testing.T) {
	file, err := os.ReadFile(sessionPcap)
	if err != nil {
		t.Fatal(err)
	}
	boundary := map[int]bool{}
	for off := 24; off <= len(file); {
		boundary[off] = true
		if off+16 > len(file) {
			break
		}
		off += 16 + int(binary.LittleEndian.Uint32(file[off+8:]))
	}
	if !boundary[len(file)] {
		t.Fatal("record walk does not end at the end of the file")
	}
	for cut := 0; cut <= len(file); cut++ {
		err := replayErr(bytes.NewReader(file[:cut]))
		if boundary[cut] != (err == nil) {
			t.Errorf("cut at %d of %d: err = %v", cut, len(file), err)
		}
	}

	frames, cis := readFrames(t, sessionPcap)
	ng := toPcapng(t, frames, cis, layers.LinkTypeEthernet)
	nb := map[int]bool{}
	for off := 0; off+8 <= len(ng); {
		off += int(binary.LittleEndian.Uint32(ng[off+4:]))
		nb[off] = true
	}
	for cut := 0; cut <= len(ng); cut++ {
		err := replayErr(bytes.NewReader(ng[:cut]))
		if err == nil && !nb[cut] {
			t.Errorf("pcapng cut at %d of %d (inside a block): no error", cut, len(ng))
		}
	}
	if err := replayErr(bytes.NewReader(ng)); err != nil {
		t.Errorf("whole pcapng: %v", err)
	}
}

// Random corruption of either format never panics (Replay recovers the
// reader's panics, but the tracker must not panic either: that would be an
// error naming the packet).
func TestCorruptNoPanic(t *testing.T) {
	pcap, err := os.ReadFile(sessionPcap)
	if err != nil {
		t.Fatal(err)
	}
	frames, cis := readFrames(t, sessionPcap)
	ng := toPcapng(t, frames, cis, layers.LinkTypeEthernet)
	rnd := rand.New(rand.NewSource(2))
	for _, orig := range [][]byte{pcap, ng} {
		for i := 0; i < 300; i++ {
			b := append([]byte(nil), orig...)
			for k := 1 + rnd.Intn(8); k > 0; k-- {
				b[rnd.Intn(len(b))] = byte(rnd.Intn(256))
			}
			err := replayErr(bytes.NewReader(b))
			if err != nil && strings.Contains(err.Error(), "panicked") {
				t.Errorf("iteration %d: %v", i, err)
			}
		}
	}
}

func FuzzReplay(f *testing.F) {
	pcap, err := os.ReadFile(sessionPcap)
	if err != nil {
		f.Fatal(err)
	}
	// Small seeds: the fuzzer minimises every interesting input, which is
	// slow for kilobytes. The first six records hold ARP, the TCP
	// handshake and data.
	off := 24
	for i := 0; i < 6; i++ {
		off += 16 + int(binary.LittleEndian.Uint32(pcap[off+8:]))
	}
	f.Add(pcap[:off])
	f.Add(pcap[:200])
	f.Add(pcapHeader(65535, 1))
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})
	f.Fuzz(func(t *testing.T, b []byte) {
		err := replayErr(bytes.NewReader(b))
		if err != nil && strings.Contains(err.Error(), "panicked") {
			t.Fatal(err)
		}
	})
}

// A frame captured short (caplen < len) gets a warning and is still
// tracked, with the bytes that were captured.
func TestTruncatedPacket(t *testing.T) {
	frames, _ := readFrames(t, sessionPcap)
	resp := frames[5] // the HTTP response, 180-odd bytes
	file := pcapHeader(96, 1)
	file = append(file, pcapRecord(time.Unix(1741944413, 0), 96, uint32(len(resp)), resp[:96])...)
	file = append(file, pcapRecord(time.Unix(1741944413, 1000), 60, 60, frames[0])...)
	p := filepath.Join(t.TempDir(), "snap.pcap")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runOut(t, p, FormatText, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if w := fmt.Sprintf("warning: packet 1: truncated capture: 96 of %d bytes captured", len(resp)); !strings.Contains(errOut, w) {
		t.Errorf("stderr lacks %q:\n%s", w, errOut)
	}
	if strings.Contains(errOut, "packet 2:") {
		t.Errorf("warning for a complete packet:\n%s", errOut)
	}
	if !strings.Contains(errOut, "summary: 2 packets (1 truncated)") {
		t.Errorf("summary:\n%s", errOut)
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d lines of output, want 3:\n%s", n, out)
	}
}

func TestEmptyCapture(t *testing.T) {
	p := filepath.Join(t.TempDir(), "empty.pcap")
	if err := os.WriteFile(p, pcapHeader(65535, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runOut(t, p, FormatText, DefaultOptions())
	if err != nil || out != Header+"\n" || !strings.HasPrefix(errOut, "summary: 0 packets") {
		t.Errorf("err %v, stdout %q, stderr %q", err, out, errOut)
	}
}

func TestGzip(t *testing.T) {
	pcap, err := os.ReadFile(sessionPcap)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(pcap)
	zw.Close()
	checkWant(t, replayReader(t, &buf, DefaultOptions()), sessionWant)
}
