package record

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestKilledRecorderLosesAtMostTheTail runs a recorder in a child process
// (this test binary, re-executed), kills it with SIGKILL while it records,
// and reads the file: no error, every record read is whole and in sequence,
// and at most the last block is reported torn.
func TestKilledRecorderLosesAtMostTheTail(t *testing.T) {
	if dir := os.Getenv("KVTRACE_RECORD_CHILD"); dir != "" {
		childRecordForever(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledRecorderLosesAtMostTheTail$")
	cmd.Env = append(os.Environ(), "KVTRACE_RECORD_CHILD="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := Files(dir)
		if len(files) > 0 {
			if st, err := os.Stat(files[0]); err == nil && st.Size() > 256<<10 {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child wrote less than 256 KiB in 20s")
		}
		time.Sleep(5 * time.Millisecond) // polling the child's file with a deadline
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	files, _ := Files(dir)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rd, err := NewReader(files[0], f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var b Block
	next := uint64(0)
	for {
		err := rd.Next(&b)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("a killed recorder's file must read: %v", err)
		}
		for _, r := range b.Records {
			if r.Index != next {
				t.Fatalf("record %d follows %d: a record inside the file was lost", r.Index, next-1)
			}
			next++
		}
	}
	if next == 0 {
		t.Fatal("no records read")
	}
	t.Logf("read %d records of %d bytes; torn tail: %v", next, st.Size(), rd.Torn())
}

// childRecordForever records numbered records until it is killed.
func childRecordForever(dir string) {
	r, err := Open(Options{Dir: dir, Member: "child", MemberID: 9, FlushInterval: time.Millisecond, MaxFileBytes: 1 << 40})
	if err != nil {
		os.Exit(3)
	}
	rec := sample(r, 1)
	for i := uint64(0); ; i++ {
		rec.Index = i
		for {
			before := r.Stats().Dropped
			r.Record(rec)
			if r.Stats().Dropped == before {
				break // accepted; on a drop, offer the same number again
			}
			time.Sleep(time.Millisecond)
		}
	}
}
