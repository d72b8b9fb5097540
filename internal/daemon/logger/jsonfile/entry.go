package jsonfile

import (
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"
)

// One entry is one line of the file:
//
//	{"log":"<escaped output>","stream":"stdout|stderr","time":"<RFC 3339, ns>"}\n
//
// Entries are encoded and decoded by hand: the shape is fixed, and a
// general JSON codec costs several times more per line on both the
// container's hot path and `docker logs` of a big file. Lines in any other
// shape (docker adds "attrs" when labels or env are logged) decode through
// encoding/json.

// appendEntry appends the encoded entry whose "log" value is line, plus a
// '\n' when nl is set.
func appendEntry(dst []byte, stream string, line []byte, nl bool, t time.Time, attrs []byte) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendEscaped(dst, line)
	if nl {
		dst = append(dst, `\n`...)
	}
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream...)
	if len(attrs) > 0 {
		// docker's place for them: {"log":…,"stream":…,"attrs":{…},"time":…}
		dst = append(dst, `","attrs":`...)
		dst = append(dst, attrs...)
		dst = append(dst, `,"time":"`...)
	} else {
		dst = append(dst, `","time":"`...)
	}
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, "\"}\n"...)
}

// plain marks the ASCII bytes that go into a JSON string unescaped. Like
// encoding/json (and so docker), '<', '>' and '&' are escaped too.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	t['"'], t['\\'], t['<'], t['>'], t['&'] = false, false, false, false, false
	return t
}()

const hexDigits = "0123456789abcdef"

// appendEscaped appends s as the inside of a JSON string. Invalid UTF-8
// becomes U+FFFD, as encoding/json writes it.
func appendEscaped(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	return append(dst, s[start:]...)
}

var errBadEntry = errors.New("not a json-file log entry")

// decodeEntry decodes one line of the file (with or without its '\n').
// Message.Line is newly allocated.
func decodeEntry(b []byte) (Message, error) {
	if m, ok := decodeFast(b); ok {
		return m, nil
	}
	var e struct {
		Log    *string           `json:"log"`
		Stream string            `json:"stream"`
		Attrs  map[string]string `json:"attrs"`
		Time   time.Time         `json:"time"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Log == nil || e.Stream == "" {
		return Message{}, errBadEntry
	}
	return Message{Line: []byte(*e.Log), Stream: internStream(e.Stream), Time: e.Time, Attrs: e.Attrs}, nil
}

// decodeFast decodes the entries appendEntry writes (keys in any order,
// no other keys); ok is false for anything else.
func decodeFast(b []byte) (m Message, ok bool) {
	p := parser{b: b}
	if !p.byte('{') {
		return m, false
	}
	seen := 0
	for {
		key, ok := p.rawString()
		if !ok || !p.byte(':') {
			return m, false
		}
		switch string(key) {
		case "log":
			if m.Line, ok = p.unquote(); !ok {
				return m, false
			}
		case "stream":
			s, ok := p.rawString()
			if !ok {
				return m, false
			}
			m.Stream = internStream(string(s))
		case "time":
			s, ok := p.rawString()
			if !ok {
				return m, false
			}
			t, err := time.Parse(time.RFC3339Nano, string(s))
			if err != nil {
				return m, false
			}
			m.Time = t
		default:
			return m, false
		}
		seen++
		if p.byte('}') {
			break
		}
		if !p.byte(',') {
			return m, false
		}
	}
	p.space()
	return m, seen == 3 && p.i == len(p.b) && m.Line != nil
}

// internStream avoids an allocation per entry for the two usual names.
func internStream(s string) string {
	switch s {
	case "stdout":
		return "stdout"
	case "stderr":
		return "stderr"
	}
	return s
}

type parser struct {
	b []byte
	i int
}

func (p *parser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// rawString returns the inside of a string that has no escapes (keys,
// stream names and times never do).
func (p *parser) rawString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch p.b[p.i] {
		case '"':
			p.i++
			return p.b[start : p.i-1], true
		case '\\':
			return nil, false
		}
	}
	return nil, false
}

// unquote returns a string's value, unescaped into a new slice.
func (p *parser) unquote() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	// The value is at most as long as its escaped form.
	end := p.i
	for end < len(p.b) && p.b[end] != '"' {
		if p.b[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(p.b) {
		return nil, false
	}
	out := make([]byte, 0, end-p.i)
	for p.i < end {
		c := p.b[p.i]
		if c != '\\' {
			j := p.i
			for j < end && p.b[j] != '\\' && p.b[j] >= 0x20 {
				j++
			}
			if j == p.i { // raw control character: not JSON
				return nil, false
			}
			out = append(out, p.b[p.i:j]...)
			p.i = j
			continue
		}
		if p.i+1 >= end {
			return nil, false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, ok := p.hex4(end)
			if !ok {
				return nil, false
			}
			if utf8.RuneLen(r) < 0 {
				return nil, false // a surrogate: leave pairing to encoding/json
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	p.i = end + 1
	return out, true
}

func (p *parser) hex4(end int) (rune, bool) {
	if p.i+4 > end {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}
