package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// profile records, for each kind, a perf profile of its function's process while n requests
// of the kind are sent (a pass of its own, after the measured one, so perf's overhead is not
// in the ratios), and returns the top entries of each (perf report, self time by symbol). The
// binaries must keep their symbols (local/bench.sh builds them so with PROFILE=1).
func (b *bench) profile(dir string, n int, binDir string) ([]string, error) {
	perf, err := exec.LookPath("perf")
	if err != nil {
		return nil, fmt.Errorf("-profile needs perf: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, k := range kinds {
		pid, err := findProcess(filepath.Join(binDir, k.function, "bootstrap"))
		if err != nil || pid == 0 {
			return nil, fmt.Errorf("profile %s: no process (%v)", k.name, err)
		}
		send, err := k.prepare(b, n)
		if err != nil {
			return nil, err
		}
		data := filepath.Join(dir, k.name+".perf.data")
		rec := exec.Command(perf, "record", "-q", "-F", "1999", "-g", "-p", fmt.Sprint(pid), "-o", data)
		rec.Stdout, rec.Stderr = os.Stderr, os.Stderr
		if err := rec.Start(); err != nil {
			return nil, err
		}
		time.Sleep(300 * time.Millisecond) // perf attaches
		for i := range n {
			if err := send(i); err != nil {
				_ = rec.Process.Kill()
				return nil, fmt.Errorf("profile %s: %w", k.name, err)
			}
		}
		_ = rec.Process.Signal(syscall.SIGINT)
		_ = rec.Wait()
		report, err := exec.Command(perf, "report", "-i", data, "--stdio", "--no-children", "--sort", "symbol",
			"-g", "none", "--percent-limit", "1.5").Output()
		if err != nil {
			return nil, fmt.Errorf("perf report %s: %w", data, err)
		}
		text := filepath.Join(dir, k.name+".txt")
		if err := os.WriteFile(text, report, 0o644); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("\nprofile %s (%s, self time, perf report in %s)", k.name, k.function, text))
		shown := 0
		for _, line := range strings.Split(string(report), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && shown < 12 {
				out = append(out, "  "+t)
				shown++
			}
		}
	}
	return out, nil
}
