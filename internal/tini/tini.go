// Package tini is the minimal init that "hako run --init" puts in front of
// a container's process, after tini (https://github.com/krallin/tini),
// which docker ships as docker-init.
//
// The engine bind-mounts the hako binary read-only at /dev/init in the
// container and runs ["/dev/init", "--", argv...]; the command dispatches on
// the name it was called by (init, docker-init or hako-init) to Main, which
//
//   - starts the program in a process group of its own, and makes that group
//     the terminal's foreground group when stdin is its controlling terminal
//     (so that ^C under "run -t" reaches the program and not the init);
//   - catches every signal it can and forwards it to the program (or to the
//     program's process group, with -g): SIGCHLD is kept for reaping, and
//     SIGTTIN, SIGTTOU (which tini ignores) and SIGURG (which the Go runtime
//     sends itself to preempt goroutines) are not forwarded;
//   - reaps every child that exits, the program's and the orphans the
//     kernel re-parents to it (to PID 1, or to a child subreaper: when not
//     PID 1 it registers as one, as tini -s does);
//   - exits with the program's exit status, 128+N when signal N killed it,
//     127 when the program is not found and 126 when it cannot be executed.
//
// Options are tini's: -s, -g, -v (repeatable), -w, -p SIGNAL, -e CODE, -h,
// --version and "--", parsed like getopt("+...") so that option parsing
// stops at the program name; so are its environment variables
// TINI_SUBREAPER, TINI_VERBOSITY and TINI_KILL_PROCESS_GROUP.
//
// Differences from tini: messages all go to stderr; when the program cannot
// be executed for another reason than "not found" the status is 126 (tini
// exits 1); synchronous signals (SIGSEGV, SIGBUS, ...) sent with kill are
// forwarded instead of killing the init; and signals ignored when the init
// starts are ignored in the program only for SIGHUP and SIGINT (the Go
// runtime resets the others it handles to their default in a child).
package tini

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Version is printed by --version; the command sets it.
var Version = "dev"

const prog = "hako-init"

// defaultPath is searched for a program name without a slash when PATH is
// not set.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Verbosity levels, as tini's.
const (
	levelFatal = iota
	levelWarn
	levelInfo
	levelDebug
	levelTrace
)

type options struct {
	subreaper bool
	pgroup    bool // forward signals to the child's process group
	warnReap  bool
	verbosity int
	pdeathsig syscall.Signal
	remap     [256]bool // exit codes turned into 0
	argv      []string
}

// Main runs the init with args (the command line after the program name)
// and returns the exit status.
func Main(args []string) int {
	o, code, ok := parse(args, os.Stdout, os.Stderr)
	if !ok {
		return code
	}
	return run(&o)
}

const usageText = `Usage: %[1]s [OPTIONS] PROGRAM [--] [ARGS] | --version

Execute a program under the supervision of a minimal init (tini compatible).

Command line options:

  --version: Show version and exit.
  -h: Show this help message and exit.
  -s: Register as a process subreaper (the default when not PID 1).
  -p SIGNAL: Trigger SIGNAL when parent dies, e.g. "-p SIGKILL".
  -v: Generate more verbose output. Repeat up to 3 times.
  -w: Print a warning when processes are getting reaped.
  -g: Send signals to the child's process group.
  -e EXIT_CODE: Remap EXIT_CODE (from 0 to 255) to 0 (can be repeated).

Environment variables:

  TINI_SUBREAPER: Register as a process subreaper.
  TINI_VERBOSITY: Set the verbosity level (default: 1).
  TINI_KILL_PROCESS_GROUP: Send signals to the child's process group.
`

func usage(w io.Writer) {
	fmt.Fprintf(w, usageText, prog)
}

// parse parses args like getopt with "+hsvwgp:e:": options end at "--" or at
// the first argument that is not one. ok is false when Main must return
// code right away.
func parse(args []string, stdout, stderr io.Writer) (o options, code int, ok bool) {
	o.verbosity = levelWarn
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if a == "--version" {
			fmt.Fprintf(stdout, "%s (tini compatible) version %s\n", prog, Version)
			return o, 0, false
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		for j := 1; j < len(a); j++ {
			switch c := a[j]; c {
			case 'h':
				usage(stdout)
				return o, 0, false
			case 's':
				o.subreaper = true
			case 'g':
				o.pgroup = true
			case 'v':
				o.verbosity++
			case 'w':
				o.warnReap = true
			case 'p', 'e':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						fmt.Fprintf(stderr, "%s: option requires an argument -- '%c'\n", prog, c)
						usage(stderr)
						return o, 1, false
					}
					i++
					val = args[i]
				}
				if c == 'p' {
					s := parseSignal(val)
					if s == 0 {
						fmt.Fprintf(stderr, "%s: invalid signal %q\n", prog, val)
						return o, 1, false
					}
					o.pdeathsig = s
				} else {
					n, err := strconv.Atoi(val)
					if err != nil || n < 0 || n > 255 {
						fmt.Fprintf(stderr, "%s: invalid exit code %q: must be from 0 to 255\n", prog, val)
						return o, 1, false
					}
					o.remap[n] = true
				}
				j = len(a) // the rest of a was the value
			default:
				fmt.Fprintf(stderr, "%s: invalid option -- '%c'\n", prog, c)
				usage(stderr)
				return o, 1, false
			}
		}
	}
	o.argv = args[i:]
	if len(o.argv) == 0 {
		fmt.Fprintf(stderr, "%s: no program to run\n", prog)
		usage(stderr)
		return o, 1, false
	}
	if _, set := os.LookupEnv("TINI_SUBREAPER"); set {
		o.subreaper = true
	}
	if _, set := os.LookupEnv("TINI_KILL_PROCESS_GROUP"); set {
		o.pgroup = true
	}
	if v, set := os.LookupEnv("TINI_VERBOSITY"); set {
		if n, err := strconv.Atoi(v); err == nil {
			o.verbosity = n
		}
	}
	return o, 0, true
}

// parseSignal accepts SIGKILL, KILL or 9.
func parseSignal(s string) syscall.Signal {
	if n, err := strconv.Atoi(s); err == nil {
		if n > 0 && n < 65 {
			return syscall.Signal(n)
		}
		return 0
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	return unix.SignalNum(s)
}

func (o *options) logf(level int, format string, args ...any) {
	if level > o.verbosity {
		return
	}
	prefix := prog + ": "
	switch level {
	case levelWarn:
		prefix += "warning: "
	case levelDebug, levelTrace:
		prefix += "debug: "
	}
	fmt.Fprintf(os.Stderr, prefix+format+"\n", args...)
}

func run(o *options) int {
	if o.pdeathsig != 0 {
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(o.pdeathsig), 0, 0, 0); err != nil {
			o.logf(levelFatal, "set the parent death signal: %v", err)
			return 1
		}
	}
	if os.Getpid() != 1 {
		// Orphans are re-parented to PID 1, or to the closest ancestor that
		// is a child subreaper: be one, or nothing is reaped.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			if o.subreaper {
				o.logf(levelFatal, "register as a child subreaper: %v", err)
				return 1
			}
			o.logf(levelWarn, "not running as PID 1 and cannot register as a child subreaper (%v): zombie processes will not be re-parented to %s, so zombie reaping won't work", err, prog)
		} else {
			o.logf(levelTrace, "registered as a child subreaper")
		}
	}

	// Catch every signal before the child exists, so that none sent in
	// between takes its default action on the init. SIGHUP and SIGINT
	// ignored on entry stay ignored, in the init and in the child.
	sigs := make(chan os.Signal, 128)
	var catch []os.Signal
	for s := syscall.Signal(1); s < 65; s++ {
		if s == syscall.SIGKILL || s == syscall.SIGSTOP || signal.Ignored(s) {
			continue
		}
		catch = append(catch, s)
	}
	signal.Notify(sigs, catch...)
	defer signal.Stop(sigs)

	pid, err := spawn(o.argv)
	if err != nil {
		return execFailed(o, o.argv[0], err)
	}
	o.logf(levelInfo, "spawned child process %q with pid %d", o.argv[0], pid)

	for s := range sigs {
		sig, _ := s.(syscall.Signal)
		switch sig {
		case syscall.SIGCHLD:
		case syscall.SIGURG, syscall.SIGTTIN, syscall.SIGTTOU:
			o.logf(levelTrace, "not forwarding %v", sig)
		default:
			target := pid
			if o.pgroup {
				target = -pid
			}
			o.logf(levelDebug, "passing signal %v to %d", sig, target)
			if err := unix.Kill(target, sig); err != nil && err != unix.ESRCH {
				o.logf(levelWarn, "passing signal %v to %d: %v", sig, target, err)
			}
		}
		if code, exited := reap(o, pid); exited {
			return code
		}
	}
	return 1 // not reached: sigs is never closed
}

// spawn starts argv in a new process group, made the terminal's foreground
// group when stdin is the init's controlling terminal.
func spawn(argv []string) (int, error) {
	path, err := lookPath(argv[0])
	if err != nil {
		return 0, err
	}
	files := make([]uintptr, 3)
	for fd := range files {
		files[fd] = uintptr(fd)
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			files[fd] = ^uintptr(0) // closed here, closed in the child
		}
	}
	sys := &syscall.SysProcAttr{Setpgid: true}
	// TIOCGPGRP fails with ENOTTY unless fd 0 is the controlling terminal
	// of this process (tini goes on when tcsetpgrp fails so, too).
	if _, err := unix.IoctlGetInt(0, unix.TIOCGPGRP); err == nil {
		// The child blocks signals around TIOCSPGRP, as tini ignores
		// SIGTTOU for it.
		sys.Foreground = true
		sys.Ctty = 0
	}
	return syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: files,
		Sys:   sys,
	})
}

// lookPath finds file like execvp: as is when it has a slash, else in the
// directories of PATH (an empty entry is the working directory).
func lookPath(file string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	if file == "" {
		return "", syscall.ENOENT
	}
	path, set := os.LookupEnv("PATH")
	if !set {
		path = defaultPath
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", syscall.EACCES
	}
	return "", syscall.ENOENT
}

// execFailed reports that name could not be started and returns the exit
// status for it: 127 when not found, 126 otherwise.
func execFailed(o *options, name string, err error) int {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		o.logf(levelFatal, "exec %s: %v", name, err)
		return 126
	}
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR:
		o.logf(levelFatal, "exec %s: not found", name)
		return 127
	case syscall.EACCES:
		o.logf(levelFatal, "exec %s: permission denied", name)
		return 126
	}
	o.logf(levelFatal, "exec %s: %v", name, err)
	return 126
}

// reap collects every child that has exited. exited is true once the main
// child (pid) has, with its exit status in code.
func reap(o *options, pid int) (code int, exited bool) {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err != unix.ECHILD {
				o.logf(levelWarn, "wait4: %v", err)
			}
			return code, exited
		}
		if p <= 0 {
			return code, exited
		}
		if p != pid {
			if o.warnReap {
				o.logf(levelWarn, "reaped zombie process with pid %d", p)
			} else {
				o.logf(levelDebug, "reaped zombie process with pid %d", p)
			}
			continue
		}
		switch {
		case ws.Exited():
			code = ws.ExitStatus()
			o.logf(levelInfo, "main child exited normally (with status %d)", code)
		case ws.Signaled():
			code = 128 + int(ws.Signal())
			o.logf(levelInfo, "main child exited with signal (with signal %v)", ws.Signal())
		default:
			continue // stopped or continued: not reported without WUNTRACED
		}
		if o.remap[code] {
			o.logf(levelInfo, "remapping exit code %d to 0", code)
			code = 0
		}
		exited = true
	}
}
