package ctl

import (
	"errors"
	"fmt"
)

// Exit codes: 0 success, 1 failure, 2 bad usage.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// FlagError is bad usage: the entry point prints it with the usage text and exits 2.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// Error is a failure with a stable code, for scripts reading --json.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string     { return e.Message }
func (e *Error) ErrorCode() string { return e.Code }

// errSilent fails a command that has already printed why (violations, a report of errors).
var errSilent = errors.New("failed")

// codeOf is the code of err: its own if it has one, else "error".
func codeOf(err error) string {
	var c interface{ ErrorCode() string }
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	return "error"
}

// jsonError is an error as --json prints it.
type jsonError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems are the problems of a file or directory, each where it is.
	Problems any `json:"problems,omitempty"`
}

// reported is a failure whose --json answer the command has already written (a hotfix's
// result): exit writes no other JSON, only the words on stderr.
type reported struct{ error }

func (r reported) Unwrap() error { return r.error }

// jsonErrorOf is err as --json prints it, with the problems of a file when it has them.
func jsonErrorOf(err error) jsonError {
	j := jsonError{Code: codeOf(err), Message: err.Error()}
	var d interface{ Details() any }
	if errors.As(err, &d) {
		j.Problems = d.Details()
	}
	return j
}
