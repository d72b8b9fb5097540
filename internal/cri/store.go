package cri

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hako-dev/hako/internal/atomicfile"
	"github.com/hako-dev/hako/internal/errdefs"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandbox is what the CRI keeps of a pod sandbox; its ID is its infra
// container's.
type sandbox struct {
	ID             string
	Config         *runtimeapi.PodSandboxConfig `json:"-"`
	RuntimeHandler string                       `json:",omitempty"`
	CreatedAt      int64
	// NetNS is the pinned network namespace ("" with the host's
	// network, or once the network is torn down).
	NetNS string `json:",omitempty"`
	// IPs are the pod's addresses from CNI, the primary first.
	IPs []string `json:",omitempty"`
	// Shm is the pod's /dev/shm, a tmpfs its containers share ("" with
	// the host's IPC namespace).
	Shm string `json:",omitempty"`
	// Stopped is set by StopPodSandbox: the sandbox is NOTREADY from
	// then on even if its infra container still ran.
	Stopped bool `json:",omitempty"`
}

// ctr is what the CRI keeps of a container.
type ctr struct {
	ID        string
	SandboxID string
	Config    *runtimeapi.ContainerConfig `json:"-"`
	CreatedAt int64
	// ImageRef is the image's ID, as it was at create.
	ImageRef string
	LogPath  string `json:",omitempty"`
}

// record is the file form of either.
type record struct {
	Sandbox   *sandbox        `json:",omitempty"`
	Container *ctr            `json:",omitempty"`
	Config    json.RawMessage `json:",omitempty"` // protojson of the CRI config
}

// store keeps the records in memory and one file each under dir.
type store struct {
	dir        string
	mu         sync.RWMutex
	sandboxes  map[string]*sandbox
	containers map[string]*ctr
}

func openStore(dir string) (*store, error) {
	s := &store{dir: dir, sandboxes: map[string]*sandbox{}, containers: map[string]*ctr{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("cri record %s: %w", e.Name(), err)
		}
		switch {
		case r.Sandbox != nil:
			r.Sandbox.Config = &runtimeapi.PodSandboxConfig{}
			if err := protojson.Unmarshal(r.Config, r.Sandbox.Config); err != nil {
				return nil, fmt.Errorf("cri record %s: %w", e.Name(), err)
			}
			s.sandboxes[r.Sandbox.ID] = r.Sandbox
		case r.Container != nil:
			r.Container.Config = &runtimeapi.ContainerConfig{}
			if err := protojson.Unmarshal(r.Config, r.Container.Config); err != nil {
				return nil, fmt.Errorf("cri record %s: %w", e.Name(), err)
			}
			s.containers[r.Container.ID] = r.Container
		}
	}
	return s, nil
}

func (s *store) path(id string) string { return filepath.Join(s.dir, id+".json") }

func (s *store) write(id string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(id), b, 0o600)
}

// putSandbox saves sb (new or changed).
func (s *store) putSandbox(sb *sandbox) error {
	cfg, err := protojson.Marshal(sb.Config)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *sb
	if err := s.write(sb.ID, record{Sandbox: &cp, Config: cfg}); err != nil {
		return err
	}
	s.sandboxes[sb.ID] = &cp
	return nil
}

func (s *store) putContainer(c *ctr) error {
	cfg, err := protojson.Marshal(c.Config)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	if err := s.write(c.ID, record{Container: &cp, Config: cfg}); err != nil {
		return err
	}
	s.containers[c.ID] = &cp
	return nil
}

func (s *store) delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sandboxes, id)
	delete(s.containers, id)
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// resolve finds the full ID of a sandbox (or container) by ID or unique
// prefix.
func resolve[T any](m map[string]*T, ref, kind string) (*T, error) {
	if v := m[ref]; v != nil {
		return v, nil
	}
	var found *T
	if ref != "" {
		for id, v := range m {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, fmt.Errorf("%s ID prefix %q is ambiguous: %w", kind, ref, errdefs.ErrInvalidArgument)
				}
				found = v
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%s %q not found: %w", kind, ref, errdefs.ErrNotFound)
	}
	return found, nil
}

// sandbox returns a copy of a sandbox's record.
func (s *store) sandbox(ref string) (*sandbox, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sb, err := resolve(s.sandboxes, ref, "pod sandbox")
	if err != nil {
		return nil, err
	}
	cp := *sb
	return &cp, nil
}

func (s *store) container(ref string) (*ctr, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := resolve(s.containers, ref, "container")
	if err != nil {
		return nil, err
	}
	cp := *c
	return &cp, nil
}

func (s *store) listSandboxes() []*sandbox {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*sandbox, 0, len(s.sandboxes))
	for _, sb := range s.sandboxes {
		cp := *sb
		out = append(out, &cp)
	}
	return out
}

func (s *store) listContainers() []*ctr {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*ctr, 0, len(s.containers))
	for _, c := range s.containers {
		cp := *c
		out = append(out, &cp)
	}
	return out
}
