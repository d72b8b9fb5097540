//go:build !goexperiment.jsonv2

package runtime

import "encoding/json"

// Without encoding/json/jsontext (GOEXPERIMENT=jsonv2), encoding/json
// alone reads and writes the state file.

func encodeState(s *savedState) ([]byte, error) { return json.Marshal(s) }

func decodeState([]byte) (*savedState, bool) { return nil, false }
