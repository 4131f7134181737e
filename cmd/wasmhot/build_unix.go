//go:build unix

package main

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand is `sh -c cmd` in a process group of its own, so that
// ending ctx kills the build's children too (a compiler started by make).
func shellCommand(ctx context.Context, cmd string) *exec.Cmd {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = buildWaitDelay
	return c
}
