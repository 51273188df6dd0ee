//go:build unix

package benchtest

import (
	"syscall"
	"time"
)

// ProcessCPU is the CPU time the process used so far, user and system: a
// benchmark's cost that the machine's load changes less than its wall time.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
