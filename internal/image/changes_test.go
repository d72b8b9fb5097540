package image

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	cfg := &ocispec.ImageConfig{Env: []string{"PATH=/bin"}}
	err := ApplyChanges(cfg, []string{
		`CMD ["sh", "-c", "echo hi"]`, "ENTRYPOINT /init", "ENV PATH=/usr/bin:/bin A=1", "ENV B 2",
		"WORKDIR /app", "USER 1000:1000", "EXPOSE 80 53/udp", `LABEL a=b "c=d"`, "STOPSIGNAL SIGINT", `VOLUME ["/data"]`, "VOLUME /logs /cache",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Cmd, []string{"sh", "-c", "echo hi"}) || !slices.Equal(cfg.Entrypoint, []string{"/bin/sh", "-c", "/init"}) {
		t.Errorf("cmd %v entrypoint %v", cfg.Cmd, cfg.Entrypoint)
	}
	if !slices.Equal(cfg.Env, []string{"PATH=/usr/bin:/bin", "A=1", "B=2"}) {
		t.Errorf("env %v", cfg.Env)
	}
	if cfg.WorkingDir != "/app" || cfg.User != "1000:1000" || cfg.StopSignal != "SIGINT" || cfg.Labels["a"] != "b" || cfg.Labels["c"] != "d" {
		t.Errorf("%+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ports %v", cfg.ExposedPorts)
	}
	if _, ok := cfg.ExposedPorts["53/udp"]; !ok {
		t.Errorf("ports %v", cfg.ExposedPorts)
	}
	if len(cfg.Volumes) != 3 || cfg.Volumes["/data"] != struct{}{} || cfg.Volumes["/logs"] != struct{}{} || cfg.Volumes["/cache"] != struct{}{} {
		t.Errorf("volumes %v (the shell form is paths, not a command)", cfg.Volumes)
	}
	for _, bad := range []string{"RUN ls", "WORKDIR rel", "ENV =x", "USER", "VOLUME"} {
		if err := ApplyChanges(&ocispec.ImageConfig{}, []string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
