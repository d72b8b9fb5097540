package spec

import specs "github.com/opencontainers/runtime-spec/specs-go"

// SchedPolicy maps a runtime-spec scheduler policy to its number.
func SchedPolicy(p specs.LinuxSchedulerPolicy) (uint32, bool) {
	switch p {
	case specs.SchedOther:
		return 0, true
	case specs.SchedFIFO:
		return 1, true
	case specs.SchedRR:
		return 2, true
	case specs.SchedBatch:
		return 3, true
	case specs.SchedISO:
		return 4, true
	case specs.SchedIdle:
		return 5, true
	case specs.SchedDeadline:
		return 6, true
	}
	return 0, false
}

// SchedFlag maps a runtime-spec scheduler flag to its bit.
func SchedFlag(f specs.LinuxSchedulerFlag) (uint64, bool) {
	switch f {
	case specs.SchedFlagResetOnFork:
		return 0x01, true
	case specs.SchedFlagReclaim:
		return 0x02, true
	case specs.SchedFlagDLOverrun:
		return 0x04, true
	case specs.SchedFlagKeepPolicy:
		return 0x08, true
	case specs.SchedFlagKeepParams:
		return 0x10, true
	case specs.SchedFlagUtilClampMin:
		return 0x20, true
	case specs.SchedFlagUtilClampMax:
		return 0x40, true
	}
	return 0, false
}
