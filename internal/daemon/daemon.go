// Package daemon is the composition root of the engine: it owns the state
// directories, the metadata database and the services (images, containers,
// networks, volumes, events) and wires them together. It knows nothing of
// HTTP or flags: the API server and the CRI adapt it to their protocols.
//
// # State on disk
//
//	<Root>/                 (default /var/lib/hako)
//	  metadata.db           bbolt: images, tags, containers, ... (one writer)
//	  id                    the daemon's ID, as `hako info` shows it
//	  containers/<id>/      container records (see the container package)
//	  volumes/<name>/       volumes: _data and volume.json (see the volume package)
//	<RunRoot>/              (default /run/hako: lost at reboot, as it should)
//	  hako.sock             the Engine API (see the api/server package)
//	  hako.pid              the daemon's pid, locked while it runs
//	  monitor/              the container monitor's socket, pid and exits
//	  runtime/              the OCI runtime's container states
//	  containers/<id>/      a running container's bundle and rootfs mount
//
// Only one daemon may use a Root at a time: the pid file is locked with
// flock, and bbolt locks its file too.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/daemon/events"
	"github.com/hako-dev/hako/internal/daemon/monitor"
	"github.com/hako-dev/hako/internal/daemon/network"
	"github.com/hako-dev/hako/internal/daemon/volume"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/runtime"
	"github.com/hako-dev/hako/internal/snapshot"
	eventtypes "github.com/moby/moby/api/types/events"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Defaults for Config.
const (
	DefaultRoot    = "/var/lib/hako"
	DefaultRunRoot = "/run/hako"
)

// Config is what the daemon is started with.
type Config struct {
	// Root holds persistent state (images, containers, volumes).
	Root string
	// RunRoot holds state that must not survive a reboot: the socket,
	// the pid file, runtime state.
	RunRoot string
	// Version is hako's version, for /version and /info.
	Version string
	// Log receives the daemon's messages; nil means slog.Default().
	Log *slog.Logger
	// InsecureRegistries may be reached over plain HTTP: host[:port] or
	// CIDR entries, as docker's --insecure-registry.
	InsecureRegistries []string
	// RegistryHostsDir holds registry mirror and TLS configuration in
	// containerd's layout (DIR/<host>/hosts.toml); "" for none.
	RegistryHostsDir string
	// StorageDriver is "overlay", "vfs", or "" to pick overlay when the
	// kernel and Root's filesystem support it, vfs otherwise.
	StorageDriver string
	// Bridge is the default network's bridge (default hako0); it also
	// names the daemon's nftables chains, so daemons side by side need
	// different ones.
	Bridge string
	// DefaultPidsLimit is the pids limit of a container created without
	// one (--pids-limit -1 asks for none): a fork bomb stops there
	// instead of taking the host's pids. 0: no default, as docker.
	DefaultPidsLimit int64
	// UsernsRemap is docker's --userns-remap: "default", "USER[:GROUP]"
	// or "UID:GID:SIZE" (see ParseUsernsRemap); "" runs containers with
	// the host's users.
	UsernsRemap string
}

// DefaultPidsLimit is hako daemon's --default-pids-limit unless set:
// podman's is 2048; this leaves room for programs with many threads.
const DefaultPidsLimit = 4096

// Daemon is the running engine.
type Daemon struct {
	cfg       Config
	db        *bolt.DB
	pidFile   *os.File
	id        string
	started   time.Time
	events    *events.Bus
	content   *content.Store
	images    *image.Store
	snapshots snapshot.Snapshotter
	driver    string
	volumes   *volume.Store
	networks  *network.Manager
	pruning   atomic.Bool // a volume prune runs
	// remap is the mapping new containers get (--userns-remap), and
	// usernsFDs user namespaces with a mapping, for idmapped mounts.
	remap     *container.IDMap
	usernsMu  sync.Mutex
	usernsFDs map[container.IDMap]int

	// ctx ends when the daemon closes (background work stops).
	ctx        context.Context
	cancel     context.CancelFunc
	containers *container.Store
	cs         *containerState
	health     healthChecks
	rt         *runtime.Runtime
	monitor    *monitor.Client
}

// New opens (or creates) the daemon's state and returns the engine. It
// fails with a Conflict error when another daemon uses the same Root or
// RunRoot.
func New(ctx context.Context, cfg Config) (_ *Daemon, retErr error) {
	if cfg.Root == "" {
		cfg.Root = DefaultRoot
	}
	if cfg.RunRoot == "" {
		cfg.RunRoot = DefaultRunRoot
	}
	for _, p := range []*string{&cfg.Root, &cfg.RunRoot} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if err := os.MkdirAll(cfg.Root, 0o711); err != nil {
		return nil, fmt.Errorf("create root %s: %w", cfg.Root, err)
	}
	if err := os.MkdirAll(cfg.RunRoot, 0o711); err != nil {
		return nil, fmt.Errorf("create run root %s: %w", cfg.RunRoot, err)
	}
	d := &Daemon{cfg: cfg, started: time.Now(), events: events.New()}
	defer func() {
		if retErr != nil {
			d.Close()
		}
	}()
	if err := d.lockPidFile(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(cfg.Root, "metadata.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("metadata database %s is in use by another process: %w", filepath.Join(cfg.Root, "metadata.db"), errdefs.ErrConflict)
		}
		return nil, fmt.Errorf("open metadata database: %w", err)
	}
	d.db = db
	if d.id, err = loadOrCreateID(filepath.Join(cfg.Root, "id")); err != nil {
		return nil, err
	}
	if d.content, err = content.Open(filepath.Join(cfg.Root, "content")); err != nil {
		return nil, err
	}
	// Downloads a crash interrupted are restarted, not resumed.
	if err := d.content.Cleanup(); err != nil {
		d.log().Warn("content store cleanup", "error", err)
	}
	if d.images, err = image.NewStore(db); err != nil {
		return nil, err
	}
	if err := d.openSnapshots(ctx); err != nil {
		return nil, err
	}
	if d.remap, err = ParseUsernsRemap(cfg.UsernsRemap); err != nil {
		return nil, err
	}
	if d.remap != nil && d.driver != "overlay" {
		return nil, fmt.Errorf("--userns-remap needs the overlay storage driver (its image layers are mounted idmapped): %w", errdefs.ErrInvalidArgument)
	}
	if err := d.openVolumes(); err != nil {
		return nil, err
	}
	if err := d.openNetworks(); err != nil {
		return nil, err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.openContainers(ctx); err != nil {
		return nil, err
	}
	if err := d.remapDirs(); err != nil {
		return nil, err
	}
	return d, nil
}

// lockPidFile takes RunRoot/hako.pid, so that a second daemon on the same
// directories fails at once with a message naming the first.
func (d *Daemon) lockPidFile() error {
	p := filepath.Join(d.cfg.RunRoot, "hako.pid")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(p)
		f.Close()
		return fmt.Errorf("another hako daemon (pid %s) is using %s: %w", strings.TrimSpace(string(b)), d.cfg.RunRoot, errdefs.ErrConflict)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return err
	}
	d.pidFile = f
	return nil
}

// loadOrCreateID returns the daemon ID stored at p, creating it (atomically)
// the first time.
func loadOrCreateID(p string) (string, error) {
	if b, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var buf [16]byte
	rand.Read(buf[:])
	id := hex.EncodeToString(buf[:])
	if err := atomicfile.Write(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("daemon id: %w", err)
	}
	return id, nil
}

func (d *Daemon) log() *slog.Logger {
	if d.cfg.Log != nil {
		return d.cfg.Log
	}
	return slog.Default()
}

// Config returns the configuration the daemon runs with (paths made
// absolute).
func (d *Daemon) Config() Config { return d.cfg }

// Events is the daemon's event bus.
func (d *Daemon) Events() *events.Bus { return d.events }

// openSnapshots opens the configured (or best available) snapshotter
// under Root/<driver>.
func (d *Daemon) openSnapshots(ctx context.Context) error {
	driver := d.cfg.StorageDriver
	if driver == "" {
		driver = "vfs"
		if err := snapshot.OverlaySupported(filepath.Join(d.cfg.Root, "overlay")); err == nil {
			driver = "overlay"
		} else {
			d.log().Warn("overlay is not usable: using vfs (full copies of every layer)", "error", err)
		}
	}
	var err error
	switch driver {
	case "overlay":
		d.snapshots, err = snapshot.NewOverlay(filepath.Join(d.cfg.Root, "overlay"))
	case "vfs":
		d.snapshots, err = snapshot.NewVFS(filepath.Join(d.cfg.Root, "vfs"))
	default:
		return fmt.Errorf("storage driver %q: want overlay or vfs: %w", driver, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return err
	}
	d.driver = driver
	d.removeBuildViews(ctx)
	if err := d.snapshots.Cleanup(ctx); err != nil {
		d.log().Warn("snapshot cleanup", "error", err)
	}
	return nil
}

// Close releases the daemon's state. Running containers are not touched.
func (d *Daemon) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	var errs []error
	errs = append(errs, d.closeNetworks())
	if d.snapshots != nil {
		errs = append(errs, d.snapshots.Close())
	}
	if d.db != nil {
		errs = append(errs, d.db.Close())
	}
	for _, fd := range d.usernsFDs {
		unix.Close(fd)
	}
	if d.pidFile != nil {
		os.Remove(d.pidFile.Name())
		errs = append(errs, d.pidFile.Close())
	}
	return errors.Join(errs...)
}

// SubscribeEvents returns the remembered events at or after since, the
// stream of new events, and a function that ends the subscription.
func (d *Daemon) SubscribeEvents(since time.Time) ([]eventtypes.Message, <-chan eventtypes.Message, func()) {
	return d.events.Subscribe(since)
}
