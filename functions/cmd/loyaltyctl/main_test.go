package main

import "testing"

func TestTracesAreLoyaltyctlsUnlessTheOperatorNamesTheService(t *testing.T) {
	const endpoint = "http://collector:4318"
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no tracing: the environment is left alone", map[string]string{}, ""},
		{"tracing disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SDK_DISABLED": "true"}, ""},
		{"tracing", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, "loyaltyctl"},
		{"other resource attributes", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint + "/v1/traces",
			"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod"}, "loyaltyctl"},
		{"named", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "ops"}, ""},
		{"named in the resource", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
			"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, service.name = ops"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serviceName(func(k string) string { return tt.env[k] }); got != tt.want {
				t.Errorf("serviceName = %q, want %q", got, tt.want)
			}
		})
	}
}
