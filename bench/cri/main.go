// Command cri measures what kubelet waits for when it starts a pod: the
// latency of RunPodSandbox, CreateContainer and StartContainer against a
// CRI endpoint, run after run, each pod removed (untimed) before the next.
// bench/cri.sh runs it against hako and containerd in one run.
//
//	go run ./bench/cri -endpoint unix:///run/x/cri.sock -image busybox -runs 20
//
// It prints one line: the median milliseconds of the three calls and of
// their sum, and how many runs failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint (unix:///path)")
	image := flag.String("image", "", "container image, present on the endpoint")
	runs := flag.Int("runs", 20, "timed runs")
	warmup := flag.Int("warmup", 3, "untimed runs first")
	logDir := flag.String("log-dir", os.TempDir(), "pods' log directory")
	flag.Parse()
	if *endpoint == "" || *image == "" {
		fmt.Fprintln(os.Stderr, "cri: -endpoint and -image are required")
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	var pod, create, start, total []float64
	failed := 0
	for i := range *warmup + *runs {
		t, err := once(rt, i, *image, *logDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cri: run %d: %v\n", i, err)
			failed++
			continue
		}
		if i < *warmup {
			continue
		}
		pod, create, start = append(pod, t[0]), append(create, t[1]), append(start, t[2])
		total = append(total, t[0]+t[1]+t[2])
	}
	fmt.Printf("%.2f %.2f %.2f %.2f %d\n", median(pod), median(create), median(start), median(total), failed)
}

// once starts a pod with one container and removes it; it returns the
// three calls' milliseconds.
func once(rt runtimeapi.RuntimeServiceClient, i int, image, logDir string) ([3]float64, error) {
	var ms [3]float64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
	sc := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Uid: name, Namespace: "bench"},
		Hostname:     name,
		LogDirectory: logDir,
		Linux:        &runtimeapi.LinuxPodSandboxConfig{},
	}
	t0 := time.Now()
	p, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sc})
	if err != nil {
		return ms, fmt.Errorf("run pod: %w", err)
	}
	defer func() {
		rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: p.PodSandboxId})
		rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: p.PodSandboxId})
	}()
	t1 := time.Now()
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: p.PodSandboxId,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "c"},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Command:  []string{"sleep", "1000"},
			LogPath:  name + ".log",
			Linux:    &runtimeapi.LinuxContainerConfig{},
		},
		SandboxConfig: sc,
	})
	if err != nil {
		return ms, fmt.Errorf("create container: %w", err)
	}
	t2 := time.Now()
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return ms, fmt.Errorf("start container: %w", err)
	}
	t3 := time.Now()
	ms[0], ms[1], ms[2] = msOf(t1.Sub(t0)), msOf(t2.Sub(t1)), msOf(t3.Sub(t2))
	return ms, nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
