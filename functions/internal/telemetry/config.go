package telemetry

import (
	"fmt"
	"strconv"

	"github.com/kelseyhightower/envconfig"
)

// Config is what the binary reads for telemetry besides the OTEL_* variables, which the
// OpenTelemetry SDK reads itself.
type Config struct {
	// MetricsPort serves GET /metrics; "0" turns metrics off. Never the serving port: the
	// metrics are for the cluster's scraper, not for Hasura or the Ingress.
	MetricsPort string `envconfig:"METRICS_PORT" default:"9090"`
}

// LoadConfig reads METRICS_PORT and checks it against servingPort.
func LoadConfig(servingPort string) (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, err
	}
	n, err := strconv.Atoi(c.MetricsPort)
	if err != nil || n < 0 || n > 65535 {
		return c, fmt.Errorf("METRICS_PORT=%q: want a port number, or 0 for no metrics", c.MetricsPort)
	}
	if n != 0 && c.MetricsPort == servingPort {
		return c, fmt.Errorf("METRICS_PORT=%s is PORT too: metrics need a port of their own", c.MetricsPort)
	}
	return c, nil
}
