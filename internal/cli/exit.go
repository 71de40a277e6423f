package cli

import (
	"errors"
	"fmt"
)

// Exit codes. Few, stable and documented in the README and `swarmctl --help`.
const (
	ExitOK          = 0   // everything succeeded / healthy
	ExitFailed      = 1   // at least one node failed, or status is degraded
	ExitError       = 2   // bad flags or input, nothing touched; or status could not check
	ExitInterrupted = 130 // SIGINT/SIGTERM
)

const exitCodesHelp = `Exit codes:
  0    success (status: healthy)
  1    at least one node failed or was left unconfigured (status: degraded)
  2    usage or input error, nothing was changed (status: could not check)
  130  interrupted (SIGINT/SIGTERM); connections closed, locks released`

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage/input error (exit 2).
func usageErr(format string, args ...any) error {
	return &exitError{code: ExitError, err: fmt.Errorf(format, args...)}
}

// failed returns an error that exits 1 after the output was printed; msg
// may be empty when the output already says everything.
func failed(msg string) error {
	if msg == "" {
		return &exitError{code: ExitFailed}
	}
	return &exitError{code: ExitFailed, err: errors.New(msg)}
}

func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError // fleet.InputError too: nothing was touched
}
