// Package events is the daemon's event bus: every state change of an
// object (image pulled, container started, ...) is published once and
// fanned out to the subscribers of GET /events, which may also ask for the
// recent past (since) as docker keeps it: the last 1024 events in memory.
package events

import (
	"sync"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
)

// keep is how many past events the bus remembers for "since" queries.
const keep = 1024

// Bus fans events out to subscribers. The zero value is not usable; use
// New.
type Bus struct {
	mu   sync.Mutex
	past []eventtypes.Message // ring, oldest first once full
	next int
	subs map[*sub]struct{}
}

type sub struct {
	ch chan eventtypes.Message
}

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[*sub]struct{})}
}

// Publish stamps m with the current time (unless set) and delivers it to
// every subscriber. A subscriber that does not keep up loses events rather
// than slowing the daemon down.
func (b *Bus) Publish(m eventtypes.Message) {
	if m.TimeNano == 0 {
		now := time.Now()
		m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	}
	if m.Scope == "" {
		m.Scope = "local"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.past) < keep {
		b.past = append(b.past, m)
	} else {
		b.past[b.next] = m
		b.next = (b.next + 1) % keep
	}
	for s := range b.subs {
		select {
		case s.ch <- m:
		default:
		}
	}
}

// Subscribe returns the remembered events at or after since (none when
// since is zero), a channel of the events published from now on, and a
// function that ends the subscription and closes the channel.
func (b *Bus) Subscribe(since time.Time) ([]eventtypes.Message, <-chan eventtypes.Message, func()) {
	s := &sub{ch: make(chan eventtypes.Message, 256)}
	b.mu.Lock()
	var past []eventtypes.Message
	if !since.IsZero() {
		n := len(b.past)
		for i := range n {
			m := b.past[(b.next+i)%n]
			if m.TimeNano >= since.UnixNano() {
				past = append(past, m)
			}
		}
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return past, s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, s)
			b.mu.Unlock()
			close(s.ch)
		})
	}
}
