package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criImage is an image record in the CRI's form: tags and digests as
// full references.
func criImage(img *image.Image, cfg *ocispec.ImageConfig, pinned string) *runtimeapi.Image {
	out := &runtimeapi.Image{Id: img.ID.String(), Size: uint64(img.Size), RepoTags: []string{}, RepoDigests: []string{}}
	for _, n := range img.Names {
		if strings.Contains(n, "@") {
			out.RepoDigests = append(out.RepoDigests, n)
		} else {
			out.RepoTags = append(out.RepoTags, n)
			if n == pinned {
				out.Pinned = true
			}
		}
	}
	if cfg != nil {
		user, _, _ := strings.Cut(cfg.User, ":")
		if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
			out.Uid = &runtimeapi.Int64Value{Value: uid}
		} else {
			out.Username = user
		}
	}
	out.Spec = &runtimeapi.ImageSpec{Image: img.ID.String()}
	return out
}

// ListImages lists images, filtered by an image reference.
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	var want string
	if f := req.GetFilter().GetImage().GetImage(); f != "" {
		img, _, err := s.b.ImageRecord(ctx, f)
		if errdefs.IsNotFound(err) {
			return &runtimeapi.ListImagesResponse{}, nil
		} else if err != nil {
			return nil, err
		}
		want = img.ID.String()
	}
	imgs, err := s.b.ImageRecords(ctx)
	if err != nil {
		return nil, err
	}
	var out []*runtimeapi.Image
	for _, img := range imgs {
		if want != "" && img.ID.String() != want {
			continue
		}
		_, cfg, err := s.b.ImageRecord(ctx, img.ID.String())
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, criImage(img, cfg, s.cfg.SandboxImage))
	}
	return &runtimeapi.ListImagesResponse{Images: out}, nil
}

// ImageStatus describes an image; an unknown one is an empty answer,
// not an error.
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("image status: no image given: %w", errdefs.ErrInvalidArgument)
	}
	img, cfg, err := s.b.ImageRecord(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.ImageStatusResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ImageStatusResponse{Image: criImage(img, cfg, s.cfg.SandboxImage)}
	if req.Verbose {
		b, _ := json.Marshal(map[string]any{"imageSpec": cfg, "chainID": image.ChainIDs(img.DiffIDs)})
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// PullImage pulls an image, with credentials when given, and returns
// its ID.
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("pull image: no image given: %w", errdefs.ErrInvalidArgument)
	}
	auth, err := authenticator(req.GetAuth())
	if err != nil {
		return nil, err
	}
	img, err := s.b.PullImage(ctx, ref, "", auth, nil)
	if err != nil {
		return nil, fmt.Errorf("pull image %s: %w", ref, err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID.String()}, nil
}

// authenticator turns CRI credentials into the registry client's.
func authenticator(a *runtimeapi.AuthConfig) (authn.Authenticator, error) {
	if a == nil {
		return nil, nil
	}
	cfg := authn.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	if cfg == (authn.AuthConfig{}) {
		return nil, nil
	}
	return authn.FromConfig(cfg), nil
}

// RemoveImage removes an image with all its names; an unknown one is not
// an error.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, fmt.Errorf("remove image: no image given: %w", errdefs.ErrInvalidArgument)
	}
	img, _, err := s.b.ImageRecord(ctx, ref)
	if errdefs.IsNotFound(err) {
		return &runtimeapi.RemoveImageResponse{}, nil
	} else if err != nil {
		return nil, err
	}
	if _, err := s.b.RemoveImage(ctx, img.ID.String(), true); err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("remove image %s: %w", ref, err)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// fsInfoTTL is how long an ImageFsInfo answer is reused: kubelet asks
// every few seconds and the answer walks the whole storage tree.
const fsInfoTTL = 10 * time.Second

// ImageFsInfo reports the space and inodes that image layers and
// container file systems use.
func (s *Service) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	s.fsInfoMu.Lock()
	defer s.fsInfoMu.Unlock()
	if s.fsInfo != nil && time.Since(s.fsInfoAt) < fsInfoTTL {
		return s.fsInfo, nil
	}
	dir := s.b.StorageDir()
	var bytes, inodes uint64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return nil
		}
		inodes++
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			bytes += uint64(st.Blocks) * 512
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	u := &runtimeapi.FilesystemUsage{Timestamp: time.Now().UnixNano(), FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: dir},
		UsedBytes: &runtimeapi.UInt64Value{Value: bytes}, InodesUsed: &runtimeapi.UInt64Value{Value: inodes}}
	s.fsInfo, s.fsInfoAt = &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{u}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{u}}, time.Now()
	return s.fsInfo, nil
}
