package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/dataplane/l2"
	"github.com/ctswitch/ctswitch/tunnel"
	"github.com/ctswitch/ctswitch/tunnel/icmperr"
)

// Config is a validated daemon configuration.
type Config struct {
	// Path is the file the configuration came from (Parse's name).
	Path string
	// Switch is ready for dataplane.New; Logger is left nil for the
	// daemon to set. Names, networks and ids that have defaults are filled
	// in, so Switch says exactly what will be built.
	Switch   dataplane.SwitchConfig
	Control  ControlConfig
	Metrics  MetricsConfig
	Snapshot SnapshotConfig
	Log      LogConfig

	// queues holds the "queues" given per port name. The switch learns a
	// port's queues when it attaches; the file's value only sizes the
	// default worker count, and Diff reports its changes.
	queues map[string]int
}

// ControlConfig is the control socket.
type ControlConfig struct {
	Socket string // absolute path of the Unix socket
}

// MetricsConfig is the Prometheus listener.
type MetricsConfig struct {
	Listen string // host:port; "" disables the listener ("off" in the file)
}

// SnapshotConfig is the conntrack checkpoint kept across restarts.
type SnapshotConfig struct {
	Path     string        // absolute path; "" disables snapshots ("off" in the file)
	Restore  bool          // load the snapshot at start-up
	Interval time.Duration // periodic checkpoint; 0: only at shutdown
}

// LogConfig is the daemon's logging.
type LogConfig struct {
	Format string // "text" or "json"
	Level  slog.Level
	// RateLimit bounds per-packet log events, per second and per reason
	// (0: none are logged).
	RateLimit int
}

// Defaults besides those of the switch, which are "ctswitch run"'s.
const (
	DefaultControlSocket = "/run/ctswitch/ctswitch.sock"
	DefaultMetricsListen = "127.0.0.1:9469"
	DefaultSnapshotPath  = "/var/lib/ctswitch/conntrack.snap"
	DefaultRateLimit     = 10
	DefaultRingSize      = 2048
	DefaultBatch         = 64
	DefaultOrderWait     = 100 * time.Millisecond
	DefaultReorderSlots  = 2048
	// DefaultNetwork names the network a file without networks gets.
	DefaultNetwork = "default"
)

// MaxErrors bounds the errors Parse returns: past it the list is cut with
// a "too many errors" note, as a compiler does.
const MaxErrors = 20

// maxFileSize refuses files no config needs, before the YAML parser spends
// time and memory on them (a mistaken path to a log or an image).
const maxFileSize = 8 << 20

// defaults is the configuration of a file that gives only its ports.
func defaults() *Config {
	return &Config{
		Switch: dataplane.SwitchConfig{
			Mode:         dataplane.ModeAuto,
			RingSize:     DefaultRingSize,
			Batch:        DefaultBatch,
			ReorderSlots: DefaultReorderSlots,
			OrderWait:    DefaultOrderWait,
			Conntrack: conntrack.Config{
				MaxConns: conntrack.DefaultMaxConns,
				Default:  conntrack.DefaultZoneConfig(),
				Defrag:   conntrack.DefaultDefragConfig(),
			},
			MAC: l2.Config{Capacity: l2.DefaultCapacity, MaxAge: l2.DefaultMaxAge},
			ICMPLimit: icmperr.LimiterConfig{
				PerSource: icmperr.DefaultPerSource, PerSourceBurst: icmperr.DefaultPerSourceBurst,
				Global: icmperr.DefaultGlobal, GlobalBurst: icmperr.DefaultGlobalBurst,
			},
			PMTUExpiry: tunnel.DefaultPMTUExpiry,
		},
		Control:  ControlConfig{Socket: DefaultControlSocket},
		Metrics:  MetricsConfig{Listen: DefaultMetricsListen},
		Snapshot: SnapshotConfig{Path: DefaultSnapshotPath, Restore: true},
		Log:      LogConfig{Format: "text", Level: slog.LevelInfo, RateLimit: DefaultRateLimit},
	}
}

// Error is one problem in a config file. Parse returns them joined
// (errors.Join), in file order.
type Error struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown (YAML syntax errors)
	Path   string // key path, e.g. "ports[1].mode"; "" for the file or its top level
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads and parses a config file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse parses and validates a config file's contents; name is used in
// errors and as Config.Path. The error, if any, joins *Error values.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	root := p.decode(data)
	if root == nil {
		return nil, p.result()
	}
	c := p.config(root)
	if err := p.result(); err != nil {
		return nil, err
	}
	c.Path = name
	return c, nil
}

// decode parses the YAML stream and returns its one document's mapping,
// or nil after recording why there is none.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	if len(data) > maxFileSize {
		p.add(0, 0, "", fmt.Errorf("file is larger than %d MiB", maxFileSize>>20))
		return nil
	}
	if !p.checkText(data) {
		return nil
	}
	// yaml.v3 had panics on hostile input in the past; a config file must
	// never bring the daemon down, whatever it holds.
	defer func() {
		if r := recover(); r != nil {
			p.add(0, 0, "", fmt.Errorf("YAML parser failed: %v", r))
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(1, 1, "", errors.New("empty file (want a mapping with at least \"ports\")"))
		} else {
			p.syntaxError(err, data)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.errorf(&extra, "", "a second YAML document: the file must hold exactly one")
	case !errors.Is(err, io.EOF):
		p.syntaxError(err, data)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.add(1, 1, "", errors.New("no YAML document"))
		return nil
	}
	root = doc.Content[0]
	if isNull(root) {
		p.errorf(root, "", "empty document (want a mapping with at least \"ports\")")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "the file must be a mapping of keys, got %s", describe(root))
		return nil
	}
	return root
}

// checkText finds what the YAML reader would refuse (invalid UTF-8,
// control characters) itself, because yaml.v3's message for it has no
// position.
func (p *parser) checkText(data []byte) bool {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		bad := ""
		switch {
		case r == utf8.RuneError && size == 1:
			bad = fmt.Sprintf("invalid UTF-8 byte 0x%02x (the file must be UTF-8 text)", data[i])
		case r == '\t' || r == '\n' || r == '\r':
		case r == 0xfeff && i == 0: // a byte-order mark
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0 && r != 0x85) ||
			(r >= 0xd800 && r <= 0xdfff) || r == 0xfeff || r == 0xfffe || r == 0xffff:
			bad = fmt.Sprintf("control character %U not allowed", r)
		}
		if bad != "" {
			p.add(line, col, "", errors.New(bad))
			return false
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of libyaml's parser, as opposed to its
// scanner: yaml.v3 reports their lines 0-based (the scanner's 1-based).
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected <stream-start>", "did not find expected key",
	"did not find expected node content", "found duplicate %TAG directive",
	"found duplicate %YAML directive", "found incompatible YAML document",
	"found undefined tag handle",
}

var unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// syntaxError records a yaml.v3 error with the best line it can tell.
func (p *parser) syntaxError(err error, data []byte) {
	msg := err.Error()
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		line, col := 0, 0
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line, col = position(data, i)
		}
		p.add(line, col, "", fmt.Errorf("alias *%s: no such anchor (and aliases are not supported)", m[1]))
		return
	}
	line := 1 // libyaml omits the line when its marks are on the first one
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		for _, pp := range parserProblems {
			if msg == pp {
				line++
				break
			}
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// A problem found at the end of the stream is on the last line with text.
	if n := bytes.Count(bytes.TrimRight(data, " \t\r\n"), []byte("\n")) + 1; line > n {
		line = n
	}
	p.add(line, 0, "", fmt.Errorf("YAML syntax error: %s", msg))
}

// position is the 1-based line and column (in characters) of data[i].
func position(data []byte, i int) (line, col int) {
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	if j := bytes.LastIndexByte(before, '\n'); j >= 0 {
		before = before[j+1:]
	}
	return line, utf8.RuneCount(before) + 1
}
