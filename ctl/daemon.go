package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ctswitch/ctswitch/conntrack"
	"github.com/ctswitch/ctswitch/ctl/config"
	"github.com/ctswitch/ctswitch/ctl/metrics"
	"github.com/ctswitch/ctswitch/dataplane"
)

// Daemon runs a switch from a config file. It owns the switch, the
// control server, the metrics server and the signal loop:
//
//   - start: validate the config, attach, restore the conntrack snapshot
//     (before the workers run, so the first packets find their entries),
//     start the workers, then listen;
//   - SIGHUP: re-read the file, apply what can change live, log what
//     needs a restart;
//   - SIGTERM/SIGINT: stop answering, stop the workers (they finish
//     their round and flush), write the snapshot, detach.
type Daemon struct {
	path  string
	log   *slog.Logger
	level *slog.LevelVar
	sw    *dataplane.Switch
	srv   *Server
	http  *http.Server

	drops *dropLog

	mu      sync.Mutex // serialises reloads; guards cur
	start   *config.Config
	cur     *config.Config
	ckptSet chan time.Duration // reloads tell the signal loop a new checkpoint interval
}

// DaemonOptions are settings from the command line.
type DaemonOptions struct {
	Stderr io.Writer // logs (default os.Stderr)
}

// RunDaemon runs until ctx ends or SIGTERM/SIGINT arrives; it returns
// config errors before attaching anything.
func RunDaemon(ctx context.Context, path string, opts DaemonOptions) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("ctswitch run needs root: it attaches XDP programs and AF_XDP sockets")
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	d := &Daemon{path: path, start: cfg, cur: cfg, level: new(slog.LevelVar), ckptSet: make(chan time.Duration, 1)}
	d.level.Set(cfg.Log.Level)
	hopts := &slog.HandlerOptions{Level: d.level}
	if cfg.Log.Format == "json" {
		d.log = slog.New(slog.NewJSONHandler(opts.Stderr, hopts))
	} else {
		d.log = slog.New(slog.NewTextHandler(opts.Stderr, hopts))
	}
	return d.run(ctx, opts)
}

func (d *Daemon) run(ctx context.Context, opts DaemonOptions) (err error) {
	cfg := d.start
	// Signals first: a SIGTERM during start-up must not kill the process
	// with the snapshot unwritten.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	swCfg := cfg.Switch
	swCfg.Logger = d.log
	d.sw, err = dataplane.New(ctx, swCfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := d.sw.Close(); cerr != nil {
			d.log.Warn("detach", "err", cerr)
		}
	}()
	restored := d.restore()
	if err := d.sw.Start(); err != nil {
		return err
	}
	// A failed start keeps what was restored: stop, write it back.
	failed := func(err error) error {
		d.sw.Stop()
		if restored > 0 {
			if werr := d.writeSnapshot(context.Background()); werr != nil {
				d.log.Error("conntrack snapshot not written", "err", werr)
			}
		}
		return err
	}
	backend := &Backend{Switch: d.sw, Reload: d.reload, Log: d.log}
	d.srv, err = Listen(cfg.Control.Socket, backend.Handlers(), d.log)
	if err != nil {
		return failed(err)
	}
	defer d.srv.Close()
	if err := d.serveMetrics(cfg.Metrics.Listen); err != nil {
		return failed(err)
	}
	d.log.Info("ctswitch running", "config", d.path, "socket", cfg.Control.Socket, "metrics", cfg.Metrics.Listen,
		"snapshot", cfg.Snapshot.Path, "pid", os.Getpid())

	var ckpt <-chan time.Time
	var ticker *time.Ticker
	setCkpt := func(iv time.Duration) {
		if ticker != nil {
			ticker.Stop()
			ticker, ckpt = nil, nil
		}
		if iv > 0 && cfg.Snapshot.Path != "" {
			ticker = time.NewTicker(iv)
			ckpt = ticker.C
		}
	}
	setCkpt(cfg.Snapshot.Interval)
	defer func() { setCkpt(0) }()
	health := time.NewTicker(time.Second)
	defer health.Stop()
	d.drops = newDropLog(d.log, d.sw)
	d.drops.configure(cfg.Log.Level, cfg.Log.RateLimit)
	defer d.drops.close()
	ticks := 0

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			d.log.Info("stopping", "why", context.Cause(ctx))
			break loop
		case s := <-sigs:
			if s == syscall.SIGHUP {
				if _, err := d.reload(ctx); err != nil {
					d.log.Error("reload failed; the running configuration is unchanged", "err", err)
				}
				continue
			}
			d.log.Info("stopping", "signal", s.String())
			break loop
		case iv := <-d.ckptSet:
			setCkpt(iv)
		case <-ckpt:
			if err := d.checkpoint(ctx); err != nil {
				d.log.Error("checkpoint", "err", err)
			}
		case <-health.C:
			if err := d.sw.Err(); err != nil {
				runErr = err
				d.log.Error("a worker failed; stopping", "err", err)
				break loop
			}
			if ticks++; ticks%10 == 0 {
				d.drops.sum.report()
			}
		}
	}
	// Stop answering first: no control request may race the shutdown.
	d.srv.Close()
	if d.http != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = d.http.Shutdown(sctx)
		cancel()
	}
	d.sw.Stop()
	if err := d.writeSnapshot(context.Background()); err != nil {
		d.log.Error("conntrack snapshot not written", "err", err)
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// source adapts the switch to the metrics collector.
type source struct{ sw *dataplane.Switch }

func (s source) SwitchStats() dataplane.Stats { return s.sw.Stats() }
func (s source) ConntrackStats(ctx context.Context) (conntrack.Stats, error) {
	return s.sw.Conntrack().Stats(ctx)
}
func (s source) ConntrackCensus(ctx context.Context) (map[conntrack.CensusKey]int, error) {
	return s.sw.Conntrack().Census(ctx)
}

func (d *Daemon) serveMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(source{d.sw}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "ctswitch: metrics at /metrics")
	})
	d.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := d.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server", "err", err)
		}
	}()
	return nil
}

// restore imports the snapshot a clean shutdown wrote. It is renamed to
// FILE.restored afterwards: after a crash the next start must not
// restore entries older than the flows they describe (a stale window is
// worse than none, which loose pickup handles).
func (d *Daemon) restore() int {
	sc := d.start.Snapshot
	if sc.Path == "" || !sc.Restore {
		return 0
	}
	f, err := os.Open(sc.Path)
	if errors.Is(err, os.ErrNotExist) {
		d.log.Info("no conntrack snapshot to restore", "path", sc.Path)
		return 0
	}
	if err != nil {
		d.log.Error("conntrack snapshot not restored", "path", sc.Path, "err", err)
		return 0
	}
	defer f.Close()
	st, _ := f.Stat()
	es, err := conntrack.ReadEntries(f)
	if err != nil {
		d.log.Error("conntrack snapshot not restored: unreadable", "path", sc.Path, "err", err)
		return 0
	}
	n, err := d.sw.Conntrack().Import(context.Background(), es, dataplane.Now())
	if err != nil {
		d.log.Warn("conntrack snapshot partly restored", "path", sc.Path, "restored", n, "entries", len(es), "err", err)
	} else {
		age := time.Duration(0)
		if st != nil {
			age = time.Since(st.ModTime()).Round(time.Millisecond)
		}
		d.log.Info("conntrack snapshot restored", "path", sc.Path, "connections", n, "age", age)
	}
	if err := os.Rename(sc.Path, sc.Path+".restored"); err != nil {
		d.log.Warn("conntrack snapshot left in place", "path", sc.Path, "err", err)
	}
	return n
}

// writeSnapshot exports every connection to the snapshot file,
// atomically (a temporary file renamed over it).
func (d *Daemon) writeSnapshot(ctx context.Context) error {
	path := d.start.Snapshot.Path
	if path == "" {
		return nil
	}
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	n, err := d.sw.Conntrack().Export(ctx, tmp, conntrack.Filter{}, dataplane.Now())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	d.log.Info("conntrack snapshot written", "path", path, "connections", n, "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// checkpoint writes the snapshot while the workers run (their owners
// export their shards between batches).
func (d *Daemon) checkpoint(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return d.writeSnapshot(ctx)
}

// reload re-reads the config and applies the live changes. Restart-only
// changes are reported against the configuration the daemon started
// with, so they are repeated until a restart.
func (d *Daemon) reload(ctx context.Context) (*ReloadAnswer, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, err := config.Load(d.path)
	if err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	live := config.Diff(d.cur, next).Live
	restart := config.Diff(d.start, next).Restart
	ans := &ReloadAnswer{Applied: []string{}, Restart: []string{}}
	if err := d.apply(next, live); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	for _, c := range live {
		ans.Applied = append(ans.Applied, describe(c))
	}
	for _, c := range restart {
		ans.Restart = append(ans.Restart, describe(c))
	}
	// The next diff starts from what now runs: the live parts of next.
	d.cur = next
	d.log.Info("configuration reloaded", "applied", len(ans.Applied), "needs_restart", len(ans.Restart))
	for _, c := range ans.Applied {
		d.log.Info("applied", "change", c)
	}
	for _, c := range ans.Restart {
		d.log.Warn("needs a restart to take effect", "change", c)
	}
	return ans, nil
}

func describe(c config.Change) string {
	return fmt.Sprintf("%s: %s -> %s", c.Key, c.Old, c.New)
}

// apply makes the live part of next run. Policies are compiled first,
// so a failure changes nothing.
func (d *Daemon) apply(next *config.Config, live []config.Change) error {
	if len(live) == 0 {
		return nil
	}
	running := map[string]bool{}
	for _, n := range d.sw.Networks() {
		running[n.Name] = true
	}
	ct := d.sw.Conntrack()
	for _, ns := range next.Switch.Networks {
		if !running[ns.Name] {
			continue // a new network needs a restart: reported as such
		}
		if err := d.sw.SetPolicy(ns.Name, ns.Policy); err != nil {
			return fmt.Errorf("network %s policy: %w", ns.Name, err)
		}
	}
	for _, n := range d.sw.Networks() {
		for _, ns := range next.Switch.Networks {
			if ns.Name == n.Name {
				if err := d.sw.MACs().SetLimit(n.ID, ns.MACLimit); err != nil {
					return fmt.Errorf("network %s mac_limit: %w", n.Name, err)
				}
			}
		}
	}
	nc := next.Switch.Conntrack
	if err := ct.SetDefaultZoneConfig(nc.Default); err != nil {
		return fmt.Errorf("conntrack default: %w", err)
	}
	for z, zc := range nc.Zones {
		if err := ct.SetZoneConfig(z, zc); err != nil {
			return fmt.Errorf("conntrack zone %d: %w", z, err)
		}
	}
	// A zone dropped from the file falls back to the default knobs.
	for z := range d.cur.Switch.Conntrack.Zones {
		if _, ok := nc.Zones[z]; !ok {
			if err := ct.SetZoneConfig(z, nc.Default); err != nil {
				return fmt.Errorf("conntrack zone %d: %w", z, err)
			}
		}
	}
	d.level.Set(next.Log.Level)
	d.drops.configure(next.Log.Level, next.Log.RateLimit)
	if next.Snapshot.Interval != d.cur.Snapshot.Interval {
		// The latest interval wins over one the loop has not taken yet.
		select {
		case <-d.ckptSet:
		default:
		}
		d.ckptSet <- next.Snapshot.Interval
	}
	return nil
}
