package boot

import (
	"os"
	"runtime"
	"strconv"
)

// fullCPUMemoryMB is the memory size at which Lambda gives a function one whole vCPU; below it
// the function gets a share of one (docs/performance.md).
const fullCPUMemoryMB = 1769

// FitScheduler runs one Go scheduler thread (GOMAXPROCS=1) in a Lambda of less than one vCPU, unless
// the GOMAXPROCS variable says otherwise. Lambda shows the process two CPUs whatever its memory,
// so Go would run two Ps that wake, steal and spin against each other on a fraction of one
// CPU: measured with make bench, that is about half of a warm authorizer decision's CPU.
// Network calls still go out at once (parallel.Do): they wait in the poller, not on a P.
// Outside Lambda (tests, tools) nothing changes. Every function's main calls it first.
func FitScheduler() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if mb, err := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && mb >= fullCPUMemoryMB {
		return
	}
	runtime.GOMAXPROCS(1)
}
