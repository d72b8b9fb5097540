package linux

import (
	"os"
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
