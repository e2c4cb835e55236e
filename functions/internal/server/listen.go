package server

import (
	"fmt"
	"net/http"
	"time"
	_ "unsafe" // for go:linkname

	// Linked for frameworkMux below.
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// Limits bound how long a client may take, so that one sending its headers a line a second,
// or its body a byte at a time, cannot hold a connection and a goroutine indefinitely.
type Limits struct {
	ReadHeader time.Duration // to read a request's headers
	Read       time.Duration // to read a whole request, headers and body
	// Write runs from the end of the headers to the end of the answer, so it also bounds the
	// handler: keep it above the longest Hasura timeout.
	Write time.Duration
	Idle  time.Duration // a kept-alive connection waiting for its next request
}

// NewServer returns a server on addr for the functions registered with functions.HTTP,
// routed exactly as funcframework.StartHostPort routes them (each at /<name>, or only the
// one FUNCTION_TARGET names, at /), with limits. StartHostPort itself is a bare
// http.ListenAndServe that cannot take any.
func NewServer(addr string, l Limits) (*http.Server, error) {
	if l.ReadHeader <= 0 || l.Read <= 0 || l.Write <= 0 || l.Idle <= 0 {
		return nil, fmt.Errorf("server limits must all be positive: %+v", l)
	}
	mux, err := frameworkMux()
	if err != nil {
		return nil, err
	}
	return &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
	}, nil
}

// frameworkMux is the functions framework's own routing of its registry (v1.9.2; the
// registry is internal and the mux unexported). TestServerRoutesLikeTheFunctionsFramework
// fails if an upgrade changes it.
//
//go:linkname frameworkMux github.com/GoogleCloudPlatform/functions-framework-go/funcframework.initServer
func frameworkMux() (*http.ServeMux, error)
