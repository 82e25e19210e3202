package ctl

// Temporary: pins the modules the ctl packages use until their code lands.
import (
	_ "github.com/google/gopacket/pcapgo"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "gopkg.in/yaml.v3"
)
