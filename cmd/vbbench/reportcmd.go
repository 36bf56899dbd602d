package main

import (
	"io"
)

func runReport(args []string, stdout, stderr io.Writer) int {
	return exitUsage
}
