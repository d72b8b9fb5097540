package cgroups

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"golang.org/x/sys/unix"
)

// fileError is a failed read or write of a cgroup file. It unwraps to the
// errno and to the errdefs category the errno falls in.
type fileError struct {
	op    string // "set", "read", "clear"
	file  string
	value string
	dir   string
	err   error
}

func (e *fileError) Error() string {
	var b strings.Builder
	b.WriteString(e.op + " " + e.file)
	if e.value != "" {
		b.WriteString(" to " + strconv.Quote(e.value))
	}
	b.WriteString(" in " + e.dir + ": ")
	switch {
	case errors.Is(e.err, unix.ENOENT):
		if _, err := os.Stat(e.dir); err != nil {
			b.WriteString("the cgroup does not exist")
		} else {
			b.WriteString("the kernel does not provide " + e.file)
		}
	case errors.Is(e.err, unix.EBUSY) && e.file == "cgroup.subtree_control":
		b.WriteString("the cgroup holds processes, and cgroup v2 enables controllers only below cgroups without processes")
	default:
		b.WriteString(e.err.Error())
	}
	return b.String()
}

func (e *fileError) Unwrap() []error {
	var cat error
	switch {
	case errors.Is(e.err, unix.EINVAL), errors.Is(e.err, unix.ERANGE):
		cat = errdefs.ErrInvalidArgument
	case errors.Is(e.err, unix.ENOENT):
		cat = errdefs.ErrNotImplemented
		if _, err := os.Stat(e.dir); err != nil {
			cat = errdefs.ErrNotFound
		}
	case errors.Is(e.err, unix.EPERM), errors.Is(e.err, unix.EACCES), errors.Is(e.err, unix.EROFS):
		cat = errdefs.ErrPermissionDenied
	case errors.Is(e.err, unix.EBUSY):
		cat = errdefs.ErrConflict
	}
	if cat == nil {
		return []error{e.err}
	}
	return []error{e.err, cat}
}

// writeFile writes value to dir/file in one write(2), as cgroupfs expects
// one value per write. It never creates the file: a missing file means the
// kernel lacks the feature.
func writeFile(dir, file, value string) error {
	fd, err := unix.Open(dir+"/"+file, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err == nil {
		for {
			_, err = unix.Write(fd, []byte(value))
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(fd)
	}
	if err != nil {
		return &fileError{op: "set", file: file, value: value, dir: dir, err: err}
	}
	return nil
}

// readFile returns the content of dir/file without the trailing newline.
func readFile(dir, file string) (string, error) {
	b, err := linux.ReadFile(dir + "/" + file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", &fileError{op: "read", file: file, dir: dir, err: err}
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// readUint reads a number; "max" is math.MaxUint64.
func readUint(dir, file string) (uint64, error) {
	s, err := readFile(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(s, file, dir)
}

func parseUint(s, file, dir string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return math.MaxUint64, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Counters that went below zero read as negative numbers.
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("read %s in %s: unexpected content %q", file, dir, s)
	}
	return v, nil
}

// optUint is readUint with a missing file read as 0.
func optUint(dir, file string) (uint64, error) {
	v, err := readUint(dir, file)
	if isNotExist(err) {
		return 0, nil
	}
	return v, err
}

// readKV reads a "key value" per line file into a map of numbers.
func readKV(dir, file string) (map[string]uint64, error) {
	s, err := readFile(dir, file)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64)
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := splitKV(line)
		if !ok {
			continue
		}
		n, err := parseUint(v, file, dir)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

// optKV is readKV with a missing file read as an empty map.
func optKV(dir, file string) (map[string]uint64, error) {
	m, err := readKV(dir, file)
	if isNotExist(err) {
		return map[string]uint64{}, nil
	}
	return m, err
}

// fmtLimit formats a byte or count limit for v1: negative is "-1".
func fmtLimit(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

// fmtMax formats a limit for v2: negative is "max".
func fmtMax(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// safeName reports whether s can be part of a file name: hugepage sizes
// and unified keys come from the spec and must not reach outside the
// cgroup directory.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsAny(s, "/\x00")
}

// listCPUs parses a cpuset list such as "0-3,8" into its members.
func listCPUs(s string) ([]uint16, error) {
	var out []uint16
	for _, r := range strings.Split(strings.TrimSpace(s), ",") {
		if r == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("malformed cpuset list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("malformed cpuset list %q", s)
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

// procs reads the pids in dir/cgroup.procs and, recursively, in every
// cgroup below dir.
func procs(dir string, out []int) ([]int, error) {
	s, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return out, err
	}
	for _, f := range strings.Fields(s) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return out, fmt.Errorf("read cgroup.procs in %s: unexpected content %q", dir, f)
		}
		out = append(out, pid)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if out, err = procs(dir+"/"+e.Name(), out); err != nil && !isNotExist(err) {
				return out, err
			}
		}
	}
	return out, nil
}

// writeDevices writes v1 device rules, each in its own write(2) as the
// kernel parses one rule per write, through one open descriptor per file
// rather than one per rule.
func writeDevices(dir string, ws []devWrite) error {
	fds := map[string]int{}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, w := range ws {
		fd, ok := fds[w.file]
		if !ok {
			var err error
			if fd, err = unix.Open(dir+"/"+w.file, unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
				return &fileError{op: "set", file: w.file, value: w.line, dir: dir, err: err}
			}
			fds[w.file] = fd
		}
		var err error
		for {
			_, err = unix.Write(fd, []byte(w.line))
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return &fileError{op: "set", file: w.file, value: w.line, dir: dir, err: err}
		}
	}
	return nil
}

// removeTree removes dir and every cgroup below it, deepest first. A
// cgroupfs directory is removed with rmdir even though it lists files, so
// the common case, a cgroup without children, costs one rmdir; the tree is
// listed only when that fails. EBUSY (processes still exiting) is retried
// briefly; ENOENT is success.
func removeTree(dir string) error {
	switch err := unix.Rmdir(dir); err {
	case nil, unix.ENOENT:
		return nil
	case unix.EBUSY, unix.ENOTEMPTY:
	default:
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove cgroup %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(dir + "/" + e.Name()); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for i := 0; ; i++ {
		err = unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || i == 5 {
			break
		}
		time.Sleep(delay)
		delay *= 2
	}
	if err == unix.EBUSY {
		return fmt.Errorf("remove cgroup %s: processes remain in it: %w", dir, catError{err, errdefs.ErrConflict})
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

// catError is err that also matches an errdefs category, with err's message.
type catError struct{ err, cat error }

func (e catError) Error() string   { return e.err.Error() }
func (e catError) Unwrap() []error { return []error{e.err, e.cat} }

// sortedKeys returns m's keys in order, for writes in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
