package conntrack

import (
	"errors"
	"fmt"
	"time"
)

// Timeouts is a timeout policy: how long an idle connection lives in each
// state. Names follow Linux's nf_conntrack_*_timeout_* sysctls.
type Timeouts struct {
	TCPSynSent   time.Duration // tcp_syn_sent
	TCPSynRecv   time.Duration // tcp_syn_recv
	TCPEstab     time.Duration // tcp_established
	TCPFinWait   time.Duration // tcp_fin_wait
	TCPCloseWait time.Duration // tcp_close_wait
	TCPLastAck   time.Duration // tcp_last_ack
	TCPTimeWait  time.Duration // tcp_time_wait
	TCPClose     time.Duration // tcp_close
	TCPSynSent2  time.Duration // tcp_syn_sent2
	TCPRetrans   time.Duration // tcp_retrans: after max_retrans retransmissions, or a zero window
	TCPUnack     time.Duration // tcp_unack: data in flight, and the cap for picked-up connections
	UDPUnreplied time.Duration // udp_unreplied (Linux nf_conntrack_udp_timeout)
	UDPStream    time.Duration // udp_stream: replied and older than 2 s
	ICMP         time.Duration // icmp (also ICMPv6)
	Generic      time.Duration // generic: other IP protocols
}

// DefaultTimeouts are Linux's defaults.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:   120 * time.Second,
		TCPSynRecv:   60 * time.Second,
		TCPEstab:     5 * 24 * time.Hour,
		TCPFinWait:   120 * time.Second,
		TCPCloseWait: 60 * time.Second,
		TCPLastAck:   30 * time.Second,
		TCPTimeWait:  120 * time.Second,
		TCPClose:     10 * time.Second,
		TCPSynSent2:  120 * time.Second,
		TCPRetrans:   300 * time.Second,
		TCPUnack:     300 * time.Second,
		UDPUnreplied: 30 * time.Second,
		UDPStream:    120 * time.Second,
		ICMP:         30 * time.Second,
		Generic:      600 * time.Second,
	}
}

// TimeoutNames lists the policy keys accepted by Timeouts.Set, in order.
var TimeoutNames = []string{
	"tcp_syn_sent", "tcp_syn_recv", "tcp_established", "tcp_fin_wait", "tcp_close_wait",
	"tcp_last_ack", "tcp_time_wait", "tcp_close", "tcp_syn_sent2", "tcp_retrans", "tcp_unack",
	"udp_unreplied", "udp_stream", "icmp", "generic",
}

func (t *Timeouts) field(name string) *time.Duration {
	switch name {
	case "tcp_syn_sent":
		return &t.TCPSynSent
	case "tcp_syn_recv":
		return &t.TCPSynRecv
	case "tcp_established":
		return &t.TCPEstab
	case "tcp_fin_wait":
		return &t.TCPFinWait
	case "tcp_close_wait":
		return &t.TCPCloseWait
	case "tcp_last_ack":
		return &t.TCPLastAck
	case "tcp_time_wait":
		return &t.TCPTimeWait
	case "tcp_close":
		return &t.TCPClose
	case "tcp_syn_sent2":
		return &t.TCPSynSent2
	case "tcp_retrans":
		return &t.TCPRetrans
	case "tcp_unack":
		return &t.TCPUnack
	case "udp_unreplied":
		return &t.UDPUnreplied
	case "udp_stream":
		return &t.UDPStream
	case "icmp":
		return &t.ICMP
	case "generic":
		return &t.Generic
	}
	return nil
}

// Set changes one timeout by its policy key (see TimeoutNames).
func (t *Timeouts) Set(name string, d time.Duration) error {
	f := t.field(name)
	if f == nil {
		return fmt.Errorf("unknown timeout %q (known: %v)", name, TimeoutNames)
	}
	if d < time.Second || d > 365*24*time.Hour {
		return fmt.Errorf("timeout %s=%s out of range [1s, 365d]", name, d)
	}
	*f = d
	return nil
}

// Get returns one timeout by its policy key.
func (t *Timeouts) Get(name string) (time.Duration, bool) {
	f := t.field(name)
	if f == nil {
		return 0, false
	}
	return *f, true
}

func (t *Timeouts) validate() error {
	for _, n := range TimeoutNames {
		d, _ := t.Get(n)
		if d < time.Second || d > 365*24*time.Hour {
			return fmt.Errorf("timeout %s=%s out of range [1s, 365d]", n, d)
		}
	}
	return nil
}

// tcpState returns the timeout of a TCP state.
func (t *Timeouts) tcpState(s State) time.Duration {
	switch s {
	case TCPSynSent:
		return t.TCPSynSent
	case TCPSynRecv:
		return t.TCPSynRecv
	case TCPEstablished:
		return t.TCPEstab
	case TCPFinWait:
		return t.TCPFinWait
	case TCPCloseWait:
		return t.TCPCloseWait
	case TCPLastAck:
		return t.TCPLastAck
	case TCPTimeWait:
		return t.TCPTimeWait
	case TCPClose:
		return t.TCPClose
	case TCPSynSent2:
		return t.TCPSynSent2
	}
	return t.TCPClose
}

// ZoneConfig holds the knobs of one conntrack zone.
type ZoneConfig struct {
	// Loose allows picking up TCP connections mid-stream (Linux
	// nf_conntrack_tcp_loose). Picked-up connections are tracked liberally:
	// after a VM migration the tracker has no history of the flow.
	Loose bool
	// BeLiberal accepts out-of-window TCP packets; only out-of-window RSTs
	// stay invalid (Linux nf_conntrack_tcp_be_liberal).
	BeLiberal bool
	// IgnoreInvalidRST lets RSTs below the peer's highest ACK through
	// (Linux nf_conntrack_tcp_ignore_invalid_rst).
	IgnoreInvalidRST bool
	// MaxRetrans is how many identical retransmissions switch an entry to
	// the tcp_retrans timeout (Linux nf_conntrack_tcp_max_retrans).
	MaxRetrans int
	// Checksum verifies L4 checksums (of trimmed packets) before tracking.
	Checksum bool
	// Limit caps the zone's connections across all shards; 0 = no limit.
	Limit int
	// Timeouts is the zone's timeout policy.
	Timeouts Timeouts
}

// DefaultZoneConfig is Linux's default behaviour.
func DefaultZoneConfig() ZoneConfig {
	return ZoneConfig{
		Loose:      true,
		MaxRetrans: 3,
		Checksum:   true,
		Timeouts:   DefaultTimeouts(),
	}
}

func (z *ZoneConfig) validate() error {
	if z.MaxRetrans < 0 || z.MaxRetrans > 255 {
		return fmt.Errorf("max_retrans %d out of range [0, 255]", z.MaxRetrans)
	}
	if z.Limit < 0 {
		return fmt.Errorf("limit %d is negative (0 means no limit)", z.Limit)
	}
	return z.Timeouts.validate()
}

// DefragConfig bounds IP fragment reassembly (per shard).
type DefragConfig struct {
	// Disabled passes fragments to the tracker unreassembled: non-first
	// fragments are then invalid.
	Disabled bool
	// MaxPending is the number of datagrams being reassembled at once.
	MaxPending int
	// Timeout discards an incomplete datagram.
	Timeout time.Duration
	// MinFragSizeV4/V6: smallest payload of a non-last fragment. Tiny
	// fragments are a known evasion and resource-exhaustion trick.
	MinFragSizeV4 int
	MinFragSizeV6 int
}

// DefaultDefragConfig mirrors Linux's ipfrag_time (30 s) and OVS's
// minimum-fragment-size floor.
func DefaultDefragConfig() DefragConfig {
	return DefragConfig{MaxPending: 1024, Timeout: 30 * time.Second, MinFragSizeV4: 400, MinFragSizeV6: 400}
}

func (d *DefragConfig) validate() error {
	if d.Disabled {
		return nil
	}
	if d.MaxPending < 1 || d.MaxPending > 1<<16 {
		return fmt.Errorf("defrag max_pending %d out of range [1, 65536]", d.MaxPending)
	}
	if d.Timeout < 100*time.Millisecond || d.Timeout > 10*time.Minute {
		return fmt.Errorf("defrag timeout %s out of range [100ms, 10m]", d.Timeout)
	}
	if d.MinFragSizeV4 < 8 || d.MinFragSizeV4 > 1480 || d.MinFragSizeV6 < 8 || d.MinFragSizeV6 > 1232 {
		return errors.New("defrag minimum fragment size out of range (v4 [8, 1480], v6 [8, 1232])")
	}
	return nil
}

// Config configures a Table.
type Config struct {
	// Shards is the number of owning workers (>= 1).
	Shards int
	// MaxConns caps connections across the table; each shard gets an equal
	// share. 0 selects DefaultMaxConns.
	MaxConns int
	// Default applies to every zone without an entry in Zones.
	Default ZoneConfig
	// Zones overrides the knobs of individual zones.
	Zones map[uint16]ZoneConfig
	// Defrag bounds fragment reassembly.
	Defrag DefragConfig
}

// DefaultMaxConns is the table capacity when Config.MaxConns is 0.
const DefaultMaxConns = 1 << 20

// DefaultConfig is a one-shard table with Linux defaults.
func DefaultConfig() Config {
	return Config{Shards: 1, MaxConns: DefaultMaxConns, Default: DefaultZoneConfig(), Defrag: DefaultDefragConfig()}
}

// Validate checks the configuration without building anything.
func (c *Config) Validate() error {
	if c.Shards < 1 || c.Shards > 1024 {
		return fmt.Errorf("shards %d out of range [1, 1024]", c.Shards)
	}
	if c.MaxConns < 0 || c.MaxConns > 1<<28 {
		return fmt.Errorf("max_conns %d out of range [0, %d]", c.MaxConns, 1<<28)
	}
	if err := c.Default.validate(); err != nil {
		return fmt.Errorf("default zone: %w", err)
	}
	for id, z := range c.Zones {
		if err := z.validate(); err != nil {
			return fmt.Errorf("zone %d: %w", id, err)
		}
	}
	if err := c.Defrag.validate(); err != nil {
		return err
	}
	return nil
}
