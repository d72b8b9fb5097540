// Command imgregistry serves an in-memory OCI registry on 127.0.0.1 for
// bench/images.sh and pushes a synthetic multi-layer image to it:
//
//	imgregistry -addr 127.0.0.1:5055 -layers 8 -size 200 -repo bench/img:1
//
// The layers are gzip tars of files with mixed compressible and random
// content, about -size MiB uncompressed in all. It prints "ready" once
// the image is pushed, then serves until killed.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5055", "listen address (loopback)")
	layers := flag.Int("layers", 8, "number of layers")
	size := flag.Int("size", 200, "total uncompressed MiB")
	repo := flag.String("repo", "bench/img:1", "repository:tag to push")
	verbose := flag.Bool("v", false, "log requests")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	logger := log.New(io.Discard, "", 0)
	if *verbose {
		logger = log.New(os.Stderr, "", 0)
	}
	go http.Serve(l, registry.New(registry.Logger(logger)))
	img := empty.Image
	r := rand.New(rand.NewPCG(1, 2))
	per := *size << 20 / *layers
	for i := range *layers {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		written := 0
		for f := 0; written < per; f++ {
			n := 4096 + r.IntN(256<<10)
			data := make([]byte, n)
			if f%2 == 0 {
				for j := range data {
					data[j] = byte(r.Uint32())
				}
			} else {
				copy(data, bytes.Repeat([]byte(fmt.Sprintf("layer %d file %d ", i, f)), n/16+1))
			}
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l%d/d%d/f%d", i, f%20, f), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
			tw.Write(data)
			written += n
		}
		tw.Close()
		b := buf.Bytes()
		lay, err := tarball.LayerFromReader(bytes.NewReader(b))
		if err != nil {
			log.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, lay); err != nil {
			log.Fatal(err)
		}
	}
	img, _ = mutate.ConfigFile(img, withPlatform(img))
	ref, err := name.ParseReference(l.Addr().String() + "/" + *repo)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	select {}
}

func withPlatform(img v1.Image) *v1.ConfigFile {
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	return cf
}
