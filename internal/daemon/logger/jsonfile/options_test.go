package jsonfile

import (
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		in   map[string]string
		want Options
	}{
		{nil, Options{MaxFiles: 1}},
		{map[string]string{"max-size": "10m", "max-file": "3"}, Options{MaxSize: 10 << 20, MaxFiles: 3}},
		{map[string]string{"max-size": "512k"}, Options{MaxSize: 512 << 10, MaxFiles: 1}},
		{map[string]string{"max-size": "1g", "compress": "true", "labels": "a,b", "env": "X", "tag": "{{.Name}}"}, Options{MaxSize: 1 << 30, MaxFiles: 1}},
		{map[string]string{"max-size": "100"}, Options{MaxSize: 100, MaxFiles: 1}},
		{map[string]string{"mode": "non-blocking", "max-buffer-size": "4m"}, Options{MaxFiles: 1}},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseOptions(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, in := range []map[string]string{
		{"max-size": "ten"},
		{"max-size": "0"},
		{"max-size": "-1m"},
		{"max-size": ""},
		{"max-file": "0"},
		{"max-file": "two"},
		{"max-file": "-3"},
		{"compress": "maybe"},
		{"mode": "fast"},
		{"max-buffer-size": "lots"},
		{"syslog-address": "udp://1.2.3.4:514"},
	} {
		_, err := ParseOptions(in)
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseOptions(%v) = %v, want an invalid-argument error", in, err)
		}
	}
}
