package runtimecli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func newUpdate(g *globals) *command {
	var resources string
	var s struct {
		blkioWeight, cpuPeriod, cpuQuota, cpuShares, cpuRtPeriod, cpuRtRuntime string
		cpusetCpus, cpusetMems                                                 string
		memory, memoryReservation, memorySwap, kernelMemory, kernelMemoryTCP   string
		pidsLimit                                                              string
	}
	fl := newFlagSet()
	cmd := &command{
		name:  "update",
		usage: "[flags] ID",
		short: "change a container's resource limits",
		flags: fl,
		args:  exactArgs("update", 1, "a container ID"),
		run: func(args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			var r specs.LinuxResources
			if resources != "" {
				var in io.Reader = os.Stdin
				if resources != "-" {
					f, err := os.Open(resources)
					if err != nil {
						return fmt.Errorf("--resources: %w", err)
					}
					defer f.Close()
					in = f
				}
				if err := json.NewDecoder(in).Decode(&r); err != nil {
					return fmt.Errorf("--resources: invalid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
				}
			}
			var perr error
			u64 := func(flag, v string) *uint64 {
				if !fl.Changed(flag) || perr != nil {
					return nil
				}
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					perr = fmt.Errorf("--%s %q: not a number: %w", flag, v, errdefs.ErrInvalidArgument)
					return nil
				}
				return &n
			}
			i64 := func(flag, v string, sizes bool) *int64 {
				if !fl.Changed(flag) || perr != nil {
					return nil
				}
				n, err := parseSize(v, sizes)
				if err != nil {
					perr = fmt.Errorf("--%s %q: %v: %w", flag, v, err, errdefs.ErrInvalidArgument)
					return nil
				}
				return &n
			}
			cpu := func() *specs.LinuxCPU {
				if r.CPU == nil {
					r.CPU = &specs.LinuxCPU{}
				}
				return r.CPU
			}
			mem := func() *specs.LinuxMemory {
				if r.Memory == nil {
					r.Memory = &specs.LinuxMemory{}
				}
				return r.Memory
			}
			if v := u64("blkio-weight", s.blkioWeight); v != nil {
				w := uint16(*v)
				r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
			}
			if v := u64("cpu-period", s.cpuPeriod); v != nil {
				cpu().Period = v
			}
			if v := i64("cpu-quota", s.cpuQuota, false); v != nil {
				cpu().Quota = v
			}
			if v := u64("cpu-share", s.cpuShares); v != nil {
				cpu().Shares = v
			}
			if v := u64("cpu-rt-period", s.cpuRtPeriod); v != nil {
				cpu().RealtimePeriod = v
			}
			if v := i64("cpu-rt-runtime", s.cpuRtRuntime, false); v != nil {
				cpu().RealtimeRuntime = v
			}
			if fl.Changed("cpuset-cpus") {
				cpu().Cpus = s.cpusetCpus
			}
			if fl.Changed("cpuset-mems") {
				cpu().Mems = s.cpusetMems
			}
			if v := i64("memory", s.memory, true); v != nil {
				mem().Limit = v
			}
			if v := i64("memory-reservation", s.memoryReservation, true); v != nil {
				mem().Reservation = v
			}
			if v := i64("memory-swap", s.memorySwap, true); v != nil {
				mem().Swap = v
			}
			if v := i64("kernel-memory", s.kernelMemory, true); v != nil {
				mem().Kernel = v
			}
			if v := i64("kernel-memory-tcp", s.kernelMemoryTCP, true); v != nil {
				mem().KernelTCP = v
			}
			if v := i64("pids-limit", s.pidsLimit, false); v != nil {
				r.Pids = &specs.LinuxPids{Limit: v}
			}
			if perr != nil {
				return perr
			}
			return c.Update(&r)
		},
	}
	fl.StringVarP(&resources, "resources", "r", "", "a JSON file of runtime-spec linux.resources, - for stdin")
	fl.StringVar(&s.blkioWeight, "blkio-weight", "", "block IO weight (10-1000)")
	fl.StringVar(&s.cpuPeriod, "cpu-period", "", "CPU CFS period in microseconds")
	fl.StringVar(&s.cpuQuota, "cpu-quota", "", "CPU CFS quota in microseconds")
	fl.StringVar(&s.cpuShares, "cpu-share", "", "CPU shares (relative weight)")
	fl.StringVar(&s.cpuRtPeriod, "cpu-rt-period", "", "CPU realtime period in microseconds")
	fl.StringVar(&s.cpuRtRuntime, "cpu-rt-runtime", "", "CPU realtime runtime in microseconds")
	fl.StringVar(&s.cpusetCpus, "cpuset-cpus", "", "CPUs to use (0-3, 0,1)")
	fl.StringVar(&s.cpusetMems, "cpuset-mems", "", "memory nodes to use")
	fl.StringVar(&s.memory, "memory", "", "memory limit (bytes, or with k, m, g)")
	fl.StringVar(&s.memoryReservation, "memory-reservation", "", "memory soft limit")
	fl.StringVar(&s.memorySwap, "memory-swap", "", "memory plus swap limit; -1 for unlimited")
	fl.StringVar(&s.kernelMemory, "kernel-memory", "", "kernel memory limit (deprecated by the kernel)")
	fl.StringVar(&s.kernelMemoryTCP, "kernel-memory-tcp", "", "kernel TCP buffer limit")
	fl.StringVar(&s.pidsLimit, "pids-limit", "", "maximum number of processes; -1 for unlimited")
	var l3, memBW string
	fl.StringVar(&l3, "l3-cache-schema", "", "not supported (Intel RDT)")
	fl.StringVar(&memBW, "mem-bw-schema", "", "not supported (Intel RDT)")
	return cmd
}

// parseSize parses "512", "-1", and with sizes also "64k", "512m", "2g".
func parseSize(v string, sizes bool) (int64, error) {
	if v == "-1" {
		return -1, nil
	}
	mult := int64(1)
	if sizes {
		lv := strings.ToLower(strings.TrimSuffix(strings.ToLower(v), "b"))
		switch {
		case strings.HasSuffix(lv, "k"):
			mult, lv = 1<<10, strings.TrimSuffix(lv, "k")
		case strings.HasSuffix(lv, "m"):
			mult, lv = 1<<20, strings.TrimSuffix(lv, "m")
		case strings.HasSuffix(lv, "g"):
			mult, lv = 1<<30, strings.TrimSuffix(lv, "g")
		case strings.HasSuffix(lv, "t"):
			mult, lv = 1<<40, strings.TrimSuffix(lv, "t")
		}
		v = lv
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size")
	}
	return n * mult, nil
}
