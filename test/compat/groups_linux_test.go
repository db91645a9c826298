package compat

import "syscall"

// orphanKill makes a member process die with the test process, so that a
// test binary killed by its timeout leaves no members consuming behind.
func orphanKill() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
