// Command probe exits 0 when GET <url> answers 2xx within two seconds, 1 otherwise. The
// images are distroless (no shell, no curl), so docker compose's health checks run this
// binary, which both Dockerfiles copy in as /probe. Kubernetes probes do not need it.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	os.Exit(probe(os.Args[1]))
}

func probe(url string) int {
	client := &http.Client{Timeout: 2 * time.Second}
	res, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, url+": "+res.Status)
		return 1
	}
	return 0
}
