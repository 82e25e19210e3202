package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the metrics of src from a registry of its own: the
// collector, the Go runtime and process collectors, and promhttp's own
// request counters. Errors gathering or encoding are logged (slog default
// logger) and the metrics that could be gathered are still served.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // promhttp_metric_handler_errors_total
	})
	return promhttp.InstrumentMetricHandler(reg, h)
}

// errorLog is promhttp's logger over the slog default logger, looked up at
// each message so a logger set after Handler is used.
type errorLog struct{}

func (errorLog) Println(v ...any) { slog.Default().Error("metrics: " + fmt.Sprint(v...)) }
