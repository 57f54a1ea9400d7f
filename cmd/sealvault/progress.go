package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// barWriter is where a progress bar about what draws: w itself when it is a terminal;
// otherwise (a log file, a pipe, CI) the bar is not drawn, and one plain line says what is
// being done instead of a stream of carriage returns.
func barWriter(w io.Writer, what string) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return w
	}
	fmt.Fprintf(w, "%s …\n", what)
	return io.Discard
}
