package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// configureChild puts an emulator process in its own process group, so a Ctrl-C in the
// terminal reaches only the gateway (which then stops its children), and has the kernel kill it
// if the gateway dies without cleaning up.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killTree SIGKILLs an emulator and the function process it started. The emulator puts the
// function in a process group of its own and only stops it on a signal it can catch, so a
// function stuck in its handler would outlive a killed emulator. The emulator is stopped first,
// so it starts no new child and its children's pids stay theirs while they are read from /proc
// and killed with their groups.
func killTree(p *os.Process) {
	_ = p.Signal(syscall.SIGSTOP)
	lists, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.Pid))
	for _, list := range lists {
		b, _ := os.ReadFile(list)
		for _, field := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(field); err == nil {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = p.Kill()
}
