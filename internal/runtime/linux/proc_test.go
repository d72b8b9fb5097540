package linux

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := "1234 (my (weird) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.PPid != 1 || st.StartTime != 98765 {
		t.Fatalf("got %+v", st)
	}
	if _, err := parseProcStat([]byte("1 (x) S 1")); err == nil {
		t.Fatal("short line accepted")
	}
}

func TestProcessAlive(t *testing.T) {
	st, err := ReadProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !ProcessAlive(os.Getpid(), st.StartTime) {
		t.Fatal("self not alive")
	}
	if ProcessAlive(os.Getpid(), st.StartTime+1) {
		t.Fatal("start time mismatch not detected")
	}
}

func TestLastCapMatchesSysctl(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Skip(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := LastCap(); got != want {
		t.Fatalf("LastCap() = %d, /proc/sys/kernel/cap_last_cap says %d", got, want)
	}
}

func TestHomeIn(t *testing.T) {
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nbroken\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnohome:x:7:7::\nlast:x:9:9::/home/last:/bin/sh")
	for uid, want := range map[uint32]string{0: "/root", 65534: "/nonexistent", 7: "/", 9: "/home/last", 42: "/"} {
		if got := homeIn(passwd, uid); got != want {
			t.Errorf("uid %d: %q, want %q", uid, got, want)
		}
	}
}
