// Package scripts holds the repository's shell scripts (install-deps.sh, dev.sh, ...) and the
// Go tests that run them as a developer or a process manager would.
package scripts
