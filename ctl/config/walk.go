package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parser collects errors while it interprets a yaml.Node tree.
type parser struct {
	file string
	errs []*Error
}

func (p *parser) add(line, col int, path string, err error) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Column: col, Path: path, Err: err})
}

// errAt records err at node n.
func (p *parser) errAt(n *yaml.Node, path string, err error) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.add(line, col, path, err)
}

func (p *parser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.errAt(n, path, fmt.Errorf(format, args...))
}

// result joins the errors in file order, at most MaxErrors of them.
func (p *parser) result() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	out := make([]error, 0, min(len(p.errs), MaxErrors))
	for i, e := range p.errs {
		if i == MaxErrors-1 && len(p.errs) > MaxErrors {
			out = append(out, &Error{File: p.file, Line: e.Line, Column: e.Column,
				Err: fmt.Errorf("too many errors (%d more not shown)", len(p.errs)-i)})
			break
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// joinPath appends a key to a key path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind and value for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return quote(n.Value)
	}
	return "an unknown node"
}

// quote quotes s for a message, cut short: a message must not repeat a
// whole pasted blob.
func quote(s string) string {
	const max = 48
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

var standardTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!map", "!!seq"}

// usable reports whether n can be interpreted at all, recording why not:
// aliases (refused, see the package doc) and tags the format has no use
// for.
func (p *parser) usable(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, path, "YAML aliases are not supported (write the value out)")
		return false
	}
	if t := n.ShortTag(); !slices.Contains(standardTags, t) {
		p.errorf(n, path, "unsupported YAML tag %s", t)
		return false
	}
	return true
}

// entry is one key: value pair of a mapping.
type entry struct {
	key  string
	k, v *yaml.Node
}

// pairs reads a mapping with free-form keys (zones, static MACs): keys
// must be scalars and unique as written. yaml.v3 accepts duplicate keys
// when decoding into a yaml.Node, so they are checked here.
func (p *parser) pairs(n *yaml.Node, path string) ([]entry, bool) {
	if !p.usable(n, path) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "want a mapping, got %s", describe(n))
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "a key must be a plain value, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errorf(k, path, "merge keys (<<) are not supported")
			continue
		}
		if !p.usable(k, path) {
			continue
		}
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, path, "duplicate key %s (first at line %d)", quote(k.Value), first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{k.Value, k, v})
	}
	return out, true
}

// fields reads a mapping with a fixed set of keys. Unknown keys are
// errors, with a suggestion; a key whose value is null is as if absent.
// It returns nil if n is no mapping.
func (p *parser) fields(n *yaml.Node, path string, known ...string) map[string]entry {
	es, ok := p.pairs(n, path)
	if !ok {
		return nil
	}
	m := make(map[string]entry, len(es))
	for _, e := range es {
		if !slices.Contains(known, e.key) {
			p.unknownKey(e.k, path, e.key, known)
			continue
		}
		if isNull(e.v) {
			continue
		}
		m[e.key] = e
	}
	return m
}

func (p *parser) unknownKey(k *yaml.Node, path, key string, known []string) {
	if s := suggest(key, known); s != "" {
		p.errorf(k, path, "unknown key %s (did you mean %q?)", quote(key), s)
		return
	}
	p.errorf(k, path, "unknown key %s (known: %s)", quote(key), strings.Join(known, ", "))
}

// suggest returns the known word closest to w within two edits, if any
// and if it shares more than it differs (so "xy" does not suggest "id").
func suggest(w string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := editDistance(strings.ToLower(w), k)
		if d < bestD && d < utf8.RuneCountInString(k) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance: Levenshtein plus
// transposition of neighbours, the commonest typo ("wrokers").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 { // keys are short; a blob is no typo
		return math.MaxInt32
	}
	// Three rows suffice (the transposition looks two back), on the stack.
	var rows [3][65]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := range len(rb) + 1 {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// list reads a sequence.
func (p *parser) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if !p.usable(n, path) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "want a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

// str reads any non-null scalar as text: names and words may look like
// numbers to YAML ("name: 1", "cpus: 3").
func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if !p.usable(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, path, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// integer reads a YAML integer. Quoted numbers are strings and refused:
// the type says what the key means.
func (p *parser) integer(n *yaml.Node, path string) (int64, bool) {
	if !p.usable(n, path) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.errorf(n, path, "want an integer, got %s", describe(n))
		return 0, false
	}
	// The YAML resolver's own syntax: underscores, 0x, 0o, 0b.
	v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if errors.Is(err, strconv.ErrRange) {
		p.errorf(n, path, "integer %s out of range", n.Value)
		return 0, false
	}
	if err != nil { // an explicit !!int on something else
		p.errorf(n, path, "want an integer, got %s", describe(n))
		return 0, false
	}
	return v, true
}

// intIn reads an integer in lo..hi; want describes the range in the error.
func (p *parser) intIn(n *yaml.Node, path string, lo, hi int64, want string) (int, bool) {
	v, ok := p.integer(n, path)
	if !ok {
		return 0, false
	}
	if v < lo || v > hi {
		if want == "" {
			want = fmt.Sprintf("%d..%d", lo, hi)
		}
		p.errorf(n, path, "%d out of range (want %s)", v, want)
		return 0, false
	}
	return int(v), true
}

func (p *parser) boolean(n *yaml.Node, path string) (bool, bool) {
	if !p.usable(n, path) {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		// YAML 1.2's spellings; an explicit !!bool on anything else is refused.
		switch n.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	}
	p.errorf(n, path, "want true or false, got %s", describe(n))
	return false, false
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	if err != nil {
		p.errAt(n, path, err)
		return 0, false
	}
	return d, true
}

// parseDuration is time.ParseDuration plus a day unit ("5d", "1d12h"):
// conntrack timeouts are naturally days.
func parseDuration(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %s (want e.g. 30s, 1m30s, 12h or 5d)", quote(s))
	}
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		return d, nil
	}
	// Rewrite each "<n>d" as hours and let time.ParseDuration do the rest.
	var b strings.Builder
	rest := s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		b.WriteByte(rest[0])
		rest = rest[1:]
	}
	isNum := func(c byte) bool { return c == '.' || (c >= '0' && c <= '9') }
	for rest != "" {
		i := 0
		for i < len(rest) && isNum(rest[i]) {
			i++
		}
		j := i
		for j < len(rest) && !isNum(rest[j]) {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if unit != "d" {
			b.WriteString(num + unit)
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" || strings.ContainsAny(num, "eE") {
			return bad()
		}
		if f*24 > float64(math.MaxInt64/int64(time.Hour)) {
			return 0, fmt.Errorf("duration %s too long", quote(s))
		}
		b.WriteString(strconv.FormatFloat(f*24, 'f', -1, 64) + "h")
	}
	d, err := time.ParseDuration(b.String())
	if err != nil {
		return bad()
	}
	return d, nil
}

// formatDuration prints whole days as such ("5d", "1d12h0m0s"), the way
// the file writes them.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d < day {
		return d.String()
	}
	days, rest := d/day, d%day
	if rest == 0 {
		return strconv.FormatInt(int64(days), 10) + "d"
	}
	return strconv.FormatInt(int64(days), 10) + "d" + rest.String()
}
