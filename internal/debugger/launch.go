package debugger

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DebugGCFlags builds a binary whose variables delve can always read:
// no optimisation, no inlining (go build -gcflags=all=-N -l).
const DebugGCFlags = "all=-N -l"

// ListenEnv is the variable WriteWrapper's script reads: when set, the
// member runs under headless delve listening on its value.
const ListenEnv = "KVTRACE_DLV_LISTEN"

// HeadlessArgs are the dlv flags for one member's server: API v2 (what rpc2
// speaks), several clients (tracer and a `dlv connect` side by side), and
// --continue so the member starts running instead of waiting for a client.
func HeadlessArgs(listen string) []string {
	return []string{"exec", "--headless", "--api-version=2", "--accept-multiclient", "--continue", "--listen=" + listen}
}

// Command returns the command that runs kvd with args under headless delve.
func Command(dlv, kvd, listen string, args ...string) *exec.Cmd {
	a := append(HeadlessArgs(listen), kvd, "--")
	return exec.Command(dlv, append(a, args...)...)
}

// DlvPath returns the dlv binary pinned in go.mod (`go tool -n dlv` builds
// it once and prints its path). Run it from inside the module.
func DlvPath() (string, error) {
	out, err := exec.Command("go", "tool", "-n", "dlv").Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n dlv: %w (is the dlv tool line in go.mod?)", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// WriteWrapper writes an executable script in dir that runs kvd, or kvd
// under headless delve when ListenEnv is set in its environment. It lets a
// localcluster put chosen members under delve through Config.Env. SIGTERM
// to the script's process reaches dlv, which kills the member and exits.
func WriteWrapper(dir, dlv, kvd string) (string, error) {
	script := "#!/bin/sh\n" +
		"# kvd, or kvd under headless delve when $" + ListenEnv + " is set (internal/debugger).\n" +
		"if [ -n \"$" + ListenEnv + "\" ]; then\n" +
		"  exec " + shellQuote(dlv) + " exec --headless --api-version=2 --accept-multiclient --continue" +
		" --listen=\"$" + ListenEnv + "\" " + shellQuote(kvd) + " -- \"$@\"\n" +
		"fi\n" +
		"exec " + shellQuote(kvd) + " \"$@\"\n"
	path := filepath.Join(dir, "kvd-maybe-dlv")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		return "", err
	}
	return path, nil
}

// PtraceDenied reports whether dlv's output says the kernel refused ptrace
// (containers without CAP_SYS_PTRACE, yama ptrace_scope=3, seccomp).
func PtraceDenied(output string) bool {
	for _, s := range []string{"operation not permitted", "could not launch process: fork/exec", "ptrace"} {
		if strings.Contains(strings.ToLower(output), s) {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
