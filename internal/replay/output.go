package replay

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
)

// Output formats accepted by Run.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Formats lists the output formats.
var Formats = []string{FormatText, FormatJSON}

// Column widths of the text format. They are fixed, not fitted to the
// content, so the columns of two replays line up and output can be
// streamed; a longer value pushes the rest of its line right.
const (
	widthN       = 6
	widthTuple   = 52
	widthDir     = 5
	widthVerdict = 11
	widthState   = 11
)

// Header is the first line of the text format.
var Header = textLine("N", "TUPLE", "DIR", "VERDICT", "STATE", "REASON")

func textLine(n, tuple, dir, verdict, state, reason string) string {
	s := fmt.Sprintf("%*s  %-*s  %-*s  %-*s  %-*s  %s",
		widthN, n, widthTuple, tuple, widthDir, dir, widthVerdict, verdict, widthState, state, reason)
	return strings.TrimRight(s, " ")
}

// FormatText renders a record as one line of the text format.
func (r *Record) FormatText() string {
	return textLine(fmt.Sprint(r.N), r.Tuple, r.Dir(), r.Verdict.String(), r.State.String(), r.reason())
}

// reason is the REASON column: the tracker's reason, or for an ICMP error
// the connection it is about.
func (r *Record) reason() string {
	if r.Why.IsZero() && r.Related != "" {
		return "related to " + r.Related
	}
	return r.Why.String()
}

// JSONRecord is one line of the JSON format.
type JSONRecord struct {
	N       int    `json:"n"`
	Time    string `json:"time"` // RFC 3339 with nanoseconds, UTC
	Tuple   string `json:"tuple"`
	Dir     string `json:"dir"` // "orig" or "reply"
	Verdict string `json:"verdict"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	Zone    uint16 `json:"zone"`
	// Related is set for ICMP errors: the tuple, in its original
	// direction, of the connection the error is about.
	Related string `json:"related,omitempty"`
}

// JSON returns the record in its JSON form.
func (r *Record) JSON() JSONRecord {
	return JSONRecord{
		N:       r.N,
		Time:    r.Time.UTC().Format(time.RFC3339Nano),
		Tuple:   r.Tuple,
		Dir:     r.Dir(),
		Verdict: r.Verdict.String(),
		State:   r.State.String(),
		Reason:  r.Why.String(),
		Zone:    r.Zone,
		Related: r.Related,
	}
}

// Summary counts the outcomes of a replay.
type Summary struct {
	Packets   int
	Truncated int
	Verdicts  map[conntrack.Verdict]int
	Reasons   map[string]int // by Reason.Name()
}

// Add counts one record.
func (s *Summary) Add(r *Record) {
	if s.Verdicts == nil {
		s.Verdicts = make(map[conntrack.Verdict]int)
		s.Reasons = make(map[string]int)
	}
	s.Packets++
	if r.Truncated() {
		s.Truncated++
	}
	s.Verdicts[r.Verdict]++
	if !r.Why.IsZero() {
		s.Reasons[r.Why.Reason.Name()]++
	}
}

// String renders the summary: packets, then counts per verdict (in
// verdict order) and per reason (most frequent first).
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %d packets", s.Packets)
	if s.Truncated > 0 {
		fmt.Fprintf(&b, " (%d truncated)", s.Truncated)
	}
	b.WriteString("\n")
	verdicts := make([]conntrack.Verdict, 0, len(s.Verdicts))
	for v := range s.Verdicts {
		verdicts = append(verdicts, v)
	}
	sort.Slice(verdicts, func(i, j int) bool { return verdicts[i] < verdicts[j] })
	var vs []string
	for _, v := range verdicts {
		vs = append(vs, fmt.Sprintf("%s %d", v, s.Verdicts[v]))
	}
	if len(vs) > 0 {
		fmt.Fprintf(&b, "  verdicts: %s\n", strings.Join(vs, ", "))
	}
	if len(s.Reasons) > 0 {
		names := make([]string, 0, len(s.Reasons))
		for n := range s.Reasons {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool {
			a, c := s.Reasons[names[i]], s.Reasons[names[j]]
			if a != c {
				return a > c
			}
			return names[i] < names[j]
		})
		rs := make([]string, len(names))
		for i, n := range names {
			rs[i] = fmt.Sprintf("%s %d", n, s.Reasons[n])
		}
		fmt.Fprintf(&b, "  reasons:  %s\n", strings.Join(rs, ", "))
	}
	return b.String()
}

// Run replays the capture at path, printing one line per packet to stdout
// in format (text or json) and warnings and the summary to stderr.
func Run(path string, opts Options, format string, stdout, stderr io.Writer) error {
	if format != FormatText && format != FormatJSON {
		return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, " or "))
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	out := bufio.NewWriter(stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false) // tuples contain '>'
	// The header follows the file header: a file that is no capture gets
	// an error alone.
	header := format == FormatText
	printHeader := func() {
		if header {
			fmt.Fprintln(out, Header)
			header = false
		}
	}
	var sum Summary
	err = Replay(f, opts, func(r *Record) error {
		printHeader()
		sum.Add(r)
		if r.Truncated() {
			// Keep stdout in step so the warning lands next to its line.
			if err := out.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "warning: packet %d: truncated capture: %d of %d bytes captured; the tracker sees only the captured bytes\n",
				r.N, r.CapLen, r.Len)
		}
		if format == FormatJSON {
			return enc.Encode(r.JSON())
		}
		_, err := fmt.Fprintln(out, r.FormatText())
		return err
	})
	if err == nil {
		printHeader() // an empty capture still gets its header
	}
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err == nil || sum.Packets > 0 {
		fmt.Fprint(stderr, sum.String())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
