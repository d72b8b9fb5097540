package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

const statsTable = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

func newStats(c *CLI) *cobra.Command {
	var all, noStream, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "display a live stream of containers' resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(ctxOf(cmd), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if format == "" {
				format = configFormat("statsFormat")
			}
			lf, err := parseListFormat(format, statsTable)
			if err != nil {
				return err
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			w := &statsWatcher{cl: cl, stream: !noStream}
			if len(args) > 0 {
				for _, a := range args {
					w.add(ctx, a)
				}
			} else if err := w.sync(ctx, all); err != nil {
				return daemonError(c, err)
			}
			w.waitFirst(5 * time.Second)
			if len(args) > 0 {
				// A container that is not there (or not answering) is an
				// error, as for docker, before anything is shown.
				var failed bool
				for _, e := range w.snapshot() {
					if e.err != nil {
						failed = true
						printError(c, e.err)
					}
				}
				if failed {
					return &StatusError{Status: 1}
				}
			}
			tty := false
			if f, ok := c.Out.(interface{ Fd() uintptr }); ok {
				tty = isTerminal(f.Fd())
			}
			if noStream {
				return writeStats(c.Out, lf, w.snapshot(), !noTrunc)
			}
			if tty {
				fmt.Fprint(c.Out, "\033[2J")
			}
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				var buf bytes.Buffer
				if err := writeStats(&buf, lf, w.snapshot(), !noTrunc); err != nil {
					return err
				}
				if tty {
					// Rewrite the screen in place: each line cleared to its end,
					// whatever remains of the previous table cleared below.
					out := "\033[H" + strings.ReplaceAll(buf.String(), "\n", "\033[K\n") + "\033[J"
					io.WriteString(c.Out, out)
				} else {
					buf.WriteTo(c.Out)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
				}
				if len(args) == 0 && n%2 == 1 {
					w.sync(ctx, all)
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	f.BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	f.StringVar(&format, "format", "", "format output: table, table TEMPLATE, json, or a Go template ({{.ID}}, {{.Name}}, {{.Container}}, {{.CPUPerc}}, {{.MemUsage}}, {{.MemPerc}}, {{.NetIO}}, {{.BlockIO}}, {{.PIDs}})")
	return cmd
}

// statsEntry is the latest resource usage of one container, in docker's
// terms: memory without the page cache, CPU as a share of one CPU.
type statsEntry struct {
	container string // as given, or the ID
	id, name  string

	cpuPercent, memory, memoryLimit, memoryPercent float64
	netRx, netTx, blockRead, blockWrite            float64
	pids                                           uint64

	invalid bool  // no numbers to show ("--")
	err     error // the stream's error, if any
	done    bool  // the stream ended
	first   chan struct{}
}

// entryOf computes a row's numbers from one sample.
func entryOf(s *container.StatsResponse) statsEntry {
	mem := memoryNoCache(s.MemoryStats)
	e := statsEntry{
		id: s.ID, name: s.Name,
		cpuPercent:  cpuPercent(s.PreCPUStats, s.CPUStats),
		memory:      mem,
		memoryLimit: float64(s.MemoryStats.Limit),
		pids:        s.PidsStats.Current,
	}
	if s.MemoryStats.Limit != 0 {
		e.memoryPercent = mem / float64(s.MemoryStats.Limit) * 100
	}
	for _, n := range s.Networks {
		e.netRx += float64(n.RxBytes)
		e.netTx += float64(n.TxBytes)
	}
	for _, b := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(b.Op) {
		case "read":
			e.blockRead += float64(b.Value)
		case "write":
			e.blockWrite += float64(b.Value)
		}
	}
	return e
}

// cpuPercent is the container's CPU time over the host's between two
// samples, scaled by the number of CPUs: 100% is one CPU busy.
func cpuPercent(pre, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(pre.CPUUsage.TotalUsage)
	sysDelta := float64(cur.SystemUsage) - float64(pre.SystemUsage)
	cpus := float64(cur.OnlineCPUs)
	if cpus == 0 {
		cpus = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if cpuDelta <= 0 || sysDelta <= 0 {
		return 0
	}
	return cpuDelta / sysDelta * cpus * 100
}

// memoryNoCache is usage minus the inactive page cache: total_inactive_file
// on cgroup v1, inactive_file on v2.
func memoryNoCache(m container.MemoryStats) float64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return float64(m.Usage - v)
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return float64(m.Usage - v)
	}
	return float64(m.Usage)
}

// statsRow is one container as stats's templates see it.
type statsRow struct {
	Container, Name, ID, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

var statsHeader = &statsRow{Container: "CONTAINER", Name: "NAME", ID: "CONTAINER ID", CPUPerc: "CPU %",
	MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS"}

func (e *statsEntry) row(trunc bool) *statsRow {
	r := &statsRow{Container: e.container, Name: strings.TrimPrefix(e.name, "/"), ID: e.id}
	if r.Name == "" {
		r.Name = "--"
	}
	if trunc {
		r.ID = shortID(r.ID)
	}
	if e.invalid {
		r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs = "--", "-- / --", "--", "--", "--", "--"
		return r
	}
	pct := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" }
	size := func(v float64) string { return units.HumanSizeWithPrecision(v, 3) }
	r.CPUPerc = pct(e.cpuPercent)
	r.MemUsage = units.BytesSize(e.memory) + " / " + units.BytesSize(e.memoryLimit)
	r.MemPerc = pct(e.memoryPercent)
	r.NetIO = size(e.netRx) + " / " + size(e.netTx)
	r.BlockIO = size(e.blockRead) + " / " + size(e.blockWrite)
	r.PIDs = strconv.FormatUint(e.pids, 10)
	return r
}

func writeStats(w io.Writer, lf *listFormat, entries []statsEntry, trunc bool) error {
	rows := make([]any, len(entries))
	for i := range entries {
		rows[i] = entries[i].row(trunc)
	}
	return lf.write(w, statsHeader, rows)
}

// statsWatcher keeps one stats stream per container and the latest
// numbers of each.
type statsWatcher struct {
	cl     *client.Client
	stream bool

	mu      sync.Mutex
	entries []*statsEntry
}

// add starts collecting a container's stats (once per container).
func (w *statsWatcher) add(ctx context.Context, name string) {
	w.mu.Lock()
	for _, e := range w.entries {
		if e.container == name {
			w.mu.Unlock()
			return
		}
	}
	e := &statsEntry{container: name, id: name, invalid: true, first: make(chan struct{})}
	w.entries = append(w.entries, e)
	w.mu.Unlock()
	go w.collect(ctx, e)
}

func (w *statsWatcher) collect(ctx context.Context, e *statsEntry) {
	w.mu.Lock()
	ch := e.first
	w.mu.Unlock()
	first := sync.OnceFunc(func() { close(ch) })
	defer first()
	fail := func(err error, ended bool) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			e.err, e.invalid = err, true
		}
		e.done = ended
	}
	r, err := w.cl.ContainerStats(ctx, e.container, w.stream, false)
	if err != nil {
		fail(err, true)
		return
	}
	defer r.Close()
	for {
		s, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				err = nil
			}
			fail(err, true)
			return
		}
		n := entryOf(s)
		w.mu.Lock()
		n.container, n.first = e.container, e.first
		if n.id == "" {
			n.id = e.id
		}
		*e = n
		w.mu.Unlock()
		first()
		if !w.stream {
			return
		}
	}
}

// sync follows the list of (running, or all) containers: new ones are
// added, removed ones dropped.
func (w *statsWatcher) sync(ctx context.Context, all bool) error {
	l, err := w.cl.ContainerList(ctx, all, false, 0, nil)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, s := range l {
		present[s.ID] = true
	}
	w.mu.Lock()
	kept := w.entries[:0]
	for _, e := range w.entries {
		if present[e.container] && !(e.done && !all) {
			kept = append(kept, e)
		}
	}
	w.entries = kept
	w.mu.Unlock()
	for _, s := range l {
		w.add(ctx, s.ID)
	}
	return nil
}

// waitFirst waits until every container has its first sample (or its
// error), at most d.
func (w *statsWatcher) waitFirst(d time.Duration) {
	deadline := time.After(d)
	w.mu.Lock()
	var firsts []chan struct{}
	for _, e := range w.entries {
		firsts = append(firsts, e.first)
	}
	w.mu.Unlock()
	for _, f := range firsts {
		select {
		case <-f:
		case <-deadline:
			return
		}
	}
}

func (w *statsWatcher) snapshot() []statsEntry {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]statsEntry, len(w.entries))
	for i, e := range w.entries {
		out[i] = *e
	}
	return out
}
