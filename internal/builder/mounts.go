package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	mounttypes "github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"
)

// RunOptions are what a RUN step's container needs beyond its
// configuration: the mounts of RUN --mount and RUN --network.
type RunOptions struct {
	// Mounts are bind and tmpfs mounts; a bind's source is a host path.
	Mounts []mounttypes.Mount
	// NetworkNone runs the step without a network (RUN --network=none).
	NetworkNone bool
	// Host is what the build gives every RUN step.
	Host RunHostConfig
	// Stubs are the paths, parents first, that the mounts' targets make
	// in the container's filesystem and its image lacks: the backend
	// removes those left empty before the step is committed, so that a
	// mount leaves nothing in the layer, as buildkit does.
	Stubs []string
	// Env are variables the step alone sees (RUN --mount=type=secret,env=).
	Env []string
}

// runOptions reads a RUN's flags: --mount (bind, cache, tmpfs), --network
// (default or none). It returns the container's options, what of the
// mounts the step's cache key must hold (their specs, a checksum of what a
// bind of the build context shows, the ID of an image a bind shows), and
// prepare, to call only when the step runs (not from the cache): it sets
// up what the mounts need (image views, caches and their locks, the
// throwaway layers of writable binds), fills o.Mounts, and returns the
// release of it all.
func (b *build) runOptions(ctx context.Context, c *instructions.RunCommand) (o *RunOptions, key []string, prepare func() (func(), error), err error) {
	o = &RunOptions{Host: b.o.Run}
	for _, f := range c.FlagsUsed {
		switch f {
		case "mount":
		case "network":
			switch n := instructions.GetNetwork(c); n {
			case instructions.NetworkDefault:
			case instructions.NetworkNone:
				o.NetworkNone = true
				key = append(key, "network=none")
			default:
				return nil, nil, nil, fmt.Errorf("RUN --network=%s is not supported (default and none are)", n)
			}
		default:
			return nil, nil, nil, fmt.Errorf("RUN --%s is not supported", f)
		}
	}
	// setups, in order, each making one mount; release what was made.
	var setups []func(release *[]func()) (mounttypes.Mount, error)
	var mounts []*instructions.Mount
	if slices.Contains(c.FlagsUsed, "mount") {
		mounts = instructions.GetMounts(c)
	}
	for _, m := range mounts {
		switch m.Type {
		case instructions.MountTypeBind, instructions.MountTypeCache, instructions.MountTypeTmpfs:
		case instructions.MountTypeSecret:
			sk, err := b.secretMount(m, o, &setups)
			if err != nil {
				return nil, nil, nil, err
			}
			key = append(key, sk)
			continue
		default:
			return nil, nil, nil, fmt.Errorf("RUN --mount=type=%s is not supported: hako's builder takes no SSH agents", m.Type)
		}
		target := m.Target
		if target == "" {
			return nil, nil, nil, fmt.Errorf("RUN --mount=type=%s needs a target", m.Type)
		}
		if !path.IsAbs(target) {
			target = path.Join("/", b.cfg.WorkingDir, target)
		}
		target = path.Clean(target)
		if target == "/" {
			return nil, nil, nil, fmt.Errorf("RUN --mount=type=%s: cannot mount over /", m.Type)
		}
		spec := fmt.Sprintf("type=%s,from=%s,source=%s,target=%s,ro=%t,id=%s,size=%d", m.Type, m.From, m.Source, target, m.ReadOnly, m.CacheID, m.SizeLimit)
		switch m.Type {
		case instructions.MountTypeBind:
			src := m.Source
			if src == "" {
				src = "."
			}
			srcErr := func(err error) error { return fmt.Errorf("RUN --mount=type=bind source %q: %w", src, err) }
			// writable makes what a rw bind shows: what is written is
			// thrown away.
			writable := func(host string, fi fs.FileInfo, release *[]func()) (string, error) {
				if m.ReadOnly {
					return host, nil
				}
				scratch, rel, err := writableCopy(host, fi, b.o.TempDir)
				if err != nil {
					return "", fmt.Errorf("RUN --mount=type=bind,rw source %q: %w", src, err)
				}
				*release = append(*release, rel)
				return scratch, nil
			}
			if m.From == "" {
				host, fi, err := resolveIn(b.ctxDir, src)
				if err != nil {
					return nil, nil, nil, srcErr(err)
				}
				sum, err := treeSum(host)
				if err != nil {
					return nil, nil, nil, srcErr(err)
				}
				spec += ",sum=" + sum
				setups = append(setups, func(release *[]func()) (mounttypes.Mount, error) {
					host, err := writable(host, fi, release)
					return mounttypes.Mount{Type: mounttypes.TypeBind, Source: host, Target: target, ReadOnly: m.ReadOnly}, err
				})
				break
			}
			id, err := b.copySource(ctx, m.From)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("RUN --mount from=%s: %w", m.From, err)
			}
			// The image's ID stands for its files.
			spec += ",image=" + id
			setups = append(setups, func(release *[]func()) (mounttypes.Mount, error) {
				dir, rel, err := b.be.BuildView(ctx, id)
				if err != nil {
					return mounttypes.Mount{}, err
				}
				*release = append(*release, func() { rel() })
				host, fi, err := resolveIn(dir, src)
				if err != nil {
					return mounttypes.Mount{}, srcErr(err)
				}
				host, err = writable(host, fi, release)
				return mounttypes.Mount{Type: mounttypes.TypeBind, Source: host, Target: target, ReadOnly: m.ReadOnly}, err
			})
		case instructions.MountTypeCache:
			if m.From != "" {
				return nil, nil, nil, fmt.Errorf("RUN --mount=type=cache,from= is not supported")
			}
			id := m.CacheID
			if id == "" {
				id = target
			}
			mode, uid, gid := mountOwner(m, 0o755)
			exclusive := m.CacheSharing == instructions.MountSharingLocked || m.CacheSharing == instructions.MountSharingPrivate
			setups = append(setups, func(release *[]func()) (mounttypes.Mount, error) {
				dir, rel, err := b.be.BuildCache(ctx, id, mode, uid, gid, exclusive)
				if err != nil {
					return mounttypes.Mount{}, fmt.Errorf("RUN --mount=type=cache,id=%s: %w", id, err)
				}
				*release = append(*release, rel)
				return mounttypes.Mount{Type: mounttypes.TypeBind, Source: dir, Target: target, ReadOnly: m.ReadOnly}, nil
			})
		case instructions.MountTypeTmpfs:
			setups = append(setups, func(*[]func()) (mounttypes.Mount, error) {
				return mounttypes.Mount{Type: mounttypes.TypeTmpfs, Target: target, TmpfsOptions: &mounttypes.TmpfsOptions{SizeBytes: m.SizeLimit}}, nil
			})
		}
		key = append(key, spec)
		for p := range ancestors(target) {
			if resolved, fi := b.be.ImagePath(ctx, b.image, p); fi == nil && !slices.Contains(o.Stubs, resolved) {
				o.Stubs = append(o.Stubs, resolved)
			}
		}
	}
	prepare = func() (func(), error) {
		var releases []func()
		releaseAll := func() {
			for _, r := range slices.Backward(releases) {
				r()
			}
		}
		for _, setup := range setups {
			mt, err := setup(&releases)
			if err != nil {
				releaseAll()
				return nil, err
			}
			o.Mounts = append(o.Mounts, mt)
		}
		return releaseAll, nil
	}
	return o, key, prepare, nil
}

// ancestors yields p's prefixes, "/" excluded, shortest first: /a, /a/b,
// /a/b/c for /a/b/c.
func ancestors(p string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for i := 1; i <= len(p); i++ {
			if i == len(p) || p[i] == '/' {
				if !yield(p[:i]) {
					return
				}
			}
		}
	}
}

// resolveIn finds rel (absolute or not, from root) inside root and returns
// the host path it is at. A path or link that leads out of root is an
// error.
func resolveIn(root, rel string) (string, fs.FileInfo, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	name := strings.TrimPrefix(path.Clean("/"+rel), "/")
	if name == "" {
		name = "."
	}
	if c := path.Clean(rel); c == ".." || strings.HasPrefix(c, "../") {
		return "", nil, fmt.Errorf("outside the build context")
	}
	f, err := r.Open(name)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, err
	}
	host, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", nil, err
	}
	return host, fi, nil
}

// treeSum is a checksum of the files under p (or of the file p): names,
// types, modes, owners, link targets and contents.
func treeSum(p string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, q)
		var uid, gid uint32
		if st, ok := fi.Sys().(*unix.Stat_t); ok {
			uid, gid = st.Uid, st.Gid
		}
		fmt.Fprintf(h, "%s\x00%o\x00%d:%d\x00", rel, fi.Mode(), uid, gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(q)
			if err != nil {
				return err
			}
			io.WriteString(h, l)
		case fi.Mode().IsRegular():
			f, err := os.Open(q)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// RunMountPrefix starts the names of the directories writableCopy makes
// in a build's TempDir.
const RunMountPrefix = "run-mount-"

// writableCopy makes, in a new directory of tempDir, what a writable bind
// of host shows: a directory as an overlay with a throwaway upper layer
// (merged/ over lower/, a bind of host), a file as a copy. The release
// removes it all; RemoveLeftovers removes what a crash left.
func writableCopy(host string, fi fs.FileInfo, tempDir string) (string, func(), error) {
	tmp, err := os.MkdirTemp(tempDir, RunMountPrefix)
	if err != nil {
		return "", nil, err
	}
	clean := func() { os.RemoveAll(tmp) }
	if !fi.IsDir() {
		dst := filepath.Join(tmp, "file")
		if err := copyFile(host, dst, fi.Mode()); err != nil {
			clean()
			return "", nil, err
		}
		return dst, clean, nil
	}
	// The source is bound at lower first: overlay's options could not
	// name a path with a comma or a colon in it.
	lower, upper, work, merged := filepath.Join(tmp, "lower"), filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			clean()
			return "", nil, err
		}
	}
	unmount := func(p string) bool {
		err := unix.Unmount(p, unix.MNT_DETACH)
		return err == nil || errors.Is(err, unix.EINVAL)
	}
	if err := unix.Mount(host, lower, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		clean()
		return "", nil, fmt.Errorf("bind it: %w", err)
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		if unmount(lower) {
			clean()
		}
		return "", nil, fmt.Errorf("mount a writable layer over it: %w", err)
	}
	return merged, func() {
		// Removed only once nothing is mounted there: RemoveAll would
		// otherwise delete what the mounts show.
		if unmount(merged) && unmount(lower) {
			clean()
		}
	}, nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// RemoveLeftovers removes from dir what builds cut off by a crash left
// there: writableCopy's directories (unmounted first) and remote contexts.
func RemoveLeftovers(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, RunMountPrefix) && !strings.HasPrefix(name, gitContextPrefix) {
			continue
		}
		p := filepath.Join(dir, name)
		clean := true
		for _, mp := range []string{"merged", "lower"} {
			if err := unix.Unmount(filepath.Join(p, mp), unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				errs = append(errs, fmt.Errorf("unmount %s: %w", filepath.Join(p, mp), err))
				clean = false
			}
		}
		if clean {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	return errors.Join(errs...)
}

// secretMount adds a RUN --mount=type=secret, buildkit's: the secret id
// (id=, or source=, or the target's base name) from the build's secrets
// (hako build --secret), as a read-only file at the target
// (/run/secrets/<id> by default; mode 0400 and root's unless mode, uid,
// gid) and/or in the environment variable env= names. A missing secret
// fails the step when required, and is left out otherwise. The secret's
// value is in neither the cache key nor the image.
func (b *build) secretMount(m *instructions.Mount, o *RunOptions, setups *[]func(release *[]func()) (mounttypes.Mount, error)) (string, error) {
	id := m.CacheID
	if m.Source != "" {
		id = m.Source
	}
	if id == "" {
		if m.Target == "" {
			return "", fmt.Errorf("RUN --mount=type=secret needs an id, a source or a target")
		}
		id = path.Base(m.Target)
	}
	target := m.Target
	if target == "" && m.Env == nil {
		target = "/run/secrets/" + path.Base(id)
	}
	if target != "" && !path.IsAbs(target) {
		target = path.Join("/", b.cfg.WorkingDir, target)
	}
	env := ""
	if m.Env != nil {
		env = *m.Env
		if env == "" {
			env = id
		}
	}
	spec := fmt.Sprintf("type=secret,id=%s,target=%s,env=%s,required=%t", id, target, env, m.Required)
	value, ok := b.o.Secrets[id]
	if !ok {
		if m.Required {
			return "", fmt.Errorf("RUN --mount=type=secret,id=%s: the secret is required and the build has none of that id (hako build --secret id=%s,src=FILE)", id, id)
		}
		return spec + ",missing", nil
	}
	if env != "" {
		o.Env = append(o.Env, env+"="+string(value))
	}
	if target == "" {
		return spec, nil
	}
	mode, uid, gid := mountOwner(m, 0o400)
	*setups = append(*setups, func(release *[]func()) (mounttypes.Mount, error) {
		f, err := os.CreateTemp(b.o.TempDir, "secret-")
		if err != nil {
			return mounttypes.Mount{}, err
		}
		*release = append(*release, func() { os.Remove(f.Name()) })
		_, err = f.Write(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chown(f.Name(), uid, gid)
		}
		if err == nil {
			err = os.Chmod(f.Name(), mode)
		}
		if err != nil {
			return mounttypes.Mount{}, fmt.Errorf("RUN --mount=type=secret,id=%s: %w", id, err)
		}
		return mounttypes.Mount{Type: mounttypes.TypeBind, Source: f.Name(), Target: target, ReadOnly: true}, nil
	})
	for p := range ancestors(target) {
		if resolved, fi := b.be.ImagePath(context.Background(), b.image, p); fi == nil && !slices.Contains(o.Stubs, resolved) {
			o.Stubs = append(o.Stubs, resolved)
		}
	}
	return spec, nil
}

// mountOwner is a cache's or secret's mode, uid and gid: those the mount
// gives, else def and root's.
func mountOwner(m *instructions.Mount, def fs.FileMode) (mode fs.FileMode, uid, gid int) {
	mode = def
	if m.Mode != nil {
		mode = fs.FileMode(*m.Mode) & fs.ModePerm
	}
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	return mode, uid, gid
}
