package eostest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig makes the kernel SIGKILL the child if the test binary dies
// (e.g. on a -timeout panic, when no cleanup runs), so that no instance is
// left behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
