// Package image keeps the engine's images: which manifest and config each
// image is, and the names (tags, digests) that point at it. The blobs live
// in the content store; this package keeps the metadata, in bbolt.
//
// An image's ID is the digest of its config, as docker's is. A name maps
// to exactly one image; an image may have many names.
package image

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

var (
	bucketImages = []byte("images")     // id → Image JSON
	bucketNames  = []byte("names")      // full reference → id
	bucketCache  = []byte("buildcache") // build cache key → id
)

// Image is one image's record.
type Image struct {
	// ID is the config digest.
	ID digest.Digest `json:"id"`
	// Manifest is the digest of the image manifest (for the platform
	// pulled), and MediaType its media type.
	Manifest  digest.Digest `json:"manifest"`
	MediaType string        `json:"mediaType"`
	// Layers are the compressed layer digests, base first; DiffIDs the
	// uncompressed ones from the config.
	Layers  []digest.Digest `json:"layers"`
	DiffIDs []digest.Digest `json:"diffIDs"`
	// Size is the sum of the layers' compressed sizes.
	Size int64 `json:"size"`
	// Names are the full references pointing at the image
	// ("docker.io/library/busybox:latest", "...@sha256:...").
	Names []string `json:"names"`
	// Created is when the image was built (from its config); Added when
	// it entered this store.
	Created time.Time `json:"created"`
	Added   time.Time `json:"added"`
	// Parent is the image a build step made this one from, and BuildKey
	// the step's cache key (a digest over the parent, the instruction and
	// what it copies): a later build with the same step reuses the image.
	Parent   digest.Digest `json:"parent,omitempty"`
	BuildKey string        `json:"buildKey,omitempty"`
}

// Store is the image metadata store.
type Store struct {
	db *bolt.DB
}

// NewStore uses db (shared with the rest of the daemon).
func NewStore(db *bolt.DB) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketImages, bucketNames, bucketCache} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &Store{db: db}, nil
}

// Put records img and points names at it, in one transaction. A name that
// pointed at another image moves (that image keeps its other names).
func (s *Store) Put(img *Image, names ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		cur, err := getImage(tx, img.ID)
		if err == nil {
			img.Names = cur.Names
			img.Added = cur.Added
		} else if !errdefs.IsNotFound(err) {
			return err
		}
		if img.Added.IsZero() {
			img.Added = time.Now().UTC()
		}
		if err := putImage(tx, img); err != nil {
			return err
		}
		if img.BuildKey != "" {
			if err := tx.Bucket(bucketCache).Put([]byte(img.BuildKey), []byte(img.ID)); err != nil {
				return err
			}
		}
		for _, n := range names {
			if err := setName(tx, n, img.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

func getImage(tx *bolt.Tx, id digest.Digest) (*Image, error) {
	b := tx.Bucket(bucketImages).Get([]byte(id))
	if b == nil {
		return nil, fmt.Errorf("No such image: %s: %w", id, errdefs.ErrNotFound)
	}
	var img Image
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("image %s: corrupt record: %w", id, err)
	}
	return &img, nil
}

func putImage(tx *bolt.Tx, img *Image) error {
	sort.Strings(img.Names)
	b, err := json.Marshal(img)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketImages).Put([]byte(img.ID), b)
}

// setName points name at id, removing it from its previous image.
func setName(tx *bolt.Tx, name string, id digest.Digest) error {
	names := tx.Bucket(bucketNames)
	if old := names.Get([]byte(name)); old != nil && digest.Digest(old) != id {
		if prev, err := getImage(tx, digest.Digest(old)); err == nil {
			prev.Names = remove(prev.Names, name)
			if err := putImage(tx, prev); err != nil {
				return err
			}
		}
	}
	img, err := getImage(tx, id)
	if err != nil {
		return err
	}
	if !contains(img.Names, name) {
		img.Names = append(img.Names, name)
		if err := putImage(tx, img); err != nil {
			return err
		}
	}
	return names.Put([]byte(name), []byte(id))
}

// Get finds an image by name ("busybox", "busybox:1", "x@sha256:…"), by ID
// or by a unique ID prefix (at least... any length, as docker allows).
func (s *Store) Get(nameOrID string) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		img, err = resolve(tx, nameOrID)
		return err
	})
	return img, err
}

func resolve(tx *bolt.Tx, nameOrID string) (*Image, error) {
	if ref, err := reference.Parse(nameOrID); err == nil {
		if id := tx.Bucket(bucketNames).Get([]byte(ref.String())); id != nil {
			return getImage(tx, digest.Digest(id))
		}
	}
	if reference.LooksLikeID(nameOrID) {
		prefix := strings.TrimPrefix(nameOrID, "sha256:")
		var found *Image
		c := tx.Bucket(bucketImages).Cursor()
		key := []byte("sha256:" + prefix)
		for k, v := c.Seek(key); k != nil && strings.HasPrefix(string(k), string(key)); k, v = c.Next() {
			if found != nil {
				return nil, fmt.Errorf("image ID prefix %q is ambiguous: %w", nameOrID, errdefs.ErrInvalidArgument)
			}
			var img Image
			if err := json.Unmarshal(v, &img); err != nil {
				return nil, err
			}
			found = &img
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, fmt.Errorf("No such image: %s: %w", nameOrID, errdefs.ErrNotFound)
}

// List returns every image, newest first.
func (s *Store) List() ([]*Image, error) {
	var out []*Image
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var img Image
			if err := json.Unmarshal(v, &img); err != nil {
				return fmt.Errorf("image %s: corrupt record: %w", k, err)
			}
			out = append(out, &img)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}

// Tag points the (normalized) name at the image src names.
func (s *Store) Tag(src, name string) error {
	ref, err := reference.Parse(name)
	if err != nil {
		return err
	}
	if ref.Digest() != "" {
		return fmt.Errorf("refusing to create a tag with a digest reference %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		img, err := resolve(tx, src)
		if err != nil {
			return err
		}
		return setName(tx, ref.String(), img.ID)
	})
}

// Untag removes name and returns the image it pointed at, and whether that
// image has no names left.
func (s *Store) Untag(name string) (*Image, bool, error) {
	ref, err := reference.Parse(name)
	if err != nil {
		return nil, false, err
	}
	var img *Image
	err = s.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketNames)
		id := names.Get([]byte(ref.String()))
		if id == nil {
			return fmt.Errorf("No such image: %s: %w", name, errdefs.ErrNotFound)
		}
		var err error
		if img, err = getImage(tx, digest.Digest(id)); err != nil {
			return err
		}
		img.Names = remove(img.Names, ref.String())
		if err := names.Delete([]byte(ref.String())); err != nil {
			return err
		}
		return putImage(tx, img)
	})
	if err != nil {
		return nil, false, err
	}
	return img, len(img.Names) == 0, nil
}

// Delete removes the image record and every name pointing at it.
func (s *Store) Delete(id digest.Digest) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		img, err := getImage(tx, id)
		if err != nil {
			return err
		}
		for _, n := range img.Names {
			tx.Bucket(bucketNames).Delete([]byte(n))
		}
		if img.BuildKey != "" && digest.Digest(tx.Bucket(bucketCache).Get([]byte(img.BuildKey))) == id {
			tx.Bucket(bucketCache).Delete([]byte(img.BuildKey))
		}
		return tx.Bucket(bucketImages).Delete([]byte(id))
	})
}

// Cached returns the image a build step with cache key key made, if it
// is still in the store.
func (s *Store) Cached(key string) (*Image, error) {
	var img *Image
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketCache).Get([]byte(key))
		if id == nil {
			return fmt.Errorf("no build cache for %s: %w", key, errdefs.ErrNotFound)
		}
		var err error
		img, err = getImage(tx, digest.Digest(id))
		return err
	})
	return img, err
}

// BlobsInUse returns every blob some image refers to (config, manifest,
// layers), for garbage collection of the content store.
func (s *Store) BlobsInUse() (map[digest.Digest]bool, error) {
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	used := map[digest.Digest]bool{}
	for _, img := range imgs {
		used[img.ID] = true
		used[img.Manifest] = true
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	return used, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func remove(l []string, s string) []string {
	out := l[:0]
	for _, v := range l {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}
