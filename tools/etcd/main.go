// Command etcd builds the etcd server for Shirube's real-API-server tests.
//
// etcd's own main module carries replace directives, so `go install` of it is
// refused; this tiny module requires go.etcd.io/etcd/server/v3 and calls its
// entry point, which is what etcd's own main does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
