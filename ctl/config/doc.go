// Package config owns the ctswitch daemon's configuration file: its YAML
// format, its defaults (those of "ctswitch run"), its validation and the
// comparison of two versions for a reload.
//
// Parse and Load turn a file into a Config: a dataplane.SwitchConfig ready
// for dataplane.New plus the daemon's own settings (control socket,
// metrics listener, conntrack snapshots, logging). Everything that can be
// checked without attaching to an interface is checked here, and every
// error names the file, the line and column of the offending YAML node and
// the key path (sequence items by 0-based index: "ports[1].mode"). Errors
// are collected rather than stopping at the first (at most MaxErrors).
// YAML syntax errors are the exception to the column: the YAML parser
// reports only a line.
//
// Diff says what a reload changes and which of those changes the running
// switch can apply (Changes.Live) and which need a restart
// (Changes.Restart).
//
// Example is a commented file showing every key with its default.
//
// The package deliberately interprets yaml.Node trees itself instead of
// decoding into structs: that is what lets semantic errors (a rule that
// does not parse, a port in the wrong network) carry positions, and lets it
// refuse unknown and duplicate keys. Anchors may be defined but aliases are
// refused: they add nothing a config file needs and their expansion is a
// denial-of-service vector.
package config
