package events

import (
	"sync"
	"testing"
	"time"

	eventtypes "github.com/moby/moby/api/types/events"
)

func TestPublishSubscribe(t *testing.T) {
	b := New()
	start := time.Now()
	b.Publish(eventtypes.Message{Type: eventtypes.ImageEventType, Action: "pull", Actor: eventtypes.Actor{ID: "a"}})
	past, ch, cancel := b.Subscribe(start)
	defer cancel()
	if len(past) != 1 || past[0].Action != "pull" || past[0].TimeNano == 0 || past[0].Scope != "local" {
		t.Fatalf("past: %+v", past)
	}
	b.Publish(eventtypes.Message{Type: eventtypes.ImageEventType, Action: "tag"})
	select {
	case m := <-ch:
		if m.Action != "tag" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	if past, _, c := b.Subscribe(time.Time{}); len(past) != 0 {
		t.Fatalf("no since, got past %v", past)
	} else {
		c()
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	b := New()
	for i := range keep + 10 {
		b.Publish(eventtypes.Message{Action: eventtypes.Action(string(rune('a' + i%26))), TimeNano: int64(i + 1)})
	}
	past, _, cancel := b.Subscribe(time.Unix(0, 1))
	defer cancel()
	if len(past) != keep || past[0].TimeNano != 11 || past[keep-1].TimeNano != keep+10 {
		t.Fatalf("%d events, first %d last %d", len(past), past[0].TimeNano, past[len(past)-1].TimeNano)
	}
}

func TestConcurrent(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ch, cancel := b.Subscribe(time.Time{})
			for range 10 {
				b.Publish(eventtypes.Message{Action: "x"})
			}
			cancel()
			for range ch {
			}
		}()
	}
	wg.Wait()
}
