package monitor

import (
	"fmt"

	"github.com/hako-dev/hako/internal/daemon/logger/crilog"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/errdefs"
)

// logWriter is a container's log, in one of the formats.
type logWriter interface {
	Write(stream string, b []byte) error
	Flush() error
	Close() error
}

// openLog opens the log a create or adopt request names.
func openLog(req *Request) (logWriter, error) {
	switch req.LogFormat {
	case "", "json-file":
		return jsonfile.NewWriter(req.LogPath, jsonfile.Options{MaxSize: req.LogMaxSize, MaxFiles: req.LogMaxFiles, Attrs: req.LogAttrs})
	case "cri":
		return crilog.NewWriter(req.LogPath)
	}
	return nil, fmt.Errorf("log format %q: want json-file or cri: %w", req.LogFormat, errdefs.ErrInvalidArgument)
}

// reopenLog reopens a running container's CRI log.
func (s *Server) reopenLog(req *Request) *Response {
	s.mu.Lock()
	p := s.procs[key(req.ID, "")]
	s.mu.Unlock()
	if p == nil {
		return &Response{Error: fmt.Sprintf("no such container: %s", req.ID), Code: 404}
	}
	w, ok := p.log.(interface{ Reopen() error })
	if !ok {
		return &Response{Error: fmt.Sprintf("container %s has no log to reopen", req.ID), Code: 409}
	}
	if err := w.Reopen(); err != nil {
		return errResponse(err)
	}
	return &Response{}
}

// ReopenLog asks the monitor to reopen a container's CRI log.
func (c *Client) ReopenLog(id string) error {
	_, err := c.call(&Request{Op: "reopen-log", ID: id})
	return err
}
