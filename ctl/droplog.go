package ctl

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/dataplane"
	"github.com/ctswitch/ctswitch/packet"
)

// Drop logging. A drop is a per-packet event, so it never becomes a log
// line per packet unasked: every 10 s one line lists the drop counters
// that moved; at level debug, dropped packets are also logged one by one,
// at most log.rate_limit per second and per reason.

// dropSummary logs the counters that moved since the last call.
type dropSummary struct {
	log  *slog.Logger
	sw   *dataplane.Switch
	last map[string]uint64
}

func newDropSummary(log *slog.Logger, sw *dataplane.Switch) *dropSummary {
	return &dropSummary{log: log, sw: sw, last: sw.Stats().Drops}
}

func (l *dropSummary) report() {
	cur := l.sw.Stats().Drops
	var parts []string
	for k, v := range cur {
		if d := v - l.last[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, d))
		}
	}
	l.last = cur
	if len(parts) == 0 {
		return
	}
	sort.Strings(parts)
	l.log.Info("drops in the last 10s", "drops", strings.Join(parts, " "))
}

// dropSampler logs dropped packets from a drop tap, rate-limited per
// reason. It owns the tap and its reading goroutine.
type dropSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startDropSampler taps every port's drops (only drops: the rx and tx
// paths stay untouched) and logs them at debug level.
func startDropSampler(log *slog.Logger, sw *dataplane.Switch, perSecond int) (*dropSampler, error) {
	tap, err := sw.AddTap(dataplane.TapConfig{Points: dataplane.TapDrop, Snap: 256, Slots: 1024})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &dropSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer tap.Close()
		window := time.Now()
		seen := map[dataplane.Drop]int{}
		suppressed := map[dataplane.Drop]int{}
		_ = tap.Read(ctx, func(cf *dataplane.CapturedFrame) error {
			if time.Since(window) >= time.Second {
				for d, n := range suppressed {
					log.Debug("dropped packets not logged (rate limit)", "reason", d.Name(), "count", n)
				}
				clear(seen)
				clear(suppressed)
				window = time.Now()
			}
			if seen[cf.Drop] >= perSecond {
				suppressed[cf.Drop]++
				return nil
			}
			seen[cf.Drop]++
			log.Debug("packet dropped", "reason", cf.Drop.Name(), "port", cf.Port, "queue", cf.Queue,
				"len", cf.Len, "packet", describeFrame(sw, cf.Data))
			return nil
		})
	}()
	return s, nil
}

func (s *dropSampler) stop() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}

// describeFrame names a frame's flow for a log line.
func describeFrame(sw *dataplane.Switch, frame []byte) string {
	var p conntrack.Packet
	p.Frame = frame
	if err := packet.Parse(frame, &p.Meta); err != nil {
		return "unparsable: " + err.Error()
	}
	if p.Meta.IPVersion == 0 {
		return fmt.Sprintf("ethertype %#04x", p.Meta.EtherType)
	}
	p.Frame = p.Meta.Trimmed(frame)
	sw.Conntrack().Classify(&p)
	return p.Tuple().String()
}

// dropLog runs the summary and, at debug level, the sampler; level and
// rate changes on reload start or stop the sampler.
type dropLog struct {
	mu      sync.Mutex
	log     *slog.Logger
	sw      *dataplane.Switch
	sum     *dropSummary
	sampler *dropSampler
	rate    int
}

func newDropLog(log *slog.Logger, sw *dataplane.Switch) *dropLog {
	return &dropLog{log: log, sw: sw, sum: newDropSummary(log, sw)}
}

// configure starts the sampler when the level is debug and the rate
// positive, and stops it otherwise.
func (l *dropLog) configure(level slog.Level, rate int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := level <= slog.LevelDebug && rate > 0
	if l.sampler != nil && (!want || rate != l.rate) {
		l.sampler.stop()
		l.sampler = nil
	}
	if want && l.sampler == nil {
		s, err := startDropSampler(l.log, l.sw, rate)
		if err != nil {
			l.log.Warn("dropped packets will not be logged", "err", err)
			return
		}
		l.sampler, l.rate = s, rate
	}
}

func (l *dropLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sampler.stop()
	l.sampler = nil
}
