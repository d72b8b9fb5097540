package cri

import (
	"context"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func (s *Service) containerStats(ctx context.Context, c *ctr) (*runtimeapi.ContainerStats, error) {
	now := time.Now().UnixNano()
	st := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.ID, Metadata: c.Config.GetMetadata(), Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations()},
		Cpu:        &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{}},
		Memory:     &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: &runtimeapi.UInt64Value{}},
		WritableLayer: &runtimeapi.FilesystemUsage{Timestamp: now, FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.b.StorageDir()},
			UsedBytes: &runtimeapi.UInt64Value{}, InodesUsed: &runtimeapi.UInt64Value{}},
	}
	in, err := s.b.ContainerInspect(ctx, c.ID, true)
	if err != nil {
		return nil, err
	}
	if in.SizeRw != nil {
		st.WritableLayer.UsedBytes.Value = uint64(*in.SizeRw)
	}
	if in.State == nil || !in.State.Running {
		return st, nil
	}
	var es *ctypes.StatsResponse
	err = s.b.ContainerStats(ctx, c.ID, false, true, func(r *ctypes.StatsResponse) error { es = r; return nil })
	if err != nil || es == nil {
		return st, nil // it stopped meanwhile
	}
	st.Cpu.UsageCoreNanoSeconds.Value = es.CPUStats.CPUUsage.TotalUsage
	ws := es.MemoryStats.Usage
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := es.MemoryStats.Stats[k]; ok {
			if v < ws {
				ws -= v
			} else {
				ws = 0
			}
			break
		}
	}
	st.Memory.WorkingSetBytes.Value = ws
	st.Memory.UsageBytes = &runtimeapi.UInt64Value{Value: es.MemoryStats.Usage}
	if rss, ok := es.MemoryStats.Stats["rss"]; ok {
		st.Memory.RssBytes = &runtimeapi.UInt64Value{Value: rss}
	} else if anon, ok := es.MemoryStats.Stats["anon"]; ok {
		st.Memory.RssBytes = &runtimeapi.UInt64Value{Value: anon}
	}
	return st, nil
}

// ContainerStats reports one container's resource usage.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	st, err := s.containerStats(ctx, c)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ContainerStatsResponse{Stats: st}, nil
}

// ListContainerStats reports the resource usage of containers, filtered.
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.ContainerStats
	for _, c := range s.store.listContainers() {
		if f.GetId() != "" && !strings.HasPrefix(c.ID, f.GetId()) {
			continue
		}
		if f.GetPodSandboxId() != "" && !strings.HasPrefix(c.SandboxID, f.GetPodSandboxId()) {
			continue
		}
		if !matchLabels(c.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		st, err := s.containerStats(ctx, c)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			return nil, err
		}
		out = append(out, st)
	}
	return &runtimeapi.ListContainerStatsResponse{Stats: out}, nil
}

func (s *Service) podStats(ctx context.Context, sb *sandbox) *runtimeapi.PodSandboxStats {
	now := time.Now().UnixNano()
	lx := &runtimeapi.LinuxPodSandboxStats{
		Cpu:    &runtimeapi.CpuUsage{Timestamp: now, UsageCoreNanoSeconds: &runtimeapi.UInt64Value{}},
		Memory: &runtimeapi.MemoryUsage{Timestamp: now, WorkingSetBytes: &runtimeapi.UInt64Value{}},
	}
	for _, c := range s.store.listContainers() {
		if c.SandboxID != sb.ID {
			continue
		}
		st, err := s.containerStats(ctx, c)
		if err != nil {
			continue
		}
		lx.Containers = append(lx.Containers, st)
		lx.Cpu.UsageCoreNanoSeconds.Value += st.Cpu.UsageCoreNanoSeconds.GetValue()
		lx.Memory.WorkingSetBytes.Value += st.Memory.WorkingSetBytes.GetValue()
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: sb.ID, Metadata: sb.Config.GetMetadata(), Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations()},
		Linux:      lx,
	}
}

// PodSandboxStats reports a pod's resource usage (the sum of its
// containers').
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	sb, err := s.store.sandbox(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.podStats(ctx, sb)}, nil
}

// ListPodSandboxStats reports the resource usage of pods, filtered.
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.PodSandboxStats
	for _, sb := range s.store.listSandboxes() {
		if f.GetId() != "" && !strings.HasPrefix(sb.ID, f.GetId()) {
			continue
		}
		if !matchLabels(sb.Config.GetLabels(), f.GetLabelSelector()) {
			continue
		}
		out = append(out, s.podStats(ctx, sb))
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: out}, nil
}
