//go:build !goexperiment.jsonv2

package spec

import specs "github.com/opencontainers/runtime-spec/specs-go"

// fastDecode needs encoding/json/jsontext (GOEXPERIMENT=jsonv2, as hako's
// builds set); without it Decode uses encoding/json alone.
func fastDecode([]byte) (*specs.Spec, bool) { return nil, false }

func fastDecodeProcess([]byte) (*specs.Process, bool) { return nil, false }
