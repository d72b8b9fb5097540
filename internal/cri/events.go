package cri

import (
	"sync"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// eventHub fans container events out to GetContainerEvents streams.
type eventHub struct {
	mu   sync.Mutex
	subs map[chan *runtimeapi.ContainerEventResponse]struct{}
}

func newEventHub() *eventHub {
	return &eventHub{subs: map[chan *runtimeapi.ContainerEventResponse]struct{}{}}
}

func (h *eventHub) subscribe() (<-chan *runtimeapi.ContainerEventResponse, func()) {
	ch := make(chan *runtimeapi.ContainerEventResponse, 256)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// publish sends e to every stream; a stream too slow to keep up misses
// it (kubelet relists).
func (h *eventHub) publish(e *runtimeapi.ContainerEventResponse) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (h *eventHub) sandboxEvent(s *Service, id string, t runtimeapi.ContainerEventType) {
	sb, err := s.store.sandbox(id)
	if err != nil {
		return
	}
	h.publish(&runtimeapi.ContainerEventResponse{ContainerId: id, ContainerEventType: t, CreatedAt: time.Now().UnixNano(), PodSandboxStatus: s.sandboxStatus(s.ctx, sb)})
}

func (h *eventHub) containerEvent(s *Service, c *ctr, t runtimeapi.ContainerEventType) {
	e := &runtimeapi.ContainerEventResponse{ContainerId: c.ID, ContainerEventType: t, CreatedAt: time.Now().UnixNano()}
	if sb, err := s.store.sandbox(c.SandboxID); err == nil {
		e.PodSandboxStatus = s.sandboxStatus(s.ctx, sb)
	}
	if st, err := s.containerStatus(s.ctx, c); err == nil {
		e.ContainersStatuses = []*runtimeapi.ContainerStatus{st}
	}
	h.publish(e)
}

// GetContainerEvents streams container events until the client goes.
func (s *Service) GetContainerEvents(req *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	ch, cancel := s.events.subscribe()
	defer cancel()
	for {
		select {
		case e := <-ch:
			if err := stream.Send(e); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}

// watchEvents turns the engine's "die" events of CRI containers into
// CONTAINER_STOPPED events.
func (s *Service) watchEvents() {
	_, ch, cancel := s.b.SubscribeEvents(time.Now())
	defer cancel()
	for {
		select {
		case <-s.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if m.Type != eventtypes.ContainerEventType || m.Action != eventtypes.ActionDie {
				continue
			}
			if c, err := s.store.container(m.Actor.ID); err == nil && c.ID == m.Actor.ID {
				s.events.containerEvent(s, c, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT)
			}
		}
	}
}

// reconcile drops records whose engine container is gone (removed
// behind the CRI's back, or a crash between the two).
func (s *Service) reconcile() {
	for _, c := range s.store.listContainers() {
		if _, err := s.b.ContainerInspect(s.ctx, c.ID, false); errdefs.IsNotFound(err) {
			s.log.Warn("cri: container record without a container: dropped", "id", c.ID, "error", err)
			s.store.delete(c.ID)
		}
	}
	for _, sb := range s.store.listSandboxes() {
		if _, err := s.b.ContainerInspect(s.ctx, sb.ID, false); errdefs.IsNotFound(err) {
			s.log.Warn("cri: sandbox record without an infra container: dropped", "id", sb.ID, "error", err)
			if sb.NetNS != "" {
				s.net.tearDown(s.ctx, sb.ID, sb.NetNS, sb.Config)
				unpinNetNS(sb.NetNS)
			}
			unmountShm(sb.Shm)
			s.store.delete(sb.ID)
		}
	}
}
