package cri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CreateContainer creates a container in a ready sandbox.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (_ *runtimeapi.CreateContainerResponse, retErr error) {
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" {
		return nil, fmt.Errorf("container config: metadata with a name is required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.GetImage().GetImage() == "" {
		return nil, fmt.Errorf("container config: an image is required: %w", errdefs.ErrInvalidArgument)
	}
	sb, err := s.store.sandbox(req.PodSandboxId)
	if err != nil {
		return nil, err
	}
	if s.sandboxState(ctx, sb) != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("pod sandbox %s is not ready: %w", sb.ID, errdefs.ErrConflict)
	}
	img, _, err := s.b.ImageRecord(ctx, cfg.Image.Image)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("image %q not present: pull it first: %w", cfg.Image.Image, errdefs.ErrNotFound)
		}
		return nil, err
	}
	c, hc, err := engineConfig(cfg, sb, img.ID.String())
	if err != nil {
		return nil, err
	}
	logPath := ""
	if dir := sb.Config.GetLogDirectory(); dir != "" && cfg.LogPath != "" {
		logPath = filepath.Join(dir, cfg.LogPath)
	}
	name := engineName(md.Name, md.Name, sb.Config.GetMetadata(), md.Attempt)
	strict := cfg.GetLinux().GetSecurityContext().GetSupplementalGroupsPolicy() == runtimeapi.SupplementalGroupsPolicy_Strict
	id, err := s.b.ContainerCreateCRI(ctx, types.CreateRequest{Name: name, Config: c, HostConfig: hc}, types.CRIOptions{LogPath: logPath, StrictGroups: strict})
	if err != nil {
		if errdefs.IsConflict(err) && strings.Contains(err.Error(), "already in use") {
			return nil, fmt.Errorf("container %s in pod %s (attempt %d) exists already: %v: %w", md.Name, sb.ID, md.Attempt, err, errdefs.ErrAlreadyExists)
		}
		return nil, err
	}
	rec := &ctr{ID: id, SandboxID: sb.ID, Config: cfg, CreatedAt: time.Now().UnixNano(), ImageRef: img.ID.String(), LogPath: logPath}
	if err := s.store.putContainer(rec); err != nil {
		s.b.ContainerRemove(context.WithoutCancel(ctx), id, true, true)
		return nil, err
	}
	s.events.containerEvent(s, rec, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT)
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// StartContainer starts a created container.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	in, err := s.b.ContainerInspect(ctx, c.ID, false)
	if err != nil {
		return nil, err
	}
	if in.State != nil && in.State.Status != ctypes.StateCreated {
		return nil, fmt.Errorf("container %s is %s: only a created container can be started: %w", c.ID, in.State.Status, errdefs.ErrConflict)
	}
	if err := s.b.ContainerStart(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("start container %s: %w", c.ID, err)
	}
	s.events.containerEvent(s, c, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT)
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a running container, SIGKILL after timeout
// seconds; an unknown or stopped container is not an error.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.StopContainerResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if err := s.stopContainer(ctx, c.ID, req.Timeout); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (s *Service) stopContainer(ctx context.Context, id string, timeout int64) error {
	t := int(timeout)
	if t < 0 {
		t = 0
	}
	err := s.b.ContainerStop(ctx, id, &t, "")
	if err != nil && !errors.Is(err, errdefs.ErrNotModified) && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return nil
}

// RemoveContainer removes a container, stopping it first; an unknown one
// is not an error.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveContainerResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if err := s.b.ContainerRemove(ctx, c.ID, true, true); err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := s.store.delete(c.ID); err != nil {
		return nil, err
	}
	s.events.publish(&runtimeapi.ContainerEventResponse{ContainerId: c.ID, ContainerEventType: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, CreatedAt: time.Now().UnixNano()})
	return &runtimeapi.RemoveContainerResponse{}, nil
}

// containerState maps the engine's state.
func containerState(st *ctypes.State) runtimeapi.ContainerState {
	if st == nil {
		return runtimeapi.ContainerState_CONTAINER_UNKNOWN
	}
	switch st.Status {
	case ctypes.StateCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case ctypes.StateRunning, ctypes.StatePaused, ctypes.StateRestarting:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case ctypes.StateExited, ctypes.StateDead:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return 0
	}
	return t.UnixNano()
}

func (s *Service) containerStatus(ctx context.Context, c *ctr) (*runtimeapi.ContainerStatus, error) {
	in, err := s.b.ContainerInspect(ctx, c.ID, false)
	if err != nil {
		return nil, err
	}
	st := &runtimeapi.ContainerStatus{
		Id:          c.ID,
		Metadata:    c.Config.GetMetadata(),
		State:       containerState(in.State),
		CreatedAt:   c.CreatedAt,
		Image:       c.Config.GetImage(),
		ImageRef:    c.ImageRef,
		ImageId:     c.ImageRef,
		Labels:      c.Config.GetLabels(),
		Annotations: c.Config.GetAnnotations(),
		Mounts:      c.Config.GetMounts(),
		LogPath:     c.LogPath,
	}
	if in.State != nil {
		st.StartedAt = parseTime(in.State.StartedAt)
		if st.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			st.FinishedAt = parseTime(in.State.FinishedAt)
			st.ExitCode = int32(in.State.ExitCode)
			switch {
			case in.State.OOMKilled:
				st.Reason = "OOMKilled"
			case in.State.ExitCode == 0:
				st.Reason = "Completed"
			default:
				st.Reason = "Error"
			}
			st.Message = in.State.Error
		}
	}
	if r := c.Config.GetLinux().GetResources(); r != nil {
		st.Resources = &runtimeapi.ContainerResources{Linux: r}
	}
	if u, err := s.b.ContainerProcessUser(ctx, c.ID); err == nil {
		lu := &runtimeapi.LinuxContainerUser{Uid: int64(u.UID), Gid: int64(u.GID), SupplementalGroups: []int64{int64(u.GID)}}
		for _, g := range u.AdditionalGids {
			if g != u.GID {
				lu.SupplementalGroups = append(lu.SupplementalGroups, int64(g))
			}
		}
		st.User = &runtimeapi.ContainerUser{Linux: lu}
	}
	return st, nil
}

// ContainerStatus reports a container's state.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	st, err := s.containerStatus(ctx, c)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: st}
	if req.Verbose {
		resp.Info = map[string]string{"info": fmt.Sprintf(`{"sandboxID":%q,"pid":%d}`, c.SandboxID, s.infraPid(ctx, c.ID))}
	}
	return resp, nil
}

// ListContainers lists containers, filtered.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	var out []*runtimeapi.Container
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
		in, err := s.b.ContainerInspect(ctx, c.ID, false)
		if err != nil {
			continue
		}
		state := containerState(in.State)
		if f.GetState() != nil && f.GetState().State != state {
			continue
		}
		out = append(out, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.SandboxID, Metadata: c.Config.GetMetadata(), Image: c.Config.GetImage(),
			ImageRef: c.ImageRef, ImageId: c.ImageRef, State: state, CreatedAt: c.CreatedAt,
			Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		})
	}
	return &runtimeapi.ListContainersResponse{Containers: out}, nil
}

// UpdateContainerResources changes a container's cgroup limits.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(c.ID)
	defer unlock()
	if r := req.GetLinux(); r != nil {
		u := &ctypes.UpdateConfig{}
		setResources(&u.Resources, r)
		if _, err := s.b.ContainerUpdate(ctx, c.ID, u); err != nil {
			return nil, fmt.Errorf("update container %s: %w", c.ID, err)
		}
		cfg := proto.Clone(c.Config).(*runtimeapi.ContainerConfig)
		if cfg.Linux == nil {
			cfg.Linux = &runtimeapi.LinuxContainerConfig{}
		}
		cfg.Linux.Resources = r
		c.Config = cfg
		if err := s.store.putContainer(c); err != nil {
			return nil, err
		}
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog reopens a running container's log file.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, err := s.store.container(req.ContainerId)
	if err != nil {
		return nil, err
	}
	if err := s.b.ReopenContainerLog(ctx, c.ID); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
