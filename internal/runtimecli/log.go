package runtimecli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// jsonHandler writes log records the way runc (logrus) does, one object per
// line with lowercase levels: {"level":"error","msg":"...","time":"..."},
// which is what containerd and podman parse from a runtime's log file.
type jsonHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newJSONHandler(w io.Writer, level slog.Level) *jsonHandler {
	return &jsonHandler{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *jsonHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *jsonHandler) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{
		"level": strings.ToLower(r.Level.String()),
		"msg":   r.Message,
		"time":  r.Time.Format(time.RFC3339Nano),
	}
	if m["level"] == "warn" {
		m["level"] = "warning"
	}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Any()
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		m[a.Key] = v
		return true
	})
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err = h.w.Write(append(b, '\n'))
	return err
}

func (h *jsonHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *jsonHandler) WithGroup(string) slog.Handler { return h }
