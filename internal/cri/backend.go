package cri

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/registry"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Backend is what the CRI needs from the engine.
type Backend interface {
	ContainerCreateCRI(ctx context.Context, req types.CreateRequest, o types.CRIOptions) (string, error)
	ContainerProcessUser(ctx context.Context, ref string) (*specs.User, error)
	ContainerStart(ctx context.Context, ref string) error
	ContainerStop(ctx context.Context, ref string, timeout *int, signal string) error
	ContainerRemove(ctx context.Context, ref string, force, volumes bool) error
	ContainerInspect(ctx context.Context, ref string, size bool) (*ctypes.InspectResponse, error)
	ContainerStats(ctx context.Context, ref string, stream, oneShot bool, emit func(*ctypes.StatsResponse) error) error
	ContainerUpdate(ctx context.Context, ref string, u *ctypes.UpdateConfig) (*ctypes.UpdateResponse, error)
	ContainerAttach(ctx context.Context, ref string, o types.AttachOptions, hijack types.Hijack) error
	ContainerResize(ctx context.Context, ref string, h, w uint) error
	ReopenContainerLog(ctx context.Context, ref string) error

	ExecCreate(ctx context.Context, ref string, req ctypes.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, id string, detach bool, consoleSize *[2]uint, hijack types.Hijack) error
	ExecInspect(ctx context.Context, id string) (*ctypes.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, h, w uint) error

	PauseImage(ctx context.Context) (string, error)
	PullImage(ctx context.Context, ref, platform string, auth authn.Authenticator, progress func(registry.Progress)) (*image.Image, error)
	ImageRecords(ctx context.Context) ([]*image.Image, error)
	ImageRecord(ctx context.Context, ref string) (*image.Image, *ocispec.ImageConfig, error)
	RemoveImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error)
	StorageDir() string

	SubscribeEvents(since time.Time) ([]eventtypes.Message, <-chan eventtypes.Message, func())
}
