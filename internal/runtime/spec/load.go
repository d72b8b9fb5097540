// Package spec loads, checks and generates OCI runtime configurations
// (config.json). Every error names the field at fault, in the JSON path
// form a user can find in their file: "linux.namespaces[2].type".
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigName is the file name of the configuration inside a bundle.
const ConfigName = "config.json"

// Load reads and decodes BUNDLE/config.json. It does not validate it.
func Load(bundle string) (*specs.Spec, []byte, error) {
	p := filepath.Join(bundle, ConfigName)
	data, err := linux.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("bundle %s: %s not found: %w", bundle, ConfigName, errdefs.ErrNotFound)
		}
		return nil, nil, fmt.Errorf("read %s: %w", p, err)
	}
	s, err := Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return s, data, nil
}

// DecodeFast decodes the configurations runtimes usually get, without
// encoding/json's cold type analysis; false for anything else (see
// fastDecode), which Decode handles.
func DecodeFast(data []byte) (*specs.Spec, bool) { return fastDecode(data) }

// DecodeProcessFast is DecodeFast for a process (runtime exec's
// --process file).
func DecodeProcessFast(data []byte) (*specs.Process, bool) { return fastDecodeProcess(data) }

// Decode parses a configuration, reporting syntax and type errors with the
// line and column they occur at.
func Decode(data []byte) (*specs.Spec, error) {
	if s, ok := fastDecode(data); ok {
		return s, nil
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset-syntaxErrorSkew)
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %s: %w", line, col, se.Error(), errdefs.ErrInvalidArgument)
		case errors.As(err, &te):
			line, col := position(data, te.Offset)
			return nil, fmt.Errorf("%s: cannot use JSON %s as %s (line %d, column %d): %w", te.Field, te.Value, te.Type, line, col, errdefs.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("invalid JSON: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &s, nil
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
