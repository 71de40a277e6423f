package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/swarmctl/swarmctl/internal/fleet"
	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/report"
)

// Exit codes. Few, stable and documented in the README and `swarmctl --help`.
const (
	ExitOK          = 0   // everything succeeded / healthy
	ExitFailed      = 1   // at least one node failed, or status is degraded
	ExitError       = 2   // bad flags or input, nothing touched; or status could not check
	ExitInterrupted = 130 // SIGINT/SIGTERM
)

const exitCodesHelp = `Exit codes:
  0    success (status, doctor: healthy)
  1    at least one node failed or was left unconfigured (status: degraded;
       doctor: a check failed)
  2    usage or input error, or consent missing: nothing was changed
       (status, doctor: could not check)
  130  interrupted (SIGINT/SIGTERM); connections closed, locks released`

// exitError carries an exit code, the JSON error code and a hint through
// cobra's error return.
type exitError struct {
	code int    // process exit code
	kind string // report.Error.Code
	err  error  // the message
	hint string // what to do next
	// quiet: the command's output already said it all; Run prints no
	// "Error:" line (the JSON document still carries the error).
	quiet bool
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
	return &exitError{code: ExitError, kind: report.ErrUsage, err: fmt.Errorf(format, args...)}
}

// inputErr is a bad value, file or inventory (exit 2, nothing touched),
// with what to do next.
func inputErr(hint, format string, args ...any) error {
	return &exitError{code: ExitError, kind: report.ErrInput, err: fmt.Errorf(format, args...), hint: hint}
}

// failed returns an error that exits 1 after the output was printed; msg
// may be empty when the output already says everything.
func failed(msg string) error {
	if msg == "" {
		return &exitError{code: ExitFailed, kind: report.ErrFailed, quiet: true}
	}
	return &exitError{code: ExitFailed, kind: report.ErrFailed, err: errors.New(msg)}
}

// failedQuiet exits 1 with kind and msg in the JSON document; the text
// output has already said it (no "Error:" line).
func failedQuiet(kind, msg string) error {
	return &exitError{code: ExitFailed, kind: kind, err: errors.New(msg), quiet: true}
}

// withHint adds a hint to an exit error (or wraps err in one).
func withHint(err error, hint string) error {
	var ee *exitError
	if errors.As(err, &ee) {
		c := *ee
		c.hint = hint
		return &c
	}
	return &exitError{code: exitCodeOf(err), kind: errorKind(err), err: err, hint: hint}
}

func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitError // fleet.InputError too: nothing was touched
}

// errorKind is err's JSON error code.
func errorKind(err error) string {
	var ee *exitError
	var ie *fleet.InputError
	var inv *inventory.Error
	var invs inventory.Errors
	switch {
	case errors.As(err, &ee) && ee.kind != "":
		return ee.kind
	case errors.Is(err, context.Canceled):
		return report.ErrInterrupted
	case errors.As(err, &ie), errors.As(err, &inv), errors.As(err, &invs):
		return report.ErrInput
	}
	return report.ErrFailed
}

// errorHint is what to do next about err ("" when there is nothing to add).
func errorHint(err error) string {
	var ee *exitError
	if errors.As(err, &ee) && ee.hint != "" {
		return ee.hint
	}
	var ie *fleet.InputError
	if errors.As(err, &ie) && ie.Hint != "" {
		return ie.Hint
	}
	var inv *inventory.Error
	var invs inventory.Errors
	if errors.As(err, &inv) || errors.As(err, &invs) {
		return "fix the inventory at the lines named; nothing was touched"
	}
	return ""
}

// errorInfo is err as the JSON error object.
func errorInfo(err error) *report.Error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		msg = fmt.Sprintf("exit status %d", ee.code)
	}
	return &report.Error{Code: errorKind(err), Message: msg, Hint: errorHint(err)}
}
