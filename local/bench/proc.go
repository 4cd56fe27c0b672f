package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpu is what the kernel has accounted to one process so far.
type cpu struct {
	exec  time.Duration // sum of /proc/<pid>/task/*/schedstat's first field: time on a CPU, in ns
	ticks time.Duration // utime + stime of /proc/<pid>/stat, in clock ticks (10 ms steps)
}

func (c cpu) sub(d cpu) cpu { return cpu{exec: c.exec - d.exec, ticks: c.ticks - d.ticks} }

// readCPU reads the CPU time of process pid: user plus system, as the kernel accounts it. The
// schedstat sum is exact to the nanosecond (it covers the threads alive when read; a Go process
// does not end its threads); utime + stime cover every thread ever, to the clock tick.
func readCPU(pid int) (cpu, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpu{}, err
	}
	// The command is in parentheses and may hold spaces; the fields after it are fixed.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpu{}, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	c := cpu{ticks: time.Duration(utime+stime) * clockTick}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended between the listing and the read
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			c.exec += time.Duration(ns)
		}
	}
	if c.exec == 0 {
		c.exec = c.ticks // schedstat not kept by this kernel: fall back to the ticks
	}
	return c, nil
}

// findProcess returns the pid of the one running process whose executable is exe (a function's
// bootstrap, started by aws-lambda-rie under the gateway), or 0 if there is none.
func findProcess(exe string) (int, error) {
	want, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return 0, err
	}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	found := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || got != want {
			continue
		}
		if found != 0 {
			return 0, fmt.Errorf("two processes run %s (%d and %d)", exe, found, pid)
		}
		found = pid
	}
	return found, nil
}
