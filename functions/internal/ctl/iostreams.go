package ctl

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are where a command reads and writes. What only a person at a terminal needs
// (progress bars) is shown only when stdout is one; tests use in-memory streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	TTY    bool // stdout is a terminal
}

// IsStdoutTTY tells whether a person is watching stdout.
func (s *IOStreams) IsStdoutTTY() bool { return s.TTY }

// System are the process's streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, TTY: term.IsTerminal(int(os.Stdout.Fd()))}
}

// Test returns streams on buffers, not a terminal, and the buffers.
func Test() (s *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}
