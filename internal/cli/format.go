package cli

import (
	"encoding/json"
	"fmt"
	"text/template"
)

// parseFormat parses a --format Go template, with docker's json function.
func parseFormat(format string) (*template.Template, error) {
	t, err := template.New("").Funcs(template.FuncMap{"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}}).Parse(format)
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	return t, nil
}
