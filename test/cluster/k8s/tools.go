//go:build tools

// Package tools pins the Kubernetes commands that test/cluster/build compiles
// (kube-apiserver and kubectl) so that `go mod tidy` keeps their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
