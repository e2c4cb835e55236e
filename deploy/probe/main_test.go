package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()
	if got := probe(srv.URL); got != 0 {
		t.Errorf("200: exit %d, want 0", got)
	}
	status = http.StatusServiceUnavailable
	if got := probe(srv.URL); got != 1 {
		t.Errorf("503: exit %d, want 1", got)
	}
	srv.Close()
	if got := probe(srv.URL); got != 1 {
		t.Errorf("closed: exit %d, want 1", got)
	}
}
