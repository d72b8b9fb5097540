//go:build goexperiment.jsonv2

package runtime

import (
	"bytes"
	"encoding/json/jsontext"
	"io"
	"slices"
	"strconv"
)

// The state file is read and written by every verb; encoding/json's cold
// type analysis of savedState (and time.Time) would cost more than the
// rest of a verb like state or kill. These do it by hand with jsontext,
// in encoding/json's format; readState falls back to encoding/json for a
// file they do not take (the tests hold the two to the same result).

func encodeState(s *savedState) ([]byte, error) {
	var b bytes.Buffer
	e := jsontext.NewEncoder(&b)
	str := func(k, v string) {
		e.WriteToken(jsontext.String(k))
		e.WriteToken(jsontext.String(v))
	}
	e.WriteToken(jsontext.BeginObject)
	str("id", s.ID)
	str("bundle", s.Bundle)
	str("rootfs", s.Rootfs)
	e.WriteToken(jsontext.String("pid"))
	e.WriteToken(jsontext.Int(int64(s.Pid)))
	e.WriteToken(jsontext.String("pidStartTime"))
	e.WriteToken(jsontext.Uint(s.PidStart))
	created, err := s.Created.MarshalText()
	if err != nil {
		return nil, err
	}
	str("created", string(created))
	if s.Owner != "" {
		str("owner", s.Owner)
	}
	if len(s.CgroupPaths) > 0 {
		e.WriteToken(jsontext.String("cgroupPaths"))
		e.WriteToken(jsontext.BeginObject)
		// Sorted, as encoding/json writes maps.
		keys := make([]string, 0, len(s.CgroupPaths))
		for k := range s.CgroupPaths {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			str(k, s.CgroupPaths[k])
		}
		e.WriteToken(jsontext.EndObject)
	}
	e.WriteToken(jsontext.String("ownPidNamespace"))
	e.WriteToken(jsontext.Bool(s.OwnPIDNS))
	e.WriteToken(jsontext.String("config"))
	cfg := jsontext.Value(s.Config)
	if len(cfg) == 0 {
		cfg = jsontext.Value("null")
	}
	if err := e.WriteValue(cfg); err != nil {
		return nil, err
	}
	if err := e.WriteToken(jsontext.EndObject); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// decodeState reads a state file written by encodeState (or by
// encoding/json); false for anything else.
func decodeState(data []byte) (*savedState, bool) {
	d := jsontext.NewDecoder(bytes.NewReader(data))
	var s savedState
	if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
		return nil, false
	}
	seen := map[string]bool{}
	for d.PeekKind() != '}' {
		t, err := d.ReadToken()
		if err != nil || t.Kind() != '"' {
			return nil, false
		}
		k := t.String()
		if seen[k] || d.PeekKind() == 'n' && k != "config" {
			return nil, false
		}
		seen[k] = true
		str := func() (string, bool) {
			t, err := d.ReadToken()
			return t.String(), err == nil && t.Kind() == '"'
		}
		num := func() (string, bool) {
			if d.PeekKind() != '0' {
				return "", false
			}
			v, err := d.ReadValue()
			return string(v), err == nil
		}
		ok := true
		switch k {
		case "id":
			s.ID, ok = str()
		case "bundle":
			s.Bundle, ok = str()
		case "rootfs":
			s.Rootfs, ok = str()
		case "owner":
			s.Owner, ok = str()
		case "pid":
			var v string
			if v, ok = num(); ok {
				n, err := strconv.ParseInt(v, 10, strconv.IntSize)
				s.Pid, ok = int(n), err == nil
			}
		case "pidStartTime":
			var v string
			if v, ok = num(); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				s.PidStart, ok = n, err == nil
			}
		case "created":
			var v string
			if v, ok = str(); ok {
				ok = s.Created.UnmarshalText([]byte(v)) == nil
			}
		case "ownPidNamespace":
			t, err := d.ReadToken()
			ok = err == nil && (t.Kind() == 't' || t.Kind() == 'f')
			s.OwnPIDNS = ok && t.Bool()
		case "cgroupPaths":
			if t, err := d.ReadToken(); err != nil || t.Kind() != '{' {
				return nil, false
			}
			s.CgroupPaths = map[string]string{}
			for ok && d.PeekKind() != '}' {
				var ck, cv string
				if ck, ok = str(); ok {
					cv, ok = str()
					s.CgroupPaths[ck] = cv
				}
			}
			if t, err := d.ReadToken(); err != nil || t.Kind() != '}' {
				return nil, false
			}
		case "config":
			v, err := d.ReadValue()
			ok = err == nil
			s.Config = append([]byte(nil), v...)
		default:
			return nil, false
		}
		if !ok {
			return nil, false
		}
	}
	if t, err := d.ReadToken(); err != nil || t.Kind() != '}' {
		return nil, false
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return nil, false
	}
	return &s, true
}
