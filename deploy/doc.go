// Package deploy holds no code of its own: its tests (deploy_test.go) check, offline, every
// file that ships the product — the kustomize overlays, the GitHub workflows, the deploy
// scripts and docker-compose.yaml — with the real validators (kustomize, Knative's types,
// JSON schemas, actionlint, compose-go, shellcheck). See deploy/README.md.
package deploy
