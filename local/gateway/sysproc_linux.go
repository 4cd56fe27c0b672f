package main

import (
	"os/exec"
	"syscall"
)

// configureChild puts a function process in its own process group, so a Ctrl-C in the terminal
// reaches only the gateway (which then stops its children), and has the kernel kill it if the
// gateway dies without cleaning up.
func configureChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
