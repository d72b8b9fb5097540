package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/client"
)

func msg(id, status string, cur, total int64) client.JSONMessage {
	m := client.JSONMessage{ID: id, Status: status}
	if total > 0 {
		m.ProgressDetail = &struct {
			Current int64 `json:"current,omitempty"`
			Total   int64 `json:"total,omitempty"`
		}{cur, total}
	}
	return m
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := newProgressPrinter(&b)
	for _, m := range []client.JSONMessage{msg("", "Pulling from x", 0, 0), msg("abc", "Pulling fs layer", 0, 0), msg("abc", "Downloading", 5, 10), msg("abc", "Pull complete", 0, 0)} {
		p.print(m)
	}
	if got := b.String(); got != "Pulling from x\nabc: Pulling fs layer\nabc: Pull complete\n" {
		t.Errorf("plain: %q", got)
	}
}

func TestProgressTTY(t *testing.T) {
	var b bytes.Buffer
	p := &progressPrinter{w: &b, tty: true, lines: map[string]int{}}
	p.print(msg("a", "Pulling fs layer", 0, 0))
	p.print(msg("b", "Pulling fs layer", 0, 0))
	p.print(msg("a", "Downloading", 50, 100))
	out := b.String()
	// The update for a moves two lines up, and draws a half bar.
	if !strings.Contains(out, "\x1b[2A") || !strings.Contains(out, "a: Downloading [====================>") {
		t.Errorf("tty: %q", out)
	}
	if !strings.HasPrefix(bar(0, 10), "[>") || !strings.HasPrefix(bar(10, 10), "[========================================]") {
		t.Errorf("bars: %q %q", bar(0, 10), bar(10, 10))
	}
}
