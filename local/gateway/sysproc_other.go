//go:build !linux

package main

import (
	"os"
	"os/exec"
)

// configureChild leaves the child's process attributes alone where Linux's are not available.
func configureChild(cmd *exec.Cmd) {}

// killTree kills the emulator only; its children are left to exit on their own.
func killTree(p *os.Process) { _ = p.Kill() }
