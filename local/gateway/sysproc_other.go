//go:build !linux

package main

import "os/exec"

// configureChild leaves the child's process attributes alone where Linux's are not available.
func configureChild(cmd *exec.Cmd) {}
