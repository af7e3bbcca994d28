// Command etcd is etcd's own server entry point, pinned by the Kubernetes
// module graph so storage matches what that Kubernetes release tests against.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
