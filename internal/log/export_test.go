package log

// Verify exposes the invariant check of helpers_test.go to package log_test.
func (l *Log) Verify() error { return l.verify() }
