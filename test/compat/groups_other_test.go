//go:build !linux

package compat

import "syscall"

// orphanKill: only Linux can tie a child's life to its parent's.
func orphanKill() *syscall.SysProcAttr { return nil }
