//go:build !unix

package main

import (
	"context"
	"os/exec"
	"runtime"
)

// shellCommand is the system shell running cmd: cmd /C on Windows, else
// sh -c.
func shellCommand(ctx context.Context, cmd string) *exec.Cmd {
	var c *exec.Cmd
	if runtime.GOOS == "windows" {
		c = exec.CommandContext(ctx, "cmd", "/C", cmd)
	} else {
		c = exec.CommandContext(ctx, "sh", "-c", cmd)
	}
	c.WaitDelay = buildWaitDelay
	return c
}
