package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
)

// progressPrinter shows docker's JSON progress stream: on a terminal, one
// live line per layer with a bar, rewritten in place; elsewhere, plain
// lines for state changes only.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	lines map[string]int // layer ID → line index
	n     int            // lines printed
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	p := &progressPrinter{w: w, lines: map[string]int{}}
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		p.tty = isTerminal(f.Fd())
	}
	return p
}

func (p *progressPrinter) print(m client.JSONMessage) {
	if m.Stream != "" {
		fmt.Fprint(p.w, m.Stream)
		return
	}
	if !p.tty {
		if m.Status == "Downloading" || m.Status == "Pushing" || m.Status == "Extracting" {
			return
		}
		if m.ID != "" {
			fmt.Fprintf(p.w, "%s: %s\n", m.ID, m.Status)
		} else {
			fmt.Fprintln(p.w, m.Status)
		}
		return
	}
	text := m.Status
	if m.ID != "" {
		text = m.ID + ": " + m.Status
		if d := m.ProgressDetail; d != nil && d.Total > 0 {
			text += " " + bar(d.Current, d.Total)
		}
	}
	i, ok := p.lines[m.ID]
	if m.ID == "" || !ok {
		if m.ID != "" {
			p.lines[m.ID] = p.n
		}
		fmt.Fprintf(p.w, "%s\n", text)
		p.n++
		return
	}
	// Up to the layer's line, rewrite it, back down.
	up := p.n - i
	fmt.Fprintf(p.w, "\x1b[%dA\r\x1b[2K%s\r\x1b[%dB", up, text, up)
}

// bar draws "[=====>    ]  1.2MB/3.4MB".
func bar(cur, total int64) string {
	const width = 40
	if cur > total {
		cur = total
	}
	filled := int(width * cur / total)
	b := strings.Repeat("=", filled)
	if filled < width {
		b += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", b, units.HumanSizeWithPrecision(float64(cur), 3), units.HumanSizeWithPrecision(float64(total), 3))
}
