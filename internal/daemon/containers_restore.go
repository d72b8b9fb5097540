package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/monitor"
	"github.com/hako-dev/hako/internal/runtime"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/snapshot"
	ctypes "github.com/moby/moby/api/types/container"
)

// containerState is the engine's in-memory bookkeeping beside the
// records: start gates, exit counts, restart back-offs, exec records.
type containerState struct {
	mu      sync.Mutex
	gates   map[string]*startGate
	exits   map[string]uint64
	removed map[string]bool
	backoff map[string]time.Duration
	execs   map[string]*execRecord
	// stdio holds duplicates of running containers' output descriptors
	// (see monitor's package doc): a monitor crash then blocks their
	// output instead of killing them, and the next monitor gets them.
	stdio    map[string]map[string]*os.File
	watching bool
	monPid   int
}

// startGate holds attach requests made before a container starts until
// its process exists in the monitor.
type startGate struct {
	open     chan struct{}
	attached sync.WaitGroup
}

func (d *Daemon) gate(id string) *startGate {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	g := d.cs.gates[id]
	if g == nil {
		g = &startGate{open: make(chan struct{})}
		d.cs.gates[id] = g
	}
	return g
}

// openStartGate lets the attach requests waiting for id connect, and
// waits (briefly) until they have.
func (d *Daemon) openStartGate(id string) {
	d.cs.mu.Lock()
	g := d.cs.gates[id]
	delete(d.cs.gates, id)
	d.cs.mu.Unlock()
	if g == nil {
		return
	}
	close(g.open)
	done := make(chan struct{})
	go func() { g.attached.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func (d *Daemon) exitCount(id string) uint64 {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	return d.cs.exits[id]
}

func (d *Daemon) countExit(id string) {
	d.cs.mu.Lock()
	d.cs.exits[id]++
	d.cs.mu.Unlock()
}

func (d *Daemon) markRemoved(c *container.Container) {
	d.cs.mu.Lock()
	d.cs.removed[c.ID] = true
	delete(d.cs.exits, c.ID)
	delete(d.cs.backoff, c.ID)
	d.cs.mu.Unlock()
}

func (d *Daemon) isRemoved(c *container.Container) bool {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	return d.cs.removed[c.ID]
}

// restartDelay is docker's back-off: 100ms, doubling while the container
// keeps exiting within 10s of its start, capped at a minute.
func (d *Daemon) restartDelay(id string, ran time.Duration) time.Duration {
	d.cs.mu.Lock()
	defer d.cs.mu.Unlock()
	b := d.cs.backoff[id]
	switch {
	case ran > 10*time.Second || b == 0:
		b = 100 * time.Millisecond
	default:
		b *= 2
		if b > time.Minute {
			b = time.Minute
		}
	}
	d.cs.backoff[id] = b
	return b
}

// openContainers loads the records and repairs what a crash left: half
// created containers, containers that ended while no daemon listened, or
// whose monitor was lost, and mounts, cgroups and snapshots that belong
// to no container.
func (d *Daemon) openContainers(ctx context.Context) error {
	d.cs = &containerState{gates: map[string]*startGate{}, exits: map[string]uint64{}, removed: map[string]bool{}, backoff: map[string]time.Duration{}, execs: map[string]*execRecord{}, stdio: map[string]map[string]*os.File{}}
	d.rt = runtime.New(runtime.Options{Root: filepath.Join(d.cfg.RunRoot, "runtime"), Log: d.log()})
	d.monitor = monitor.NewClient(filepath.Join(d.cfg.RunRoot, "monitor"), filepath.Join(d.cfg.RunRoot, "runtime"))
	store, leftovers, err := container.Open(filepath.Join(d.cfg.Root, "containers"))
	if err != nil {
		return err
	}
	d.containers = store
	for _, id := range leftovers {
		d.log().Info("removing a container whose creation was interrupted", "id", id)
		d.cleanupOrphan(ctx, id)
	}
	list := store.List()
	d.restoreVolumeRefs(list)
	need := false
	for _, c := range list {
		if c.Running() || c.State.Status == container.StatusRestarting || c.State.Status == container.StatusCreated {
			need = true
		}
	}
	var procs map[string]monitor.ProcessState
	if _, err := d.monitor.Ping(); err == nil || need {
		if err := d.watchExits(); err != nil {
			return err
		}
		ps, _, err := d.monitor.List()
		if err != nil {
			return err
		}
		procs = map[string]monitor.ProcessState{}
		for _, p := range ps {
			if p.ExecID == "" {
				procs[p.ID] = p
			}
		}
	}
	known := map[string]bool{}
	for _, c := range list {
		known[c.ID] = true
		d.restoreOne(ctx, c, procs)
	}
	d.removeOrphans(ctx, known)
	d.restoreNetworks(list)
	if err := d.volumes.Sweep(); err != nil {
		d.log().Warn("unmount unused volumes", "error", err)
	}
	// Restart policies that apply when the daemon starts.
	for _, c := range list {
		c.Lock()
		if d.isRemoved(c) {
			c.Unlock()
			continue
		}
		rp := c.HostConfig.RestartPolicy
		if c.State.Status == container.StatusExited && !c.State.ManuallyStopped &&
			(rp.Name == ctypes.RestartPolicyAlways || rp.Name == ctypes.RestartPolicyUnlessStopped) {
			if err := d.startLocked(ctx, c); err != nil {
				d.log().Warn("restart at daemon start", "id", c.ID, "error", err)
			}
		}
		c.Unlock()
	}
	return nil
}

func (d *Daemon) restoreOne(ctx context.Context, c *container.Container, procs map[string]monitor.ProcessState) {
	c.Lock()
	p, inMonitor := procs[c.ID]
	switch {
	case c.State.Status == container.StatusRemoving || c.State.Status == container.StatusDead:
		d.log().Info("finishing an interrupted removal", "id", c.ID)
		if err := d.removeLocked(ctx, c, c.HostConfig.AutoRemove); err != nil {
			d.log().Warn("remove", "id", c.ID, "error", err)
		}
		c.Unlock()
		return
	case inMonitor && p.Running && !p.Started:
		// The daemon stopped between creating the process and letting
		// it go: that start failed. Its init is killed and the
		// container is left as it was before.
		d.log().Info("undoing an interrupted start", "id", c.ID)
		d.monitor.Forget(c.ID, "")
		if rc, err := d.rt.Load(c.ID); err == nil {
			rc.Delete(true)
		}
		d.releaseStdio(c.ID)
		c.State.Pid = 0
		c.State.Error = "the start was interrupted: the daemon stopped"
		if c.State.StartedAt.IsZero() {
			c.State.Status = container.StatusCreated
		} else {
			c.State.Status = container.StatusExited
		}
		c.Save()
		d.unmountRootfs(c)
		d.unmountVolumes(c)
		c.Unlock()
		return
	case inMonitor && p.Running:
		// Still running (live-restore), or started just before a crash
		// that kept the record from saying so.
		if !c.Running() {
			c.State = container.State{Status: container.StatusRunning, Pid: p.Pid, StartedAt: time.Now().UTC()}
		}
		c.State.Pid = p.Pid
		d.holdStdio(c.ID)
		if rc, err := d.rt.Load(c.ID); err == nil && rc.State().Status == runtime.StatusPaused {
			c.State.Status = container.StatusPaused
		} else {
			c.State.Status = container.StatusRunning
		}
		if healthConfig(c) != nil {
			last := c.State.Health
			d.startHealthcheck(c)
			if last != nil {
				c.State.Health = last // the probes go on from where they were
			}
		}
		c.Save()
		c.Unlock()
		return
	case inMonitor && p.Exit != nil:
		if !c.Running() {
			c.State.Status = container.StatusRunning
			c.State.Pid = p.Pid
		}
		c.Unlock()
		d.handleExit(*p.Exit)
		return
	case c.Running() || c.State.Status == container.StatusRestarting:
		// The monitor lost it. A process still alive is adopted (its
		// stdio is gone); otherwise its end is recorded as unknown.
		if rc, err := d.rt.Load(c.ID); err == nil && c.State.Pid > 0 {
			st := rc.State()
			if st.Status == runtime.StatusRunning || st.Status == runtime.StatusPaused {
				logPath, logMax, logFiles, logAttrs := d.logOptions(c)
				d.cs.mu.Lock()
				held := d.cs.stdio[c.ID]
				d.cs.mu.Unlock()
				o := monitor.AdoptOptions{Tty: c.Config.Tty, StdinOnce: c.Config.StdinOnce, LogPath: logPath, LogMaxSize: logMax, LogMaxFiles: logFiles, LogAttrs: logAttrs, LogFormat: c.LogFormat, Stdio: held}
				if err := d.monitor.Adopt(c.ID, st.Pid, o); err == nil {
					c.Unlock()
					return
				}
			}
		}
		pid := c.State.Pid
		c.Unlock()
		d.handleExit(monitor.Exit{ID: c.ID, Pid: pid, ExitCode: 255, ExitedAt: time.Now().UTC(), Unknown: true})
		return
	}
	// Not running: nothing of it may be left running or mounted.
	if rc, err := d.rt.Load(c.ID); err == nil {
		rc.Delete(true)
	}
	if c.State.Status != container.StatusCreated {
		d.unmountRootfs(c)
	}
	c.Unlock()
}

// cleanupOrphan removes everything a container ID may own.
func (d *Daemon) cleanupOrphan(ctx context.Context, id string) {
	if rc, err := d.rt.Load(id); err == nil {
		rc.Delete(true)
	}
	c := &container.Container{ID: id}
	d.unmountRootfs(c)
	os.RemoveAll(d.bundleDir(id))
	d.removeContainerSnapshots(ctx, "container-"+id)
	os.RemoveAll(d.containers.Dir(id))
}

// removeOrphans removes runtime states, bundles (with their mounts) and
// snapshots of containers that have no record.
func (d *Daemon) removeOrphans(ctx context.Context, known map[string]bool) {
	if rcs, err := d.rt.List(); err == nil {
		for _, rc := range rcs {
			if !known[rc.ID()] {
				d.log().Info("removing an orphaned runtime container", "id", rc.ID())
				rc.Delete(true)
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(d.cfg.RunRoot, "containers")); err == nil {
		for _, e := range ents {
			if !known[e.Name()] {
				d.cleanupOrphan(ctx, e.Name())
			}
		}
	}
	orphans := map[string]bool{}
	d.snapshots.Walk(ctx, func(i snapshot.Info) error {
		if id := containerIDOfSnapshot(i.Key); id != "" && !known[id] {
			orphans[id] = true
		}
		return nil
	})
	for id := range orphans {
		d.log().Info("removing an orphaned container snapshot", "id", id)
		d.removeContainerSnapshots(ctx, "container-"+id)
	}
}

// watchExits subscribes to the monitor's exits (starting a monitor if
// none runs) and keeps the subscription up for the daemon's life.
func (d *Daemon) watchExits() error {
	d.cs.mu.Lock()
	if d.cs.watching {
		d.cs.mu.Unlock()
		return nil
	}
	d.cs.watching = true
	d.cs.mu.Unlock()
	ch, err := d.monitor.Events(d.ctx)
	if err != nil {
		d.cs.mu.Lock()
		d.cs.watching = false
		d.cs.mu.Unlock()
		return err
	}
	d.cs.monPid = d.monitor.Pid()
	go func() {
		for {
			for x := range ch {
				d.handleExit(x)
			}
			if d.ctx.Err() != nil {
				return
			}
			// The monitor went away: start a new one, then catch up.
			for {
				ch, err = d.monitor.Events(d.ctx)
				if err == nil || d.ctx.Err() != nil {
					break
				}
				d.log().Warn("container monitor", "error", err)
				time.Sleep(200 * time.Millisecond)
			}
			if d.ctx.Err() != nil {
				return
			}
			d.catchUp()
		}
	}()
	return nil
}

// catchUp reconciles after a (new) monitor subscription: exits it holds,
// and running containers it does not know (a monitor restarted after a
// crash), which it adopts.
func (d *Daemon) catchUp() {
	ps, pid, err := d.monitor.List()
	if err != nil {
		return
	}
	d.log().Warn("container monitor restarted", "pid", pid)
	byID := map[string]monitor.ProcessState{}
	for _, p := range ps {
		if p.ExecID == "" {
			byID[p.ID] = p
		}
		if p.Exit != nil {
			d.handleExit(*p.Exit)
		}
	}
	for _, c := range d.containers.List() {
		c.Lock()
		_, ok := byID[c.ID]
		running := c.Running()
		c.Unlock()
		if running && !ok {
			d.restoreOne(context.Background(), c, nil)
		}
	}
}

// Adjectives and nouns for generated names ("brave_heron"): hako's own
// lists.
var (
	nameAdjectives = strings.Fields("agile amber ancient bold brave bright calm clever cosmic crisp curious daring deft eager early fair fancy fierce gentle glad golden grand happy hardy hidden honest humble jolly keen kind lively lucid lucky mellow merry mighty modest nimble noble patient plucky polite proud quick quiet rapid ready serene sharp shiny silent simple sleek smart snappy solid spry steady stoic sturdy sunny swift tender tidy tranquil trusty upbeat valiant vivid warm wise witty zealous")
	nameNouns      = strings.Fields("albatross badger beaver bison bobcat condor crane dingo dolphin eagle egret falcon ferret finch fox gazelle gecko gibbon heron hornet ibex jackal jaguar kestrel kiwi koala lemur leopard lynx magpie marmot marten mink moose narwhal newt ocelot orca osprey otter owl panda panther pelican penguin puffin quail rabbit raven salmon seal shrike sparrow stork swan tapir tiger toucan turtle viper walrus weasel whale wolf wombat yak zebra")
)

func (d *Daemon) generateName(id string) string {
	for i := 0; ; i++ {
		n := nameAdjectives[rand.IntN(len(nameAdjectives))] + "_" + nameNouns[rand.IntN(len(nameNouns))]
		if i > 10 {
			n += fmt.Sprint(rand.IntN(100))
		}
		if d.containers.Reserve("/"+n, id) == nil {
			return n
		}
	}
}

// writeEtcFiles writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf (bind-mounted over the image's).
func (d *Daemon) writeEtcFiles(c *container.Container) error {
	hc := c.HostConfig
	hostname := c.Config.Hostname
	if hostname == "" {
		hostname = c.ID[:12]
	}
	if hc.UTSMode.IsHost() || hc.NetworkMode.IsHost() {
		hostname, _ = os.Hostname()
	}
	if err := atomicfile.Replace(filepath.Join(c.Dir, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts strings.Builder
	if hc.NetworkMode.IsHost() {
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts.Write(b)
		}
	} else {
		hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
		if ip, ip6 := d.containerAddress(c); ip.IsValid() {
			fmt.Fprintf(&hosts, "%s\t%s\n", ip, hostname)
			if ip6.IsValid() {
				fmt.Fprintf(&hosts, "%s\t%s\n", ip6, hostname)
			}
		} else {
			fmt.Fprintf(&hosts, "127.0.1.1\t%s\n", hostname)
		}
	}
	if !hc.NetworkMode.IsHost() {
		links, err := d.resolveLinks(c)
		if err != nil {
			return err
		}
		for _, l := range links {
			hosts.WriteString(l.hostsLine())
		}
	}
	for _, h := range hc.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if i := strings.Index(h, "="); i > 0 {
			name, ip, ok = h[:i], h[i+1:], true
		}
		if !ok {
			return fmt.Errorf("bad --add-host %q: want name:ip", h)
		}
		if ip == "host-gateway" {
			ip = d.hostGateway().String()
		}
		fmt.Fprintf(&hosts, "%s\t%s\n", strings.Trim(ip, "[]"), name)
	}
	if err := atomicfile.Replace(filepath.Join(c.Dir, "hosts"), []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	if err := atomicfile.Replace(filepath.Join(c.Dir, "resolv.conf"), resolvConf(hc, d.embeddedDNS(c)), 0o644); err != nil {
		return err
	}
	if m := c.IDMap; m != nil {
		// A remapped container's root owns its files, as docker's do.
		for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
			if err := os.Chown(filepath.Join(c.Dir, f), int(m.UID), int(m.GID)); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolvConf is the host's resolver configuration for a container: with
// its own network namespace, loopback resolvers (systemd-resolved's
// 127.0.0.53) are unreachable, so they are replaced by the upstream ones
// systemd-resolved lists; --dns, --dns-search and --dns-option override.
// On a user-defined network the one name server is embedded, the
// network's DNS server (which forwards to --dns or the host's).
func resolvConf(hc *ctypes.HostConfig, embedded netip.Addr) []byte {
	src := "/etc/resolv.conf"
	var ns, search, opts []string
	read := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			return
		}
		ns, search, opts = nil, nil, nil
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || strings.HasPrefix(f[0], "#") {
				continue
			}
			switch f[0] {
			case "nameserver":
				ns = append(ns, f[1])
			case "search", "domain":
				search = append(search, f[1:]...)
			case "options":
				opts = append(opts, f[1:]...)
			}
		}
	}
	read(src)
	if !hc.NetworkMode.IsHost() {
		if len(ns) == 1 && ns[0] == "127.0.0.53" {
			read("/run/systemd/resolve/resolv.conf")
		}
		var kept []string
		for _, n := range ns {
			if !strings.HasPrefix(n, "127.") && n != "::1" {
				kept = append(kept, n)
			}
		}
		ns = kept
	}
	if len(hc.DNS) > 0 {
		ns = nil
		for _, a := range hc.DNS {
			ns = append(ns, a.String())
		}
	}
	if embedded.IsValid() {
		ns = []string{embedded.String()}
	}
	if len(hc.DNSSearch) > 0 {
		search = hc.DNSSearch
		if len(search) == 1 && search[0] == "." {
			search = nil
		}
	}
	if len(hc.DNSOptions) > 0 {
		opts = hc.DNSOptions
	}
	var b strings.Builder
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	for _, n := range ns {
		b.WriteString("nameserver " + n + "\n")
	}
	if len(opts) > 0 {
		b.WriteString("options " + strings.Join(opts, " ") + "\n")
	}
	return []byte(b.String())
}

// initAlive reports whether a container's recorded init still runs.
func initAlive(pid int) bool {
	return pid > 0 && linux.ProcessAlive(pid, 0)
}

var errNoSuchExec = errors.New("no such exec")

// holdStdio keeps duplicates of a running container's output descriptors.
func (d *Daemon) holdStdio(id string) {
	files, err := d.monitor.Stdio(id)
	if err != nil {
		d.log().Debug("hold stdio", "id", id, "error", err)
		return
	}
	d.cs.mu.Lock()
	old := d.cs.stdio[id]
	d.cs.stdio[id] = files
	d.cs.mu.Unlock()
	for _, f := range old {
		f.Close()
	}
}

// releaseStdio closes what holdStdio kept.
func (d *Daemon) releaseStdio(id string) {
	d.cs.mu.Lock()
	old := d.cs.stdio[id]
	delete(d.cs.stdio, id)
	d.cs.mu.Unlock()
	for _, f := range old {
		f.Close()
	}
}
