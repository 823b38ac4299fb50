//go:build tools

// Package tools pins the etcd server command that test/cluster/build compiles.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
