package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeFile is a two-service project of the kind docker-compose users
// write: a web server built from a Dockerfile, published on a loopback
// port, with a named volume and a healthcheck, and a client that waits for
// the server to be healthy and reaches it by its service name on the
// project's own network. The DNS settings keep every lookup on the
// daemon's embedded server (no query leaves the machine).
const composeFile = `version: "2.4"
services:
  web:
    build: ./web
    ports: ["127.0.0.1::80"]
    networks: [front]
    volumes: ["data:/data"]
    environment: {GREETING: bonjour}
    dns: 127.0.0.1
    dns_search: .
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 30
  client:
    image: busybox
    command: ["sh", "-c", "wget -q -O - http://web/ && exec sleep 1000"]
    depends_on:
      web: {condition: service_healthy}
    networks: [front]
    dns: 127.0.0.1
    dns_search: .
volumes:
  data: {}
networks:
  front:
    ipam:
      config: [{subnet: 10.213.47.0/24}]
`

const composeDockerfile = `FROM busybox
RUN mkdir -p /www && echo hello from compose > /www/index.html
EXPOSE 80
CMD ["httpd", "-f", "-p", "80", "-h", "/www"]
`

// docker-compose (v1, Debian's; it speaks the Engine API through
// docker-py and builds with the docker CLI) runs a project on hako from
// up to down, and down leaves nothing behind.
func TestComposeProject(t *testing.T) {
	for _, tool := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	e := newHakoEnv(t)
	e.busybox()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", "Dockerfile"), []byte(composeDockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	compose := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("docker-compose", append([]string{"-p", "hk", "--ansi", "never"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+e.sock(), "COMPOSE_INTERACTIVE_NO_CLI=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker-compose %v: %v", args, err)
		}
		if code != 0 {
			t.Logf("docker-compose %v: exit %d: %s", args, code, out)
		}
		return string(out), code
	}
	t.Cleanup(func() { compose("down", "-v", "--timeout", "1") })

	if out, code := compose("up", "-d"); code != 0 {
		t.Fatalf("up: %s\n%s", out, e.daemonLog())
	}
	// The client started only once the server was healthy, and found it
	// by name.
	var logs string
	for range 50 {
		if logs, _ = compose("logs", "client"); strings.Contains(logs, "hello from compose") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs, "hello from compose") {
		t.Fatalf("client's logs: %q", logs)
	}
	out, _ := compose("ps")
	if !strings.Contains(out, "hk_web_1") || !strings.Contains(out, "(healthy)") || !strings.Contains(out, "hk_client_1") {
		t.Fatalf("ps: %s", out)
	}
	// The published port answers on the host.
	port, _ := compose("port", "web", "80")
	port = strings.TrimSpace(port)
	if !strings.HasPrefix(port, "127.0.0.1:") {
		t.Fatalf("port: %q", port)
	}
	resp, err := http.Get("http://" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from compose\n" {
		t.Fatalf("GET %s: %q", port, body)
	}
	if out, _ := compose("exec", "-T", "web", "sh", "-c", "echo $GREETING > /data/g; cat /data/g"); out != "bonjour\n" {
		t.Fatalf("exec: %q", out)
	}
	if out, _ := compose("run", "--rm", "-T", "client", "cat", "/etc/hostname"); len(strings.TrimSpace(out)) == 0 {
		t.Fatalf("run --rm: %q", out)
	}
	if out, code := compose("up", "-d", "--scale", "client=2"); code != 0 {
		t.Fatalf("up --scale: %s", out)
	}
	if out, _, _ := e.docker("ps", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.service=client"); len(strings.Fields(out)) != 2 {
		t.Fatalf("scaled clients: %q", out)
	}
	// docker info counts them (compose's client is not the only one
	// that reads it: monitoring does).
	if out, _, _ := e.docker("info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}} {{.Plugins.Volume}} {{.Plugins.Network}}"); out != "3 3 0 [local] [bridge host null]\n" {
		t.Fatalf("docker info: %q", out)
	}
	if out, code := compose("restart", "-t", "1", "web"); code != 0 {
		t.Fatalf("restart: %s", out)
	}
	if out, _ := compose("exec", "-T", "web", "cat", "/data/g"); out != "bonjour\n" {
		t.Fatalf("volume after restart: %q", out)
	}
	ids, _, _ := e.docker("ps", "-aq", "--no-trunc")
	if out, code := compose("down", "-v", "--timeout", "1"); code != 0 {
		t.Fatalf("down: %s", out)
	}
	if out, _, _ := e.docker("ps", "-aq"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
	if out, _, _ := e.docker("network", "ls", "--format", "{{.Name}}"); out != "bridge\nhost\nnone\n" {
		t.Fatalf("networks left: %q", out)
	}
	if out, _, _ := e.docker("volume", "ls", "-q"); out != "" {
		t.Fatalf("volumes left: %q", out)
	}
	e.assertNoNetworkLeft([]string{e.bridge}, nil, strings.Fields(ids)...)
	e.assertClean(strings.Fields(ids)...)
}
