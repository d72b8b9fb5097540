// Package types holds the request types the Engine API routers and the
// engine share beyond moby's API types: the options of the container
// endpoints as parsed from their query strings, and hako's own responses.
package types

import (
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// CreateRequest is what POST /containers/create carries.
type CreateRequest struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
	Platform   string
}

// CRIOptions complete a CreateRequest for containers the Kubernetes CRI
// makes.
type CRIOptions struct {
	// LogPath is where the output is logged, in the CRI format ("": not
	// logged).
	LogPath string
	// StrictGroups: the supplementary groups are exactly HostConfig.GroupAdd,
	// without the user's memberships in the image's /etc/group (the CRI's
	// SupplementalGroupsPolicy Strict).
	StrictGroups bool
}

// ListOptions are GET /containers/json's parameters.
type ListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters map[string][]string
}

// Hijack hands over the client's connection once the engine is ready to
// stream; tty says whether the stream is raw or in stdcopy frames.
type Hijack func(tty bool) (io.ReadWriteCloser, error)

// AttachOptions are POST /containers/{id}/attach's parameters.
type AttachOptions struct {
	Stream, Logs          bool
	Stdin, Stdout, Stderr bool
	DetachKeys            string
}

// LogsOptions are GET /containers/{id}/logs's parameters.
type LogsOptions struct {
	Stdout, Stderr, Follow, Timestamps, Details bool
	Since, Until                                time.Time
	Tail                                        int // -1: all
}

// CommitOptions are POST /commit's parameters.
type CommitOptions struct {
	Repo, Tag, Comment, Author string
	Changes                    []string
	Pause                      bool
	Config                     *container.Config
}

// NamespaceInfo is one namespace of a container.
type NamespaceInfo struct {
	Type       string
	Inode      uint64
	Host       bool
	SharedWith []string
}

// ContainerNamespaces is GET /containers/{id}/namespaces's answer (hako's
// own endpoint: which namespaces a container has, by inode as
// /proc/PID/ns shows them, and which it shares).
type ContainerNamespaces struct {
	ID         string `json:"Id"`
	Name       string
	Pid        int
	Namespaces []NamespaceInfo
}
