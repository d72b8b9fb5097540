// Package volume keeps the engine's local volumes: named directories that
// outlive the containers using them, laid out as docker lays them out, so
// that they can be looked at (and backed up) from the host.
//
// # On disk
//
//	<Root>/volumes/<name>/_data          the content: a plain directory, or the mount point of the volume's device
//	<Root>/volumes/<name>/volume.json    Name, Driver, Labels, Options, CreatedAt, Scope; replaced atomically
//	<Root>/volumes/.removing-<name>-<n>  a volume being removed (Open finishes the job)
//
// volume.json is written last when a volume is created, so a directory
// without one is a creation that a crash interrupted (removed by Open when
// its _data is empty, adopted as a volume otherwise: data is never thrown
// away).
//
// # References and mounts
//
// Which containers use a volume is not stored here: the container records
// say it (their mount points), and the engine tells the store at start-up
// (Reference, MarkActive) and as containers are created, started, stopped
// and removed. A referenced volume cannot be removed. A volume made with
// the local driver's device options (type, device, o) is mounted on its
// _data when the first running container needs it and unmounted when the
// last one stops, as docker's local driver does: a tmpfs volume keeps its
// content while some container using it runs.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
)

// Names and labels docker uses.
const (
	// DriverLocal is the only driver: directories under Root, or mounts of
	// a device on them.
	DriverLocal = "local"
	// AnonymousLabel marks a volume made without a name (-v /path, an
	// image's VOLUME, `volume create` with no name): prune removes those
	// by default, and rm -v along with their container.
	AnonymousLabel = "com.docker.volume.anonymous"
	// ScopeLocal is the scope of every local volume.
	ScopeLocal = "local"
)

// Volume is a volume's metadata (volume.json) and where its content is.
type Volume struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	CreatedAt time.Time
	Scope     string
	// Mountpoint is <Root>/volumes/<name>/_data (derived, not stored).
	Mountpoint string `json:"-"`
}

// Anonymous reports whether v was made without a name.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

func (v *Volume) clone() Volume {
	c := *v
	c.Labels = maps.Clone(v.Labels)
	c.Options = maps.Clone(v.Options)
	return c
}

// Mounter performs the mounts the store describes for volumes with a
// device: the host's mount(2) in the engine, a recording fake in tests.
type Mounter interface {
	Mount(ms []mount.Mount, target string) error
	Unmount(target string) error
	Mounted(target string) bool
}

// Store is the set of volumes under one directory.
type Store struct {
	root string
	m    Mounter

	mu   sync.Mutex
	vols map[string]*Volume
	// refs: volume → the containers whose records mount it.
	refs map[string]map[string]bool
	// active: volume → the running containers that have it mounted.
	active map[string]map[string]bool
}

// Open loads the volumes under root (<Root>/volumes), finishing removals
// and creations that a crash interrupted.
func Open(root string, m Mounter) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("create volumes directory %s: %w", root, err)
	}
	s := &Store{root: root, m: m, vols: map[string]*Volume{}, refs: map[string]map[string]bool{}, active: map[string]map[string]bool{}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read volumes directory %s: %w", root, err)
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, name)
		if strings.HasPrefix(name, ".removing-") {
			errs = append(errs, s.removeDir(dir))
			continue
		}
		v, err := s.load(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v != nil {
			s.vols[name] = v
		}
	}
	return s, errors.Join(errs...)
}

// load reads a volume's metadata; nil (and the directory removed) for an
// interrupted creation.
func (s *Store) load(name string) (*Volume, error) {
	dir := filepath.Join(s.root, name)
	b, err := os.ReadFile(filepath.Join(dir, "volume.json"))
	if err == nil {
		v := &Volume{}
		if err := json.Unmarshal(b, v); err == nil && v.Name == name {
			v.Mountpoint = s.dataDir(name)
			return v, nil
		}
	}
	data := s.dataDir(name)
	if ents, err := os.ReadDir(data); (err != nil && os.IsNotExist(err)) || (err == nil && len(ents) == 0 && !s.m.Mounted(data)) {
		return nil, s.removeDir(dir)
	}
	if ValidateName(name) != nil {
		return nil, nil // not ours: leave it alone
	}
	// Content without (readable) metadata: keep it as a plain volume.
	v := &Volume{Name: name, Driver: DriverLocal, Scope: ScopeLocal, Mountpoint: data}
	if st, err := os.Stat(data); err == nil {
		v.CreatedAt = st.ModTime()
	}
	return v, s.save(v)
}

func (s *Store) dataDir(name string) string { return filepath.Join(s.root, name, "_data") }

// save writes v's volume.json atomically.
func (s *Store) save(v *Volume) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.root, v.Name, "volume.json"), b, 0o600); err != nil {
		return fmt.Errorf("volume %s: write metadata: %w", v.Name, err)
	}
	return nil
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidateName checks a volume name as docker's local driver does.
func ValidateName(name string) error {
	if len(name) == 1 {
		return fmt.Errorf("volume name is too short, names should be at least two alphanumeric characters: %w", errdefs.ErrInvalidArgument)
	}
	if !validName.MatchString(name) {
		return fmt.Errorf("%q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// CreateOptions are what a volume is made with.
type CreateOptions struct {
	// Driver is "local" or "" (local).
	Driver string
	Labels map[string]string
	// Options are the driver's: none for a plain directory, or type,
	// device and o for a mount (see ValidateOptions).
	Options map[string]string
	// Ref, when set, is a container that references the volume from now
	// on, atomically with its creation or lookup.
	Ref string
}

// Create makes a volume, or returns the existing one of that name (its
// labels and options unchanged, as docker does); created says which. An
// empty name makes an anonymous volume with a random 64-hex name.
func (s *Store) Create(name string, o CreateOptions) (_ Volume, created bool, retErr error) {
	labels := maps.Clone(o.Labels)
	if name == "" {
		name = randomName()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[AnonymousLabel] = ""
	}
	opErr := func(err error) error { return fmt.Errorf("create %s: %w", name, err) }
	driver := o.Driver
	if driver == "" {
		driver = DriverLocal
	}
	if driver != DriverLocal {
		return Volume{}, false, opErr(fmt.Errorf("error looking up volume plugin %s: plugin %q not found: %w", driver, driver, errdefs.ErrNotFound))
	}
	if err := ValidateName(name); err != nil {
		return Volume{}, false, opErr(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.vols[name]; ok {
		s.addRef(s.refs, name, o.Ref)
		return v.clone(), false, nil
	}
	if err := ValidateOptions(o.Options); err != nil {
		return Volume{}, false, opErr(err)
	}
	v := &Volume{
		Name: name, Driver: driver, Labels: labels, Options: maps.Clone(o.Options),
		CreatedAt: time.Now().Truncate(time.Second), Scope: ScopeLocal, Mountpoint: s.dataDir(name),
	}
	dir := filepath.Join(s.root, name)
	if err := os.Mkdir(dir, 0o701); err != nil {
		return Volume{}, false, opErr(err)
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Mkdir(v.Mountpoint, 0o755); err != nil {
		return Volume{}, false, opErr(err)
	}
	if err := s.save(v); err != nil {
		return Volume{}, false, opErr(err)
	}
	s.vols[name] = v
	s.addRef(s.refs, name, o.Ref)
	return v.clone(), true, nil
}

func randomName() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func noSuchVolume(name string) error {
	return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
}

// Get returns the volume of that name.
func (s *Store) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return Volume{}, noSuchVolume(name)
	}
	return v.clone(), nil
}

// List returns every volume, by name.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.vols))
	for _, v := range s.vols {
		out = append(out, v.clone())
	}
	slices.SortFunc(out, func(a, b Volume) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Refs returns the containers that reference the volume, sorted.
func (s *Store) Refs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.refs[name])
}

// Reference records that container ref uses the volume.
func (s *Store) Reference(name, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		return noSuchVolume(name)
	}
	s.addRef(s.refs, name, ref)
	return nil
}

// Release forgets that container ref uses the volume.
func (s *Store) Release(name, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delRef(s.refs, name, ref)
}

func (s *Store) addRef(m map[string]map[string]bool, name, ref string) {
	if ref == "" {
		return
	}
	if m[name] == nil {
		m[name] = map[string]bool{}
	}
	m[name][ref] = true
}

func delRef(m map[string]map[string]bool, name, ref string) {
	delete(m[name], ref)
	if len(m[name]) == 0 {
		delete(m, name)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Remove deletes a volume and its content. A volume that containers use
// is a Conflict naming them; force makes a missing volume no error.
func (s *Store) Remove(name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; !ok {
		if force {
			return nil
		}
		return noSuchVolume(name)
	}
	if refs := s.refs[name]; len(refs) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(sortedKeys(refs), ", "), errdefs.ErrConflict)
	}
	dir := filepath.Join(s.root, name)
	if err := s.unmountData(s.dataDir(name)); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	// Out of the way first (one rename), then deleted: a crash leaves a
	// .removing directory that Open deletes, never half a volume.
	gone := filepath.Join(s.root, ".removing-"+name+"-"+randomName()[:8])
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.vols, name)
	delete(s.active, name)
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// unmountData makes sure nothing is mounted on a volume's _data, so that
// deleting the directory cannot reach into a device or a bound host
// directory.
func (s *Store) unmountData(data string) error {
	for range 8 {
		if !s.m.Mounted(data) {
			return nil
		}
		if err := s.m.Unmount(data); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is still mounted", data)
}

// removeDir deletes a directory that is no volume (any more), after
// unmounting its _data.
func (s *Store) removeDir(dir string) error {
	if err := s.unmountData(filepath.Join(dir, "_data")); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return os.RemoveAll(dir)
}

// Mount makes the volume's content available at its Mountpoint for the
// running container ref: a volume with a device is mounted there by its
// first user. fresh says that this call mounted it (its content is new).
func (s *Store) Mount(name, ref string) (fresh bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vols[name]
	if !ok {
		return false, noSuchVolume(name)
	}
	if ms := Mounts(v.Options); ms != nil && !s.m.Mounted(v.Mountpoint) {
		if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
			return false, err
		}
		if err := s.m.Mount(ms, v.Mountpoint); err != nil {
			return false, fmt.Errorf("failed to mount local volume: %s", hidePassword(err.Error(), v.Options["o"]))
		}
		fresh = true
	}
	s.addRef(s.active, name, ref)
	return fresh, nil
}

// Unmount ends the running container ref's use of the volume; the last
// user of a volume with a device unmounts it. was says whether ref was
// using it.
func (s *Store) Unmount(name, ref string) (was bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	was = s.active[name][ref]
	delRef(s.active, name, ref)
	return was, s.unmountIdle(name)
}

func (s *Store) unmountIdle(name string) error {
	v, ok := s.vols[name]
	if !ok || len(s.active[name]) > 0 || Mounts(v.Options) == nil {
		return nil
	}
	if err := s.unmountData(v.Mountpoint); err != nil {
		return fmt.Errorf("unmount volume %s: %w", name, err)
	}
	return nil
}

// MarkActive records, at start-up, that the running container ref has
// the volume mounted (no mount is made).
func (s *Store) MarkActive(name, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.vols[name]; ok {
		s.addRef(s.active, name, ref)
	}
}

// Sweep unmounts the devices of volumes that no running container uses
// (after a crash, or containers that ended while no engine ran).
func (s *Store) Sweep() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name := range s.vols {
		errs = append(errs, s.unmountIdle(name))
	}
	return errors.Join(errs...)
}

// Size is the disk usage of a volume's content in bytes (-1 when it cannot
// be read).
func (s *Store) Size(name string) int64 {
	var n int64
	err := filepath.WalkDir(s.dataDir(name), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return n
}
