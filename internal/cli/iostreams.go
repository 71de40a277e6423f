package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams carries the process's streams and what they are connected to.
type IOStreams struct {
	In  io.Reader
	Out io.Writer // data: tables, JSON, diffs
	Err io.Writer // progress, warnings, errors

	StdinTTY  bool
	StderrTTY bool
	NoColor   bool

	in *bufio.Reader
}

// System returns the real process streams.
func System() *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		StdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		StderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		NoColor:   noColor || os.Getenv("TERM") == "dumb",
	}
}

// ReadLine reads one answer from In (one buffered reader for the whole
// run, so a second question gets the second line).
func (s *IOStreams) ReadLine() string {
	if s.in == nil {
		s.in = bufio.NewReader(s.In)
	}
	line, _ := s.in.ReadString('\n')
	return line
}

// Color reports whether colour may be used on stderr.
func (s *IOStreams) Color() bool { return s.StderrTTY && !s.NoColor }

// Progress prints a human progress line on stderr.
func (s *IOStreams) Progress(format string, args ...any) {
	fmt.Fprintf(s.Err, format+"\n", args...)
}

// Paint wraps s in an ANSI colour when colour is on.
func (s *IOStreams) Paint(code, text string) string {
	if !s.Color() {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
