// Command ctswitch is the ctswitch userspace packet switch and its tools.
//
// The binary is thin: each file of this package wires one command group
// (ct, version, ...) to the packages that do the work.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
