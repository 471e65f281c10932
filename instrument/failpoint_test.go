package instrument

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const waitLimit = 3 * time.Second

// clearAfter turns name off when the test ends, whatever happened.
func clearAfter(t *testing.T, name string) {
	t.Cleanup(func() {
		if err := ClearFailpoint(name); err != nil {
			t.Errorf("ClearFailpoint(%s): %v", name, err)
		}
	})
}

// waitCount polls the hit counter until name has been crossed n times.
func waitCount(t *testing.T, name string, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if failpoints[name].hits.Load() >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not fire %d times within %v", name, n, waitLimit)
		}
		time.Sleep(time.Millisecond) // polling interval, not a synchronization sleep
	}
}

// pausedAt starts a goroutine that crosses name and returns a channel closed
// when it gets past; it returns once the goroutine is parked at name.
func pausedAt(t *testing.T, name string) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Failpoint(name)
	}()
	waitCount(t, name, 1)
	select {
	case <-done:
		t.Fatalf("%s: return(\"pause\") did not block", name)
	case <-time.After(50 * time.Millisecond): // still parked: the negative we assert
	}
	return done
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s: goroutine still paused after %v", what, waitLimit)
	}
}

func TestFailpointPauseUntilCleared(t *testing.T) {
	clearAfter(t, BeforeSave)
	if err := SetFailpoint(BeforeSave, `return("pause")`); err != nil {
		t.Fatal(err)
	}
	done := pausedAt(t, BeforeSave)
	if err := ClearFailpoint(BeforeSave); err != nil {
		t.Fatal(err)
	}
	waitDone(t, done, "ClearFailpoint")
	Failpoint(BeforeSave) // off again: returns at once
}

func TestFailpointPauseUntilChanged(t *testing.T) {
	clearAfter(t, WALBeforeSync)
	if err := SetFailpoint(WALBeforeSync, `return("pause")`); err != nil {
		t.Fatal(err)
	}
	done := pausedAt(t, WALBeforeSync)
	if err := SetFailpoint(WALBeforeSync, "off"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, done, "SetFailpoint(off)")
}

func TestFailpointSleepAndCounts(t *testing.T) {
	clearAfter(t, AfterSave)
	if err := SetFailpoint(AfterSave, "1*sleep(100)->off"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	Failpoint(AfterSave)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("sleep(100) returned after %v", d)
	}
	start = time.Now()
	Failpoint(AfterSave) // the count is used up: off
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("exhausted sleep still slept %v", d)
	}
}

func TestFailpointPanic(t *testing.T) {
	clearAfter(t, BeforeCommit)
	if err := SetFailpoint(BeforeCommit, "panic"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// gofail's message is "failpoint panic: {}" for a bare panic term.
		if r, _ := recover().(string); !strings.HasPrefix(r, "failpoint panic") {
			t.Errorf("recovered %q, want gofail's failpoint panic", r)
		}
	}()
	Failpoint(BeforeCommit)
	t.Error("panic term did not panic")
}

func TestFailpointErrors(t *testing.T) {
	if err := SetFailpoint("noSuchFailpoint", "off"); err == nil {
		t.Error("SetFailpoint on an unknown name succeeded")
	}
	if err := SetFailpoint(BeforeApply, "bogus("); err == nil {
		t.Error("SetFailpoint with bad terms succeeded")
	}
	if err := ClearFailpoint(BeforeApply); err != nil {
		t.Errorf("clearing an off failpoint: %v", err)
	}
	Failpoint("noSuchFailpoint") // ignored
	if armed.Load() != 0 {
		t.Errorf("armed = %d with every failpoint off", armed.Load())
	}
}

func TestFailpointHTTP(t *testing.T) {
	if err := EnableFailpoints("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + FailpointsAddr()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	clearAfter(t, BeforeFollowerSend)
	clearAfter(t, AfterSaveSnap)

	code, list := do("GET", "/", "")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	for _, name := range allNames {
		if !strings.Contains(list, name+"=\n") {
			t.Errorf("GET / does not list %s as off:\n%s", name, list)
		}
	}

	if code, body := do("PUT", "/"+BeforeFollowerSend, `return("pause")`); code != http.StatusNoContent {
		t.Fatalf("PUT = %d %s", code, body)
	}
	if code, body := do("GET", "/"+BeforeFollowerSend, ""); code != http.StatusOK || body != "return(\"pause\")\n" {
		t.Fatalf("GET after PUT = %d %q", code, body)
	}
	done := pausedAt(t, BeforeFollowerSend)
	if code, body := do("GET", "/"+BeforeFollowerSend+"/count", ""); code != http.StatusOK || body != "1" {
		t.Errorf("GET count = %d %q", code, body)
	}
	if code, body := do("DELETE", "/"+BeforeFollowerSend, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", code, body)
	}
	waitDone(t, done, "DELETE")
	if code, _ := do("GET", "/"+BeforeFollowerSend, ""); code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}

	if code, _ := do("PUT", "/failpoints", AfterSaveSnap+"=print;"+BeforeFollowerSend+"=sleep(1)"); code != http.StatusNoContent {
		t.Fatalf("PUT /failpoints = %d", code)
	}
	if _, list := do("GET", "/", ""); !strings.Contains(list, AfterSaveSnap+"=print\n") || !strings.Contains(list, BeforeFollowerSend+"=sleep(1)\n") {
		t.Errorf("GET / after PUT /failpoints:\n%s", list)
	}
	if code, _ := do("PUT", "/noSuchFailpoint", "off"); code != http.StatusBadRequest {
		t.Errorf("PUT unknown = %d, want 400", code)
	}
	if code, _ := do("POST", "/", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", code)
	}
}

func TestEnableFailpointsRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "10.1.2.3:2381", "example.com:2381", "no-port"} {
		err := EnableFailpoints(addr)
		if err == nil {
			t.Errorf("EnableFailpoints(%q) succeeded", addr)
			continue
		}
		if addr != "no-port" && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("EnableFailpoints(%q): unclear error %v", addr, err)
		}
	}
}
