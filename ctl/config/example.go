package config

import _ "embed"

// Example is a commented config file showing every key with its default
// (keys without one commented out). Parsing it gives the same
// configuration as a file with only its ports.
//
//go:embed example.yaml
var Example []byte
