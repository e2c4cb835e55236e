package routes_test

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// functionsManifest is the functions' Knative Service and its ConfigMap.
const functionsManifest = "../../../deploy/base/functions.yaml"

// podGC is the Go runtime's garbage collector settings of the functions' pods: GOGC and
// GOMEMLIMIT of the functions-config ConfigMap, which the runtime reads from the environment.
func podGC(t testing.TB) (percent int, limit int64) {
	t.Helper()
	raw, err := os.ReadFile(functionsManifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var cm struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if err := yaml.Unmarshal(doc, &cm); err != nil {
			t.Fatalf("%s: %v", functionsManifest, err)
		}
		if cm.Kind != "ConfigMap" || cm.Metadata.Name != "functions-config" {
			continue
		}
		percent, err := strconv.Atoi(cm.Data["GOGC"])
		if err != nil {
			t.Fatalf("%s: GOGC: %v", functionsManifest, err)
		}
		// Go's 200MiB is Kubernetes' 200Mi (deploy's tests hold it to Go's syntax).
		q, err := resource.ParseQuantity(strings.TrimSuffix(cm.Data["GOMEMLIMIT"], "B"))
		if err != nil {
			t.Fatalf("%s: GOMEMLIMIT: %v", functionsManifest, err)
		}
		return percent, q.Value()
	}
	t.Fatalf("%s: no ConfigMap functions-config", functionsManifest)
	return 0, 0
}

// withPodGC runs the rest of b with the pods' garbage collector settings (podGC), unless the
// run's own environment sets GOGC (GOGC=100 make bench compares with Go's default).
func withPodGC(b testing.TB) {
	b.Helper()
	if os.Getenv("GOGC") != "" {
		return
	}
	percent, limit := podGC(b)
	oldPercent, oldLimit := debug.SetGCPercent(percent), debug.SetMemoryLimit(limit)
	b.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
}

func TestPodGCReadsTheFunctionsConfigMap(t *testing.T) {
	percent, limit := podGC(t)
	if percent < 100 || limit < 64<<20 {
		t.Fatalf("GOGC %d, GOMEMLIMIT %d bytes: not what the pods run with", percent, limit)
	}
}
