// Package container holds the engine's container records: what was asked
// (Config, HostConfig), what happened (State) and where things are, one
// JSON file per container under ROOT/containers/ID/, replaced atomically
// at every change so that a crash leaves the old record or the new one.
//
// # On disk (inspectable from the host)
//
//	<Root>/containers/<id>/config.v2.json   the record
//	<Root>/containers/<id>/<id>-json.log    the json-file log (and .1, .2 … when rotated)
//	<Root>/containers/<id>/hostname, hosts, resolv.conf
//	<RunRoot>/containers/<id>/config.json   the OCI bundle while it runs
//	<RunRoot>/containers/<id>/rootfs        the mounted root filesystem while it runs
package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/daemon/volume"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Status values, as docker reports them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusRemoving   = "removing"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// State is what happened to a container.
type State struct {
	Status     string
	Pid        int
	ExitCode   int
	Error      string    `json:",omitempty"`
	OOMKilled  bool      `json:",omitempty"`
	StartedAt  time.Time `json:",omitzero"`
	FinishedAt time.Time `json:",omitzero"`
	// ManuallyStopped: stopped by a user (stop, kill); restart policies
	// other than "always" leave it stopped, even across daemon restarts.
	ManuallyStopped bool `json:",omitempty"`
	// Health is the health check's state, for containers that have one.
	Health *container.Health `json:",omitempty"`
}

// IDMap maps a container's user and group IDs 0 to Size-1 to the
// host's UID and GID onwards.
type IDMap struct {
	UID, GID, Size uint32
}

// HostUID is the host's UID for the container's uid (uid itself when it
// is outside the map).
func (m *IDMap) HostUID(uid int) int {
	if m == nil || uid < 0 || uid >= int(m.Size) {
		return uid
	}
	return uid + int(m.UID)
}

// HostGID is HostUID for groups.
func (m *IDMap) HostGID(gid int) int {
	if m == nil || gid < 0 || gid >= int(m.Size) {
		return gid
	}
	return gid + int(m.GID)
}

// ToContainer maps host IDs into the container (those outside the map
// stay), for what leaves it: export, cp, commit.
func (m *IDMap) ToContainer(uid, gid int) (int, int) {
	if uid >= int(m.UID) && uid < int(m.UID)+int(m.Size) {
		uid -= int(m.UID)
	}
	if gid >= int(m.GID) && gid < int(m.GID)+int(m.Size) {
		gid -= int(m.GID)
	}
	return uid, gid
}

// ToHost maps the container's IDs to the host's, for what enters it.
func (m *IDMap) ToHost(uid, gid int) (int, int) { return m.HostUID(uid), m.HostGID(gid) }

// Container is one container's record.
type Container struct {
	ID          string
	Name        string // with the leading "/", as docker
	Created     time.Time
	Path        string
	Args        []string
	Config      *container.Config
	HostConfig  *container.HostConfig
	Networking  *network.NetworkingConfig `json:",omitempty"`
	Image       string                    // the image ID (sha256:…)
	ImageName   string                    // as the user gave it
	Driver      string
	SnapshotKey string
	// IDMap is the user namespace mapping of a container created while
	// the daemon remapped users (--userns-remap): its root is IDMap.UID
	// on the host. nil: the host's users.
	IDMap *IDMap `json:",omitempty"`
	// MountPoints are the volumes, binds and --mount entries resolved at
	// create (sorted by destination); the volumes' references are
	// derived from them.
	MountPoints []*volume.MountPoint `json:",omitempty"`
	// NetworkSettings are the container's endpoints: configured at
	// create and connect, with their addresses while it runs.
	NetworkSettings *container.NetworkSettings `json:",omitempty"`
	State           State
	RestartCount    int
	LogPath         string
	// LogFormat is "" (json-file, under Dir) or "cri": the Kubernetes CRI
	// log format at the LogPath kubelet chose.
	LogFormat string `json:",omitempty"`
	// StrictGroups: no supplementary groups from the image's /etc/group
	// (see oci.ContainerOpts).
	StrictGroups bool   `json:",omitempty"`
	Dir          string `json:"-"` // ROOT/containers/ID

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every state change
}

// Lock serializes operations on the container.
func (c *Container) Lock() { c.mu.Lock() }

// Unlock ends Lock.
func (c *Container) Unlock() { c.mu.Unlock() }

// Changed returns a channel closed at the next state change.
func (c *Container) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changedLocked()
}

func (c *Container) changedLocked() chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// Notify wakes those waiting in Changed; the caller holds the lock.
func (c *Container) Notify() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Running reports whether the container's process runs (paused counts).
func (c *Container) Running() bool {
	switch c.State.Status {
	case StatusRunning, StatusPaused:
		return true
	}
	return false
}

// Save writes the record atomically and durably; the caller holds the
// lock.
func (c *Container) Save() error {
	return c.save(atomicfile.Write)
}

// SaveState is Save without the syncs, for the run-state transitions
// (started, exited) that the daemon checks against the processes it
// finds after a crash anyway: a machine crash may lose the newest of
// them, never the record.
func (c *Container) SaveState() error {
	return c.save(atomicfile.Replace)
}

func (c *Container) save(write func(string, []byte, os.FileMode) error) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return write(filepath.Join(c.Dir, "config.v2.json"), b, 0o600)
}

// InspectState is State in the API's form.
func (c *Container) InspectState() *container.State {
	s := c.State
	st := &container.State{
		Status:     container.ContainerState(s.Status),
		Running:    s.Status == StatusRunning || s.Status == StatusPaused || s.Status == StatusRestarting,
		Paused:     s.Status == StatusPaused,
		Restarting: s.Status == StatusRestarting,
		OOMKilled:  s.OOMKilled,
		Dead:       s.Status == StatusDead,
		Pid:        s.Pid,
		ExitCode:   s.ExitCode,
		Error:      s.Error,
		StartedAt:  apiTime(s.StartedAt),
		FinishedAt: apiTime(s.FinishedAt),
	}
	if !c.Running() {
		st.Pid = 0
	}
	if s.Health != nil {
		h := *s.Health
		h.Log = append([]*container.HealthcheckResult(nil), s.Health.Log...)
		st.Health = &h
	}
	return st
}

func apiTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Store is every container, indexed by ID and by name.
type Store struct {
	dir    string
	mu     sync.RWMutex
	byID   map[string]*Container
	byName map[string]string // name (with "/") → ID
	// reserved holds the names of containers being created (name → ID).
	reserved map[string]string
}

// Open loads the records under dir (ROOT/containers). Directories without
// a readable record (a crash during create) are returned as leftovers for
// the caller to clean.
func Open(dir string) (*Store, []string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	s := &Store{dir: dir, byID: map[string]*Container{}, byName: map[string]string{}, reserved: map[string]string{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var leftovers []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(filepath.Join(p, "config.v2.json"))
		if err != nil {
			leftovers = append(leftovers, e.Name())
			continue
		}
		c := &Container{}
		if err := json.Unmarshal(b, c); err != nil || c.ID != e.Name() {
			leftovers = append(leftovers, e.Name())
			continue
		}
		c.Dir = p
		s.byID[c.ID] = c
		s.byName[c.Name] = c.ID
	}
	return s, leftovers, nil
}

// Dir is where a container's files go.
func (s *Store) Dir(id string) string { return filepath.Join(s.dir, id) }

// NewID returns a fresh container ID.
func (s *Store) NewID() string {
	for {
		var b [32]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		if _, err := parseHexPrefix(id[:12]); err == nil { // docker avoids all-digit short IDs
			s.mu.RLock()
			_, taken := s.byID[id]
			s.mu.RUnlock()
			if !taken {
				return id
			}
		}
	}
}

func parseHexPrefix(p string) (string, error) {
	if strings.Trim(p, "0123456789") == "" {
		return "", errors.New("all digits")
	}
	return p, nil
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a user-given name.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Add registers a new container under its name; the name must be free
// or reserved for it.
func (s *Store) Add(c *Container) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.nameTaken(c.Name, c.ID); err != nil {
		return err
	}
	delete(s.reserved, c.Name)
	s.byID[c.ID] = c
	s.byName[c.Name] = c.ID
	return nil
}

func (s *Store) nameTaken(name, id string) error {
	other, ok := s.byName[name]
	if !ok {
		if r, ok := s.reserved[name]; ok && r != id {
			other = r
		} else {
			return nil
		}
	}
	return fmt.Errorf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, other, errdefs.ErrConflict)
}

// Reserve holds name for the container id being created, so that two
// concurrent creates cannot both take it. Add consumes the reservation;
// Release drops it when the creation fails.
func (s *Store) Reserve(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.nameTaken(name, id); err != nil {
		return err
	}
	s.reserved[name] = id
	return nil
}

// Release drops id's reservation of name.
func (s *Store) Release(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reserved[name] == id {
		delete(s.reserved, name)
	}
}

// NameFree reports whether name is neither used nor reserved.
func (s *Store) NameFree(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nameTaken(name, "") == nil
}

// Rename moves a container to a new name.
func (s *Store) Rename(c *Container, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byName[name]; ok {
		if other == c.ID {
			return nil
		}
		return fmt.Errorf("Error when allocating new name: Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, other, errdefs.ErrConflict)
	}
	if r, ok := s.reserved[name]; ok {
		return fmt.Errorf("Error when allocating new name: Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name: %w", name, r, errdefs.ErrConflict)
	}
	delete(s.byName, c.Name)
	s.byName[name] = c.ID
	return nil
}

// Delete forgets a container and removes its directory.
func (s *Store) Delete(c *Container) error {
	s.mu.Lock()
	delete(s.byID, c.ID)
	if s.byName[c.Name] == c.ID {
		delete(s.byName, c.Name)
	}
	s.mu.Unlock()
	return os.RemoveAll(c.Dir)
}

// Get finds a container by full ID, name (with or without "/") or
// unambiguous ID prefix, as docker does.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := s.byName[name]; ok {
		return s.byID[id], nil
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("multiple IDs found with provided prefix: %s: %w", ref, errdefs.ErrInvalidArgument)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// List returns every container, newest first.
func (s *Store) List() []*Container {
	s.mu.RLock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}
