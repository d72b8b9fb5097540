package linux

import (
	"bytes"
	"fmt"
	"strconv"
)

// ProcStat holds the fields of /proc/PID/stat that the runtime needs.
type ProcStat struct {
	State     byte   // R, S, D, Z, T, ...
	PPid      int    // parent pid
	StartTime uint64 // clock ticks after boot (field 22)
}

// ReadProcStat parses /proc/PID/stat.
func ReadProcStat(pid int) (ProcStat, error) {
	b, err := ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (ProcStat, error) {
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return ProcStat{}, fmt.Errorf("malformed /proc stat line")
	}
	fields := bytes.Fields(b[i+2:])
	// fields[0] is field 3 (state); field 22 (starttime) is fields[19].
	if len(fields) < 20 {
		return ProcStat{}, fmt.Errorf("malformed /proc stat line: %d fields", len(fields)+2)
	}
	var st ProcStat
	st.State = fields[0][0]
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return ProcStat{}, fmt.Errorf("malformed /proc stat ppid: %w", err)
	}
	st.PPid = ppid
	st.StartTime, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return ProcStat{}, fmt.Errorf("malformed /proc stat starttime: %w", err)
	}
	return st, nil
}

// ProcessAlive reports whether pid still runs the process that started at
// startTime (guarding against pid reuse) and is not a zombie.
func ProcessAlive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadProcStat(pid)
	if err != nil {
		return false
	}
	if startTime != 0 && st.StartTime != startTime {
		return false
	}
	return st.State != 'Z' && st.State != 'X'
}
