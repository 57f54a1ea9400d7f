// Command benchtable prints the ratio table of `make bench` from the benchmark output files
// given (or standard input): each benchmark against its floor or peer of the same run, the
// target where the issues set one, and whether it is met. See internal/benchtable.
//
//	go run ./cmd/benchtable var/bench/bench-*.txt
package main

import (
	"fmt"
	"io"
	"os"

	"sealvault/internal/benchtable"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(files []string, stdin io.Reader, out io.Writer) error {
	var results []benchtable.Result
	read := func(name string, r io.Reader) error {
		res, err := benchtable.Parse(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results = append(results, res...)
		return nil
	}
	if len(files) == 0 {
		if err := read("standard input", stdin); err != nil {
			return err
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = read(name, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if len(results) == 0 {
		return fmt.Errorf("no benchmark results in the input")
	}
	rows := benchtable.Table(results, benchtable.Rules)
	if len(rows) == 0 {
		return fmt.Errorf("%d benchmark results, none that a rule of the table pairs", len(results))
	}
	missed, err := benchtable.Write(out, rows, benchtable.Rules)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d rows, %d with a target not met\n", len(rows), missed)
	return nil
}
