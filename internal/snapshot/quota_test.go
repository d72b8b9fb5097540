package snapshot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

func TestParseStorageOpts(t *testing.T) {
	sizeOf := func(opts []Opt) int64 {
		var o prepareOpts
		for _, opt := range opts {
			opt(&o)
		}
		return o.size
	}
	for _, m := range []map[string]string{nil, {}} {
		opts, err := ParseStorageOpts(m)
		if opts != nil || err != nil {
			t.Errorf("ParseStorageOpts(%v) = %v, %v; want nil, nil", m, opts, err)
		}
	}
	for v, want := range map[string]int64{
		"64M":      64 << 20,
		"64m":      64 << 20,
		"120m":     120 << 20,
		"1G":       1 << 30,
		"1gb":      1 << 30,
		"32MiB":    32 << 20,
		"16M":      16 << 20,
		"1.5g":     3 << 29,
		"20000000": 20000000,
	} {
		opts, err := ParseStorageOpts(map[string]string{"size": v})
		if err != nil || len(opts) != 1 || sizeOf(opts) != want {
			t.Errorf("size=%s: %d options of size %d, %v; want %d", v, len(opts), sizeOf(opts), err, want)
		}
	}
	if opts, err := ParseStorageOpts(map[string]string{"Size": "64M"}); err != nil || sizeOf(opts) != 64<<20 {
		t.Errorf("Size=64M: %v", err)
	}
	for _, m := range []map[string]string{
		{"size": "15M"},
		{"size": "0"},
		{"size": "1k"},
		{"size": ""},
		{"size": "lots"},
		{"size": "-1G"},
		{"size": "64X"},
		{"size": "1e30"},
		{"foo": "bar"},
		{"dm.basesize": "10G"},
		{"size": "64M", "overlay2.size": "64M"},
	} {
		opts, err := ParseStorageOpts(m)
		if !errdefs.IsInvalidArgument(err) || opts != nil {
			t.Errorf("ParseStorageOpts(%v) = %v, %v; want an invalid argument", m, opts, err)
		} else {
			t.Logf("%v: %v", m, err)
		}
	}
}

func TestPrepareBadSize(t *testing.T) {
	s, err := NewVFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []int64{-1, 1, MinSize - 1} {
		if _, err := s.Prepare(context.Background(), "x", "", WithSize(n)); !errdefs.IsInvalidArgument(err) {
			t.Errorf("WithSize(%d): %v", n, err)
		}
	}
}

// quotaStore opens a snapshotter under a fresh root in /var/tmp (a real
// filesystem) and makes sure no mount or loop device under it outlives
// the test, whatever happens.
func quotaStore(t *testing.T, overlay bool) (*store, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices and mounts")
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skipf("no mkfs.ext4 (e2fsprogs): %v", err)
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	root, err := os.MkdirTemp("/var/tmp", "hako-quota-test-")
	if err != nil {
		t.Fatal(err)
	}
	root, _ = filepath.EvalSymlinks(root)
	t.Cleanup(func() { os.RemoveAll(root) })
	t.Cleanup(func() { releaseAll(t, root) })
	if overlay {
		if err := OverlaySupported(root); err != nil {
			t.Skipf("no overlay: %v", err)
		}
	}
	s, err := open(filepath.Join(root, "store"), overlay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, root
}

// releaseAll unmounts whatever is mounted under root and detaches the
// loop devices backed by files under it, with its own reading of
// mountinfo and sysfs.
func releaseAll(t *testing.T, root string) {
	mps := mountsUnder(t, root)
	slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range mps {
		for unix.Unmount(mp, unix.MNT_DETACH) == nil {
		}
	}
	for dev := range loopsUnder(t, root) {
		if f, err := os.OpenFile(dev, os.O_RDWR, 0); err == nil {
			unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
			f.Close()
		}
	}
}

// mountsUnder reads /proc/self/mountinfo for mount points under root.
func mountsUnder(t *testing.T, root string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], root+"/") {
			mps = append(mps, fields[4])
		}
	}
	return mps
}

// loopsUnder reads /sys/block/loop*/loop/backing_file for loop devices
// backed by files under root.
func loopsUnder(t *testing.T, root string) map[string]string {
	loops := map[string]string{}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, bf := range files {
		if b, err := os.ReadFile(bf); err == nil && strings.HasPrefix(string(b), root+"/") {
			loops["/dev/"+strings.Split(bf, "/")[3]] = strings.TrimSpace(string(b))
		}
	}
	return loops
}

// assertReleased checks, for a little while (autoclear may trail an
// unmount), that nothing under root is mounted or attached.
func assertReleased(t *testing.T, root string) {
	t.Helper()
	var mps []string
	var loops map[string]string
	for range 100 {
		mps, loops = mountsUnder(t, root), loopsUnder(t, root)
		if len(mps) == 0 && len(loops) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("left mounted: %v; loop devices left attached: %v", mps, loops)
}

func mountOn(t *testing.T, root string, ms []mount.Mount) string {
	t.Helper()
	dir, err := os.MkdirTemp(root, "mnt-")
	if err != nil {
		t.Fatal(err)
	}
	if err := mount.All(ms, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.Unmount(dir) })
	return dir
}

// baseLayer commits a layer holding etc/os and dir/a.
func baseLayer(t *testing.T, s *store, name string, extra func(dir string)) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Prepare(ctx, name+"-active", ""); err != nil {
		t.Fatal(err)
	}
	dir, err := s.Dir(ctx, name+"-active")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.MkdirAll(filepath.Join(dir, "dir"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "etc/os"), []byte("base"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dir/a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(dir)
	}
	if err := s.Commit(ctx, name, name+"-active"); err != nil {
		t.Fatal(err)
	}
}

func readFile(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestQuotaOverlay(t *testing.T) {
	s, root := quotaStore(t, true)
	ctx := context.Background()
	baseLayer(t, s, "base", nil)

	const size = 32 << 20
	ms, err := s.Prepare(ctx, "ctr", "base", WithSize(size))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "ctr")
	if err != nil || info.Size != size {
		t.Fatalf("stat: %+v %v", info, err)
	}
	dir := s.dir(info.ID)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "disk.img"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 > 8<<20 {
		t.Errorf("disk.img: %d bytes, %d allocated; want %d, sparse", st.Size, st.Blocks*512, size)
	}
	if !mount.IsMountPoint(filepath.Join(dir, "quota")) {
		t.Fatal("quota not mounted")
	}
	if len(loopsUnder(t, root)) != 1 {
		t.Errorf("loop devices: %v", loopsUnder(t, root))
	}
	upper := filepath.Join(dir, "quota", "fs")
	if len(ms) != 1 || ms[0].Type != "overlay" || !slices.Contains(ms[0].Options, "upperdir="+upper) ||
		!slices.Contains(ms[0].Options, "workdir="+filepath.Join(dir, "quota", "work")) {
		t.Fatalf("mounts: %+v", ms)
	}
	if d, err := s.Dir(ctx, "ctr"); err != nil || d != upper {
		t.Errorf("Dir = %s, %v; want %s", d, err, upper)
	}
	if ms2, err := s.Mounts(ctx, "ctr"); err != nil || !slices.Equal(ms2[0].Options, ms[0].Options) {
		t.Errorf("Mounts: %+v %v", ms2, err)
	}

	c := mountOn(t, root, ms)
	if readFile(c, "etc/os") != "base" {
		t.Fatalf("lower file: %q", readFile(c, "etc/os"))
	}
	// Bytes: write until the filesystem is full.
	f, err := os.Create(filepath.Join(c, "big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	var total int64
	for total < 2*size {
		var n int
		n, err = f.Write(buf)
		total += int64(n)
		if err != nil {
			break
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d bytes: %v; want ENOSPC", total, err)
	}
	if total >= size || total < size/2 {
		t.Errorf("wrote %d bytes into a %d-byte limit", total, size)
	}
	t.Logf("wrote %d MiB into a 32 MiB limit, then %v", total>>20, err)
	if readFile(upper, "etc/os") != "<open "+filepath.Join(upper, "etc/os")+": no such file or directory>" {
		t.Errorf("copy-up before any change")
	}
	if u, err := s.Usage(ctx, "ctr"); err != nil || u.Size < total/2 {
		t.Errorf("usage: %+v %v", u, err)
	}
	// The host's filesystem has the image, no more.
	if err := syscall.Stat(filepath.Join(dir, "disk.img"), &st); err != nil || st.Blocks*512 > size+(1<<20) {
		t.Errorf("disk.img allocates %d bytes: %v", st.Blocks*512, err)
	}

	// Inodes: a fresh snapshot, empty files until the filesystem is out
	// of inodes, with blocks to spare.
	ms2, err := s.Prepare(ctx, "ctr2", "base", WithSize(size))
	if err != nil {
		t.Fatal(err)
	}
	c2 := mountOn(t, root, ms2)
	files := 0
	for ; files < size/bytesPerInode+100; files++ {
		f, err = os.Create(filepath.Join(c2, fmt.Sprintf("f%05d", files)))
		if err != nil {
			break
		}
		f.Close()
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d files: %v; want ENOSPC", files, err)
	}
	info2, _ := s.Stat(ctx, "ctr2")
	var sfs unix.Statfs_t
	if err := unix.Statfs(filepath.Join(s.dir(info2.ID), "quota"), &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Ffree != 0 || sfs.Bfree*uint64(sfs.Bsize) < size/2 {
		t.Errorf("after %d files: %d inodes and %d blocks free; want no inodes, many blocks", files, sfs.Ffree, sfs.Bfree)
	}
	t.Logf("created %d files in a 32 MiB limit (%d inodes), then %v; %d MiB still free", files, sfs.Files, err, sfs.Bfree*uint64(sfs.Bsize)>>20)

	// Remove the first after its container stopped, the second with
	// its overlay still mounted: both go, the second's loop device when
	// the overlay goes.
	if err := mount.Unmount(c); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", dir, err)
	}
	if err := s.Remove(ctx, "ctr2"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir(info2.ID)); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", s.dir(info2.ID), err)
	}
	if err := mount.Unmount(c2); err != nil {
		t.Fatal(err)
	}
	os.Remove(c)
	os.Remove(c2)
	assertReleased(t, root)
}

// After a reboot (the loop filesystem unmounted, its device gone),
// Mounts and Dir mount it again.
func TestQuotaRemount(t *testing.T) {
	s, root := quotaStore(t, true)
	ctx := context.Background()
	baseLayer(t, s, "base", nil)
	if _, err := s.Prepare(ctx, "ctr", "base", WithSize(MinSize)); err != nil {
		t.Fatal(err)
	}
	upper, err := s.Dir(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "kept"), []byte("yes"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stat(ctx, "ctr")
	quota := filepath.Join(s.dir(info.ID), "quota")
	reboot := func() {
		t.Helper()
		if err := unix.Unmount(quota, 0); err != nil {
			t.Fatal(err)
		}
		assertReleased(t, root)
	}

	s.Close()
	reboot()
	s2, err := open(filepath.Join(root, "store"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	if err := s2.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if i, err := s2.Stat(ctx, "ctr"); err != nil || i.Size != MinSize {
		t.Fatalf("stat after restart: %+v %v", i, err)
	}
	ms, err := s2.Mounts(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if !mount.IsMountPoint(quota) {
		t.Fatal("Mounts did not mount the size limit filesystem")
	}
	c := mountOn(t, root, ms)
	if readFile(c, "kept") != "yes" || readFile(c, "etc/os") != "base" {
		t.Errorf("files after a reboot: %q %q", readFile(c, "kept"), readFile(c, "etc/os"))
	}
	// Mounted already: nothing stacks.
	if _, err := s2.Mounts(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	if n := count(mountsUnder(t, root), quota); n != 1 {
		t.Errorf("the size limit filesystem is mounted %d times", n)
	}
	mount.Unmount(c)

	reboot()
	if d, err := s2.Dir(ctx, "ctr"); err != nil || readFile(d, "kept") != "yes" {
		t.Errorf("Dir after a reboot: %v %q", err, readFile(d, "kept"))
	}
	reboot()
	if u, err := s2.Usage(ctx, "ctr"); err != nil || u.Inodes < 2 {
		t.Errorf("Usage after a reboot: %+v %v", u, err)
	}
	if err := s2.Remove(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	os.Remove(c)
	assertReleased(t, root)
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// vfs puts the whole copied tree in the loop filesystem; a parent too
// big for the limit fails Prepare, leaving nothing behind.
func TestQuotaVFS(t *testing.T) {
	s, root := quotaStore(t, false)
	ctx := context.Background()
	baseLayer(t, s, "base", func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 20<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	ms, err := s.Prepare(ctx, "ctr", "base", WithSize(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stat(ctx, "ctr")
	upper := filepath.Join(s.dir(info.ID), "quota", "fs")
	if len(ms) != 1 || ms[0].Source != upper {
		t.Fatalf("mounts: %+v", ms)
	}
	if readFile(upper, "etc/os") != "base" {
		t.Errorf("copied tree: %q", readFile(upper, "etc/os"))
	}
	c := mountOn(t, root, ms)
	if readFile(c, "dir/a") != "a" {
		t.Errorf("mounted: %q", readFile(c, "dir/a"))
	}
	var total int64
	for {
		err = os.WriteFile(filepath.Join(c, fmt.Sprintf("fill%d", total)), make([]byte, 4<<20), 0o644)
		if err != nil {
			break
		}
		total += 4 << 20
	}
	if !errors.Is(err, syscall.ENOSPC) || total+20<<20 >= 64<<20 {
		t.Errorf("after %d bytes more: %v", total, err)
	}
	mount.Unmount(c)
	os.Remove(c)

	_, err = s.Prepare(ctx, "small", "base", WithSize(MinSize))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("a 20 MiB parent in a 16 MiB limit: %v", err)
	} else {
		t.Logf("a 20 MiB parent in a 16 MiB limit: %v", err)
	}
	if _, err := s.Stat(ctx, "small"); !errdefs.IsNotFound(err) {
		t.Errorf("failed snapshot recorded: %v", err)
	}
	if err := s.Remove(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, root)
	ents, _ := os.ReadDir(filepath.Join(root, "store", "snapshots"))
	if len(ents) != 1 { // base's
		t.Errorf("snapshot dirs left: %v", ents)
	}
}

// Commit copies the files (whiteouts and opaque dirs too) out of the
// loop filesystem and drops it.
func TestQuotaCommit(t *testing.T) {
	s, root := quotaStore(t, true)
	ctx := context.Background()
	baseLayer(t, s, "base", nil)
	ms, err := s.Prepare(ctx, "top-active", "base", WithSize(MinSize))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stat(ctx, "top-active")
	c := mountOn(t, root, ms)
	os.WriteFile(filepath.Join(c, "new"), []byte("new"), 0o644)
	os.Remove(filepath.Join(c, "etc/os"))
	os.RemoveAll(filepath.Join(c, "dir"))
	os.Mkdir(filepath.Join(c, "dir"), 0o755)
	os.WriteFile(filepath.Join(c, "dir/b"), []byte("b"), 0o644)
	mount.Unmount(c)
	os.Remove(c)
	if err := s.Commit(ctx, "top", "top-active"); err != nil {
		t.Fatal(err)
	}
	if i, err := s.Stat(ctx, "top"); err != nil || i.Size != 0 || i.Kind != Committed {
		t.Errorf("stat: %+v %v", i, err)
	}
	for _, name := range []string{"disk.img", "quota", "work"} {
		if _, err := os.Lstat(filepath.Join(s.dir(info.ID), name)); !os.IsNotExist(err) {
			t.Errorf("%s left: %v", name, err)
		}
	}
	assertReleased(t, root)
	if d, _ := s.Dir(ctx, "top"); d != filepath.Join(s.dir(info.ID), "fs") {
		t.Errorf("Dir: %s", d)
	}
	vm, err := s.View(ctx, "v", "top")
	if err != nil {
		t.Fatal(err)
	}
	v := mountOn(t, root, vm)
	if readFile(v, "new") != "new" || readFile(v, "dir/b") != "b" {
		t.Errorf("committed files: %q %q", readFile(v, "new"), readFile(v, "dir/b"))
	}
	if _, err := os.Stat(filepath.Join(v, "etc/os")); err == nil {
		t.Error("a deleted file is back")
	}
	if _, err := os.Stat(filepath.Join(v, "dir/a")); err == nil {
		t.Error("an opaque dir shows its lower files")
	}
}

// A crash between mounting a snapshot's loop filesystem and committing
// its record leaves a mounted orphan: Cleanup unmounts and removes it.
func TestQuotaCleanupOrphan(t *testing.T) {
	s, root := quotaStore(t, true)
	ctx := context.Background()
	if _, err := s.Prepare(ctx, "keep", "", WithSize(MinSize)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "lost", "", WithSize(MinSize)); err != nil {
		t.Fatal(err)
	}
	lost, _ := s.Stat(ctx, "lost")
	keep, _ := s.Stat(ctx, "keep")
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete([]byte("lost")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir(lost.ID)); !os.IsNotExist(err) {
		t.Errorf("orphan left: %v", err)
	}
	if mps := mountsUnder(t, root); len(mps) != 1 || mps[0] != filepath.Join(s.dir(keep.ID), "quota") {
		t.Errorf("mounts after Cleanup: %v", mps)
	}
	if loops := loopsUnder(t, root); len(loops) != 1 {
		t.Errorf("loop devices after Cleanup: %v", loops)
	}
	if err := s.Remove(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	assertReleased(t, root)
}

// mkfs failing leaves nothing behind.
func TestQuotaMkfsFails(t *testing.T) {
	s, root := quotaStore(t, true)
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "mkfs.ext4"), []byte("#!/bin/sh\necho mkfs says no >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	_, err := s.Prepare(context.Background(), "ctr", "", WithSize(MinSize))
	if err == nil || !strings.Contains(err.Error(), "mkfs says no") {
		t.Fatalf("Prepare with a failing mkfs: %v", err)
	}
	t.Log(err)
	if _, err := s.Stat(context.Background(), "ctr"); !errdefs.IsNotFound(err) {
		t.Errorf("recorded: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "store", "snapshots")); len(ents) != 0 {
		t.Errorf("left: %v", ents)
	}
	assertReleased(t, root)
}

// Concurrent attaches race for the same free device (EBUSY) and retry;
// each device clears itself when closed unmounted. Both ways of
// configuring a device.
func TestAttachLoopConcurrent(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "LOOP_CONFIGURE", true: "LOOP_SET_FD"}[legacy], func(t *testing.T) {
			_, root := quotaStore(t, false)
			noLoopConfigure = legacy
			defer func() { noLoopConfigure = false }()
			const n = 16
			loops := make([]*os.File, n)
			errs := make([]error, n)
			done := make(chan int)
			for i := range n {
				img := filepath.Join(root, fmt.Sprintf("img%d", i))
				if err := os.WriteFile(img, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				os.Truncate(img, 1<<20)
				go func() {
					loops[i], errs[i] = attachLoop(img)
					done <- i
				}()
			}
			for range n {
				<-done
			}
			seen := map[string]bool{}
			for i := range n {
				if errs[i] != nil {
					t.Errorf("attach %d: %v", i, errs[i])
					continue
				}
				if seen[loops[i].Name()] {
					t.Errorf("%s attached twice", loops[i].Name())
				}
				seen[loops[i].Name()] = true
				info, err := unix.IoctlLoopGetStatus64(int(loops[i].Fd()))
				if err != nil || info.Flags&unix.LO_FLAGS_AUTOCLEAR == 0 {
					t.Errorf("%s: %+v %v", loops[i].Name(), info, err)
				}
			}
			if got := loopsUnder(t, root); len(got) != len(seen) {
				t.Errorf("attached: %v", got)
			}
			for _, l := range loops {
				if l != nil {
					l.Close()
				}
			}
			assertReleased(t, root)
		})
	}
}
