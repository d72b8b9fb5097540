package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/daemon/container"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

// Docker's health check defaults and limits.
const (
	healthInterval      = 30 * time.Second
	healthTimeout       = 30 * time.Second
	healthStartInterval = 5 * time.Second
	healthRetries       = 3
	healthLogEntries    = 5
	healthOutputMax     = 4096
)

// healthChecks are the running probe loops, by container ID.
type healthChecks struct {
	mu    sync.Mutex
	stops map[string]context.CancelFunc
}

// healthConfig is c's effective health check, or nil when it has none
// (no HEALTHCHECK, or NONE).
func healthConfig(c *container.Container) *ctypes.HealthConfig {
	h := c.Config.Healthcheck
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	return h
}

// startHealthcheck begins probing c, which has just started; the caller
// holds c's lock. The status is "starting" until a probe says otherwise.
func (d *Daemon) startHealthcheck(c *container.Container) {
	h := healthConfig(c)
	if h == nil {
		return
	}
	c.State.Health = &ctypes.Health{Status: ctypes.Starting}
	ctx, cancel := context.WithCancel(context.Background())
	d.health.mu.Lock()
	if d.health.stops == nil {
		d.health.stops = map[string]context.CancelFunc{}
	}
	if stop := d.health.stops[c.ID]; stop != nil {
		stop()
	}
	d.health.stops[c.ID] = cancel
	d.health.mu.Unlock()
	go d.probeLoop(ctx, c, *h, c.State.StartedAt)
}

// stopHealthcheck ends c's probes (it stopped, or is removed).
func (d *Daemon) stopHealthcheck(id string) {
	d.health.mu.Lock()
	if stop := d.health.stops[id]; stop != nil {
		stop()
		delete(d.health.stops, id)
	}
	d.health.mu.Unlock()
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

// probeLoop runs the probes as docker does: every interval (every start
// interval during the start period), each bounded by the timeout.
func (d *Daemon) probeLoop(ctx context.Context, c *container.Container, h ctypes.HealthConfig, started time.Time) {
	interval := orDefault(h.Interval, healthInterval)
	startInterval := orDefault(h.StartInterval, healthStartInterval)
	for {
		wait := interval
		if h.StartPeriod > 0 && time.Since(started) < h.StartPeriod {
			wait = startInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		r := d.probe(ctx, c, h)
		if ctx.Err() != nil {
			return
		}
		d.recordHealth(c, h, started, r)
	}
}

// probeArgv is the probe's command: CMD runs its arguments, CMD-SHELL
// its string through the container's shell.
func probeArgv(c *container.Container, test []string) ([]string, error) {
	switch test[0] {
	case "CMD":
		if len(test) < 2 {
			return nil, fmt.Errorf("health check CMD without a command")
		}
		return test[1:], nil
	case "CMD-SHELL":
		if len(test) < 2 {
			return nil, fmt.Errorf("health check CMD-SHELL without a command")
		}
		shell := []string{"/bin/sh", "-c"}
		if len(c.Config.Shell) > 0 {
			shell = c.Config.Shell
		}
		return append(append([]string{}, shell...), strings.Join(test[1:], " ")), nil
	}
	return nil, fmt.Errorf("unknown health check type %q (want CMD, CMD-SHELL or NONE)", test[0])
}

// probe runs one check in the container and reports it; a check past
// its timeout is killed.
func (d *Daemon) probe(ctx context.Context, c *container.Container, h ctypes.HealthConfig) *ctypes.HealthcheckResult {
	r := &ctypes.HealthcheckResult{Start: time.Now().UTC(), ExitCode: -1}
	defer func() { r.End = time.Now().UTC() }()
	argv, err := probeArgv(c, h.Test)
	if err != nil {
		r.Output = err.Error()
		return r
	}
	id, err := d.ExecCreate(ctx, c.ID, ctypes.ExecCreateRequest{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		r.Output = err.Error()
		return r
	}
	out := &probeOutput{}
	done := make(chan error, 1)
	go func() {
		done <- d.ExecStart(ctx, id, false, nil, func(bool) (io.ReadWriteCloser, error) { return out, nil })
	}()
	timeout := orDefault(h.Timeout, healthTimeout)
	select {
	case err = <-done:
	case <-time.After(timeout):
		if e, gerr := d.getExec(id); gerr == nil {
			e.mu.Lock()
			pid := e.pid
			e.mu.Unlock()
			if pid > 0 {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		<-done
		r.Output = fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		return r
	case <-ctx.Done():
		return r
	}
	if err != nil {
		r.Output = err.Error()
		return r
	}
	e, err := d.getExec(id)
	if err != nil {
		r.Output = err.Error()
		return r
	}
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
	e.mu.Lock()
	if e.exitCode != nil {
		r.ExitCode = *e.exitCode
	}
	e.mu.Unlock()
	r.Output = out.String()
	return r
}

// recordHealth applies a probe's result to c's health, as docker does: a
// success makes it healthy; failures count once the start period is over
// (or once it has been healthy), and retries of them make it unhealthy.
func (d *Daemon) recordHealth(c *container.Container, h ctypes.HealthConfig, started time.Time, r *ctypes.HealthcheckResult) {
	c.Lock()
	if !c.Running() || c.State.Health == nil || !c.State.StartedAt.Equal(started) {
		c.Unlock()
		return
	}
	hs := c.State.Health
	old := hs.Status
	hs.Log = append(hs.Log, r)
	if len(hs.Log) > healthLogEntries {
		hs.Log = hs.Log[len(hs.Log)-healthLogEntries:]
	}
	retries := h.Retries
	if retries <= 0 {
		retries = healthRetries
	}
	if r.ExitCode == 0 {
		hs.FailingStreak = 0
		hs.Status = ctypes.Healthy
	} else if hs.Status != ctypes.Starting || r.Start.Sub(started) >= h.StartPeriod {
		hs.FailingStreak++
		if hs.FailingStreak >= retries {
			hs.Status = ctypes.Unhealthy
		}
	}
	if hs.Status != old {
		d.containerEvent(c, eventtypes.Action("health_status: "+string(hs.Status)), nil)
	}
	c.SaveState()
	c.Unlock()
}

// probeOutput is the probe's end of its exec stream: no input, and the
// output (docker's multiplexed frames) kept up to healthOutputMax bytes.
type probeOutput struct {
	mu  sync.Mutex
	raw bytes.Buffer
}

func (p *probeOutput) Read([]byte) (int, error) { return 0, io.EOF }
func (p *probeOutput) Close() error             { return nil }

func (p *probeOutput) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if room := 2*healthOutputMax + 64 - p.raw.Len(); room > 0 {
		p.raw.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

// String is stdout and stderr, in order, without the frames' headers.
func (p *probeOutput) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	raw := p.raw.Bytes()
	var out []byte
	for len(raw) >= 8 {
		n := int(binary.BigEndian.Uint32(raw[4:8]))
		raw = raw[8:]
		n = min(n, len(raw))
		out = append(out, raw[:n]...)
		raw = raw[n:]
	}
	if len(out) > healthOutputMax {
		out = out[:healthOutputMax]
	}
	return string(out)
}
